/* Batch normalisation over dim 1 of [outer, C, inner], layer normalisation
 * over the last dimension. Batch norm: per channel, the
 * statistics of outer * inner values. stats holds mean[C] then invstd[C];
 * sums holds sum(dy)[C] then sum(dy * xhat)[C]. The per-channel sums take
 * one work-group per channel with compensated partial sums (sum.h), or on
 * PoCL a work-item per (o, c) plane and then one per channel
 * (bn_plane_sums).
 *
 * Built with -DRELU=1, batch norm is followed by a ReLU in the same pass
 * (a model's BatchNorm then ReLU, src/nn/model.c): y = max(bn(x), 0), NaN
 * kept, as clgrad's relu; backward takes dy, the gradient of that y, and
 * the y the forward wrote, and uses dy where y > 0, else 0 (PyTorch's
 * threshold_backward), one pass over the activations fewer each way. */

#include "index.h"
#include "sum.h"

#ifndef RELU
#define RELU 0
#endif

/* The ReLU after batch norm, and the gradient that reaches batch norm
 * through it from dy at an element whose output is y. */
#if RELU
#define ACT(v) ((v) <= 0.0f ? 0.0f : (v))
#define THROUGH(d, y) ((y) > 0.0f ? (d) : 0.0f)
#define THROUGH4(d, y) select((float4)(0.0f), (d), isgreater((y), (float4)(0.0f)))
#else
#define ACT(v) (v)
#define THROUGH(d, y) (d)
#define THROUGH4(d, y) (d)
#endif

/* The sum of (x - mean)^2 over channel c, as channel_group_sum sums x. */
static float channel_group_squares(__global const float *x, const int outer,
                                   const int C, const int inner, const int c,
                                   const float mean, __local float *scratch)
{
    const int l = get_local_id(0), L = get_local_size(0);
    clg_ksum q = {0.0f, 0.0f};
    for (int o = 0; o < outer; o++) {
        __global const float *plane = x + ((size_t)o * C + c) * inner;
#if CLG_MASKED_PASSES
        for (int base = 0; base < inner; base += L * CLG_PLAIN_TERMS) {
            float part = 0.0f;
            for (int m = 0; m < CLG_PLAIN_TERMS; m++) {
                const int i = base + m * L + l;
                const float d = i < inner ? plane[i] - mean : 0.0f;
                part += d * d;
            }
            ksum_add(&q, part);
        }
#else
        for (int i = l; i < inner;) {
            float part = 0.0f;
            for (int m = 0; m < CLG_PLAIN_TERMS && i < inner; m++, i += L) {
                const float d = plane[i] - mean;
                part += d * d;
            }
            ksum_add(&q, part);
        }
#endif
    }
    return group_sum(ksum_value(q), scratch);
}

/* Channel c's statistics from `count` values (their mean, and the sum of
 * squares about it), and the running ones moved by momentum as PyTorch
 * moves them, with the unbiased variance. */
static void set_stats(const int c, const int C, const float count, const float mean,
                      const float sq, const float momentum, const float eps,
                      __global float *stats, __global float *running_mean,
                      __global float *running_var)
{
    const float var = sq / count;
    stats[c] = mean;
    stats[C + c] = 1.0f / sqrt(var + eps);
    const float unbiased = count > 1.0f ? sq / (count - 1.0f) : var;
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
}

/* One work-group per channel; two passes for an accurate variance. */
__kernel void bn_stats(const int outer, const int C, const int inner,
                       const float momentum, const float eps, __global const float *x,
                       __global float *stats, __global float *running_mean,
                       __global float *running_var)
{
    __local float scratch[CLG_GROUP_MAX];
    const int c = get_group_id(0);
    const int count = outer * inner;
    const float mean = channel_group_sum(x, outer, C, inner, c, scratch) / (float)count;
    const float sq = channel_group_squares(x, outer, C, inner, c, mean, scratch);
    if (get_local_id(0) == 0)
        set_stats(c, C, (float)count, mean, sq, momentum, eps, stats, running_mean,
                  running_var);
}

/* Batch norm's per-channel sums by planes, for PoCL (src/ops/norm.c says
 * when): a work-item sums one (o, c) plane of `inner` values, as the row
 * kernels below read them, in float4 lanes (PoCL vectorises no float sum
 * across work-items), and one work-item per channel then adds its `outer`
 * planes' sums. PoCL vectorises neither the work-group form's loops, whose
 * counts differ between work-items, nor their masked twins.
 * -DCENTERED: the squares about the mean that stats[c] holds. */
