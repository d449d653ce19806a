/* Reductions over the middle axis of [outer, axis, inner] (-DRED=CLG_RED_*),
 * softmax and log-softmax over dim 1 (-DLOG=0|1), and the two-stage scalar
 * sum that finishes every loss. Each output is summed by one work-item in a fixed
 * order, so results are reproducible bit for bit. */

#include "codes.h"

#ifndef RED
#define RED CLG_RED_SUM
#endif
#ifndef LOG
#define LOG 0
#endif

#define STORE(dst, i, v, acc) ((dst)[i] = (acc) ? (dst)[i] + (v) : (v))

__kernel void reduce_forward(const int outer, const int axis, const int inner,
                             __global const float *x, __global float *y)
{
    const int j = get_global_id(0);
    if (j >= outer * inner)
        return;
    const int o = j / inner, i = j % inner;
    __global const float *xp = x + (size_t)o * axis * inner + i;
#if RED == CLG_RED_MAX
    float acc = xp[0];
    for (int a = 1; a < axis; a++) {
        const float v = xp[(size_t)a * inner];
        acc = v > acc || isnan(v) ? v : acc;
    }
#else
    float acc = 0.0f;
    for (int a = 0; a < axis; a++)
        acc += xp[(size_t)a * inner];
#if RED == CLG_RED_MEAN
    acc /= (float)axis;
#endif
#endif
    y[j] = acc;
}

/* Sum and mean spread dy evenly; max sends it to the first maximum. */
__kernel void reduce_backward(const int outer, const int axis, const int inner,
                              const int accumulate, __global const float *x,
                              __global const float *y, __global const float *dy,
                              __global float *dx)
{
    const int j = get_global_id(0);
    if (j >= outer * inner)
        return;
    const int o = j / inner, i = j % inner;
    const size_t base = (size_t)o * axis * inner + i;
#if RED == CLG_RED_MAX
    int winner = 0;
    for (int a = 0; a < axis; a++)
        if (x[base + (size_t)a * inner] == y[j] || isnan(x[base + (size_t)a * inner])) {
            winner = a;
            break;
        }
    for (int a = 0; a < axis; a++)
        STORE(dx, base + (size_t)a * inner, a == winner ? dy[j] : 0.0f, accumulate);
#else
    float g = dy[j];
#if RED == CLG_RED_MEAN
    g /= (float)axis;
#endif
    for (int a = 0; a < axis; a++)
        STORE(dx, base + (size_t)a * inner, g, accumulate);
#endif
}

/* Softmax over C for each (o, i) of [outer, C, inner]. */
__kernel void softmax_forward(const int outer, const int C, const int inner,
                              __global const float *x, __global float *y)
{
    const int j = get_global_id(0);
    if (j >= outer * inner)
        return;
    const size_t base = (size_t)(j / inner) * C * inner + j % inner;
    float m = -INFINITY;
    for (int c = 0; c < C; c++)
        m = fmax(m, x[base + (size_t)c * inner]);
    float sum = 0.0f;
    for (int c = 0; c < C; c++)
        sum += exp(x[base + (size_t)c * inner] - m);
#if LOG
    const float lse = m + log(sum);
    for (int c = 0; c < C; c++)
        y[base + (size_t)c * inner] = x[base + (size_t)c * inner] - lse;
#else
    for (int c = 0; c < C; c++)
        y[base + (size_t)c * inner] = exp(x[base + (size_t)c * inner] - m) / sum;
#endif
}

/* softmax: dx = y (dy - sum dy y); log-softmax: dx = dy - exp(y) sum dy. */
__kernel void softmax_backward(const int outer, const int C, const int inner,
                               const int accumulate, __global const float *y,
                               __global const float *dy, __global float *dx)
{
    const int j = get_global_id(0);
    if (j >= outer * inner)
        return;
    const size_t base = (size_t)(j / inner) * C * inner + j % inner;
    float dot = 0.0f;
    for (int c = 0; c < C; c++) {
        const size_t k = base + (size_t)c * inner;
#if LOG
        dot += dy[k];
#else
        dot += dy[k] * y[k];
#endif
    }
    for (int c = 0; c < C; c++) {
        const size_t k = base + (size_t)c * inner;
#if LOG
        STORE(dx, k, dy[k] - exp(y[k]) * dot, accumulate);
#else
        STORE(dx, k, y[k] * (dy[k] - dot), accumulate);
#endif
    }
}

/* partial[g] = the sum of x over [g * chunk, (g + 1) * chunk), in order: the
 * first of two stages of a sum over everything. */
__kernel void sum_chunks(const int n, const int chunk, __global const float *x,
                         __global float *partial)
{
    const int g = get_global_id(0);
    const int start = g * chunk;
    if (start >= n && g > 0)
        return;
    const int end = start + chunk < n ? start + chunk : n;
    float acc = 0.0f;
    for (int i = start; i < end; i++)
        acc += x[i];
    partial[g] = acc;
}

/* out[0] = scale * the sum of x[0..n), in order. */
__kernel void sum_to_scalar(const int n, const float scale, __global const float *x,
                            __global float *out)
{
    if (get_global_id(0) != 0)
        return;
    float acc = 0.0f;
    for (int i = 0; i < n; i++)
        acc += x[i];
    out[0] = scale * acc;
}
