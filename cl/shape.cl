/* Concatenation along dim 1, slices (narrow) and permutations.
 *
 * Concatenation: a source [outer, Cs, inner] lands in channels
 * [offset, offset + Cs) of a destination [outer, Cd, inner]. */

#include "index.h"

__kernel void concat_copy(const int n, const int Cs, const int Cd, const int offset,
                          const int inner, __global const float *src,
                          __global float *dst)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int k = i % inner, c = (i / inner) % Cs, o = i / (inner * Cs);
    dst[((size_t)o * Cd + offset + c) * inner + k] = src[i];
}

__kernel void concat_slice(const int n, const int Cs, const int Cd, const int offset,
                           const int inner, const int accumulate,
                           __global const float *dst_grad, __global float *src_grad)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int k = i % inner, c = (i / inner) % Cs, o = i / (inner * Cs);
    const float v = dst_grad[((size_t)o * Cd + offset + c) * inner + k];
    src_grad[i] = accumulate ? src_grad[i] + v : v;
}

/* Permutation of up to 4 dims: element i of y [d0, d1, d2, d3] (row-major)
 * is x[a s0 + b s1 + c s2 + d s3], where (a, b, c, d) is i's index in y and
 * s the strides of x taken in y's dimension order. Forward gathers;
 * backward scatters dy through the same map (a bijection: no races). */
static int permuted(const int i, const int4 dims, const int4 strides)
{
    const int d = i % dims.w, c = i / dims.w % dims.z, b = i / (dims.w * dims.z) % dims.y,
              a = i / (dims.w * dims.z * dims.y);
    return a * strides.x + b * strides.y + c * strides.z + d * strides.w;
}

__kernel void permute_gather(const int n, const int4 dims, const int4 strides,
                             __global const float *x, __global float *y)
{
    const int i = clg_global_id(0);
    if (i < n)
        y[i] = x[permuted(i, dims, strides)];
}

__kernel void permute_scatter(const int n, const int4 dims, const int4 strides,
                              const int accumulate, __global const float *dy,
                              __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int k = permuted(i, dims, strides);
    dx[k] = accumulate ? dx[k] + dy[i] : dy[i];
}

/* The gradient of a narrow: dx [outer, Cd, inner] takes dy [outer, Cs, inner]
 * in channels [offset, offset + Cs) and zeros elsewhere (or keeps what it
 * holds there, when accumulating). */
__kernel void narrow_backward(const int n, const int Cs, const int Cd, const int offset,
                              const int inner, const int accumulate,
                              __global const float *dy, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int k = i % inner, c = (i / inner) % Cd - offset, o = i / (inner * Cd);
    const float v = c >= 0 && c < Cs ? dy[((size_t)o * Cs + c) * inner + k] : 0.0f;
    dx[i] = accumulate ? dx[i] + v : v;
}
