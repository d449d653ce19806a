/* Optimizer updates (-DOPT=CLG_OPT_*), fused: gradient clipping, regularisation and
 * the rule, one launch per parameter. Formulas are torch.optim's.
 *
 * control[0] = clip coefficient (1 when not clipping), control[1] = 1 when
 * the step's loss and gradients were finite (else nothing is updated). */

#include "codes.h"
#include "sum.h"

/* No fused multiply-adds: torch.optim rounds g + wd * w and its moment
 * updates operation by operation, and where an update divides by a small
 * root (Adam, RMSprop near eps) one rounding more or less shows. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef OPT
#define OPT CLG_OPT_SGD
#endif

/* Sums of squares of [g*chunk, (g+1)*chunk) of one gradient, into
 * partial[offset + g]. */
__kernel void sumsq_chunks(const int n, const int chunk, __global const float *grad,
                           __global float *partial, const int offset)
{
    const int g = get_global_id(0), start = g * chunk;
    if (start >= n) /* past the last chunk: those partials stay 0 */
        return;
    const int end = start + chunk < n ? start + chunk : n;
    clg_ksum acc = {0.0f, 0.0f};
    for (int i = start; i < end; i += 16) { /* 16 plain terms, then compensated */
        const int stop = i + 16 < end ? i + 16 : end;
        float part = 0.0f;
        for (int j = i; j < stop; j++)
            part += grad[j] * grad[j];
        ksum_add(&acc, part);
    }
    partial[offset + g] = ksum_value(acc);
}

/* Per-parameter norms from `chunks` partials each, the global norm, the clip
 * coefficient (torch's clip_grad_norm_) and whether to apply the step. */
__kernel void norm_finalize(const int params, const int chunks,
                            __global const float *partial, __global float *norms,
                            __global float *control, const float max_norm,
                            __global const float *loss)
{
    if (get_global_id(0) != 0)
        return;
    clg_ksum all = {0.0f, 0.0f};
    for (int p = 0; p < params; p++) {
        clg_ksum sq = {0.0f, 0.0f};
        for (int c = 0; c < chunks; c++)
            ksum_add(&sq, partial[p * chunks + c]);
        norms[p] = sqrt(ksum_value(sq));
        ksum_add(&all, ksum_value(sq));
    }
    const float total = sqrt(ksum_value(all));
    const float coef = max_norm > 0.0f ? fmin(max_norm / (total + 1e-6f), 1.0f) : 1.0f;
    control[0] = coef;
    control[1] = isfinite(total) && isfinite(loss[0]) ? 1.0f : 0.0f;
    control[2] = total;
}

/* hp: lr, weight decay, l1, then per rule, every one-minus and quotient
 * computed on the host in double, as torch.optim computes them in Python:
 *   SGD      s4 momentum, s5 1 - dampening, s6 nesterov, s7 first step
 *   Adam(W)  s4 beta1, s5 beta2, s6 1 - beta1, s7 1 - beta2,
 *            s8 lr / (1 - beta1^t), s9 sqrt(1 - beta2^t), sa 1 - lr wd (AdamW)
 *   RMSprop  s4 alpha, s5 momentum, s6 centered, s7 1 - alpha
 *   Adagrad  s4 clr (lr decayed)
 * eps and clip_value come separately. State: SGD s1 momentum buffer; Adam
 * s1, s2 first and second moments; RMSprop s1 square average, s2 gradient
 * average (centered), s3 momentum buffer; Adagrad s1 sum of squares. Each
 * formula keeps torch's order of operations, so the roundings agree too. */
__kernel void optim_update(const int n, __global float *w, __global const float *grad,
                           __global float *s1, __global float *s2, __global float *s3,
                           __global const float *control, const float16 hp,
                           const float eps, const float clip_value)
{
    const int i = get_global_id(0);
    if (i >= n || control[1] == 0.0f)
        return;
    const float lr = hp.s0, wd = hp.s1, l1 = hp.s2;
    float g = grad[i] * control[0];
    if (clip_value > 0.0f)
        g = clamp(g, -clip_value, clip_value);
    float x = w[i];
#if OPT == CLG_OPT_ADAMW
    x *= hp.sa; /* decoupled decay */
#else
    g += wd * x;
#endif
    g += l1 * sign(x);
#if OPT == CLG_OPT_SGD
    const float momentum = hp.s4;
    if (momentum != 0.0f) {
        const float buf = hp.s7 != 0.0f ? g : momentum * s1[i] + hp.s5 * g;
        s1[i] = buf;
        g = hp.s6 != 0.0f ? g + momentum * buf : buf;
    }
    x -= lr * g;
#elif OPT == CLG_OPT_ADAM || OPT == CLG_OPT_ADAMW
    const float m = hp.s4 * s1[i] + hp.s6 * g;
    const float v = hp.s5 * s2[i] + hp.s7 * g * g;
    s1[i] = m;
    s2[i] = v;
    x -= hp.s8 * (m / (sqrt(v) / hp.s9 + eps));
#elif OPT == CLG_OPT_RMSPROP
    const float alpha = hp.s4, momentum = hp.s5;
    const float sq = alpha * s1[i] + hp.s7 * g * g;
    s1[i] = sq;
    float avg;
    if (hp.s6 != 0.0f) { /* centered: s2 holds the mean gradient */
        const float ga = alpha * s2[i] + hp.s7 * g;
        s2[i] = ga;
        avg = sqrt(sq - ga * ga) + eps;
    } else {
        avg = sqrt(sq) + eps;
    }
    if (momentum > 0.0f) {
        const float b = momentum * s3[i] + g / avg;
        s3[i] = b;
        x -= lr * b;
    } else {
        x -= lr * (g / avg);
    }
#elif OPT == CLG_OPT_ADAGRAD
    const float sum = s1[i] + g * g;
    s1[i] = sum;
    x -= hp.s4 * (g / (sqrt(sum) + eps));
#endif
    w[i] = x;
}
