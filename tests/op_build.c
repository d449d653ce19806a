/* test_ops' families: each builds its op on the case's inputs (b_) and
 * computes it on the host in double precision (r_). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_case.h"
#include "test_util.h"

clg_tensor *b_linear(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_linear(g, in[0], in[1], c->nin > 2 ? in[2] : NULL);
}
void r_linear(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_linear(&in[0], &in[1], c->nin > 2 ? &in[2] : NULL, out);
}

clg_tensor *b_conv(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_conv2d(g, in[0], in[1], c->nin > 2 ? in[2] : NULL, &c->conv);
}
void r_conv(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    const clg_conv2d_opts *o = &c->conv;
    const int q[7] = {o->stride_h,   o->stride_w,   o->pad_h, o->pad_w,
                      o->dilation_h, o->dilation_w, o->groups};
    ref_conv2d(&in[0], &in[1], c->nin > 2 ? &in[2] : NULL, q, y, out);
}

clg_tensor *b_tconv(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_conv_transpose2d(g, in[0], in[1], c->nin > 2 ? in[2] : NULL, &c->tconv);
}
void r_tconv(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    const clg_conv_transpose2d_opts *o = &c->tconv;
    const int q[7] = {o->stride_h,   o->stride_w,   o->pad_h, o->pad_w,
                      o->dilation_h, o->dilation_w, o->groups};
    ref_conv_transpose2d(&in[0], &in[1], c->nin > 2 ? &in[2] : NULL, q, y, out);
}

/* upsampling by the factors c->resample.size, or adaptive pooling to it */
clg_tensor *b_resample(clg_graph *g, clg_tensor **in, const op_case *c)
{
    if (c->resample.adaptive)
        return clg_adaptive_avg_pool2d(g, in[0], c->resample.size[0],
                                       c->resample.size[1]);
    return clg_upsample(g, in[0], c->resample.size[0], c->resample.size[1],
                        c->resample.bilinear);
}
void r_resample(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    if (c->resample.adaptive)
        ref_adaptive_avg_pool(&in[0], y, out);
    else
        ref_upsample(&in[0], c->resample.size[0], c->resample.size[1],
                     c->resample.bilinear, y, out);
}

/* The same convolution by Winograd and by im2col, added: x, w and b feed
 * both, so the Winograd node's gradients (computed last) accumulate. */
clg_tensor *b_convs(clg_graph *g, clg_tensor **in, const op_case *c)
{
    clg_conv2d_opts o = c->conv;
    o.algorithm = CLG_CONV_WINOGRAD;
    clg_tensor *first = clg_conv2d(g, in[0], in[1], in[2], &o);
    o.algorithm = CLG_CONV_IM2COL;
    return clg_add(g, first, clg_conv2d(g, in[0], in[1], in[2], &o));
}
void r_convs(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    r_conv(c, in, y, out);
    for (size_t i = 0; i < ref_numel(y); i++)
        out[i] *= 2.0;
}

clg_tensor *b_pool(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->pool.max ? clg_max_pool2d(g, in[0], c->pool.kernel, c->pool.stride,
                                        c->pool.padding)
                       : clg_avg_pool2d(g, in[0], c->pool.kernel, c->pool.stride,
                                        c->pool.padding);
}
void r_pool(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    ref_pool(&in[0], c->pool.kernel, c->pool.stride ? c->pool.stride : c->pool.kernel,
             c->pool.padding, c->pool.max, y, out);
}

/* max_pool2d(x) + avg_pool2d(x), windows of 2 tiling x: the average's
 * backward runs first and writes x's gradient, max pooling's adds to it. */
clg_tensor *b_pools(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    clg_tensor *m = clg_max_pool2d(g, in[0], 2, 2, 0);
    return clg_add(g, m, clg_avg_pool2d(g, in[0], 2, 2, 0));
}
void r_pools(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)c;
    size_t n = ref_numel(y);
    double *avg = malloc(n * sizeof *avg);
    ref_pool(&in[0], 2, 2, 0, true, y, out);
    ref_pool(&in[0], 2, 2, 0, false, y, avg);
    for (size_t i = 0; i < n; i++)
        out[i] += avg[i];
    free(avg);
}

