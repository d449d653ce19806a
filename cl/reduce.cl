/* Reductions over the middle axis of [outer, axis, inner] (-DRED=CLG_RED_*),
 * softmax and log-softmax over dim 1 (-DLOG=0|1), and the two-stage scalar
 * sum that finishes every loss. Sums are compensated and taken in a fixed
 * order (sum.h), so results are reproducible bit for bit and as accurate
 * for a million terms as for ten. */

#include "index.h"
#include "codes.h"
#include "sum.h"

#ifndef ALL
#define ALL 0 /* 1: a reduction over everything, one output */
#endif
#ifndef RED
#define RED CLG_RED_SUM
#endif
#ifndef LOG
#define LOG 0
#endif

#define STORE(dst, i, v, acc) ((dst)[i] = (acc) ? (dst)[i] + (v) : (v))

/* Softmax's gradient over a row: dx = y (dy - dot), dot = sum(dy y); for
 * log-softmax dx = dy - exp(y) dot, dot = sum(dy). */
#if LOG
#define DOT_TERM(dy, y)        (dy)
#define SOFTMAX_DX(dy, y, dot) ((dy)-exp(y) * (dot))
#else
#define DOT_TERM(dy, y)        ((dy) * (y))
#define SOFTMAX_DX(dy, y, dot) ((y) * ((dy) - (dot)))
#endif

/* y[o, q, i], the reduction of x[o, a, i] over part q of the axis: a in
 * [q chunk, (q + 1) chunk), parts = ceil(axis / chunk). With one part
 * (chunk = axis) that is the whole reduction; a longer axis goes in two
 * launches, its parts and then their reduction (src/ops/reduce.c says
 * when), so that no work-item loops over more than a chunk and a few
 * outputs still spread over many work-items. Sums are divided by divisor
 * at the end (the mean's count, else 1). Max also writes where its first
 * maximum (or first NaN) is, as an index on the axis, into yat: over parts
 * (-DPARTS=1) the index their own launch wrote into xat. */
#ifndef PARTS
#define PARTS 0
#endif
__kernel void reduce_forward(const int outer, const int axis, const int inner,
                             const int chunk, const float divisor,
                             __global const float *x, __global const int *xat,
                             __global float *y, __global int *yat)
{
    const int parts = (axis + chunk - 1) / chunk;
    const int j = clg_global_id(0);
    if (j >= outer * parts * inner)
        return;
    const int i = j % inner, q = j / inner % parts, o = j / inner / parts;
    const int from = q * chunk, to = min(axis, from + chunk);
    const size_t base = (size_t)o * axis * inner + i;
    __global const float *xp = x + base;
#if RED == CLG_RED_MAX
    float acc = xp[(size_t)from * inner];
    int at = from;
    for (int a = from + 1; a < to; a++) {
        const float v = xp[(size_t)a * inner];
        if (v > acc || (isnan(v) && !isnan(acc))) {
            acc = v;
            at = a;
        }
    }
    y[j] = acc;
    yat[j] = PARTS ? xat[base + (size_t)at * inner] : at;
#else
    clg_ksum k = {0.0f, 0.0f};
    for (int a = from; a < to; a++)
        ksum_add(&k, xp[(size_t)a * inner]);
    y[j] = ksum_value(k) / divisor;
#endif
}

/* dx for each of x's n elements (a work-item each): sum and mean spread dy
 * evenly (divided by divisor: the mean's count, else 1), max sends it to
 * the index its forward wrote into at. */
__kernel void reduce_backward(const int n, const int axis, const int inner,
                              const int accumulate, const float divisor,
                              __global const int *at, __global const float *dy,
                              __global float *dx)
{
    const int k = clg_global_id(0);
    if (k >= n)
        return;
#if ALL /* one output: no index arithmetic (faster on PoCL) */
    const int j = 0;
#else
    const int j = k / (axis * inner) * inner + k % inner; /* its output */
#endif
#if RED == CLG_RED_MAX
    const float g = k / inner % axis == at[j] ? dy[j] : 0.0f;
#else
    const float g = dy[j] / divisor;
#endif
    STORE(dx, k, g, accumulate);
}

