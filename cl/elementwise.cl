/* Element-wise ops: activations (-DACT=code, activations.h), binary ops
 * with broadcasting (-DBINOP=CLG_BIN_*), and per-channel bias add and sum.
 *
 * Backward kernels either overwrite their gradient output or add to it
 * (`accumulate`), so a tensor feeding several ops collects every gradient. */

#include "index.h"
#include "activations.h"
#include "codes.h"
#include "sum.h"

#ifndef ACT
#define ACT 1 /* relu, when the family is built without a code */
#endif
#ifndef BINOP
#define BINOP CLG_BIN_ADD
#endif
#ifndef SAME
#define SAME 0 /* 1: b has a's shape (src/ops/elementwise.c) */
#endif

#define STORE(dst, i, v, acc) ((dst)[i] = (acc) ? (dst)[i] + (v) : (v))

/* GELU's tanh approximation 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x +
 * 0.044715 x^3), as x s with s = (1 + tanh(u)) / 2 = 1 / (1 + exp(-2u)):
 * one exp and no tanh, whose library call is slower on PoCL and Intel's
 * runtime (docs/performance.md), and no cancellation of 1 + tanh(u) where
 * u is far below zero. */
static float gelu_tanh_sigmoid(float x)
{
    const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return 1.0f / (1.0f + exp(-2.0f * u));
}

/* The codes of activations.h's rows; ACT is one of them (a constant, so
 * the switches below fold to one formula). */
#define ACT_CODE(Y, ID, fn, name, code, ...) CLG_ACT_##ID = code,
#define ACT_FORM_CODE(Y, ID, fn, code, nargs) CLG_ACT_##ID = code,
enum { CLG_ACTIVATION_LIST(ACT_CODE, ~) CLG_ACTIVATION_FORM_LIST(ACT_FORM_CODE, ~) };

/* f(x); `a` is the slope, alpha or factor of the activations that have one.
 * A code without a case gives NaN, which every test of it fails on. */
static float act_forward(float x, float a)
{
    switch (ACT) {
    case CLG_ACT_RELU:
        /* NaN stays NaN, as in PyTorch; one comparison (x > 0 || isnan(x)
         * is slower on PoCL) */
        return x <= 0.0f ? 0.0f : x;
    case CLG_ACT_LEAKYRELU:
        return x > 0.0f ? x : a * x;
    case CLG_ACT_ELU:
        return x > 0.0f ? x : a * (exp(x) - 1.0f);
    case CLG_ACT_GELU:
        return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
    case CLG_ACT_SIGMOID:
        return x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));
    case CLG_ACT_TANH:
        return tanh(x);
    case CLG_ACT_SILU: /* x sigmoid(x), sigmoid's stable form */
        return x >= 0.0f ? x / (1.0f + exp(-x)) : x * exp(x) / (1.0f + exp(x));
    case CLG_ACT_HARDSWISH: /* x relu6(x + 3) / 6 */
        return x * clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case CLG_ACT_HARDSIGMOID: /* relu6(x + 3) / 6 */
        return clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    case CLG_ACT_SCALE:
        return a * x;
    case CLG_ACT_GELU_TANH:
        return x * gelu_tanh_sigmoid(x);
    }
    return NAN;
}

