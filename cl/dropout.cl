/* Inverted dropout with Philox 4x32-10 (Salmon et al., SC'11): the mask of
 * element g at step s under seed k is a pure function of (k, s, g), so runs
 * are reproducible and backward recomputes the mask instead of storing it.
 * Element g of the whole batch takes lane g % 4 of the generator's output
 * for counter (g / 4, 0, s) as a uniform in [0, 1) from its top 24 bits.
 *
 * A work-item takes a block of four elements. Built with -DSHIFT=first % 4,
 * where `first` is element 0's index within the whole batch (0 but for a
 * data parallel shard, which draws the masks the whole batch gives its
 * samples): a shard whose start is not a multiple of four straddles two of
 * the generator's blocks per block of its own. first_block is first / 4.
 * Built with -DTAIL=1, the kernel does the partial block at the end (n % 4
 * elements) as one work-item: PoCL vectorises a body across work-items only
 * without loops of run-time bounds, and guarded stores in the same kernel
 * made the whole blocks slower on both CPU runtimes. Backward's
 * -DACCUMULATE=1 adds to dx: as a run-time flag it slowed Intel's
 * runtime's backward (docs/performance.md). Argument 4
 * (step) is set by the plan at every run. Dropped values are multiplied by
 * 0, as PyTorch's are, so a NaN stays NaN. */

#include "index.h"
#include "philox.h"

#ifndef SHIFT
#define SHIFT 0
#endif
#ifndef TAIL
#define TAIL 0
#endif
#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif

/* The block's multipliers: scale where an element is kept, else 0. */
static inline __attribute__((always_inline)) void keep_scales(ulong seed, ulong step,
                                                              ulong block, float p,
                                                              float scale, float m[4])
{
    uint w[8]; /* the generator's blocks `block` and, with SHIFT, the next */
#pragma unroll
    for (int h = 0; h < (SHIFT ? 2 : 1); h++) {
        uint *c = w + 4 * h;
        c[0] = (uint)(block + (ulong)h);
        c[1] = 0u;
        c[2] = (uint)step;
        c[3] = (uint)(step >> 32);
        philox4x32_10(c, (uint)seed, (uint)(seed >> 32));
    }
#pragma unroll
    for (int k = 0; k < 4; k++)
        m[k] = (float)(w[SHIFT + k] >> 8) * (1.0f / 16777216.0f) >= p ? scale : 0.0f;
}

/* This work-item's block and whether element k of it is in the tensor. */
#if TAIL
#define BLOCK_INDEX (n / 4)
#define IN_TENSOR(k) (i + (k) < n)
#else
#define BLOCK_INDEX clg_global_id(0)
#define IN_TENSOR(k) 1
#endif

__kernel void dropout_forward(const int n, const float p, const float scale,
                              const ulong seed, const ulong step, const ulong first_block,
                              __global const float *x, __global float *y)
{
    const int block = BLOCK_INDEX, i = block * 4;
    if (!TAIL && i + 4 > n)
        return;
    float m[4];
    keep_scales(seed, step, first_block + (ulong)block, p, scale, m);
#pragma unroll
    for (int k = 0; k < 4; k++)
        if (IN_TENSOR(k))
            y[i + k] = x[i + k] * m[k];
}

__kernel void dropout_backward(const int n, const float p, const float scale,
                               const ulong seed, const ulong step, const ulong first_block,
                               __global const float *dy, __global float *dx)
{
    const int block = BLOCK_INDEX, i = block * 4;
    if (!TAIL && i + 4 > n)
        return;
    float m[4];
    keep_scales(seed, step, first_block + (ulong)block, p, scale, m);
#pragma unroll
    for (int k = 0; k < 4; k++)
        if (IN_TENSOR(k)) {
            const float v = dy[i + k] * m[k];
            dx[i + k] = ACCUMULATE ? dx[i + k] + v : v;
        }
}
