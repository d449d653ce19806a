/* Direct convolutions over [N, C, H, W] with groups: grouped and depthwise
 * conv2d, and transposed convolution, which is conv2d's input gradient run
 * forward (src/ops/gconv.c). Every kernel is written for the convolution
 * x [N, C, H, W] * w [OC, C/G, KH, KW] -> y [N, OC, OH, OW]; geometry as
 * -D constants: C, H, W, OC, OH, OW, KH, KW, SH, SW (stride), PH, PW
 * (padding), DH, DW (dilation), G (groups), BIAS (1: add b[oc]). Output
 * channel oc reads the input channels of its group, oc / (OC/G). */

#include "index.h"

/* Defaults only so the self test can compile the family on its own. */
#ifndef G
#define C 2
#define H 4
#define W 4
#define OC 2
#define OH 4
#define OW 4
#define KH 3
#define KW 3
#define SH 1
#define SW 1
#define PH 1
#define PW 1
#define DH 1
#define DW 1
#define G 2
#define BIAS 0
#endif

#define CPG (C / G)   /* input channels per group */
#define OCPG (OC / G) /* output channels per group */

/* y (=|+=) the convolution of x, one output element per work-item. */
__kernel void gconv_forward(const int n, const int accumulate, __global const float *x,
                            __global const float *w, __global const float *b,
                            __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, oc = (i / (OW * OH)) % OC;
    const int s = i / (OW * OH * OC), g = oc / OCPG;
    float acc = BIAS ? b[oc] : 0.0f;
    for (int ci = 0; ci < CPG; ci++) {
        __global const float *xp = x + ((size_t)s * C + g * CPG + ci) * H * W;
        __global const float *wp = w + ((size_t)oc * CPG + ci) * KH * KW;
        for (int kh = 0; kh < KH; kh++) {
            const int h = oh * SH - PH + kh * DH;
            if (h < 0 || h >= H)
                continue;
            for (int kw = 0; kw < KW; kw++) {
                const int v = ow * SW - PW + kw * DW;
                if (v >= 0 && v < W)
                    acc += xp[h * W + v] * wp[kh * KW + kw];
            }
        }
    }
    y[i] = accumulate ? y[i] + acc : acc;
}

/* dx (=|+=) the gradient of x from dy, one input element per work-item: the
 * outputs whose windows hold it, gathered (no two work-items write one
 * element). */
__kernel void gconv_input_grad(const int n, const int accumulate,
                               __global const float *dy, __global const float *w,
                               __global const float *b, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int v = i % W, h = (i / W) % H, c = (i / (W * H)) % C;
    const int s = i / (W * H * C), g = c / CPG, ci = c % CPG;
    float acc = BIAS ? b[c] : 0.0f;
    for (int o = 0; o < OCPG; o++) {
        const int oc = g * OCPG + o;
        __global const float *dyp = dy + ((size_t)s * OC + oc) * OH * OW;
        __global const float *wp = w + ((size_t)oc * CPG + ci) * KH * KW;
        for (int kh = 0; kh < KH; kh++) {
            const int th = h + PH - kh * DH;
            if (th < 0 || th % SH)
                continue;
            const int oh = th / SH;
            if (oh >= OH)
                continue;
            for (int kw = 0; kw < KW; kw++) {
                const int tw = v + PW - kw * DW;
                if (tw < 0 || tw % SW)
                    continue;
                const int ow = tw / SW;
                if (ow < OW)
                    acc += dyp[oh * OW + ow] * wp[kh * KW + kw];
            }
        }
    }
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* Partial weight gradients: work-item (part, e) sums x * dy for weight
 * element e over the samples part, part + parts, ... of the batch of N;
 * gconv_weight_sum adds the parts in order, so the result does not depend on
 * the device's scheduling. */
__kernel void gconv_weight_grad(const int n, const int N, const int parts,
                                __global const float *x, __global const float *dy,
                                __global float *partial)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int e = i % (OC * CPG * KH * KW), part = i / (OC * CPG * KH * KW);
    const int kw = e % KW, kh = (e / KW) % KH, ci = (e / (KW * KH)) % CPG;
    const int oc = e / (KW * KH * CPG), c = oc / OCPG * CPG + ci;
    float acc = 0.0f;
    for (int s = part; s < N; s += parts) {
        __global const float *xp = x + ((size_t)s * C + c) * H * W;
        __global const float *dyp = dy + ((size_t)s * OC + oc) * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            const int h = oh * SH - PH + kh * DH;
            if (h < 0 || h >= H)
                continue;
            for (int ow = 0; ow < OW; ow++) {
                const int v = ow * SW - PW + kw * DW;
                if (v >= 0 && v < W)
                    acc += xp[h * W + v] * dyp[oh * OW + ow];
            }
        }
    }
    partial[i] = acc;
}

__kernel void gconv_weight_sum(const int n, const int parts, const int accumulate,
                               __global const float *partial, __global float *dw)
{
    const int e = clg_global_id(0);
    if (e >= n)
        return;
    float acc = 0.0f;
    for (int part = 0; part < parts; part++)
        acc += partial[(size_t)part * n + e];
    dw[e] = accumulate ? dw[e] + acc : acc;
}

/* ---- A row per work-item, for CPUs (clg_rows_per_item) ---------------------
 * Along a row, output ow reads input ow SW + off (off = kw DW - PW), which
 * lies inside the row for ow in [lo, hi): the loops over that range have no
 * conditions, and at stride 1 the compiler vectorises them. */