#ifndef CENTERED
#define CENTERED 0
#endif
CLG_ROW_LOOP
__kernel void bn_plane_sums(const int planes, const int C, const int inner,
                            __global const float *x, __global const float *stats,
                            __global float *partial)
{
    const int p = clg_global_id(0);
    if (p >= planes)
        return;
    __global const float *v = x + (size_t)p * inner;
#if CENTERED
    const float mean = stats[p % C];
#define TERM(t) (((t) - mean) * ((t) - mean))
#else
#define TERM(t) (t)
#endif
    /* Four lanes of float4s, then the tail. */
    clg_ksum4 k4 = {(float4)(0.0f), (float4)(0.0f)};
    const int blocks = inner / 4;
    for (int b = 0; b < blocks;) {
        float4 part = (float4)(0.0f);
        for (int m = 0; m < CLG_PLAIN_TERMS && b < blocks; m++, b++) {
            const float4 t = vload4(b, v);
            part += TERM(t);
        }
        ksum4_add(&k4, part);
    }
    clg_ksum k = {0.0f, 0.0f};
    ksum_add_lanes(&k, k4);
    for (int i = 4 * blocks; i < inner; i++)
        ksum_add(&k, TERM(v[i]));
#undef TERM
    partial[p] = ksum_value(k);
}

/* Channel c's sum of its planes' partial sums: the mean (pass 0) or, with
 * the mean in stats, the statistics (pass 1). */
__kernel void bn_stats_planes(const int outer, const int C, const int count,
                              const int pass, const float momentum, const float eps,
                              __global const float *partial, __global float *stats,
                              __global float *running_mean, __global float *running_var)
{
    const int c = clg_global_id(0);
    if (c >= C)
        return;
    clg_ksum k = {0.0f, 0.0f};
    for (int o = 0; o < outer; o++)
        ksum_add(&k, partial[o * C + c]);
    if (pass == 0)
        stats[c] = ksum_value(k) / (float)count;
    else
        set_stats(c, C, (float)count, stats[c], ksum_value(k), momentum, eps, stats,
                  running_mean, running_var);
}

/* The element-wise kernels take one (o, c) plane of `inner` values per
 * work-item: the channel is found once, not per element. */
CLG_ROW_LOOP
__kernel void bn_apply(const int planes, const int C, const int inner, const int affine,
                       __global const float *x, __global const float *stats,
                       __global const float *gamma, __global const float *beta,
                       __global float *y)
{
    const int p = clg_global_id(0);
    if (p >= planes)
        return;
    const int c = p % C;
    const float mean = stats[c], scale = stats[C + c] * (affine ? gamma[c] : 1.0f);
    const float shift = affine ? beta[c] : 0.0f;
    const size_t base = (size_t)p * inner;
    for (int i = 0; i < inner; i++)
        y[base + i] = ACT((x[base + i] - mean) * scale + shift);
}

CLG_ROW_LOOP
__kernel void bn_eval(const int planes, const int C, const int inner, const int affine,
                      const float eps, __global const float *x,
                      __global const float *running_mean,
                      __global const float *running_var, __global const float *gamma,
                      __global const float *beta, __global float *y)
{
    const int p = clg_global_id(0);
    if (p >= planes)
        return;
    const int c = p % C;
    const float mean = running_mean[c];
    const float scale = (affine ? gamma[c] : 1.0f) / sqrt(running_var[c] + eps);
    const float shift = affine ? beta[c] : 0.0f;
    const size_t base = (size_t)p * inner;
    for (int i = 0; i < inner; i++)
        y[base + i] = ACT((x[base + i] - mean) * scale + shift);
}

/* Channel (or column) c's affine gradients, where wanted, into (or onto,
 * acc_) their buffers: dgamma = sum(dy xhat), dbeta = sum(dy). */
static void set_param_grads(const int c, const float sdy, const float sdyx,
                            const int want_gamma, const int acc_gamma,
                            __global float *dgamma, const int want_beta,
                            const int acc_beta, __global float *dbeta)
{
    if (want_gamma)
        dgamma[c] = acc_gamma ? dgamma[c] + sdyx : sdyx;
    if (want_beta)
        dbeta[c] = acc_beta ? dbeta[c] + sdy : sdy;
}

