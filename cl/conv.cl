/* conv2d as im2col + one GEMM over the whole batch. col is
 * [C*KH*KW, N*OH*OW]: row r = (c, kh, kw), column b * P + p with p = (oh, ow),
 * so that W [OC, CKK] col is every sample's output at once, as [OC, N, P]
 * (conv_output puts it back to [N, OC, P]). Geometry comes as -D constants:
 * C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW; the batch N is an
 * argument (a plan's last batch may be partial). */

#include "index.h"

/* Defaults only so the self test can compile the family on its own. */
#ifndef C
#define C 1
#define OC 1
#define H 3
#define W 3
#define KH 3
#define KW 3
#define SH 1
#define SW 1
#define PH 1
#define PW 1
#define DH 1
#define DW 1
#define OH 3
#define OW 3
#endif

#define P (OH * OW)
#define CKK (C * KH * KW)

__kernel void im2col(const int n, const int batch, __global const float *x,
                     __global float *col)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int p = i % P, b = (i / P) % batch, r = i / (P * batch);
    const int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
    const int h = (p / OW) * SH - PH + kh * DH, w = (p % OW) * SW - PW + kw * DW;
    col[i] = h >= 0 && h < H && w >= 0 && w < W
                 ? x[(((size_t)b * C + c) * H + h) * W + w]
                 : 0.0f;
}

/* The same, one work-item per (c, b, oh) (i over [C, N, OH]) writing that
 * output row's KH KW rows of col, OW neighbouring elements each, index
 * arithmetic once for them all. CPUs take it (src/ops/conv.c); a GPU's
 * neighbouring work-items should write neighbouring floats, as im2col's
 * do. A work-item per row of col (i over [CKK, N, OH]) was several times
 * slower on both CPU runtimes (docs/performance.md). */
CLG_ROW_LOOP
__kernel void im2col_rows(const int n, const int batch, __global const float *restrict x,
                          __global float *restrict col)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int oh = i % OH, b = (i / OH) % batch, c = i / (OH * batch);
    for (int kh = 0; kh < KH; kh++) {
        const int h = oh * SH - PH + kh * DH;
        const bool in_h = h >= 0 && h < H;
        __global const float *in = x + (((size_t)b * C + c) * H + (in_h ? h : 0)) * W;
        for (int kw = 0; kw < KW; kw++) {
            const int r = (c * KH + kh) * KW + kw;
            __global float *out = col + ((size_t)r * batch + b) * P + oh * OW;
#if OW <= 32 /* unrolled: each column's padding test is then a constant */
#pragma unroll
#endif
            for (int ow = 0; ow < OW; ow++) {
                const int w = ow * SW - PW + kw * DW;
                out[ow] = in_h && w >= 0 && w < W ? in[w] : 0.0f;
            }
        }
    }
}

/* The output row that window tap kh reads from input row h, or -1 if none;
 * the same for columns. */
static int tap_row(const int h, const int kh)
{
    const int hn = h + PH - kh * DH;
    return hn >= 0 && hn % SH == 0 && hn / SH < OH ? hn / SH : -1;
}

static int tap_col(const int w, const int kw)
{
    const int wn = w + PW - kw * DW;
    return wn >= 0 && wn % SW == 0 && wn / SW < OW ? wn / SW : -1;
}

/* dx[b, c, h, w] (=|+=) the sum of the dcol entries that im2col copied from
 * x[b, c, h, w]: a gather, so no two work-items write one element. */
__kernel void col2im(const int n, const int batch, const int accumulate,
                     __global const float *dcol, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, b = i / (W * H * C);
    float acc = 0.0f;
    for (int kh = 0; kh < KH; kh++) {
        const int oh = tap_row(h, kh);
        for (int kw = 0; oh >= 0 && kw < KW; kw++) {
            const int ow = tap_col(w, kw);
            const int r = (c * KH + kh) * KW + kw;
            if (ow >= 0)
                acc += dcol[((size_t)r * batch + b) * P + oh * OW + ow];
        }
    }
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* The same, one work-item per row of dx (i over [N, C, H]), for CPUs; each
 * element adds its taps in col2im's order. */
CLG_ROW_LOOP
__kernel void col2im_rows(const int n, const int batch, const int accumulate,
                          __global const float *dcol, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int h = i % H, c = (i / H) % C, b = i / (H * C);
    __global float *out = dx + (size_t)i * W;
    float acc[W];
    for (int w = 0; w < W; w++)
        acc[w] = 0.0f;
    for (int kh = 0; kh < KH; kh++) {
        const int oh = tap_row(h, kh);
        for (int kw = 0; oh >= 0 && kw < KW; kw++) {
            const int r = (c * KH + kh) * KW + kw;
            __global const float *row = dcol + ((size_t)r * batch + b) * P + oh * OW;
#if W <= 32 /* unrolled, PoCL keeps acc in registers (docs/performance.md) */
#pragma unroll
#endif
            for (int w = 0; w < W; w++) {
                const int ow = tap_col(w, kw);
                if (ow >= 0)
                    acc[w] += row[ow];
            }
        }
    }
    for (int w = 0; w < W; w++)
        out[w] = accumulate ? out[w] + acc[w] : acc[w];
}

/* y[b, o, p] = ym[o, b * P + p] (+ bias[o] when has_bias): the GEMM's
 * [OC, N, P] product back to [N, OC, P], i over y. */
__kernel void conv_output(const int n, const int batch, const int has_bias,
                          __global const float *ym, __global const float *bias,
                          __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int p = i % P, o = (i / P) % OC, b = i / (P * OC);
    const float v = ym[((size_t)o * batch + b) * P + p];
    y[i] = has_bias ? v + bias[o] : v;
}

/* dym[o, b * P + p] = dy[b, o, p], i over dym: the output's gradient as
 * the GEMMs of backward take it. */
__kernel void conv_output_grad(const int n, const int batch, __global const float *dy,
                               __global float *dym)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int p = i % P, b = (i / P) % batch, o = i / (P * batch);
    dym[i] = dy[((size_t)b * OC + o) * P + p];
}

/* The same two, one work-item per row of P floats (i over [N, OC] and
 * [OC, N]), for CPUs: one division per row instead of per element, and a
 * copy loop the compiler vectorises (docs/performance.md). */
CLG_ROW_LOOP
__kernel void conv_output_rows(const int n, const int batch, const int has_bias,
                               __global const float *ym, __global const float *bias,
                               __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int o = i % OC, b = i / OC;
    __global const float *in = ym + ((size_t)o * batch + b) * P;
    __global float *out = y + (size_t)i * P;
    const float add = has_bias ? bias[o] : 0.0f;
    for (int p = 0; p < P; p++)
        out[p] = in[p] + add;
}

CLG_ROW_LOOP
__kernel void conv_output_grad_rows(const int n, const int batch,
                                    __global const float *dy, __global float *dym)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int b = i % batch, o = i / batch;
    __global const float *in = dy + ((size_t)b * OC + o) * P;
    __global float *out = dym + (size_t)i * P;
    for (int p = 0; p < P; p++)
        out[p] = in[p];
}