clg_tensor *b_gap(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_global_avg_pool(g, in[0]);
}
void r_gap(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)c, (void)y;
    ref_tensor flat = {
        3, {in[0].shape[0], in[0].shape[1], in[0].shape[2] * in[0].shape[3]}, in[0].v};
    ref_reduce(REF_MEAN, 2, &flat, out);
}

/* in = {x, running_mean, running_var[, gamma, beta]} */
clg_tensor *b_bn(clg_graph *g, clg_tensor **in, const op_case *c)
{
    bool affine = c->nin == 5;
    return clg_batch_norm(g, in[0], affine ? in[3] : NULL, affine ? in[4] : NULL, in[1],
                          in[2], 0.1f, 1e-5f);
}
void r_bn(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    bool affine = c->nin == 5;
    ref_batch_norm(&in[0], affine ? in[3].v : NULL, affine ? in[4].v : NULL, 1e-5, out,
                   NULL, NULL);
}

/* Batch norm with its ReLU in the same kernels (a model's BatchNorm then
 * ReLU): relu(bn(x)), gradients through both. */
clg_tensor *b_bn_relu(clg_graph *g, clg_tensor **in, const op_case *c)
{
    clg_tensor *t = b_bn(g, in, c);
    assert_ptr_equal(clg_batch_norm_fuse_relu(t), t);
    assert_null(clg_batch_norm_fuse_relu(t)); /* once */
    return t;
}
void r_bn_relu(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    r_bn(c, in, y, out);
    for (size_t i = 0; i < ref_numel(y); i++)
        out[i] = out[i] <= 0 ? 0 : out[i];
}

clg_tensor *b_unary(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_activate(g, in[0], c->act, c->value);
}
void r_unary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_unary(c->act, c->value, &in[0], out);
}

clg_tensor *b_softmax(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->log ? clg_log_softmax(g, in[0]) : clg_softmax(g, in[0]);
}
void r_softmax(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_softmax(&in[0], c->log, out);
}

/* softmax(x) + log_softmax(x), one of whose gradients accumulates onto
 * the other's; c->log makes log_softmax first. */
clg_tensor *b_softmaxes(clg_graph *g, clg_tensor **in, const op_case *c)
{
    if (c->log) {
        clg_tensor *l = clg_log_softmax(g, in[0]);
        return clg_add(g, l, clg_softmax(g, in[0]));
    }
    clg_tensor *s = clg_softmax(g, in[0]);
    return clg_add(g, s, clg_log_softmax(g, in[0]));
}
void r_softmaxes(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)c;
    size_t n = ref_numel(y);
    double *l = malloc(n * sizeof *l);
    ref_softmax(&in[0], 0, out);
    ref_softmax(&in[0], 1, l);
    for (size_t i = 0; i < n; i++)
        out[i] += l[i];
    free(l);
}

clg_tensor *b_binary(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->binop == REF_ADD   ? clg_add(g, in[0], in[1])
           : c->binop == REF_SUB ? clg_sub(g, in[0], in[1])
                                 : clg_mul(g, in[0], in[1]);
}
void r_binary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_binary(c->binop, &in[0], &in[1], out);
}

/* relu(x W^T + b) + x: x feeds two ops, so its gradient accumulates. */
clg_tensor *b_residual(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_add(g, clg_relu(g, clg_linear(g, in[0], in[1], in[2])), in[0]);
}
void r_residual(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)c;
    size_t n = ref_numel(y);
    ref_linear(&in[0], &in[1], &in[2], out);
    for (size_t i = 0; i < n; i++)
        out[i] = (out[i] > 0 ? out[i] : 0) + in[0].v[i];
}

clg_tensor *b_concat(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_concat(g, c->nin, in);
}
void r_concat(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    const ref_tensor *src[5] = {&in[0], &in[1], &in[2], &in[3], &in[4]};
    ref_concat(c->nin, src, out);
}

