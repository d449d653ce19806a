/* Resampling each plane of [N, C, H, W] to [N, C, OH, OW]: upsampling by
 * whole factors (nearest, and bilinear as PyTorch's align_corners=False),
 * and adaptive average pooling. Geometry as -D constants: H, W, OH, OW, and
 * for upsampling SH, SW (OH = SH H, OW = SW W). Backward kernels gather:
 * each input element sums the outputs it fed, so no two work-items write
 * one element. */

#include "index.h"

/* Defaults only so the self test can compile the family on its own. */
#ifndef OH
#define H 2
#define W 2
#define OH 4
#define OW 4
#define SH 2
#define SW 2
#endif

__kernel void upsample_nearest_forward(const int n, __global const float *x,
                                       __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, plane = i / (OW * OH);
    y[i] = x[((size_t)plane * H + oh / SH) * W + ow / SW];
}

__kernel void upsample_nearest_backward(const int n, const int accumulate,
                                        __global const float *dy, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int w = i % W, h = (i / W) % H, plane = i / (W * H);
    __global const float *d = dy + ((size_t)plane * OH + h * SH) * OW + w * SW;
    float acc = 0.0f;
    for (int a = 0; a < SH; a++)
        for (int b = 0; b < SW; b++)
            acc += d[a * OW + b];
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* Output o's source: the two neighbours lo, hi (hi = lo at the last row)
 * and hi's weight, as PyTorch computes them for align_corners=False from a
 * scale factor s: (o + 0.5) / s - 0.5, clamped at 0. */
#define SOURCE(o, s, size, lo, hi, frac)                                       \
    const float src_##lo = fmax(((float)(o) + 0.5f) / (float)(s) - 0.5f, 0.0f); \
    const int lo = (int)src_##lo;                                              \
    const int hi = lo < (size) - 1 ? lo + 1 : lo;                              \
    const float frac = src_##lo - (float)lo

__kernel void upsample_bilinear_forward(const int n, __global const float *x,
                                        __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, plane = i / (OW * OH);
    SOURCE(oh, SH, H, h0, h1, fh);
    SOURCE(ow, SW, W, w0, w1, fw);
    __global const float *p = x + (size_t)plane * H * W;
    const float top = (1.0f - fw) * p[h0 * W + w0] + fw * p[h0 * W + w1];
    const float bottom = (1.0f - fw) * p[h1 * W + w0] + fw * p[h1 * W + w1];
    y[i] = (1.0f - fh) * top + fh * bottom;
}

/* The weight input index `at` has in output o's interpolation along one
 * axis (0 when it is neither neighbour; both when they coincide). */
static float tap(int o, int s, int size, int at)
{
    SOURCE(o, s, size, lo, hi, frac);
    return (lo == at ? 1.0f - frac : 0.0f) + (hi == at ? frac : 0.0f);
}

__kernel void upsample_bilinear_backward(const int n, const int accumulate,
                                         __global const float *dy, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int w = i % W, h = (i / W) % H, plane = i / (W * H);
    /* outputs whose sources lie within one input row or column of (h, w) */
    const int oh0 = max((h - 1) * SH, 0), oh1 = min((h + 2) * SH, OH);
    const int ow0 = max((w - 1) * SW, 0), ow1 = min((w + 2) * SW, OW);
    __global const float *d = dy + (size_t)plane * OH * OW;
    float acc = 0.0f;
    for (int oh = oh0; oh < oh1; oh++) {
        const float th = tap(oh, SH, H, h);
        if (th == 0.0f)
            continue;
        float row = 0.0f;
        for (int ow = ow0; ow < ow1; ow++)
            row += tap(ow, SW, W, w) * d[oh * OW + ow];
        acc += th * row;
    }
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* Adaptive pooling's bin o of `out` over `size`: [o size / out, ceil((o +
 * 1) size / out)), as PyTorch's AdaptiveAvgPool2d. */
#define BIN_START(o, size, out) ((o) * (size) / (out))
#define BIN_END(o, size, out)   (((o) + 1) * (size) + (out) - 1) / (out)

/* Bins that tile the plane (H a multiple of OH, W of OW: 28 -> 7, 7 -> 1)
 * are fixed windows: loops of constant length, no bounds to look up. */
#define TILED (H % OH == 0 && W % OW == 0)
#define BH    (H / OH)
#define BW    (W / OW)

__kernel void adaptive_avg_pool_forward(const int n, __global const float *x,
                                        __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, plane = i / (OW * OH);
#if TILED
    __global const float *t = x + ((size_t)plane * H + oh * BH) * W + ow * BW;
    float sum = 0.0f;
    for (int h = 0; h < BH; h++)
        for (int w = 0; w < BW; w++)
            sum += t[h * W + w];
    y[i] = sum / (float)(BH * BW);
    return;
#endif
    const int h0 = BIN_START(oh, H, OH), h1 = BIN_END(oh, H, OH);
    const int w0 = BIN_START(ow, W, OW), w1 = BIN_END(ow, W, OW);
    __global const float *p = x + (size_t)plane * H * W;
    float acc = 0.0f;
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++)
            acc += p[h * W + w];
    y[i] = acc / (float)((h1 - h0) * (w1 - w0));
}

__kernel void adaptive_avg_pool_backward(const int n, const int accumulate,
                                         __global const float *dy, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int w = i % W, h = (i / W) % H, plane = i / (W * H);
#if TILED
    const float g = dy[((size_t)plane * OH + h / BH) * OW + w / BW] / (float)(BH * BW);
    dx[i] = accumulate ? dx[i] + g : g;
    return;
#endif
    /* the bins holding h start at or after h OH / H - 1 and end by (h + 1) OH / H */
    const int oh0 = max(h * OH / H - 1, 0), oh1 = min((h + 1) * OH / H + 1, OH);
    const int ow0 = max(w * OW / W - 1, 0), ow1 = min((w + 1) * OW / W + 1, OW);
    __global const float *d = dy + (size_t)plane * OH * OW;
    float acc = 0.0f;
    for (int oh = oh0; oh < oh1; oh++) {
        const int h0 = BIN_START(oh, H, OH), h1 = BIN_END(oh, H, OH);
        if (h < h0 || h >= h1)
            continue;
        for (int ow = ow0; ow < ow1; ow++) {
            const int w0 = BIN_START(ow, W, OW), w1 = BIN_END(ow, W, OW);
            if (w >= w0 && w < w1)
                acc += d[oh * OW + ow] / (float)((h1 - h0) * (w1 - w0));
        }
    }
    dx[i] = accumulate ? dx[i] + acc : acc;
}