/* Channel c's backward sums, sum(dy) and sum(dy xhat), into sums and its
 * affine gradients. */
static void set_backward_sums(const int c, const int C, const float sdy,
                              const float sdyx, __global float *sums,
                              const int want_gamma, const int acc_gamma,
                              __global float *dgamma, const int want_beta,
                              const int acc_beta, __global float *dbeta)
{
    sums[c] = sdy;
    sums[C + c] = sdyx;
    set_param_grads(c, sdy, sdyx, want_gamma, acc_gamma, dgamma, want_beta, acc_beta,
                    dbeta);
}

/* Column c of two [parts, C] tables of partial sums, the first at partial,
 * the second after it, each summed down in order into a and b. */
static void sum_parts(__global const float *partial, const int parts, const int C,
                      const int c, clg_ksum *a, clg_ksum *b)
{
    for (int part = 0; part < parts; part++) {
        ksum_add(a, partial[(size_t)part * C + c]);
        ksum_add(b, partial[((size_t)parts + part) * C + c]);
    }
}

/* Per channel: sum(dy), sum(dy * xhat) into sums, and the parameter
 * gradients dgamma = sum(dy * xhat), dbeta = sum(dy) where wanted. */
__kernel void bn_backward_reduce(const int outer, const int C, const int inner,
                                 __global const float *x, __global const float *dy,
                                 __global const float *y,
                                 __global const float *stats, __global float *sums,
                                 const int want_gamma, const int acc_gamma,
                                 __global float *dgamma, const int want_beta,
                                 const int acc_beta, __global float *dbeta)
{
    __local float scratch[CLG_GROUP_MAX];
    const int c = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    const float mean = stats[c], invstd = stats[C + c];
    clg_ksum a = {0.0f, 0.0f}, b = {0.0f, 0.0f};
    for (int o = 0; o < outer; o++) {
        const size_t base = ((size_t)o * C + c) * inner;
#if CLG_MASKED_PASSES
        for (int from = 0; from < inner; from += L * CLG_PLAIN_TERMS) {
            float pa = 0.0f, pb = 0.0f;
            for (int m = 0; m < CLG_PLAIN_TERMS; m++) {
                const int i = from + m * L + l;
                const float d = i < inner ? THROUGH(dy[base + i], y[base + i]) : 0.0f;
                const float v = i < inner ? x[base + i] : mean;
                pa += d;
                pb += d * (v - mean) * invstd;
            }
            ksum_add(&a, pa);
            ksum_add(&b, pb);
        }
#else
        for (int i = l; i < inner;) {
            float pa = 0.0f, pb = 0.0f;
            for (int m = 0; m < CLG_PLAIN_TERMS && i < inner; m++, i += L) {
                const float d = THROUGH(dy[base + i], y[base + i]);
                pa += d;
                pb += d * (x[base + i] - mean) * invstd;
            }
            ksum_add(&a, pa);
            ksum_add(&b, pb);
        }
#endif
    }
    const float sdy = group_sum(ksum_value(a), scratch);
    const float sdyx = group_sum(ksum_value(b), scratch);
    if (get_local_id(0) == 0)
        set_backward_sums(c, C, sdy, sdyx, sums, want_gamma, acc_gamma, dgamma,
                          want_beta, acc_beta, dbeta);
}

/* bn_backward_reduce by planes (as bn_plane_sums): each (o, c) plane's
 * sum(dy) to partial[p], its sum(dy xhat) to partial[planes + p]. */
