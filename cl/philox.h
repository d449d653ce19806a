/*
 * Philox 4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11): a counter-based generator, so the random number
 * of (key, counter) is a pure function of them and needs no state. Checked
 * against Random123's published known answers (tests/test_program.c).
 *
 * The counter is four scalars in place, not a uint4, and the products are
 * mul_hi and a plain multiply, not 64-bit: PoCL vectorises a kernel across
 * work-items only when its body holds no vector-typed instruction, and
 * LLVM's SLP pass, which runs on the body first, packed a round's two
 * 64-bit products into one <2 x i64> (docs/performance.md). Always
 * inlined: a call in the body stops that vectoriser too.
 */
#ifndef CLG_CL_PHILOX_H
#define CLG_CL_PHILOX_H

static inline __attribute__((always_inline)) void philox4x32_10(uint c[4], uint k0,
                                                                uint k1)
{
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const uint hi0 = mul_hi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        const uint hi1 = mul_hi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

#endif