/* Softmax over C for each (o, i) of [outer, C, inner]. */
__kernel void softmax_forward(const int outer, const int C, const int inner,
                              __global const float *x, __global float *y)
{
    const int j = clg_global_id(0);
    if (j >= outer * inner)
        return;
    const size_t base = (size_t)(j / inner) * C * inner + j % inner;
    float m = -INFINITY;
    for (int c = 0; c < C; c++)
        m = fmax(m, x[base + (size_t)c * inner]);
    clg_ksum k = {0.0f, 0.0f};
    for (int c = 0; c < C; c++)
        ksum_add(&k, exp(x[base + (size_t)c * inner] - m));
    const float sum = ksum_value(k);
#if LOG
    const float lse = m + log(sum);
    for (int c = 0; c < C; c++)
        y[base + (size_t)c * inner] = x[base + (size_t)c * inner] - lse;
#else
    for (int c = 0; c < C; c++)
        y[base + (size_t)c * inner] = exp(x[base + (size_t)c * inner] - m) / sum;
#endif
}

/* softmax: dx = y (dy - sum dy y); log-softmax: dx = dy - exp(y) sum dy
 * (SOFTMAX_DX). */
__kernel void softmax_backward(const int outer, const int C, const int inner,
                               const int accumulate, __global const float *y,
                               __global const float *dy, __global float *dx)
{
    const int j = clg_global_id(0);
    if (j >= outer * inner)
        return;
    const size_t base = (size_t)(j / inner) * C * inner + j % inner;
    clg_ksum sum = {0.0f, 0.0f};
    for (int c = 0; c < C; c++) {
        const size_t k = base + (size_t)c * inner;
        ksum_add(&sum, DOT_TERM(dy[k], y[k]));
    }
    const float dot = ksum_value(sum);
    for (int c = 0; c < C; c++) {
        const size_t k = base + (size_t)c * inner;
        STORE(dx, k, SOFTMAX_DX(dy[k], y[k], dot), accumulate);
    }
}

/* partial[g] = the sum of x over [g * chunk, (g + 1) * chunk) ∩ [0, n): the
 * first of two stages of a sum over everything, one work-group per chunk,
 * by range_group_sum (sum.h): a few ulp, at an eighth of the compensation's
 * cost, and faster than each work-item's every L-th float in passes of
 * differing counts (docs/performance.md). */
__kernel void sum_partials(const int n, const int chunk, __global const float *x,
                           __global float *partial)
{
    __local float scratch[CLG_GROUP_MAX];
    const int g = get_group_id(0);
    const int start = g * chunk, end = start + chunk < n ? start + chunk : n;
    const float total = range_group_sum(x, start, end, false, scratch);
    if (get_local_id(0) == 0)
        partial[g] = total;
}

/* out[0] = scale * the sum of x[0..n): one work-group, the second stage. */
__kernel void sum_to_scalar(const int n, const float scale, __global const float *x,
                            __global float *out)
{
    __local float scratch[CLG_GROUP_MAX];
    clg_ksum k = {0.0f, 0.0f};
    for (int i = get_local_id(0); i < n; i += get_local_size(0))
        ksum_add(&k, x[i]);
    const float total = group_sum(ksum_value(k), scratch);
    if (get_local_id(0) == 0)
        out[0] = scale * total;
}


/* The largest v over the work-group, in a fixed tree; every work-item gets
 * it. scratch holds CLG_GROUP_MAX floats of local memory. */