/* linear over a flattened 4-d input: a view in the middle of the graph. */
clg_tensor *b_flatten_linear(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_linear(g, clg_flatten(g, clg_tanh(g, in[0])), in[1], NULL);
}
void r_flatten_linear(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out)
{
    (void)c, (void)y;
    size_t n = ref_numel(&in[0]);
    double *t = malloc(n * sizeof *t);
    ref_unary(CLG_ACT_TANH, 0, &in[0], t);
    ref_tensor flat = {2, {in[0].shape[0], (int)(n / (size_t)in[0].shape[0])}, t};
    ref_linear(&flat, &in[1], NULL, out);
    free(t);
}

clg_tensor *b_embedding(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_embedding(g, in[0], in[1]);
}
void r_embedding(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)c, (void)y;
    ref_embedding(&in[0], &in[1], out);
}

clg_tensor *b_reduce(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->reduction == REF_SUM    ? clg_sum(g, in[0], c->axis)
           : c->reduction == REF_MEAN ? clg_mean(g, in[0], c->axis)
                                      : clg_max(g, in[0], c->axis);
}
void r_reduce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_reduce(c->reduction, c->axis, &in[0], out);
}

clg_tensor *b_ce(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_cross_entropy(g, in[0], in[1], c->value,
                             c->sum ? CLG_REDUCE_SUM : CLG_REDUCE_MEAN);
}
void r_ce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    out[0] = ref_cross_entropy(&in[0], in[1].v, c->value, !c->sum);
}

clg_tensor *b_pointwise(clg_graph *g, clg_tensor **in, const op_case *c)
{
    clg_reduction r = c->sum ? CLG_REDUCE_SUM : CLG_REDUCE_MEAN;
    return c->loss == REF_MSE  ? clg_mse_loss(g, in[0], in[1], r)
           : c->loss == REF_L1 ? clg_l1_loss(g, in[0], in[1], r)
                               : clg_bce_with_logits(g, in[0], in[1], r);
}
void r_pointwise(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    out[0] = ref_pointwise_loss(c->loss, &in[0], in[1].v, !c->sum);
}

clg_tensor *b_dropout(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_dropout(g, in[0], c->value, c->seed);
}
void r_dropout(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    /* The node's id (c->nin: created right after the inputs) is mixed in. */
    uint64_t seed = c->seed ^ ((uint64_t)c->nin * 0x9E3779B97F4A7C15ull);
    ref_dropout(&in[0], c->value, seed, 0, out);
}

/* dropout(x) + x: dropout's backward adds to the gradient the sum wrote. */
clg_tensor *b_dropout_residual(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_add(g, b_dropout(g, in, c), in[0]);
}
void r_dropout_residual(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out)
{
    r_dropout(c, in, y, out);
    for (size_t i = 0; i < ref_numel(y); i++)
        out[i] += in[0].v[i];
}

clg_tensor *b_layer_norm(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_layer_norm(g, in[0], c->nin > 1 ? in[1] : NULL,
                          c->nin > 2 ? in[2] : NULL, c->value);
}
void r_layer_norm(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    int C = in[0].shape[in[0].ndim - 1];
    double *zeros = calloc((size_t)C, sizeof *zeros);
    ref_layer_norm(&in[0], c->nin > 1 ? in[1].v : NULL,
                   c->nin > 2   ? in[2].v
                   : c->nin > 1 ? zeros
                                : NULL,
                   c->value, out);
    free(zeros);
}

clg_tensor *b_rms_norm(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_rms_norm(g, in[0], c->nin > 1 ? in[1] : NULL, c->value);
}
void r_rms_norm(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_rms_norm(&in[0], c->nin > 1 ? in[1].v : NULL, c->value, out);
}

clg_tensor *b_causal(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_causal_softmax(g, in[0], c->value);
}
void r_causal(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_causal_softmax(&in[0], c->value, out);
}

clg_tensor *b_matmul(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_matmul(g, in[0], in[1], c->ta, c->tb);
}
void r_matmul(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_matmul(&in[0], &in[1], c->ta, c->tb, out);
}

clg_tensor *b_permute(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_permute(g, in[0], c->perm);
}
void r_permute(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_permute(&in[0], c->perm, out);
}

clg_tensor *b_narrow(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_narrow(g, in[0], c->axis, c->start, c->length);
}
void r_narrow(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_narrow(&in[0], c->axis, c->start, c->length, out);
}

