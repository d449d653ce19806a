/* Causal multi-head self-attention in tiles, as FlashAttention computes it:
 * no T x T matrix of scores in global memory. A query row runs an online
 * softmax over the keys it sees, BC at a time (the running maximum m and
 * sum l rescale what is accumulated when a tile raises the maximum), and
 * keeps L = m + log l, its log-sum-exp, for backward; backward recomputes
 * each score from L, as P = exp(s - L).
 *
 * qkv [N, T, 3C] holds q, k, v side by side (head h: columns h D .. h D +
 * D - 1 of each); y, dy [N, T, C]; L, delta [N, HEADS, T]. -D constants:
 * T, C, D (C / HEADS), HEADS, BC (the key tile). A work-item takes one
 * query row (forward, dq) or one key row (dk, dv) of one head. */

#include "index.h"

/* Defaults only so the self test can compile the family on its own. */
#ifndef D
#define T     4
#define C     4
#define D     2
#define HEADS 2
#define BC    16
#endif

#define ROW(n, t) ((size_t)((n)*T + (t)) * 3 * C) /* row t of sample n in qkv */

/* Rows of D floats in vectors of 4 where D allows: the dot products and
 * updates then vectorise within a work-item on CPUs, which run one
 * work-item's loops at a time (CLG_ROW_LOOP). */
#if D % 4 == 0
#define DV  (D / 4)
#define VEC float4
#define VLOAD(p, k) vload4(k, p)
#define VSUM(v)     ((v).x + (v).y + (v).z + (v).w)
#else
#define DV  D
#define VEC float
#define VLOAD(p, k) ((p)[k])
#define VSUM(v)     (v)
#endif

static float dot_d(const VEC *a, __global const float *b)
{
    VEC s = 0.0f;
    for (int d = 0; d < DV; d++)
        s += a[d] * VLOAD(b, d);
    return VSUM(s);
}

/* y (and L) for query row i of head h of sample n. */
CLG_ROW_LOOP
__kernel void flash_forward(const int n_items, const float scale,
                            __global const float *qkv, __global float *y,
                            __global float *lse)
{
    const int g = clg_global_id(0);
    if (g >= n_items)
        return;
    const int i = g % T, h = (g / T) % HEADS, n = g / (T * HEADS);
    VEC q[DV], acc[DV];
    float s[BC];
    __global const float *qp = qkv + ROW(n, i) + h * D;
    for (int d = 0; d < DV; d++)
        q[d] = VLOAD(qp, d) * scale, acc[d] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 <= i; j0 += BC) {
        const int jn = i + 1 - j0 < BC ? i + 1 - j0 : BC;
        float top = -INFINITY;
        for (int t = 0; t < jn; t++) {
            s[t] = dot_d(q, qkv + ROW(n, j0 + t) + C + h * D);
            top = fmax(top, s[t]);
        }
        const float m_new = fmax(m, top), keep = exp(m - m_new);
        l *= keep;
        for (int d = 0; d < DV; d++)
            acc[d] *= keep;
        for (int t = 0; t < jn; t++) {
            const float p = exp(s[t] - m_new);
            __global const float *v = qkv + ROW(n, j0 + t) + 2 * C + h * D;
            l += p;
            for (int d = 0; d < DV; d++)
                acc[d] += p * VLOAD(v, d);
        }
        m = m_new;
    }
    __global float *yp = y + (size_t)(n * T + i) * C + h * D;
    const float inv = 1.0f / l;
    for (int d = 0; d < DV; d++) {
        const VEC out = acc[d] * inv;
#if D % 4 == 0
        vstore4(out, d, yp);
#else
        yp[d] = out;
#endif
    }
    lse[g] = m + log(l);
}

