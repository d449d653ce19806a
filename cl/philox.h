/*
 * Philox 4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11): a counter-based generator, so the random number
 * of (key, counter) is a pure function of them and needs no state. Checked
 * against Random123's published known answers (tests/test_program.c).
 */
#ifndef CLG_CL_PHILOX_H
#define CLG_CL_PHILOX_H

static uint4 philox4x32_10(uint4 c, uint2 k)
{
    /* Unrolled, PoCL vectorises the rounds: dropout 64x32x28x28 6.7 -> 2.4-2.9
     * ms there (Intel's runtime unrolls on its own). */
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const ulong p0 = (ulong)0xD2511F53u * c.x, p1 = (ulong)0xCD9E8D57u * c.z;
        c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k.x, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k.y,
                    (uint)p0);
        k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

#endif