/* q, k, v = the three thirds of one [N, T, 3C] tensor, each narrowed and
 * permuted to [N, h, T, C/h] (heads of 2), causal attention, back to
 * [N, T, C]: the gradient of x collects three narrows' (overwrite, then
 * accumulate). */
clg_tensor *b_attention(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    clg_tensor *x = in[0], *qkv[3];
    int N = clg_tensor_dim(x, 0), T = clg_tensor_dim(x, 1),
        C = clg_tensor_dim(x, 2) / 3;
    for (int k = 0; k < 3; k++)
        qkv[k] = clg_permute(
            g,
            clg_reshape(g, clg_narrow(g, x, 2, k * C, C), 4, (int[]){N, T, 2, C / 2}),
            (int[]){0, 2, 1, 3});
    clg_tensor *a = clg_causal_softmax(g, clg_matmul(g, qkv[0], qkv[1], false, true),
                                       1.0f / sqrtf((float)C / 2));
    clg_tensor *y =
        clg_permute(g, clg_matmul(g, a, qkv[2], false, false), (int[]){0, 2, 1, 3});
    return clg_reshape(g, y, 3, (int[]){N, T, C});
}
void r_attention(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    int N = in[0].shape[0], T = in[0].shape[1], C = in[0].shape[2] / 3,
        h = c->heads ? c->heads : 2, hd = C / h;
    size_t n = (size_t)N * T * C;
    double *q = malloc(3 * n * sizeof *q), *att = malloc((size_t)T * T * sizeof *att),
           *w = malloc((size_t)T * T * sizeof *w);
    for (int b = 0; b < N; b++)
        for (int hh = 0; hh < h; hh++) {
            /* head hh of q, k, v: column k * C + hh * hd + d of row (b, t) */
            const double *x = in[0].v + (size_t)b * T * 3 * C;
            for (int i = 0; i < T; i++)
                for (int j = 0; j < T; j++) {
                    double sum = 0;
                    for (int d = 0; d < hd; d++)
                        sum +=
                            x[i * 3 * C + hh * hd + d] * x[j * 3 * C + C + hh * hd + d];
                    att[i * T + j] = sum;
                }
            ref_tensor at = {2, {T, T}, att};
            ref_causal_softmax(&at, 1.0 / sqrt((double)hd), w);
            for (int i = 0; i < T; i++)
                for (int d = 0; d < hd; d++) {
                    double sum = 0;
                    for (int j = 0; j < T; j++)
                        sum += w[i * T + j] * x[j * 3 * C + 2 * C + hh * hd + d];
                    out[((size_t)b * T + i) * C + hh * hd + d] = sum;
                }
        }
    free(q), free(att), free(w);
}

clg_tensor *b_fused_attention(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_causal_attention_with(g, in[0], c->heads ? c->heads : 2,
                                     CLG_ATTENTION_COMPOSED);
}

clg_tensor *b_tiled_attention(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_causal_attention_with(g, in[0], c->heads ? c->heads : 2,
                                     CLG_ATTENTION_TILED);
}

clg_tensor *b_recomputed_attention(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_causal_attention_with(g, in[0], c->heads ? c->heads : 2,
                                     CLG_ATTENTION_RECOMPUTED);
}

/* Tiled or recomputed attention of x plus x's q columns: the narrow's
 * backward writes x's gradient first, attention's adds to it. */
static clg_tensor *plus_q(clg_graph *g, clg_tensor *a, clg_tensor *x)
{
    return clg_add(g, a, clg_narrow(g, x, 2, 0, clg_tensor_dim(x, 2) / 3));
}

clg_tensor *b_tiled_attention_plus_q(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return plus_q(g, b_tiled_attention(g, in, c), in[0]);
}

clg_tensor *b_recomputed_attention_plus_q(clg_graph *g, clg_tensor **in,
                                          const op_case *c)
{
    return plus_q(g, b_recomputed_attention(g, in, c), in[0]);
}
void r_attention_plus_q(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out)
{
    r_attention(c, in, y, out);
    int rows = in[0].shape[0] * in[0].shape[1], C = in[0].shape[2] / 3;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < C; k++)
            out[(size_t)r * C + k] += in[0].v[(size_t)r * 3 * C + k];
}
