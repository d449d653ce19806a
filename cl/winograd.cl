/* conv2d 3x3, stride 1, dilation 1 as Winograd F(2x2, 3x3) (Lavin and
 * Gray, 2015): each 2x2 tile of the output from the 4x4 tile of input
 * under it, in 16 products where the window takes 36:
 *
 *   y = A^T [(G g G^T) . (B^T d B)] A        (. elementwise, per channel pair)
 *
 * summed over input channels, which makes 16 GEMMs over the batch's tiles
 * (src/ops/conv.c): M[xi] [OC, T] = U[xi] [OC, C] V[xi] [C, T], xi over the
 * 4x4 points. The input gradient is itself such a convolution (of dy,
 * padded by 2 - PH, by the windows turned 180 degrees with input and
 * output channels swapped: FLIP), whose output tiles do not overlap; the
 * weight gradient goes by im2col's GEMM (src/ops/conv.c says why).
 *
 * Layouts: U [16, OC, C]; V [16, C, T]; M [16, OC, T], T = BATCH TH TW
 * tiles, t = (b TH + th) TW + tw. Tile (th, tw) covers output rows 2 th,
 * 2 th + 1 (the second past the end when OH is odd: not written) and
 * input rows 2 th - PH .. 2 th - PH + 3 (zero outside x). Geometry comes
 * as conv.cl's -D constants, the batch too (BATCH: the tiles' index
 * arithmetic is much of a transform's work). */

#include "index.h"

/* Defaults only so the self test can compile the family on its own. */
#ifndef C
#define C  1
#define OC 1
#define H  3
#define W  3
#define PH 1
#define PW 1
#define OH 3
#define OW 3
#endif

#ifndef BATCH
#define BATCH 1
#endif
#ifndef FLIP
#define FLIP 0
#endif

#define TH    ((OH + 1) / 2)
#define TW    ((OW + 1) / 2)
#define TILES (TH * TW) /* one image's */

/* The 1-d transforms, on four (or three) scalars named by a prefix and
 * written to four (two) named by another. Private arrays would cost PoCL
 * its vectorisation across work-items (it keeps them in memory per
 * work-item: 8 KB of stack a work-group; docs/performance.md), so every
 * value is a scalar of its own. */
#define BT4(o, d0, d1, d2, d3)                                                         \
    const float o##0 = (d0) - (d2), o##1 = (d1) + (d2), o##2 = (d2) - (d1),            \
                o##3 = (d1) - (d3)
#define G3(o, g0, g1, g2)                                                              \
    const float o##0 = (g0), o##1 = 0.5f * ((g0) + (g1) + (g2)),                       \
                o##2 = 0.5f * ((g0) - (g1) + (g2)), o##3 = (g2)
#define AT4(o, m0, m1, m2, m3)                                                         \
    const float o##0 = (m0) + (m1) + (m2), o##1 = (m1) - (m2) - (m3)

/* U[xi][oc][c] = (G g G^T)[xi] for g = w[oc][c], i = oc C + c;
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. With FLIP, g is
 * w[c][oc] turned by 180 degrees: the window of the input gradient's
 * convolution, whose input channels are the forward's output channels. */
__kernel void wino_filter(const int n, __global const float *restrict w,
                          __global float *restrict U)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
#if FLIP
    __global const float *f = w + ((size_t)(i % C) * OC + i / C) * 9;
#define g(k) f[8 - (k)]
#else
    __global const float *f = w + (size_t)i * 9;
#define g(k) f[k]
#endif
    G3(a, g(0), g(3), g(6)); /* column 0 of G g: a0..a3 */
    G3(b, g(1), g(4), g(7));
    G3(c, g(2), g(5), g(8));
#undef g
    G3(r0, a0, b0, c0); /* row r of (G g) G^T */
    G3(r1, a1, b1, c1);
    G3(r2, a2, b2, c2);
    G3(r3, a3, b3, c3);
    __global float *u = U + i;
    const size_t s = (size_t)n;
    u[0] = r00, u[s] = r01, u[2 * s] = r02, u[3 * s] = r03;
    u[4 * s] = r10, u[5 * s] = r11, u[6 * s] = r12, u[7 * s] = r13;
    u[8 * s] = r20, u[9 * s] = r21, u[10 * s] = r22, u[11 * s] = r23;
    u[12 * s] = r30, u[13 * s] = r31, u[14 * s] = r32, u[15 * s] = r33;
}

#define INLINE static inline __attribute__((always_inline))

/* The transforms of one tile; s: the stride between V's or M's 16
 * planes. A work-item per tile; the output transform also as a row of
 * tiles per work-item (wino_output_rows) for Intel's CPU runtime. */