#define VALID_RANGE(off, lo, hi)                                               \
    const int lo = (off) < 0 ? (-(off) + SW - 1) / SW : 0;                     \
    const int hi_ = (W - 1 - (off)) < 0 ? 0 : (W - 1 - (off)) / SW + 1;        \
    const int hi = hi_ < OW ? hi_ : OW

/* Output row (s, oc, oh) (=|+=) its windows' sums. */
CLG_ROW_LOOP
__kernel void gconv_forward_rows(const int n, const int accumulate,
                                 __global const float *x, __global const float *w,
                                 __global const float *b, __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int oh = i % OH, oc = (i / OH) % OC, s = i / (OH * OC), g = oc / OCPG;
    __global float *yr = y + (size_t)i * OW;
    const float start = BIAS ? b[oc] : 0.0f;
    for (int ow = 0; ow < OW; ow++)
        yr[ow] = accumulate ? yr[ow] + start : start;
    for (int ci = 0; ci < CPG; ci++) {
        __global const float *xp = x + ((size_t)s * C + g * CPG + ci) * H * W;
        __global const float *wp = w + ((size_t)oc * CPG + ci) * KH * KW;
        for (int kh = 0; kh < KH; kh++) {
            const int h = oh * SH - PH + kh * DH;
            if (h < 0 || h >= H)
                continue;
            __global const float *xr = xp + h * W;
            for (int kw = 0; kw < KW; kw++) {
                const int off = kw * DW - PW;
                const float wv = wp[kh * KW + kw];
                VALID_RANGE(off, lo, hi);
                for (int ow = lo; ow < hi; ow++)
                    yr[ow] += xr[ow * SW + off] * wv;
            }
        }
    }
}

/* Input row (s, c, h) (=|+=) the gradient of its elements: each output
 * row whose windows hold it scatters into it, within this work-item. */
CLG_ROW_LOOP
__kernel void gconv_input_grad_rows(const int n, const int accumulate,
                                    __global const float *dy, __global const float *w,
                                    __global const float *b, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int h = i % H, c = (i / H) % C, s = i / (H * C), g = c / CPG, ci = c % CPG;
    __global float *xr = dx + (size_t)i * W;
    const float start = BIAS ? b[c] : 0.0f;
    for (int v = 0; v < W; v++)
        xr[v] = accumulate ? xr[v] + start : start;
    for (int o = 0; o < OCPG; o++) {
        const int oc = g * OCPG + o;
        __global const float *dyp = dy + ((size_t)s * OC + oc) * OH * OW;
        __global const float *wp = w + ((size_t)oc * CPG + ci) * KH * KW;
        for (int kh = 0; kh < KH; kh++) {
            const int th = h + PH - kh * DH;
            if (th < 0 || th % SH || th / SH >= OH)
                continue;
            __global const float *dr = dyp + (th / SH) * OW;
            for (int kw = 0; kw < KW; kw++) {
                const int off = kw * DW - PW;
                const float wv = wp[kh * KW + kw];
                VALID_RANGE(off, lo, hi);
                for (int ow = lo; ow < hi; ow++)
                    xr[ow * SW + off] += dr[ow] * wv;
            }
        }
    }
}

/* Partial weight gradients by (part, oc, ci): the KH x KW sums over the
 * samples part, part + parts, ..., each a dot product of an input row
 * segment and an output gradient row, eight lanes at a time at stride 1.
 * partial is laid out as gconv_weight_grad's, for gconv_weight_sum. */
CLG_ROW_LOOP
__kernel void gconv_weight_grad_rows(const int n, const int N, const int parts,
                                     __global const float *x, __global const float *dy,
                                     __global float *partial)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ci = i % CPG, oc = (i / CPG) % OC, part = i / (CPG * OC);
    const int c = oc / OCPG * CPG + ci;
    float acc[KH * KW];
    for (int k = 0; k < KH * KW; k++)
        acc[k] = 0.0f;
    for (int s = part; s < N; s += parts) {
        __global const float *xp = x + ((size_t)s * C + c) * H * W;
        __global const float *dyp = dy + ((size_t)s * OC + oc) * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            __global const float *dr = dyp + oh * OW;
            for (int kh = 0; kh < KH; kh++) {
                const int h = oh * SH - PH + kh * DH;
                if (h < 0 || h >= H)
                    continue;
                __global const float *xr = xp + h * W;
                for (int kw = 0; kw < KW; kw++) {
                    const int off = kw * DW - PW;
                    VALID_RANGE(off, lo, hi);
                    int ow = lo;
                    float8 lanes = (float8)(0.0f);
                    if (SW == 1)
                        for (; ow + 8 <= hi; ow += 8)
                            lanes += vload8(0, xr + ow + off) * vload8(0, dr + ow);
                    float sum = ((lanes.s0 + lanes.s1) + (lanes.s2 + lanes.s3)) +
                                ((lanes.s4 + lanes.s5) + (lanes.s6 + lanes.s7));
                    for (; ow < hi; ow++)
                        sum += xr[ow * SW + off] * dr[ow];
                    acc[kh * KW + kw] += sum;
                }
            }
        }
    }
    const int e0 = (oc * CPG + ci) * KH * KW, weights = OC * CPG * KH * KW;
    for (int k = 0; k < KH * KW; k++)
        partial[(size_t)part * weights + e0 + k] = acc[k];
}
