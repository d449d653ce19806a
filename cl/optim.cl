/* Optimizer updates (-DOPT=CLG_OPT_*), fused: gradient clipping, regularisation and
 * the rule, one launch per run of parameters packed side by side (the
 * graph's parameter arena; src/optim/optim.c). Formulas are torch.optim's.
 *
 * control[0] = clip coefficient (1 when not clipping), control[1] = 1 when
 * the step is applied: its loss and gradients were finite, and so were
 * every earlier step's since the host last looked (norm_finalize). */

#include "index.h"
#include "codes.h"
#include "sum.h"

/* No fused multiply-adds: torch.optim rounds g + wd * w and its moment
 * updates operation by operation, and where an update divides by a small
 * root (Adam, RMSprop near eps) one rounding more or less shows. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef OPT
#define OPT CLG_OPT_SGD
#endif
#ifndef GUARD
#define GUARD 1 /* 0: the launch covers only floats the buffers hold */
#endif

/* The sums of squares of gradient chunks: work-group g takes chunk
 * first + g of the table (3 ints a chunk: start and end, in floats from
 * grad + offset, and the partial it writes), by range_group_sum (sum.h). */
__kernel void sumsq_chunks(__global const float *grad, const int offset,
                           __global const int *table, const int first,
                           __global float *partial)
{
    __local float scratch[CLG_GROUP_MAX];
    const int c = first + get_group_id(0);
    const int start = offset + table[3 * c], end = offset + table[3 * c + 1];
    const float total = range_group_sum(grad, start, end, true, scratch);
    if (get_local_id(0) == 0)
        partial[table[3 * c + 2]] = total;
}

/* Per-parameter norms from the partials first[p] .. first[p + 1] - 1, the
 * global norm, the clip coefficient (torch's clip_grad_norm_) and whether
 * to apply the step. norms[params + p] sums parameter p's norms over the
 * steps applied. control: [0] the coefficient, [1] apply, [2] the global
 * norm; [4] (int) the first step (numbered from 1) whose loss or gradients
 * were not finite, 0 while none was, [5] (int) its first parameter with a
 * gradient not finite (-1: the loss), [6] its loss. Once [4] is set every
 * step is skipped until the host reads and clears it (clg_optim_check), so
 * the weights stay those before the bad step however late the host looks. */
__kernel void norm_finalize(const int params, __global const int *first,
                            __global const float *partial, __global float *norms,
                            __global float *control, const float max_norm,
                            __global const float *loss, const int step)
{
    /* One work-item does it all. get_global_id, not clg_global_id: Intel's
     * CPU compiler (2026.2) built this kernel with clg_global_id so that the
     * optimizer's steps were all skipped (test_optim's updates, on Intel's
     * runtime only); there is nothing to vectorise here anyway. */
    if (get_global_id(0) != 0)
        return;
    clg_ksum all = {0.0f, 0.0f};
    for (int p = 0; p < params; p++) {
        clg_ksum sq = {0.0f, 0.0f};
        for (int c = first[p]; c < first[p + 1]; c++)
            ksum_add(&sq, partial[c]);
        norms[p] = sqrt(ksum_value(sq));
        ksum_add(&all, ksum_value(sq));
    }
    const float total = sqrt(ksum_value(all));
    const float coef = max_norm > 0.0f ? fmin(max_norm / (total + 1e-6f), 1.0f) : 1.0f;
    __global int *health = (__global int *)control;
    const bool finite = isfinite(total) && isfinite(loss[0]);
    if (!finite && health[4] == 0) {
        int bad = -1;
        for (int p = params - 1; p >= 0; p--)
            bad = isfinite(norms[p]) ? bad : p;
        health[4] = step;
        health[5] = bad;
        control[6] = loss[0];
    }
    const bool apply = health[4] == 0;
    control[0] = coef;
    control[1] = apply ? 1.0f : 0.0f;
    control[2] = total;
    for (int p = 0; apply && p < params; p++)
        norms[params + p] += norms[p];
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
__kernel void optim_update(const int n, __global float *w, const int w_off,
                           __global const float *grad, const int g_off,
                           __global float *s1, __global float *s2, __global float *s3,
                           __global const float *control, const float16 hp,
                           const float eps, const float clip_value)
{
    /* No early return but the guard: a step that is not applied stores
     * every value back as it was (PoCL vectorises a kernel that returns
     * early on a loaded value at half the speed). Without GUARD the range is
     * the run rounded up to the work-group, inside its buffers' padding.
     * size_t, not clg_global_id: with no bound to compare with, Intel's
     * compiler falls back to gathers on an int index here. */
    const size_t i = get_global_id(0);
#if GUARD
    if (i >= (size_t)n)
        return;
#endif
    const bool apply = control[1] != 0.0f;
#define KEEP(old, new) (apply ? (new) : (old))
    w += w_off;
    grad += g_off;
    const float lr = hp.s0, wd = hp.s1, l1 = hp.s2;
    float g = grad[i] * control[0];
    if (clip_value > 0.0f)
        g = clamp(g, -clip_value, clip_value);
    const float x0 = w[i];
    float x = x0;
#if OPT == CLG_OPT_ADAMW
    x *= hp.sa; /* decoupled decay */
#else
    g += wd * x;
#endif
    g += l1 * sign(x);
#if OPT == CLG_OPT_SGD
    const float momentum = hp.s4;
    if (momentum != 0.0f) {
        const float b0 = s1[i];
        const float buf = hp.s7 != 0.0f ? g : momentum * b0 + hp.s5 * g;
        s1[i] = KEEP(b0, buf);
        g = hp.s6 != 0.0f ? g + momentum * buf : buf;
    }
    x -= lr * g;
#elif OPT == CLG_OPT_ADAM || OPT == CLG_OPT_ADAMW
    const float m0 = s1[i], v0 = s2[i];
    const float m = hp.s4 * m0 + hp.s6 * g;
    const float v = hp.s5 * v0 + hp.s7 * g * g;
    s1[i] = KEEP(m0, m);
    s2[i] = KEEP(v0, v);
    x -= hp.s8 * (m / (sqrt(v) / hp.s9 + eps));
#elif OPT == CLG_OPT_RMSPROP
    const float alpha = hp.s4, momentum = hp.s5;
    const float sq0 = s1[i];
    const float sq = alpha * sq0 + hp.s7 * g * g;
    s1[i] = KEEP(sq0, sq);
    float avg;
    if (hp.s6 != 0.0f) { /* centered: s2 holds the mean gradient */
        const float ga0 = s2[i];
        const float ga = alpha * ga0 + hp.s7 * g;
        s2[i] = KEEP(ga0, ga);
        avg = sqrt(sq - ga * ga) + eps;
    } else {
        avg = sqrt(sq) + eps;
    }
    if (momentum > 0.0f) {
        const float b0 = s3[i];
        const float b = momentum * b0 + g / avg;
        s3[i] = KEEP(b0, b);
        x -= lr * b;
    } else {
        x -= lr * (g / avg);
    }
#elif OPT == CLG_OPT_ADAGRAD
    const float sum0 = s1[i];
    const float sum = sum0 + g * g;
    s1[i] = KEEP(sum0, sum);
    x -= hp.s4 * (g / (sqrt(sum) + eps));
#endif
    w[i] = KEEP(x0, x);
#undef KEEP
}
