/* Losses. Each forward writes one value per sample (cross-entropy) or per
 * element (the rest); reduce.cl's sum_to_scalar then makes the scalar. The
 * backward scale is dloss * (1/count for mean, 1 for sum). */

#include "index.h"
#include "codes.h"
#include "sum.h"

#ifndef LOSS
#define LOSS CLG_POINTWISE_MSE
#endif

/* The sum of the row's C values, in lanes as softmax_terms sums. */
static float row_sum(__global const float *x, const int C)
{
    const int blocks = C / 4;
    clg_ksum4 k4 = {(float4)(0.0f), (float4)(0.0f)};
    for (int b = 0; b < blocks;) {
        float4 part = (float4)(0.0f);
        for (int t = 0; t < CLG_PLAIN_TERMS && b < blocks; t++, b++)
            part += vload4(b, x);
        ksum4_add(&k4, part);
    }
    clg_ksum s = {0.0f, 0.0f};
    ksum_add_lanes(&s, k4);
    for (int c = 4 * blocks; c < C; c++)
        ksum_add(&s, x[c]);
    return ksum_value(s);
}

/* Softmax cross-entropy with label smoothing eps, PyTorch's definition:
 * (1 - eps) * nll(label) + eps * mean over c of -log softmax(x)[c]. */
__kernel void ce_forward(const int N, const int C, const float eps,
                         __global const float *logits, __global const int *labels,
                         __global float *per_sample)
{
    const int b = clg_global_id(0);
    if (b >= N)
        return;
    __global const float *x = logits + (size_t)b * C;
    float m, sum;
    softmax_terms(x, C, &m, &sum);
    const float mean = row_sum(x, C) / (float)C;
    const float lse = m + log(sum);
    const int label = labels[b];
    const float nll = label >= 0 && label < C ? lse - x[label] : NAN;
    per_sample[b] = (1.0f - eps) * nll + eps * (lse - mean);
}

__kernel void ce_backward(const int N, const int C, const float eps, const float scale,
                          const int accumulate, __global const float *logits,
                          __global const int *labels, __global const float *dloss,
                          __global float *dlogits)
{
    const int b = clg_global_id(0);
    if (b >= N)
        return;
    __global const float *x = logits + (size_t)b * C;
    __global float *dx = dlogits + (size_t)b * C;
    const float g = dloss[0] * scale;
    float m, sum;
    softmax_terms(x, C, &m, &sum);
    const int label = labels[b];
    const int blocks = C / 4;
    for (int q = 0; q < blocks; q++) { /* four at a time, as softmax_terms */
        const int4 c = (int4)(4 * q) + (int4)(0, 1, 2, 3);
        const float4 target =
            select((float4)(0.0f), (float4)(1.0f - eps), c == (int4)(label)) +
            eps / (float)C;
        float4 v = g * (exp(vload4(q, x) - m) / sum - target);
        if (accumulate)
            v += vload4(q, dx);
        vstore4(v, q, dx);
    }
    for (int c = 4 * blocks; c < C; c++) {
        const float target = (c == label ? 1.0f - eps : 0.0f) + eps / (float)C;
        const float v = g * (exp(x[c] - m) / sum - target);
        dx[c] = accumulate ? dx[c] + v : v;
    }
}

/* A training run's figures added to the plan's tallies, by one work-group:
 * t[0], t[1] the loss times the batch (a clg_ksum's sum and lost part);
 * t[2] (int) positions whose largest logit, the first of equal ones, is
 * the label (the host's argmax); t[3] (int) positions; t[4] this run's
 * loss; t[5] (int) runs. The host reads and clears them when it wants a
 * figure, not after each run (clg_plan_take_tally). */
static int row_argmax(__global const float *x, int C)
{
    int best = 0;
    for (int c = 1; c < C; c++)
        if (x[c] > x[best])
            best = c;
    return best;
}

/* Work-item 0 adds the group's hits and the run's loss to the tallies. */
static void tally_add(int h, __local int *hits, int N, int batch, float value,
                      __global float *t)
{
    const int l = get_local_id(0), L = get_local_size(0);
    hits[l] = h;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l != 0)
        return;
    for (int k = 1; k < L; k++)
        h += hits[k];
    __global int *count = (__global int *)t;
    clg_ksum sum = {t[0], t[1]};
    ksum_add(&sum, value * (float)batch);
    t[0] = sum.sum;
    t[1] = sum.c;
    count[2] += h;
    count[3] += N;
    t[4] = value;
    count[5] += 1;
}

__kernel void ce_tally(const int N, const int C, const int batch,
                       __global const float *logits, __global const int *labels,
                       __global const float *loss, __global float *t)
{
    __local int hits[64];
    int h = 0;
    for (int r = get_local_id(0); r < N; r += get_local_size(0))
        h += row_argmax(logits + (size_t)r * C, C) == labels[r];
    tally_add(h, hits, N, batch, loss[0], t);
}

/* The same for a pointwise loss (mse, l1, bce) over rows of C outputs and
 * targets: a row is right when its largest output is where its target's
 * largest value is (the label, for one-hot targets). */
__kernel void pointwise_tally(const int N, const int C, const int batch,
                              __global const float *pred, __global const float *target,
                              __global const float *loss, __global float *t)
{
    __local int hits[64];
    int h = 0;
    for (int r = get_local_id(0); r < N; r += get_local_size(0))
        h += row_argmax(pred + (size_t)r * C, C) == row_argmax(target + (size_t)r * C, C);
    tally_add(h, hits, N, batch, loss[0], t);
}

__kernel void pointwise_forward(const int n, __global const float *pred,
                                __global const float *target, __global float *out)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const float x = pred[i], t = target[i];
#if LOSS == CLG_POINTWISE_MSE
    out[i] = (x - t) * (x - t);
#elif LOSS == CLG_POINTWISE_L1
    out[i] = fabs(x - t);
#else /* binary cross-entropy on logits, in its overflow-free form */
    out[i] = fmax(x, 0.0f) - x * t + log1p(exp(-fabs(x)));
#endif
}

__kernel void pointwise_backward(const int n, const float scale, const int accumulate,
                                 __global const float *pred,
                                 __global const float *target,
                                 __global const float *dloss, __global float *dpred)
{
    const int i = clg_global_id(0);
    if (i >= n)
        return;
    const float x = pred[i], t = target[i], g = dloss[0] * scale;
#if LOSS == CLG_POINTWISE_MSE
    const float v = g * 2.0f * (x - t);
#elif LOSS == CLG_POINTWISE_L1
    const float v = g * (x > t ? 1.0f : x < t ? -1.0f : 0.0f);
#else
    const float sig = x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));
    const float v = g * (sig - t);
#endif
    dpred[i] = accumulate ? dpred[i] + v : v;
}
