/* 2-d max and average pooling over [N, C, H, W], square windows. Geometry as
 * -D constants: H, W, K (kernel), S (stride), PAD, OH, OW. */

#include "index.h"

/* Defaults only so the self test can compile the family on its own. */
#ifndef K
#define H 4
#define W 4
#define K 2
#define S 2
#define PAD 0
#define OH 2
#define OW 2
#endif

/* Max pooling pads with -inf; argmax holds the winning h * W + w. */
__kernel void max_pool_forward(const int n, __global const float *x, __global float *y,
                               __global int *argmax)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, plane = i / (OW * OH);
    __global const float *xp = x + (size_t)plane * H * W;
    float best = -INFINITY;
    int at = -1;
    for (int kh = 0; kh < K; kh++) {
        const int h = oh * S - PAD + kh;
        if (h < 0 || h >= H)
            continue;
        for (int kw = 0; kw < K; kw++) {
            const int w = ow * S - PAD + kw;
            if (w < 0 || w >= W)
                continue;
            const float v = xp[h * W + w];
            if (v > best || at < 0 || isnan(v)) { /* NaN wins, as in PyTorch */
                best = v;
                at = h * W + w;
                if (isnan(v))
                    break;
            }
        }
    }
    y[i] = best;
    argmax[i] = at;
}

/* Non-overlapping windows that tile the input exactly (K == S, no padding,
 * H and W multiples of K; the host picks these kernels then): no bounds
 * checks, and backward scatters each window's gradient to its own K x K
 * inputs, which no other work-item writes. */
__kernel void max_pool_forward_tiled(const int n, __global const float *x,
                                     __global float *y, __global int *argmax)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, plane = i / (OW * OH);
    __global const float *xp = x + (size_t)plane * H * W + (oh * K) * W + ow * K;
    float best = xp[0];
    int at = 0;
#if K == 2 /* the common 2 x 2 window: two 2-wide loads (faster on PoCL) */
    const float2 r0 = vload2(0, xp), r1 = vload2(0, xp + W);
    /* Written out: a loop over arrays of the three was slower. */
    const float v1 = r0.y, v2 = r1.x, v3 = r1.y;
    if (v1 > best || isnan(v1)) {
        best = v1;
        at = 1;
    }
    if (v2 > best || isnan(v2)) {
        best = v2;
        at = W;
    }
    if (v3 > best || isnan(v3)) {
        best = v3;
        at = W + 1;
    }
#else
    for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) {
            const float v = xp[kh * W + kw];
            if (v > best || isnan(v)) {
                best = v;
                at = kh * W + kw;
            }
        }
#endif
    y[i] = best;
    argmax[i] = (oh * K) * W + ow * K + at;
}

__kernel void max_pool_backward_tiled(const int n, const int accumulate,
                                      __global const float *dy, __global const int *argmax,
                                      __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, plane = i / (OW * OH);
    const int corner = (oh * K) * W + ow * K;
    __global float *dp = dx + (size_t)plane * H * W;
#if K == 2 /* two 2-wide stores */
    const int a = argmax[i] - corner;
    const float g = dy[i];
    float2 top = (float2)(a == 0 ? g : 0.0f, a == 1 ? g : 0.0f);
    float2 bottom = (float2)(a == W ? g : 0.0f, a == W + 1 ? g : 0.0f);
    if (accumulate) {
        top += vload2(0, dp + corner);
        bottom += vload2(0, dp + corner + W);
    }
    vstore2(top, 0, dp + corner);
    vstore2(bottom, 0, dp + corner + W);
#else
    for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) {
            const int at = corner + kh * W + kw;
            const float v = at == argmax[i] ? dy[i] : 0.0f;
            dp[at] = accumulate ? dp[at] + v : v;
        }
#endif
}

/* The output windows that contain input row (or column) h, of `count`
 * output rows (columns): oh in [lo, hi]. */
#define WINDOWS(h, lo, hi, count)                                              \
    const int lo = (h) + PAD - K + 1 <= 0 ? 0 : ((h) + PAD - K + S) / S;      \
    const int hi_ = ((h) + PAD) / S;                                           \
    const int hi = hi_ < (count) - 1 ? hi_ : (count) - 1

__kernel void max_pool_backward(const int n, const int accumulate,
                                __global const float *dy, __global const int *argmax,
                                __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int w = i % W, h = (i / W) % H, plane = i / (W * H);
    WINDOWS(h, oh0, oh1, OH);
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++) {
        WINDOWS(w, ow0, ow1, OW);
        for (int ow = ow0; ow <= ow1; ow++) {
            const size_t o = ((size_t)plane * OH + oh) * OW + ow;
            if (argmax[o] == h * W + w)
                acc += dy[o];
        }
    }
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* Average pooling counts padding: every window divides by K * K. */
__kernel void avg_pool_forward(const int n, __global const float *x, __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int ow = i % OW, oh = (i / OW) % OH, plane = i / (OW * OH);
    __global const float *xp = x + (size_t)plane * H * W;
    float acc = 0.0f;
    for (int kh = 0; kh < K; kh++) {
        const int h = oh * S - PAD + kh;
        if (h < 0 || h >= H)
            continue;
        for (int kw = 0; kw < K; kw++) {
            const int w = ow * S - PAD + kw;
            if (w >= 0 && w < W)
                acc += xp[h * W + w];
        }
    }
    y[i] = acc / (float)(K * K);
}