/* V[xi] at v = (B^T d B)[xi], d the 4x4 tile of plane at tile (th, tw)
 * (zero outside x); B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
INLINE void input_tile(__global const float *plane, const int th, const int tw,
                       __global float *v, const size_t s)
{
    const int h0 = 2 * th - PH, w0 = 2 * tw - PW;
#define IN(r, c)                                                                       \
    (h0 + (r) >= 0 && h0 + (r) < H && w0 + (c) >= 0 && w0 + (c) < W                    \
         ? plane[(h0 + (r)) * W + w0 + (c)]                                            \
         : 0.0f)
    BT4(a, IN(0, 0), IN(1, 0), IN(2, 0), IN(3, 0)); /* column 0 of B^T d */
    BT4(b, IN(0, 1), IN(1, 1), IN(2, 1), IN(3, 1));
    BT4(c, IN(0, 2), IN(1, 2), IN(2, 2), IN(3, 2));
    BT4(d, IN(0, 3), IN(1, 3), IN(2, 3), IN(3, 3));
#undef IN
    BT4(r0, a0, b0, c0, d0); /* row r of (B^T d) B */
    BT4(r1, a1, b1, c1, d1);
    BT4(r2, a2, b2, c2, d2);
    BT4(r3, a3, b3, c3, d3);
    v[0] = r00, v[s] = r01, v[2 * s] = r02, v[3 * s] = r03;
    v[4 * s] = r10, v[5 * s] = r11, v[6 * s] = r12, v[7 * s] = r13;
    v[8 * s] = r20, v[9 * s] = r21, v[10 * s] = r22, v[11 * s] = r23;
    v[12 * s] = r30, v[13 * s] = r31, v[14 * s] = r32, v[15 * s] = r33;
}

/* The output tile (th, tw) of plane (=|+=) A^T M A + add, its in-range
 * part; A^T = [1 1 1 0; 0 1 -1 -1]. */
INLINE void output_tile(__global const float *m, const size_t s, const float add,
                        const int accumulate, const int th, const int tw,
                        __global float *plane)
{
    AT4(a, m[0], m[4 * s], m[8 * s], m[12 * s]); /* column 0 of A^T M */
    AT4(b, m[s], m[5 * s], m[9 * s], m[13 * s]);
    AT4(c, m[2 * s], m[6 * s], m[10 * s], m[14 * s]);
    AT4(d, m[3 * s], m[7 * s], m[11 * s], m[15 * s]);
    AT4(r0, a0, b0, c0, d0); /* row r of (A^T M) A */
    AT4(r1, a1, b1, c1, d1);
    const int h = 2 * th, w = 2 * tw;
    __global float *out = plane + h * OW + w;
#define PUT(k, v) out[k] = accumulate ? out[k] + (v) + add : (v) + add
    PUT(0, r00);
    if (w + 1 < OW)
        PUT(1, r01);
    if (h + 1 < OH) {
        PUT(OW, r10);
        if (w + 1 < OW)
            PUT(OW + 1, r11);
    }
#undef PUT
}

#define T_ALL (BATCH * TILES)

/* V from x, i over [C, N TILES]. */
__kernel void wino_input(const int n, __global const float *restrict x,
                         __global float *restrict V)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int c = i / T_ALL, t = i - c * T_ALL;
    const int b = t / TILES, th = (t / TW) % TH, tw = t % TW;
    input_tile(x + ((size_t)b * C + c) * H * W, th, tw, V + i, (size_t)C * T_ALL);
}

/* y (=|+=) A^T M A (+ bias), i over [OC, N TILES]. */
__kernel void wino_output(const int n, const int has_bias, const int accumulate,
                          __global const float *restrict M,
                          __global const float *restrict bias,
                          __global float *restrict y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int oc = i / T_ALL, t = i - oc * T_ALL;
    const int b = t / TILES, th = (t / TW) % TH, tw = t % TW;
    output_tile(M + i, (size_t)OC * T_ALL, has_bias ? bias[oc] : 0.0f, accumulate, th,
                tw, y + ((size_t)b * OC + oc) * OH * OW);
}

/* The same, i over [OC, N, TH]: Intel's CPU runtime then vectorises
 * along the row; by rows the input transforms (16 planes' stores each)
 * ran slower there and on PoCL, and PoCL's output transform too
 * (docs/performance.md). */
CLG_ROW_LOOP
__kernel void wino_output_rows(const int n, const int has_bias, const int accumulate,
                               __global const float *restrict M,
                               __global const float *restrict bias,
                               __global float *restrict y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const int oc = i / (BATCH * TH), b = (i / TH) % BATCH, th = i % TH;
    const float add = has_bias ? bias[oc] : 0.0f;
    __global const float *m = M + (size_t)oc * T_ALL + (b * TH + th) * TW;
    __global float *plane = y + ((size_t)b * OC + oc) * OH * OW;
    for (int tw = 0; tw < TW; tw++)
        output_tile(m + tw, (size_t)OC * T_ALL, add, accumulate, th, tw, plane);
}
