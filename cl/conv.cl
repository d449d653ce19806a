/* conv2d as im2col + GEMM. col is [N, C*KH*KW, OH*OW]: row r = (c, kh, kw),
 * column p = (oh, ow). Geometry comes as -D constants:
 * C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW. */

/* Defaults only so the self test can compile the family on its own. */
#ifndef C
#define C 1
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

__kernel void im2col(const int n, __global const float *x, __global float *col)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const int p = i % P, r = (i / P) % CKK, b = i / (P * CKK);
    const int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
    const int h = (p / OW) * SH - PH + kh * DH, w = (p % OW) * SW - PW + kw * DW;
    col[i] = h >= 0 && h < H && w >= 0 && w < W
                 ? x[(((size_t)b * C + c) * H + h) * W + w]
                 : 0.0f;
}

/* The same, one work-item per row of col (i over [N, CKK, OH]): OW
 * neighbouring elements, index arithmetic once per row. CPUs take it
 * (src/ops/conv.c); a GPU's neighbouring work-items should write
 * neighbouring floats, as im2col's do. */
__kernel void im2col_rows(const int n, __global const float *x, __global float *col)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const int oh = i % OH, r = (i / OH) % CKK, b = i / (OH * CKK);
    const int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
    const int h = oh * SH - PH + kh * DH;
    __global float *out = col + ((size_t)b * CKK + r) * P + oh * OW;
    if (h < 0 || h >= H) {
        for (int ow = 0; ow < OW; ow++)
            out[ow] = 0.0f;
        return;
    }
    __global const float *in = x + (((size_t)b * C + c) * H + h) * W;
    for (int ow = 0; ow < OW; ow++) {
        const int w = ow * SW - PW + kw * DW;
        out[ow] = w >= 0 && w < W ? in[w] : 0.0f;
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
__kernel void col2im(const int n, const int accumulate, __global const float *dcol,
                     __global float *dx)
{
    const int i = get_global_id(0);
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
                acc += dcol[((size_t)b * CKK + r) * P + oh * OW + ow];
        }
    }
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* The same, one work-item per row of dx (i over [N, C, H]), for CPUs; each
 * element adds its taps in col2im's order. */
__kernel void col2im_rows(const int n, const int accumulate, __global const float *dcol,
                          __global float *dx)
{
    const int i = get_global_id(0);
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
            __global const float *row = dcol + ((size_t)b * CKK + r) * P + oh * OW;
#if W <= 32 /* unrolled, PoCL keeps acc in registers: 1.3-1.5 -> 0.55-0.97 ms */
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