CLG_ROW_LOOP
__kernel void bn_backward_plane_sums(const int planes, const int C, const int inner,
                                     __global const float *x, __global const float *dy,
                                     __global const float *y,
                                     __global const float *stats,
                                     __global float *partial)
{
    const int p = clg_global_id(0);
    if (p >= planes)
        return;
    const int c = p % C;
    const float mean = stats[c], invstd = stats[C + c];
    __global const float *xs = x + (size_t)p * inner, *ds = dy + (size_t)p * inner,
                         *ys = y + (size_t)p * inner;
    /* Four lanes of float4s, then the tail, as bn_plane_sums. */
    clg_ksum4 a4 = {(float4)(0.0f), (float4)(0.0f)}, b4 = a4;
    const int blocks = inner / 4;
    for (int q = 0; q < blocks;) {
        float4 pa = (float4)(0.0f), pb = (float4)(0.0f);
        for (int m = 0; m < CLG_PLAIN_TERMS && q < blocks; m++, q++) {
            const float4 d = THROUGH4(vload4(q, ds), vload4(q, ys));
            pa += d;
            pb += d * (vload4(q, xs) - mean) * invstd;
        }
        ksum4_add(&a4, pa);
        ksum4_add(&b4, pb);
    }
    clg_ksum a = {0.0f, 0.0f}, b = {0.0f, 0.0f};
    ksum_add_lanes(&a, a4);
    ksum_add_lanes(&b, b4);
    for (int i = 4 * blocks; i < inner; i++) {
        const float d = THROUGH(ds[i], ys[i]);
        ksum_add(&a, d);
        ksum_add(&b, d * (xs[i] - mean) * invstd);
    }
    partial[p] = ksum_value(a);
    partial[planes + p] = ksum_value(b);
}

/* Channel c's sums from its planes' (bn_backward_plane_sums), written as
 * bn_backward_reduce writes them. */
__kernel void bn_backward_planes_finish(const int outer, const int C,
                                        __global const float *partial,
                                        __global float *sums, const int want_gamma,
                                        const int acc_gamma, __global float *dgamma,
                                        const int want_beta, const int acc_beta,
                                        __global float *dbeta)
{
    const int c = clg_global_id(0);
    if (c >= C)
        return;
    clg_ksum a = {0.0f, 0.0f}, b = {0.0f, 0.0f};
    sum_parts(partial, outer, C, c, &a, &b);
    set_backward_sums(c, C, ksum_value(a), ksum_value(b), sums, want_gamma, acc_gamma,
                      dgamma, want_beta, acc_beta, dbeta);
}

/* dx = gamma invstd / m (m dy - sum(dy) - xhat sum(dy xhat)), m = outer *
 * inner; synchronised over replicas (`synced`), m is the whole batch's count
 * the forward left in sums[2C]. */
CLG_ROW_LOOP
__kernel void bn_backward_dx(const int planes, const int C, const int inner,
                             const int m_here, const int synced, const int affine,
                             const int accumulate, __global const float *x,
                             __global const float *dy, __global const float *y,
                             __global const float *stats,
                             __global const float *sums, __global const float *gamma,
                             __global float *dx)
{
    const int p = clg_global_id(0);
    if (p >= planes)
        return;
    const int c = p % C;
    const float m = synced ? sums[2 * C] : (float)m_here;
    const float mean = stats[c], invstd = stats[C + c];
    const float k = (affine ? gamma[c] : 1.0f) * invstd / m;
    const float sdy = sums[c], sdyx = sums[C + c];
    const size_t base = (size_t)p * inner;
    for (int i = 0; i < inner; i++) {
        const float xhat = (x[base + i] - mean) * invstd;
        const float v = k * (m * THROUGH(dy[base + i], y[base + i]) - sdy - xhat * sdyx);
        dx[base + i] = accumulate ? dx[base + i] + v : v;
    }
}

/* Layer normalisation over the last dimension of [rows, C]: per row, the
 * statistics of its C values, one work-item per row. stats holds mean[rows]
 * then invstd[rows]. With -DRMS=1, RMS normalisation: no centring (the mean
 * is taken as 0, invstd is 1 / sqrt(mean(x^2) + eps)) and no shift. */
#ifndef RMS
#define RMS 0
#endif
CLG_ROW_LOOP
__kernel void ln_forward(const int rows, const int C, const int scale, const int shift,
                         const float eps, __global const float *x,
                         __global const float *gamma,
                         __global const float *beta, __global float *stats,
                         __global float *y)
{
    const int r = clg_global_id(0);
    if (r >= rows)
        return;
    __global const float *row = x + (size_t)r * C;
    clg_ksum s = {0.0f, 0.0f}, q = {0.0f, 0.0f};
    for (int c = 0; c < C;) {
        float part = 0.0f;
        for (int m = 0; m < CLG_PLAIN_TERMS && c < C; m++, c++)
            part += row[c];
        ksum_add(&s, part);
    }
    const float mean = RMS ? 0.0f : ksum_value(s) / (float)C;
    for (int c = 0; c < C;) { /* two passes: an accurate variance */
        float part = 0.0f;
        for (int m = 0; m < CLG_PLAIN_TERMS && c < C; m++, c++) {
            const float d = row[c] - mean;
            part += d * d;
        }
        ksum_add(&q, part);
    }
    const float invstd = 1.0f / sqrt(ksum_value(q) / (float)C + eps);
    stats[r] = mean;
    stats[rows + r] = invstd;
    __global float *out = y + (size_t)r * C;
    for (int c = 0; c < C; c++) {
        const float xhat = (row[c] - mean) * invstd;
        out[c] = (scale ? xhat * gamma[c] : xhat) + (shift ? beta[c] : 0.0f);
    }
}

