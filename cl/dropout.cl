/* Inverted dropout with Philox 4x32-10 (Salmon et al., SC'11): the mask of
 * element i at step s under seed k is a pure function of (k, s, i), so runs
 * are reproducible and backward recomputes the mask instead of storing it. */

#include "index.h"
#include "philox.h"

/* Four uniform floats in [0, 1) for elements 4 * block .. 4 * block + 3. */
static float4 uniform4(ulong seed, ulong step, uint block)
{
    const uint4 r = philox4x32_10((uint4)(block, 0u, (uint)step, (uint)(step >> 32)),
                                  (uint2)((uint)seed, (uint)(seed >> 32)));
    return convert_float4(r >> 8) * (1.0f / 16777216.0f);
}

/* The uniforms of elements i .. i + 3 of the batch, counted from `first`:
 * a shard of a data parallel batch draws the masks the whole batch would
 * give those samples. */
static float4 uniform_at(ulong seed, ulong step, ulong first, int i)
{
    if ((first & 3) == 0)
        return uniform4(seed, step, (uint)((first >> 2) + (ulong)(i >> 2)));
    float u[4];
    for (int k = 0; k < 4; k++) { /* not aligned: each element its own block */
        const ulong g = first + (ulong)(i + k);
        const float4 b = uniform4(seed, step, (uint)(g >> 2));
        const int lane = (int)(g & 3);
        u[k] = lane == 0 ? b.x : lane == 1 ? b.y : lane == 2 ? b.z : b.w;
    }
    return (float4)(u[0], u[1], u[2], u[3]);
}

/* One work-item per block of four elements, as one float4 where the block is
 * whole. Argument 4 (step) is set by the plan at every run; `first` is the
 * index of element 0 within the whole batch (0 but for data parallel
 * shards). Dropped values are multiplied by 0, as PyTorch's are, so a NaN
 * stays NaN. */
__kernel void dropout_forward(const int n, const float p, const float scale,
                              const ulong seed, const ulong step, const ulong first,
                              __global const float *x, __global float *y)
{
    const int block = clg_global_id(0), i = block * 4;
    if (i >= n)
        return;
    const float4 u = uniform_at(seed, step, first, i);
    if (i + 4 <= n) {
        const int4 keep = isgreaterequal(u, (float4)(p));
        vstore4(vload4(block, x) * select((float4)(0.0f), (float4)(scale), keep), block, y);
        return;
    }
    const float keep[4] = {u.x, u.y, u.z, u.w};
    for (int k = 0; i + k < n; k++)
        y[i + k] = x[i + k] * (keep[k] >= p ? scale : 0.0f);
}

__kernel void dropout_backward(const int n, const float p, const float scale,
                               const ulong seed, const ulong step, const ulong first,
                               const int accumulate, __global const float *dy,
                               __global float *dx)
{
    const int block = clg_global_id(0), i = block * 4;
    if (i >= n)
        return;
    const float4 u = uniform_at(seed, step, first, i);
    if (i + 4 <= n) {
        const int4 keep = isgreaterequal(u, (float4)(p));
        float4 v = vload4(block, dy) * select((float4)(0.0f), (float4)(scale), keep);
        if (accumulate)
            v += vload4(block, dx);
        vstore4(v, block, dx);
        return;
    }
    const float keep[4] = {u.x, u.y, u.z, u.w};
    for (int k = 0; i + k < n; k++) {
        const float v = dy[i + k] * (keep[k] >= p ? scale : 0.0f);
        dx[i + k] = accumulate ? dx[i + k] + v : v;
    }
}