__kernel void avg_pool_backward(const int n, const int accumulate,
                                __global const float *dy, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int w = i % W, h = (i / W) % H, plane = i / (W * H);
    WINDOWS(h, oh0, oh1, OH);
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++) {
        WINDOWS(w, ow0, ow1, OW);
        for (int ow = ow0; ow <= ow1; ow++)
            acc += dy[((size_t)plane * OH + oh) * OW + ow];
    }
    acc /= (float)(K * K);
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* The tiled kernels one output row per work-item (i over planes x OH), for
 * CPUs: the row's index arithmetic once, and a loop over the windows the
 * compiler vectorises. The same comparisons in the same order as above.
 * 2 x 2 windows go four at a time in vectors (a float8 of each input row
 * holds four windows' halves): Intel's runtime gathered the stride-2 loads
 * of the scalar loop (docs/performance.md). */
CLG_ROW_LOOP
__kernel void max_pool_forward_tiled_rows(const int n, __global const float *x,
                                          __global float *y, __global int *argmax)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int oh = i % OH, plane = i / OH;
    const int top = (oh * K) * W; /* the windows' first input row, in the plane */
    __global const float *xp = x + (size_t)plane * H * W + top;
    __global float *yp = y + (size_t)i * OW;
    __global int *ap = argmax + (size_t)i * OW;
#if K == 2
    /* four windows at a time from two float8 loads a row */
    int ow = 0;
    for (; ow + 4 <= OW; ow += 4) {
        const float8 r0 = vload8(0, xp + 2 * ow), r1 = vload8(0, xp + W + 2 * ow);
        float4 best = r0.even;
        int4 at = (int4)(0);
        int4 take = isgreater(r0.odd, best) | isnan(r0.odd);
        best = select(best, r0.odd, take);
        at = select(at, (int4)(1), take);
        take = isgreater(r1.even, best) | isnan(r1.even);
        best = select(best, r1.even, take);
        at = select(at, (int4)(W), take);
        take = isgreater(r1.odd, best) | isnan(r1.odd);
        best = select(best, r1.odd, take);
        at = select(at, (int4)(W + 1), take);
        vstore4(best, 0, yp + ow);
        vstore4(top + 2 * (ow + (int4)(0, 1, 2, 3)) + at, 0, ap + ow);
    }
    for (; ow < OW; ow++) {
#else
    for (int ow = 0; ow < OW; ow++) {
#endif
        float best = xp[ow * K];
        int at = 0;
#pragma unroll
        for (int kh = 0; kh < K; kh++)
#pragma unroll
            for (int kw = kh == 0; kw < K; kw++) {
                const float v = xp[kh * W + ow * K + kw];
                const bool take = v > best || isnan(v);
                best = take ? v : best;
                at = take ? kh * W + kw : at;
            }
        yp[ow] = best;
        ap[ow] = top + ow * K + at;
    }
}

CLG_ROW_LOOP
__kernel void max_pool_backward_tiled_rows(const int n, const int accumulate,
                                           __global const float *dy,
                                           __global const int *argmax, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int oh = i % OH, plane = i / OH;
    const int top = (oh * K) * W;
    __global float *dp = dx + (size_t)plane * H * W + top;
    __global const float *gy = dy + (size_t)i * OW;
    __global const int *ap = argmax + (size_t)i * OW;
    /* Input row by input row, each written front to back (the windows tile
     * it: W = OW * K); a window's maximum is at top + kh * W + w. */
#if K == 2
    for (int kh = 0; kh < 2; kh++) {
        __global float *row = dp + kh * W;
        const int at = top + kh * W;
        int ow = 0;
        for (; ow + 4 <= OW; ow += 4) {
            const int4 a = vload4(0, ap + ow) - (at + 2 * (ow + (int4)(0, 1, 2, 3)));
            const float4 g = vload4(0, gy + ow), z = (float4)(0.0f);
            const float4 e = select(z, g, a == 0), o = select(z, g, a == 1);
            float8 v = (float8)(e.s0, o.s0, e.s1, o.s1, e.s2, o.s2, e.s3, o.s3);
            if (accumulate)
                v += vload8(0, row + 2 * ow);
            vstore8(v, 0, row + 2 * ow);
        }
        for (int w = 2 * ow; w < W; w++) {
            const float v = ap[w / 2] == at + w ? gy[w / 2] : 0.0f;
            row[w] = accumulate ? row[w] + v : v;
        }
    }
#else
    for (int kh = 0; kh < K; kh++) {
        __global float *row = dp + kh * W;
        const int at = top + kh * W;
        if (accumulate)
            for (int w = 0; w < W; w++)
                row[w] += ap[w / K] == at + w ? gy[w / K] : 0.0f;
        else
            for (int w = 0; w < W; w++)
                row[w] = ap[w / K] == at + w ? gy[w / K] : 0.0f;
    }
#endif
}