/* dx = invstd (g dy - mean(g dy) - xhat mean(g dy xhat)), g = gamma (or 1),
 * per row. */
CLG_ROW_LOOP
__kernel void ln_backward_dx(const int rows, const int C, const int affine,
                             const int accumulate, __global const float *x,
                             __global const float *dy, __global const float *stats,
                             __global const float *gamma, __global float *dx)
{
    const int r = clg_global_id(0);
    if (r >= rows)
        return;
    const size_t base = (size_t)r * C;
    const float mean = stats[r], invstd = stats[rows + r];
    clg_ksum a = {0.0f, 0.0f}, b = {0.0f, 0.0f};
    for (int c = 0; c < C;) {
        float pa = 0.0f, pb = 0.0f;
        for (int m = 0; m < CLG_PLAIN_TERMS && c < C; m++, c++) {
            const float gdy = dy[base + c] * (affine ? gamma[c] : 1.0f);
            pa += gdy;
            pb += gdy * (x[base + c] - mean) * invstd;
        }
        ksum_add(&a, pa);
        ksum_add(&b, pb);
    }
    const float mean_gdy = RMS ? 0.0f : ksum_value(a) / (float)C;
    const float mean_gdyx = ksum_value(b) / (float)C;
    for (int c = 0; c < C; c++) {
        const float xhat = (x[base + c] - mean) * invstd;
        const float gdy = dy[base + c] * (affine ? gamma[c] : 1.0f);
        const float v = invstd * (gdy - mean_gdy - xhat * mean_gdyx);
        dx[base + c] = accumulate ? dx[base + c] + v : v;
    }
}

/* Rows [from, to) of column c of dy and of dy xhat, summed into a and b
 * CLG_PLAIN_TERMS rows plainly per compensated step (sum.h). */
static void ln_column_sums(__global const float *x, __global const float *dy,
                           __global const float *stats, const int rows, const int C,
                           const int c, const int from, const int to, clg_ksum *a,
                           clg_ksum *b)
{
    for (int r = from; r < to;) {
        float pa = 0.0f, pb = 0.0f;
        for (int m = 0; m < CLG_PLAIN_TERMS && r < to; m++, r++) {
            const float d = dy[(size_t)r * C + c];
            pa += d;
            pb += d * (x[(size_t)r * C + c] - stats[r]) * stats[rows + r];
        }
        ksum_add(a, pa);
        ksum_add(b, pb);
    }
}

/* dgamma[c] = sum over rows of dy xhat, dbeta[c] = sum of dy: one work-item
 * per column, so that neighbours read neighbouring floats. */
__kernel void ln_param_grads(const int rows, const int C, __global const float *x,
                             __global const float *dy, __global const float *stats,
                             const int want_gamma, const int acc_gamma,
                             __global float *dgamma, const int want_beta,
                             const int acc_beta, __global float *dbeta)
{
    const int c = clg_global_id(0);
    if (c >= C)
        return;
    clg_ksum a = {0.0f, 0.0f}, b = {0.0f, 0.0f};
    ln_column_sums(x, dy, stats, rows, C, c, 0, rows, &a, &b);
    set_param_grads(c, ksum_value(a), ksum_value(b), want_gamma, acc_gamma, dgamma,
                    want_beta, acc_beta, dbeta);
}

/* ln_param_grads in two passes, for PoCL (src/ops/norm.c):
 * ln_param_partials sums each block of part_rows rows of four
 * neighbouring columns (as float4s: PoCL does not vectorise float sums
 * across work-items) into partial[part][C] (dy) and partial[parts + part][C]
 * (dy xhat); ln_param_blocks_finish adds each column's blocks in order
 * (PoCL's form: Intel's runtime vectorises ln_param_grads across columns;
 * docs/performance.md). */