/* df/dx from the input x and the output y. */
static float act_grad(float x, float y, float a)
{
    switch (ACT) {
    case CLG_ACT_RELU:
        return x > 0.0f ? 1.0f : 0.0f;
    case CLG_ACT_LEAKYRELU:
        return x > 0.0f ? 1.0f : a;
    case CLG_ACT_ELU:
        return x > 0.0f ? 1.0f : y + a;
    case CLG_ACT_GELU: {
        const float cdf = 0.5f * (1.0f + erf(x * 0.70710678118654752f));
        const float pdf = 0.39894228040143268f * exp(-0.5f * x * x);
        return cdf + x * pdf;
    }
    case CLG_ACT_SIGMOID:
        return y * (1.0f - y);
    case CLG_ACT_TANH:
        return 1.0f - y * y;
    case CLG_ACT_SILU: {
        const float s = x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));
        return s * (1.0f + x * (1.0f - s));
    }
    case CLG_ACT_HARDSWISH: /* PyTorch's at the ends: 0 below -3, 1 above 3 */
        return x < -3.0f ? 0.0f : x <= 3.0f ? x / 3.0f + 0.5f : 1.0f;
    case CLG_ACT_HARDSIGMOID:
        return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
    case CLG_ACT_SCALE:
        return a;
    case CLG_ACT_GELU_TANH: {
        /* with s = (1 + tanh(u)) / 2: 1 - tanh(u)^2 = 4 s (1 - s) */
        const float s = gelu_tanh_sigmoid(x);
        return s + 2.0f * x * s * (1.0f - s) * 0.79788456080286536f *
                       (1.0f + 3.0f * 0.044715f * x * x);
    }
    }
    return NAN;
}

__kernel void unary_forward(const int n, const float a, __global const float *x,
                            __global float *y)
{
    const int i = clg_global_id(0);
    if (i < n)
        y[i] = act_forward(x[i], a);
}

__kernel void unary_backward(const int n, const float a, const int accumulate,
                             __global const float *x, __global const float *y,
                             __global const float *dy, __global float *dx)
{
    const int i = clg_global_id(0);
    if (i < n)
        STORE(dx, i, dy[i] * act_grad(x[i], y[i], a), accumulate);
}

/* Broadcasting: a has dims (d0, d1, d2, d3); element i of a meets element
 * bindex(i) of b, whose strides are 0 along the dimensions b broadcasts. */
static int bindex(int i, int d1, int d2, int d3, int4 bs)
{
#if SAME
    return i;
#endif
    const int i3 = i % d3, i2 = (i / d3) % d2, i1 = (i / (d3 * d2)) % d1;
    const int i0 = i / (d3 * d2 * d1);
    return i0 * bs.x + i1 * bs.y + i2 * bs.z + i3 * bs.w;
}

__kernel void binary_forward(const int n, const int d1, const int d2, const int d3,
                             const int4 bs, __global const float *a,
                             __global const float *b, __global float *y)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const float bv = b[bindex(i, d1, d2, d3, bs)];
#if BINOP == CLG_BIN_ADD
    y[i] = a[i] + bv;
#elif BINOP == CLG_BIN_SUB
    y[i] = a[i] - bv;
#else
    y[i] = a[i] * bv;
#endif
}

/* da = dy (add, sub) or dy * b (mul). */
__kernel void binary_backward_a(const int n, const int d1, const int d2, const int d3,
                                const int4 bs, const int accumulate,
                                __global const float *dy, __global const float *b,
                                __global float *da)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
#if BINOP == CLG_BIN_MUL
    STORE(da, i, dy[i] * b[bindex(i, d1, d2, d3, bs)], accumulate);
#else
    STORE(da, i, dy[i], accumulate);
#endif
}

/* db[j] = sum over the elements of a that meet b[j] of dy (add), -dy (sub)
 * or dy * a (mul). b's dims are (e0, e1, e2, e3), each 1 or a's. */