/* delta[i] = dy_i . y_i per head: softmax's backward term, rowsum(dP P). */
__kernel void flash_delta(const int n_items, __global const float *y,
                          __global const float *dy, __global float *delta)
{
    const int g = clg_global_id(0);
    if (g >= n_items)
        return;
    const int i = g % T, h = (g / T) % HEADS, n = g / (T * HEADS);
    const size_t at = (size_t)(n * T + i) * C + h * D;
    float s = 0.0f;
    for (int d = 0; d < D; d++)
        s += dy[at + d] * y[at + d];
    delta[g] = s;
}

/* dq_i (=|+=) scale sum_j dS_ij k_j over the keys j <= i, dS_ij = P_ij
 * (dy_i . v_j - delta_i). */
CLG_ROW_LOOP
__kernel void flash_backward_dq(const int n_items, const int accumulate,
                                const float scale, __global const float *qkv,
                                __global const float *dy, __global const float *lse,
                                __global const float *delta, __global float *dqkv)
{
    const int g = clg_global_id(0);
    if (g >= n_items)
        return;
    const int i = g % T, h = (g / T) % HEADS, n = g / (T * HEADS);
    VEC q[DV], o[DV], acc[DV];
    __global const float *qp = qkv + ROW(n, i) + h * D;
    __global const float *dyp = dy + (size_t)(n * T + i) * C + h * D;
    for (int d = 0; d < DV; d++)
        q[d] = VLOAD(qp, d) * scale, o[d] = VLOAD(dyp, d), acc[d] = 0.0f;
    const float L = lse[g], dl = delta[g];
    for (int j = 0; j <= i; j++) {
        __global const float *k = qkv + ROW(n, j) + C + h * D;
        const float p = exp(dot_d(q, k) - L);
        const float ds = p * (dot_d(o, k + C) - dl); /* k + C: v_j */
        for (int d = 0; d < DV; d++)
            acc[d] += ds * VLOAD(k, d);
    }
    __global float *dq = dqkv + ROW(n, i) + h * D;
    for (int d = 0; d < D; d++) {
        const float v = scale * ((const float *)acc)[d];
        dq[d] = accumulate ? dq[d] + v : v;
    }
}

/* dk_j and dv_j (=|+=) over the queries i >= j: dv_j = sum P_ij dy_i,
 * dk_j = scale sum dS_ij q_i. */
CLG_ROW_LOOP
__kernel void flash_backward_dkv(const int n_items, const int accumulate,
                                 const float scale, __global const float *qkv,
                                 __global const float *dy, __global const float *lse,
                                 __global const float *delta, __global float *dqkv)
{
    const int g = clg_global_id(0);
    if (g >= n_items)
        return;
    const int j = g % T, h = (g / T) % HEADS, n = g / (T * HEADS);
    VEC k[DV], v[DV], dk[DV], dv[DV];
    __global const float *kp = qkv + ROW(n, j) + C + h * D;
    for (int d = 0; d < DV; d++)
        k[d] = VLOAD(kp, d) * scale, v[d] = VLOAD(kp + C, d), dk[d] = dv[d] = 0.0f;
    const int row0 = (n * HEADS + h) * T;
    for (int i = j; i < T; i++) {
        __global const float *q = qkv + ROW(n, i) + h * D;
        __global const float *o = dy + (size_t)(n * T + i) * C + h * D;
        const float p = exp(dot_d(k, q) - lse[row0 + i]);
        const float ds = p * (dot_d(v, o) - delta[row0 + i]);
        for (int d = 0; d < DV; d++) {
            dv[d] += p * VLOAD(o, d);
            dk[d] += ds * VLOAD(q, d);
        }
    }
    __global float *dkp = dqkv + ROW(n, j) + C + h * D;
    for (int d = 0; d < D; d++) {
        const float gk = scale * ((const float *)dk)[d], gv = ((const float *)dv)[d];
        dkp[d] = accumulate ? dkp[d] + gk : gk;
        dkp[C + d] = accumulate ? dkp[C + d] + gv : gv;
    }
}