__kernel void ln_param_partials(const int rows, const int C, const int parts,
                                const int part_rows, __global const float *x,
                                __global const float *dy, __global const float *stats,
                                __global float *partial)
{
    const int quads = (C + 3) / 4, i = clg_global_id(0);
    if (i >= parts * quads)
        return;
    const int part = i / quads, c = 4 * (i % quads);
    const int from = part * part_rows, to = min(rows, from + part_rows);
    __global float *pa_out = partial + (size_t)part * C,
                   *pb_out = partial + ((size_t)parts + part) * C;
    if (c + 4 <= C) {
        clg_ksum4 a = {(float4)(0.0f), (float4)(0.0f)}, b = a;
        for (int r = from; r < to;) {
            float4 pa = (float4)(0.0f), pb = (float4)(0.0f);
            for (int m = 0; m < CLG_PLAIN_TERMS && r < to; m++, r++) {
                const float4 d = vload4(0, dy + (size_t)r * C + c);
                pa += d;
                pb += d * (vload4(0, x + (size_t)r * C + c) - stats[r]) * stats[rows + r];
            }
            ksum4_add(&a, pa);
            ksum4_add(&b, pb);
        }
        vstore4(ksum4_value(a), 0, pa_out + c);
        vstore4(ksum4_value(b), 0, pb_out + c);
        return;
    }
    for (int j = c; j < C; j++) {
        clg_ksum a = {0.0f, 0.0f}, b = {0.0f, 0.0f};
        ln_column_sums(x, dy, stats, rows, C, j, from, to, &a, &b);
        pa_out[j] = ksum_value(a);
        pb_out[j] = ksum_value(b);
    }
}

__kernel void ln_param_blocks_finish(const int C, const int parts,
                                     __global const float *partial,
                                     const int want_gamma, const int acc_gamma,
                                     __global float *dgamma, const int want_beta,
                                     const int acc_beta, __global float *dbeta)
{
    const int c = clg_global_id(0);
    if (c >= C)
        return;
    clg_ksum a = {0.0f, 0.0f}, b = {0.0f, 0.0f};
    sum_parts(partial, parts, C, c, &a, &b);
    set_param_grads(c, ksum_value(a), ksum_value(b), want_gamma, acc_gamma, dgamma,
                    want_beta, acc_beta, dbeta);
}

/* Batch norm synchronised over replicas (data parallel ranks): the sums
 * of every rank are added on the host between these kernels (the plan's
 * replica sum), so each rank normalises by the statistics of the whole
 * batch. sums holds [2C + 1]: per channel a sum, then a sum of squares
 * about the mean, then the count of values per channel. */

/* sums[c] = this replica's sum of channel c; sums[2C] = its count. */
__kernel void bn_sync_sum(const int outer, const int C, const int inner,
                          __global const float *x, __global float *sums)
{
    __local float scratch[CLG_GROUP_MAX];
    const int c = get_group_id(0);
    const float total = channel_group_sum(x, outer, C, inner, c, scratch);
    if (get_local_id(0) != 0)
        return;
    sums[c] = total;
    if (c == 0)
        sums[2 * C] = (float)outer * (float)inner;
}

/* sums[C + c] = this replica's sum of (x - mean)^2, mean the whole batch's. */
__kernel void bn_sync_squares(const int outer, const int C, const int inner,
                              __global const float *x, __global float *sums)
{
    __local float scratch[CLG_GROUP_MAX];
    const int c = get_group_id(0);
    const float mean = sums[c] / sums[2 * C];
    const float sq = channel_group_squares(x, outer, C, inner, c, mean, scratch);
    if (get_local_id(0) == 0)
        sums[C + c] = sq;
}

/* The whole batch's statistics into stats, and the running ones updated
 * with them (every replica the same). */
__kernel void bn_sync_finish(const int C, const float momentum, const float eps,
                             __global const float *sums, __global float *stats,
                             __global float *running_mean, __global float *running_var)
{
    const int c = clg_global_id(0);
    if (c >= C)
        return;
    const float count = sums[2 * C];
    set_stats(c, C, count, sums[c] / count, sums[C + c], momentum, eps, stats,
              running_mean, running_var);
}
