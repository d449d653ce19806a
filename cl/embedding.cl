/* Embedding lookup: y[k, d] = W[ids[k], d] for k < n ids, d < D. */

#include "index.h"

__kernel void embedding_forward(const int n, const int D, const int V,
                                __global const int *ids, __global const float *weight,
                                __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int id = ids[i / D];
    /* Ids are range-checked on upload; never read outside W regardless. */
    y[i] = id >= 0 && id < V ? weight[(size_t)id * D + i % D] : 0.0f;
}

/* The same a row per work-item (n ids), for CPUs (src/ops/embedding.c):
 * the id read and checked once, the row copied by a loop the compiler
 * vectorises. */
CLG_ROW_LOOP
__kernel void embedding_forward_rows(const int n, const int D, const int V,
                                     __global const int *ids,
                                     __global const float *weight, __global float *y)
{
    const int k = clg_global_id(0);
    if (k >= n)
        return;
    const int id = ids[k];
    __global float *out = y + (size_t)k * D;
    if (id >= 0 && id < V) {
        __global const float *row = weight + (size_t)id * D;
        for (int d = 0; d < D; d++)
            out[d] = row[d];
    } else {
        for (int d = 0; d < D; d++)
            out[d] = 0.0f;
    }
}

/* dW[v, :] (=|+=) the sum of dy[k, :] over the k with ids[k] == v. One
 * work-item per row of W: no two write the same row, and the order of the
 * sum is fixed, so the result is the same on every run. The sums are
 * Kahan-compensated (see sum.h) with the compensation of row v kept in
 * comp[v, :], so a token seen thousands of times loses no precision. */
CLG_ROW_LOOP
__kernel void embedding_backward(const int V, const int D, const int count,
                                 const int accumulate, __global const int *ids,
                                 __global const float *dy, __global float *dweight,
                                 __global float *comp)
{
    const int v = clg_global_id(0);
    if (v >= V)
        return;
    __global float *row = dweight + (size_t)v * D, *lost = comp + (size_t)v * D;
    for (int d = 0; d < D; d++) {
        if (!accumulate)
            row[d] = 0.0f;
        lost[d] = 0.0f;
    }
    for (int k = 0; k < count; k++)
        if (ids[k] == v)
            for (int d = 0; d < D; d++) {
                const float y = dy[(size_t)k * D + d] - lost[d];
                const float t = row[d] + y;
                const float c = (t - row[d]) - y;
                lost[d] = isfinite(c) ? c : 0.0f;
                row[d] = t;
            }
    for (int d = 0; d < D; d++)
        row[d] -= lost[d];
}

/* The same sums an element of dweight per work-item (n = V D of them), for
 * Mesa's llvmpipe, which ends a work-item's loops after 65,535 iterations:
 * in the row form a frequent token's D terms per occurrence pass that (a
 * space in 600 of 4,096 characters, D = 128). Each loops over the ids
 * alone, its compensation in a register: the same additions in the same
 * order as the row form, the same bits, but V D passes over the ids where
 * the row form makes V, so not where loops are not limited. */
__kernel void embedding_backward_elements(const int n, const int D, const int count,
                                          const int accumulate, __global const int *ids,
                                          __global const float *dy,
                                          __global float *dweight)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int v = i / D, d = i % D;
    float row = accumulate ? dweight[i] : 0.0f, lost = 0.0f;
    for (int k = 0; k < count; k++)
        if (ids[k] == v) {
            const float y = dy[(size_t)k * D + d] - lost;
            const float t = row + y;
            const float c = (t - row) - y;
            lost = isfinite(c) ? c : 0.0f;
            row = t;
        }
    dweight[i] = row - lost;
}