static float group_max(const float v, __local float *scratch)
{
    const int l = get_local_id(0), L = get_local_size(0);
    scratch[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = L / 2; width > 0; width /= 2) {
        if (l < width)
            scratch[l] = fmax(scratch[l], scratch[l + width]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float top = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return top;
}

/* The rows' forms a row per work-item (rows of them), for PoCL
 * (src/ops/reduce.c), which runs a work-group's loops one work-item at a
 * time, unvectorised. The row's maximum and sum of exponentials by
 * softmax_terms (sum.h), as cross-entropy's; the gradient's dot four at a
 * time in four compensated lanes, added in lane order, and the tail. */
CLG_ROW_LOOP
__kernel void softmax_row_forward(const int rows, const int C, __global const float *x,
                                  __global float *y)
{
    const int r = clg_global_id(0);
    if (r >= rows)
        return;
    __global const float *in = x + (size_t)r * C;
    __global float *out = y + (size_t)r * C;
    float m, sum;
    softmax_terms(in, C, &m, &sum);
#if LOG
    const float lse = m + log(sum);
    for (int c = 0; c < C; c++)
        out[c] = in[c] - lse;
#else
    for (int c = 0; c < C; c++)
        out[c] = exp(in[c] - m) / sum;
#endif
}

CLG_ROW_LOOP
__kernel void softmax_row_backward(const int rows, const int C, const int accumulate,
                                   __global const float *y, __global const float *dy,
                                   __global float *dx)
{
    const int r = clg_global_id(0);
    if (r >= rows)
        return;
    const size_t base = (size_t)r * C;
    clg_ksum4 k4 = {(float4)(0.0f), (float4)(0.0f)};
    const int blocks = C / 4;
    for (int b = 0; b < blocks;) {
        float4 part = (float4)(0.0f);
        for (int t = 0; t < CLG_PLAIN_TERMS && b < blocks; t++, b++)
            part += DOT_TERM(vload4(b, dy + base), vload4(b, y + base));
        ksum4_add(&k4, part);
    }
    clg_ksum k = {0.0f, 0.0f};
    ksum_add_lanes(&k, k4);
    for (int c = 4 * blocks; c < C; c++)
        ksum_add(&k, DOT_TERM(dy[base + c], y[base + c]));
    const float dot = ksum_value(k);
    for (int c = 0; c < C; c++) {
        const size_t i = base + c;
        STORE(dx, i, SOFTMAX_DX(dy[i], y[i], dot), accumulate);
    }
}

/* Softmax over rows of C contiguous values ([rows, C], inner 1): a
 * work-group per row, each work-item taking every L-th value, so that a
 * small batch of long rows still fills the device. */
__kernel void softmax_rows_forward(const int C, __global const float *x,
                                   __global float *y)
{
    __local float scratch[CLG_GROUP_MAX];
    const int l = get_local_id(0), L = get_local_size(0);
    __global const float *in = x + (size_t)get_group_id(0) * C;
    __global float *out = y + (size_t)get_group_id(0) * C;
    float m = -INFINITY;
    for (int c = l; c < C; c += L)
        m = fmax(m, in[c]);
    m = group_max(m, scratch);
    clg_ksum k = {0.0f, 0.0f};
    for (int c = l; c < C;) {
        float part = 0.0f;
        for (int t = 0; t < CLG_PLAIN_TERMS && c < C; t++, c += L)
            part += exp(in[c] - m);
        ksum_add(&k, part);
    }
    const float sum = group_sum(ksum_value(k), scratch);
#if LOG
    const float lse = m + log(sum);
    for (int c = l; c < C; c += L)
        out[c] = in[c] - lse;
#else
    for (int c = l; c < C; c += L)
        out[c] = exp(in[c] - m) / sum;
#endif
}

__kernel void softmax_rows_backward(const int C, const int accumulate,
                                    __global const float *y, __global const float *dy,
                                    __global float *dx)
{
    __local float scratch[CLG_GROUP_MAX];
    const int l = get_local_id(0), L = get_local_size(0);
    const size_t base = (size_t)get_group_id(0) * C;
    clg_ksum k = {0.0f, 0.0f};
    for (int c = l; c < C;) {
        float part = 0.0f;
        for (int t = 0; t < CLG_PLAIN_TERMS && c < C; t++, c += L)
            part += DOT_TERM(dy[base + c], y[base + c]);
        ksum_add(&k, part);
    }
    const float dot = group_sum(ksum_value(k), scratch);
    for (int c = l; c < C; c += L) {
        const size_t i = base + c;
        STORE(dx, i, SOFTMAX_DX(dy[i], y[i], dot), accumulate);
    }
}

/* Causal softmax over the last dim of x [rows, Tk], rows = [..., Tq]: row r
 * is query i = r % Tq, which sees keys j <= i + Tk - Tq; y = softmax(scale x)
 * over those and 0 beyond them (PyTorch: masked_fill(-inf), then softmax).
 * A work-group per row, each work-item taking every L-th key, as
 * softmax_rows_forward does. With keep_lse, lse[row] gets the log of the
 * row's sum of exponentials of its scaled scores (attention's backward
 * recomputes the weights from it). */
__kernel void causal_softmax_forward(const int Tq, const int Tk, const float scale,
                                     __global const float *x, __global float *y,
                                     const int keep_lse, __global float *lse)
{
    __local float scratch[CLG_GROUP_MAX];
    const int l = get_local_id(0), L = get_local_size(0), r = get_group_id(0);
    const int seen = r % Tq + Tk - Tq + 1; /* keys 0 .. seen - 1 */
    __global const float *in = x + (size_t)r * Tk;
    __global float *out = y + (size_t)r * Tk;
    float m = -INFINITY;
    for (int j = l; j < seen; j += L)
        m = fmax(m, scale * in[j]);
    m = group_max(m, scratch);
    clg_ksum k = {0.0f, 0.0f};
    for (int j = l; j < seen;) {
        float part = 0.0f;
        for (int t = 0; t < CLG_PLAIN_TERMS && j < seen; t++, j += L) {
            const float e = exp(scale * in[j] - m);
            out[j] = e; /* divided by the sum below */
            part += e;
        }
        ksum_add(&k, part);
    }
    const float sum = group_sum(ksum_value(k), scratch), inv = 1.0f / sum;
    for (int j = l; j < Tk; j += L)
        out[j] = j < seen ? out[j] * inv : 0.0f;
    if (keep_lse && l == 0)
        lse[r] = m + log(sum);
}

/* dx = scale y (dy - sum dy y) over the keys a row sees, 0 beyond them. */
__kernel void causal_softmax_backward(const int Tq, const int Tk, const float scale,
                                      const int accumulate, __global const float *y,
                                      __global const float *dy, __global float *dx)
{
    __local float scratch[CLG_GROUP_MAX];
    const int l = get_local_id(0), L = get_local_size(0), r = get_group_id(0);
    const int seen = r % Tq + Tk - Tq + 1;
    const size_t base = (size_t)r * Tk;
    clg_ksum k = {0.0f, 0.0f};
    for (int j = l; j < seen;) {
        float part = 0.0f;
        for (int t = 0; t < CLG_PLAIN_TERMS && j < seen; t++, j += L)
            part += dy[base + j] * y[base + j];
        ksum_add(&k, part);
    }
    const float dot = group_sum(ksum_value(k), scratch);
    for (int j = l; j < Tk; j += L)
        STORE(dx, base + j, j < seen ? scale * y[base + j] * (dy[base + j] - dot) : 0.0f,
              accumulate);
}

/* The same, a work-item per row (rows over [..., Tq]), for CPUs, where a
 * work-group per short row costs more in barriers than it gains. */
CLG_ROW_LOOP
__kernel void causal_softmax_forward_row(const int rows, const int Tq, const int Tk,
                                         const float scale, __global const float *x,
                                         __global float *y, const int keep_lse,
                                         __global float *lse)
{
    const int r = clg_global_id(0);
    if (r >= rows)
        return;
    const int seen = r % Tq + Tk - Tq + 1;
    __global const float *in = x + (size_t)r * Tk;
    __global float *out = y + (size_t)r * Tk;
    float m = -INFINITY;
    for (int j = 0; j < seen; j++)
        m = fmax(m, scale * in[j]);
    /* The exponentials four at a time (a vector exp: PoCL, whose work-items
     * see rows of different lengths, runs them one by one otherwise), in
     * four compensated lanes, then the tail. */
    clg_ksum4 k4 = {(float4)(0.0f), (float4)(0.0f)};
    const int blocks = seen / 4;
    for (int b = 0; b < blocks;) {
        float4 part = (float4)(0.0f);
        for (int t = 0; t < CLG_PLAIN_TERMS && b < blocks; t++, b++) {
            const float4 e = exp(scale * vload4(b, in) - m);
            vstore4(e, b, out);
            part += e;
        }
        ksum4_add(&k4, part);
    }
    clg_ksum k = {0.0f, 0.0f};
    ksum_add_lanes(&k, k4);
    for (int j = 4 * blocks; j < seen; j++) {
        const float e = exp(scale * in[j] - m);
        out[j] = e;
        ksum_add(&k, e);
    }
    const float sum = ksum_value(k), inv = 1.0f / sum;
    for (int j = 0; j < Tk; j++)
        out[j] = j < seen ? out[j] * inv : 0.0f;
    if (keep_lse)
        lse[r] = m + log(sum);
}

/* The weights again from the scores x and each row's log-sum-exp (of the
 * scaled scores, as the forward kept it): y = exp(scale x - lse) over the
 * keys a row sees, 0 beyond them; an element per work-item, in place. */
__kernel void causal_softmax_recompute(const int n, const int Tq, const int Tk,
                                       const float scale, __global const float *x,
                                       __global const float *lse, __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int r = i / Tk, j = i - r * Tk, seen = r % Tq + Tk - Tq + 1;
    y[i] = j < seen ? exp(scale * x[i] - lse[r]) : 0.0f;
}

/* The same, a work-item per row, for CPUs: the exponentials four at a time
 * over the keys the row sees (a vector exp, as causal_softmax_forward_row),
 * zeros after them. */
CLG_ROW_LOOP
__kernel void causal_softmax_recompute_row(const int rows, const int Tq, const int Tk,
                                           const float scale, __global const float *x,
                                           __global const float *lse,
                                           __global float *y)
{
    const int r = clg_global_id(0);
    if (r >= rows)
        return;
    const int seen = r % Tq + Tk - Tq + 1, blocks = seen / 4;
    const float l = lse[r];
    __global const float *in = x + (size_t)r * Tk;
    __global float *out = y + (size_t)r * Tk;
    for (int b = 0; b < blocks; b++)
        vstore4(exp(scale * vload4(b, in) - l), b, out);
    for (int j = 4 * blocks; j < seen; j++)
        out[j] = exp(scale * in[j] - l);
    for (int j = seen; j < Tk; j++)
        out[j] = 0.0f;
}

CLG_ROW_LOOP
__kernel void causal_softmax_backward_row(const int rows, const int Tq, const int Tk,
                                          const float scale, const int accumulate,
                                          __global const float *y,
                                          __global const float *dy, __global float *dx)
{
    const int r = clg_global_id(0);
    if (r >= rows)
        return;
    const int seen = r % Tq + Tk - Tq + 1;
    const size_t base = (size_t)r * Tk;
    clg_ksum k = {0.0f, 0.0f};
    for (int j = 0; j < seen;) {
        float part = 0.0f;
        for (int t = 0; t < CLG_PLAIN_TERMS && j < seen; t++, j++)
            part += dy[base + j] * y[base + j];
        ksum_add(&k, part);
    }
    const float dot = ksum_value(k);
    for (int j = 0; j < Tk; j++)
        STORE(dx, base + j, j < seen ? scale * y[base + j] * (dy[base + j] - dot) : 0.0f,
              accumulate);
}