__kernel void binary_backward_b(const int nb, const int d0, const int d1, const int d2,
                                const int d3, const int4 e, const int accumulate,
                                __global const float *dy, __global const float *a,
                                __global float *db)
{
    const int j = clg_global_id(0);
    if (j >= nb)
        return;
#if SAME /* one element of a meets b[j] */
#if BINOP == CLG_BIN_ADD
    STORE(db, j, dy[j], accumulate);
#elif BINOP == CLG_BIN_SUB
    STORE(db, j, -dy[j], accumulate);
#else
    STORE(db, j, dy[j] * a[j], accumulate);
#endif
    return;
#endif
    const int j3 = j % e.w, j2 = (j / e.w) % e.z, j1 = (j / (e.w * e.z)) % e.y;
    const int j0 = j / (e.w * e.z * e.y);
    clg_ksum acc = {0.0f, 0.0f};
    for (int i0 = e.x == 1 ? 0 : j0; i0 < (e.x == 1 ? d0 : j0 + 1); i0++)
        for (int i1 = e.y == 1 ? 0 : j1; i1 < (e.y == 1 ? d1 : j1 + 1); i1++)
            for (int i2 = e.z == 1 ? 0 : j2; i2 < (e.z == 1 ? d2 : j2 + 1); i2++)
                for (int i3 = e.w == 1 ? 0 : j3; i3 < (e.w == 1 ? d3 : j3 + 1); i3++) {
                    const int i = ((i0 * d1 + i1) * d2 + i2) * d3 + i3;
#if BINOP == CLG_BIN_ADD
                    ksum_add(&acc, dy[i]);
#elif BINOP == CLG_BIN_SUB
                    ksum_add(&acc, -dy[i]);
#else
                    ksum_add(&acc, dy[i] * a[i]);
#endif
                }
    STORE(db, j, ksum_value(acc), accumulate);
}

/* y[o, c, i] += bias[c] over [outer, C, inner]. */
__kernel void channel_bias_add(const int n, const int C, const int inner,
                               __global float *y, __global const float *bias)
{
    const int i = clg_global_id(0);
    if (i < n)
        y[i] += bias[(i / inner) % C];
}

/* db[c] (=|+=) the sum over o, i of dy[o, c, i]: one work-group per
 * channel, compensated sums of each plane's share added in a fixed tree
 * (sum.h), so the same inputs give the same bits and the error does not
 * grow with outer * inner. */
__kernel void channel_sum(const int outer, const int C, const int inner,
                          const int accumulate, __global const float *dy,
                          __global float *db)
{
    __local float scratch[CLG_GROUP_MAX];
    const int c = get_group_id(0);
    const float total = channel_group_sum(dy, outer, C, inner, c, scratch);
    if (get_local_id(0) == 0)
        STORE(db, c, total, accumulate);
}

/* The same where inner is 1, db[c] the sum of column c of dy [outer, C]:
 * down each column CLG_PLAIN_TERMS rows plainly per compensated step
 * (sum.h). Over parts of `rows` rows each (the last may be short), part q
 * into row q of db [parts, C]; with one part (rows = outer), db[c] is the
 * whole column's sum (src/ops/elementwise.c splits long columns). */
__kernel void channel_sum_columns(const int outer, const int C, const int rows,
                                  const int accumulate, __global const float *dy,
                                  __global float *db)
{
    /* Four neighbouring columns a work-item, as one float4 where all four
     * exist: PoCL does not vectorise a loop of float sums across work-items
     * (docs/performance.md). Each column's sum is the same as one column
     * alone would give. */
    const int groups = (C + 3) / 4, item = clg_global_id(0), q = item / groups;
    const int c = 4 * (item % groups), first = q * rows;
    const int n = min(outer - first, rows);
    if (n <= 0)
        return;
    dy += (size_t)first * C;
    db += (size_t)q * C;
    if (c + 4 <= C) {
        clg_ksum4 k = {(float4)(0.0f), (float4)(0.0f)};
        for (int o = 0; o < n;) {
            float4 part = (float4)(0.0f);
            for (int m = 0; m < CLG_PLAIN_TERMS && o < n; m++, o++)
                part += vload4(0, dy + (size_t)o * C + c);
            ksum4_add(&k, part);
        }
        const float4 sum = ksum4_value(k);
        vstore4(accumulate ? vload4(0, db + c) + sum : sum, 0, db + c);
        return;
    }
    for (int j = c; j < C; j++) {
        clg_ksum k = {0.0f, 0.0f};
        for (int o = 0; o < n;) {
            float part = 0.0f;
            for (int m = 0; m < CLG_PLAIN_TERMS && o < n; m++, o++)
                part += dy[(size_t)o * C + j];
            ksum_add(&k, part);
        }
        STORE(db, j, ksum_value(k), accumulate);
    }
}
