/* Every op, forward against a double-precision host reference and backward
 * against central differences of that reference, on small odd shapes (7, 13)
 * that do not divide work-group sizes, at the full and at a partial batch. */
#include <math.h>
#include <stdlib.h>

#include "ops/ops_internal.h"
#include "reference.h"
#include "test_util.h"

enum { IN_X, IN_P, IN_S, IN_ID, IN_TARGET }; /* input kinds */

typedef struct input_spec {
    int kind; /* IN_X: batched float with gradient; IN_P: parameter; IN_S: state;
                 IN_ID: batched int32 in [0, limit); IN_TARGET: batched float */
    int ndim;
    int shape[4];
    int limit;
} input_spec;

typedef struct op_case op_case;
struct op_case {
    const char *name;
    int nin;
    input_spec in[5];
    clg_tensor *(*build)(clg_graph *g, clg_tensor **in, const op_case *c);
    /* out = op(in) on the host; y gives the output shape at the run batch. */
    void (*ref)(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
    /* What the op takes; each family reads its own fields. */
    clg_conv2d_opts conv;
    struct {
        int kernel, stride, padding;
        bool max;
    } pool;
    clg_activation act;
    ref_binop binop;
    ref_reduction reduction;
    int axis;
    ref_loss loss;
    bool log;          /* log_softmax */
    bool sum;          /* losses: sum, not mean */
    float value;       /* slope, alpha, factor, smoothing, dropout p */
    uint64_t seed;     /* dropout */
    int batch;         /* run batch; 0: the planned one */
    bool unbatched;    /* the output has no batch dimension (a reduction over it) */
    bool on_both_gemm; /* also run on the CLBlast and the native GEMM path */
    int perm[4];       /* permute */
    bool ta, tb;       /* matmul transposes */
    int start, length; /* narrow, along `axis` */
    int heads;         /* attention (0: 2) */
    bool by_class;     /* its family's kernels differ by device class: run it
                          in every class's forms (clg_kernel_class) */
};

/* ---- Builders and references --------------------------------------------- */

static clg_tensor *b_linear(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_linear(g, in[0], in[1], c->nin > 2 ? in[2] : NULL);
}
static void r_linear(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_linear(&in[0], &in[1], c->nin > 2 ? &in[2] : NULL, out);
}

static clg_tensor *b_conv(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_conv2d(g, in[0], in[1], c->nin > 2 ? in[2] : NULL, &c->conv);
}
static void r_conv(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    const clg_conv2d_opts *o = &c->conv;
    const int q[6] = {o->stride_h, o->stride_w,   o->pad_h,
                      o->pad_w,    o->dilation_h, o->dilation_w};
    ref_conv2d(&in[0], &in[1], c->nin > 2 ? &in[2] : NULL, q, y, out);
}

/* The same convolution by Winograd and by im2col, added: x, w and b feed
 * both, so the Winograd node's gradients (computed last) accumulate. */
static clg_tensor *b_convs(clg_graph *g, clg_tensor **in, const op_case *c)
{
    clg_conv2d_opts o = c->conv;
    o.algorithm = CLG_CONV_WINOGRAD;
    clg_tensor *first = clg_conv2d(g, in[0], in[1], in[2], &o);
    o.algorithm = CLG_CONV_IM2COL;
    return clg_add(g, first, clg_conv2d(g, in[0], in[1], in[2], &o));
}
static void r_convs(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    r_conv(c, in, y, out);
    for (size_t i = 0; i < ref_numel(y); i++)
        out[i] *= 2.0;
}

static clg_tensor *b_pool(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->pool.max ? clg_max_pool2d(g, in[0], c->pool.kernel, c->pool.stride,
                                        c->pool.padding)
                       : clg_avg_pool2d(g, in[0], c->pool.kernel, c->pool.stride,
                                        c->pool.padding);
}
static void r_pool(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    ref_pool(&in[0], c->pool.kernel, c->pool.stride ? c->pool.stride : c->pool.kernel,
             c->pool.padding, c->pool.max, y, out);
}

/* max_pool2d(x) + avg_pool2d(x), windows of 2 tiling x: the average's
 * backward runs first and writes x's gradient, max pooling's adds to it. */
static clg_tensor *b_pools(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    clg_tensor *m = clg_max_pool2d(g, in[0], 2, 2, 0);
    return clg_add(g, m, clg_avg_pool2d(g, in[0], 2, 2, 0));
}
static void r_pools(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
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

static clg_tensor *b_gap(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_global_avg_pool(g, in[0]);
}
static void r_gap(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)c, (void)y;
    ref_tensor flat = {
        3, {in[0].shape[0], in[0].shape[1], in[0].shape[2] * in[0].shape[3]}, in[0].v};
    ref_reduce(REF_MEAN, 2, &flat, out);
}

/* in = {x, running_mean, running_var[, gamma, beta]} */
static clg_tensor *b_bn(clg_graph *g, clg_tensor **in, const op_case *c)
{
    bool affine = c->nin == 5;
    return clg_batch_norm(g, in[0], affine ? in[3] : NULL, affine ? in[4] : NULL, in[1],
                          in[2], 0.1f, 1e-5f);
}
static void r_bn(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    bool affine = c->nin == 5;
    ref_batch_norm(&in[0], affine ? in[3].v : NULL, affine ? in[4].v : NULL, 1e-5, out,
                   NULL, NULL);
}

/* Batch norm with its ReLU in the same kernels (a model's BatchNorm then
 * ReLU): relu(bn(x)), gradients through both. */
static clg_tensor *b_bn_relu(clg_graph *g, clg_tensor **in, const op_case *c)
{
    clg_tensor *t = b_bn(g, in, c);
    assert_ptr_equal(clg_batch_norm_fuse_relu(t), t);
    assert_null(clg_batch_norm_fuse_relu(t)); /* once */
    return t;
}
static void r_bn_relu(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out)
{
    r_bn(c, in, y, out);
    for (size_t i = 0; i < ref_numel(y); i++)
        out[i] = out[i] <= 0 ? 0 : out[i];
}

static clg_tensor *b_unary(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_activate(g, in[0], c->act, c->value);
}
static void r_unary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_unary(c->act, c->value, &in[0], out);
}

static clg_tensor *b_softmax(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->log ? clg_log_softmax(g, in[0]) : clg_softmax(g, in[0]);
}
static void r_softmax(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out)
{
    (void)y;
    ref_softmax(&in[0], c->log, out);
}

/* softmax(x) + log_softmax(x), one of whose gradients accumulates onto
 * the other's; c->log makes log_softmax first. */
static clg_tensor *b_softmaxes(clg_graph *g, clg_tensor **in, const op_case *c)
{
    if (c->log) {
        clg_tensor *l = clg_log_softmax(g, in[0]);
        return clg_add(g, l, clg_softmax(g, in[0]));
    }
    clg_tensor *s = clg_softmax(g, in[0]);
    return clg_add(g, s, clg_log_softmax(g, in[0]));
}
static void r_softmaxes(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out)
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

static clg_tensor *b_binary(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->binop == REF_ADD   ? clg_add(g, in[0], in[1])
           : c->binop == REF_SUB ? clg_sub(g, in[0], in[1])
                                 : clg_mul(g, in[0], in[1]);
}
static void r_binary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_binary(c->binop, &in[0], &in[1], out);
}

/* relu(x W^T + b) + x: x feeds two ops, so its gradient accumulates. */
static clg_tensor *b_residual(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_add(g, clg_relu(g, clg_linear(g, in[0], in[1], in[2])), in[0]);
}
static void r_residual(const op_case *c, ref_tensor *in, const ref_tensor *y,
                       double *out)
{
    (void)c;
    size_t n = ref_numel(y);
    ref_linear(&in[0], &in[1], &in[2], out);
    for (size_t i = 0; i < n; i++)
        out[i] = (out[i] > 0 ? out[i] : 0) + in[0].v[i];
}

static clg_tensor *b_concat(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_concat(g, c->nin, in);
}
static void r_concat(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    const ref_tensor *src[5] = {&in[0], &in[1], &in[2], &in[3], &in[4]};
    ref_concat(c->nin, src, out);
}

/* linear over a flattened 4-d input: a view in the middle of the graph. */
static clg_tensor *b_flatten_linear(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_linear(g, clg_flatten(g, clg_tanh(g, in[0])), in[1], NULL);
}
static void r_flatten_linear(const op_case *c, ref_tensor *in, const ref_tensor *y,
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

static clg_tensor *b_embedding(clg_graph *g, clg_tensor **in, const op_case *c)
{
    (void)c;
    return clg_embedding(g, in[0], in[1]);
}
static void r_embedding(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out)
{
    (void)c, (void)y;
    ref_embedding(&in[0], &in[1], out);
}

static clg_tensor *b_reduce(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->reduction == REF_SUM    ? clg_sum(g, in[0], c->axis)
           : c->reduction == REF_MEAN ? clg_mean(g, in[0], c->axis)
                                      : clg_max(g, in[0], c->axis);
}
static void r_reduce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_reduce(c->reduction, c->axis, &in[0], out);
}

static clg_tensor *b_ce(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_cross_entropy(g, in[0], in[1], c->value,
                             c->sum ? CLG_REDUCE_SUM : CLG_REDUCE_MEAN);
}
static void r_ce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    out[0] = ref_cross_entropy(&in[0], in[1].v, c->value, !c->sum);
}

static clg_tensor *b_pointwise(clg_graph *g, clg_tensor **in, const op_case *c)
{
    clg_reduction r = c->sum ? CLG_REDUCE_SUM : CLG_REDUCE_MEAN;
    return c->loss == REF_MSE  ? clg_mse_loss(g, in[0], in[1], r)
           : c->loss == REF_L1 ? clg_l1_loss(g, in[0], in[1], r)
                               : clg_bce_with_logits(g, in[0], in[1], r);
}
static void r_pointwise(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out)
{
    (void)y;
    out[0] = ref_pointwise_loss(c->loss, &in[0], in[1].v, !c->sum);
}

static clg_tensor *b_dropout(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_dropout(g, in[0], c->value, c->seed);
}
static void r_dropout(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out)
{
    (void)y;
    /* The node's id (c->nin: created right after the inputs) is mixed in. */
    uint64_t seed = c->seed ^ ((uint64_t)c->nin * 0x9E3779B97F4A7C15ull);
    ref_dropout(&in[0], c->value, seed, 0, out);
}

/* dropout(x) + x: dropout's backward adds to the gradient the sum wrote. */
static clg_tensor *b_dropout_residual(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_add(g, b_dropout(g, in, c), in[0]);
}
static void r_dropout_residual(const op_case *c, ref_tensor *in, const ref_tensor *y,
                               double *out)
{
    r_dropout(c, in, y, out);
    for (size_t i = 0; i < ref_numel(y); i++)
        out[i] += in[0].v[i];
}

static clg_tensor *b_layer_norm(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_layer_norm(g, in[0], c->nin > 1 ? in[1] : NULL,
                          c->nin > 2 ? in[2] : NULL, c->value);
}
static void r_layer_norm(const op_case *c, ref_tensor *in, const ref_tensor *y,
                         double *out)
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

static clg_tensor *b_rms_norm(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_rms_norm(g, in[0], c->nin > 1 ? in[1] : NULL, c->value);
}
static void r_rms_norm(const op_case *c, ref_tensor *in, const ref_tensor *y,
                       double *out)
{
    (void)y;
    ref_rms_norm(&in[0], c->nin > 1 ? in[1].v : NULL, c->value, out);
}

static clg_tensor *b_causal(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_causal_softmax(g, in[0], c->value);
}
static void r_causal(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_causal_softmax(&in[0], c->value, out);
}

static clg_tensor *b_matmul(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_matmul(g, in[0], in[1], c->ta, c->tb);
}
static void r_matmul(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_matmul(&in[0], &in[1], c->ta, c->tb, out);
}

static clg_tensor *b_permute(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_permute(g, in[0], c->perm);
}
static void r_permute(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out)
{
    (void)y;
    ref_permute(&in[0], c->perm, out);
}

static clg_tensor *b_narrow(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_narrow(g, in[0], c->axis, c->start, c->length);
}
static void r_narrow(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_narrow(&in[0], c->axis, c->start, c->length, out);
}

/* q, k, v = the three thirds of one [N, T, 3C] tensor, each narrowed and
 * permuted to [N, h, T, C/h] (heads of 2), causal attention, back to
 * [N, T, C]: the gradient of x collects three narrows' (overwrite, then
 * accumulate). */
static clg_tensor *b_attention(clg_graph *g, clg_tensor **in, const op_case *c)
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
static void r_attention(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out)
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

static clg_tensor *b_fused_attention(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_causal_attention(g, in[0], c->heads ? c->heads : 2);
}

/* ---- The check ------------------------------------------------------------ */

/* Inputs: X a batched float input with a gradient, P a parameter, S a state
 * (batch norm statistics), ID batched int32 ids below a limit (its first argument), T a
 * batched float target. */
#define X(nd, ...)                                                                     \
    {                                                                                  \
        IN_X, nd, __VA_ARGS__                                                          \
    }
#define P(nd, ...)                                                                     \
    {                                                                                  \
        IN_P, nd, __VA_ARGS__                                                          \
    }
#define S(nd, ...)                                                                     \
    {                                                                                  \
        IN_S, nd, __VA_ARGS__                                                          \
    }
#define ID(limit, nd, ...)                                                             \
    {                                                                                  \
        IN_ID, nd, __VA_ARGS__, limit                                                  \
    }
#define T(nd, ...)                                                                     \
    {                                                                                  \
        IN_TARGET, nd, __VA_ARGS__                                                     \
    }
#define CONV(sh, sw, ph, pw, dh, dw)                                                   \
    .conv = {.stride_h = sh,                                                           \
             .stride_w = sw,                                                           \
             .pad_h = ph,                                                              \
             .pad_w = pw,                                                              \
             .dilation_h = dh,                                                         \
             .dilation_w = dw}
/* Winograd's F(2x2, 3x3), whatever clgrad would choose for the shape. */
#define WINOGRAD(ph, pw)                                                               \
    .conv = {.stride_h = 1,                                                            \
             .stride_w = 1,                                                            \
             .pad_h = ph,                                                              \
             .pad_w = pw,                                                              \
             .dilation_h = 1,                                                          \
             .dilation_w = 1,                                                          \
             .algorithm = CLG_CONV_WINOGRAD}
#define UNARY(a)         .build = b_unary, .ref = r_unary, .act = a
#define BINARY(o)        .build = b_binary, .ref = r_binary, .binop = o
#define REDUCE(r, a)     .build = b_reduce, .ref = r_reduce, .reduction = r, .axis = a
#define LOSS(l)          .build = b_pointwise, .ref = r_pointwise, .loss = l
#define POOL(k, s, p, m) .build = b_pool, .ref = r_pool, .pool = {k, s, p, m}

static const op_case cases[] = {
    {"linear",
     3,
     {X(2, {7, 13}), P(2, {5, 13}), P(1, {5})},
     b_linear,
     r_linear,
     .on_both_gemm = true},
    {"linear partial batch",
     3,
     {X(2, {7, 13}), P(2, {5, 13}), P(1, {5})},
     b_linear,
     r_linear,
     .batch = 4,
     .on_both_gemm = true},
    {"linear 3-d, no bias", 2, {X(3, {3, 4, 13}), P(2, {6, 13})}, b_linear, r_linear},
    {"conv2d 3x3 pad 1",
     3,
     {X(4, {2, 3, 7, 7}), P(4, {4, 3, 3, 3}), P(1, {4})},
     b_conv,
     r_conv,
     CONV(1, 1, 1, 1, 1, 1),
     .on_both_gemm = true,
     .by_class = true},
    {"conv2d stride 2 dilation 2",
     2,
     {X(4, {2, 2, 9, 8}), P(4, {3, 2, 3, 2})},
     b_conv,
     r_conv,
     CONV(2, 1, 0, 1, 2, 1),
     .batch = 1,
     .on_both_gemm = true,
     .by_class = true},
    /* strides and paddings that differ by axis: im2col's column index along
     * W steps by stride_w, and padding shifts only H */
    {"conv2d stride 1 x 2, pad 1 x 0",
     3,
     {X(4, {2, 3, 7, 9}), P(4, {4, 3, 3, 2}), P(1, {4})},
     b_conv,
     r_conv,
     CONV(1, 2, 1, 0, 1, 1),
     .on_both_gemm = true,
     .by_class = true},
    /* Winograd: tiles past an odd output's end; pad 0, 1 and 2 (the input
     * gradient's convolution pads by 2 - pad); a partial batch. */
    {"conv2d 3x3 pad 1, Winograd",
     3,
     {X(4, {2, 3, 7, 7}), P(4, {4, 3, 3, 3}), P(1, {4})},
     b_conv,
     r_conv,
     WINOGRAD(1, 1),
     .on_both_gemm = true,
     .by_class = true},
    {"conv2d 3x3 pad 0, Winograd, 8 x 6",
     2,
     {X(4, {3, 2, 8, 6}), P(4, {5, 2, 3, 3})},
     b_conv,
     r_conv,
     WINOGRAD(0, 0),
     .batch = 2},
    {"conv2d 3x3 pad 2 x 1, Winograd, 5 x 9",
     3,
     {X(4, {3, 4, 5, 9}), P(4, {3, 4, 3, 3}), P(1, {3})},
     b_conv,
     r_conv,
     WINOGRAD(2, 1),
     .on_both_gemm = true},
    {"conv2d Winograd + im2col (Winograd's gradients accumulate)",
     3,
     {X(4, {2, 4, 6, 5}), P(4, {3, 4, 3, 3}), P(1, {3})},
     b_convs,
     r_convs,
     WINOGRAD(1, 1),
     .batch = 1,
     .by_class = true},
    {"max_pool2d 3/2/1",
     1,
     {X(4, {2, 3, 7, 7})},
     POOL(3, 2, 1, true),
     .by_class = true},
    {"max_pool2d 2", 1, {X(4, {2, 2, 8, 8})}, POOL(2, 0, 0, true), .by_class = true},
    /* Wider than high: a column's windows are counted in OW, not OH. */
    {"max_pool2d 3/2/1, 5 x 9", 1, {X(4, {2, 3, 5, 9})}, POOL(3, 2, 1, true)},
    {"avg_pool2d 2, 6 x 10",
     1,
     {X(4, {3, 2, 6, 10})},
     POOL(2, 0, 0, false),
     .batch = 2},
    {"max_pool2d 2 + avg_pool2d 2 (max pooling's gradient accumulates)",
     1,
     {X(4, {3, 2, 6, 10})},
     b_pools,
     r_pools,
     .batch = 2,
     .by_class = true},
    {"avg_pool2d 3/2/1",
     1,
     {X(4, {2, 3, 7, 7})},
     POOL(3, 2, 1, false),
     .by_class = true},
    {"global_avg_pool", 1, {X(4, {2, 3, 5, 5})}, b_gap, r_gap, .by_class = true},
    {"batch_norm 2d",
     5,
     {X(4, {4, 3, 5, 5}), S(1, {3}), S(1, {3}), P(1, {3}), P(1, {3})},
     b_bn,
     r_bn,
     .by_class = true},
    {"batch_norm 1d no affine",
     3,
     {X(2, {7, 13}), S(1, {13}), S(1, {13})},
     b_bn,
     r_bn,
     .batch = 5,
     .by_class = true},
    {"batch_norm 2d + relu in its kernels",
     5,
     {X(4, {4, 3, 5, 5}), S(1, {3}), S(1, {3}), P(1, {3}), P(1, {3})},
     b_bn_relu,
     r_bn_relu,
     .by_class = true},
    {"batch_norm 1d no affine + relu in its kernels, partial batch",
     3,
     {X(2, {7, 13}), S(1, {13}), S(1, {13})},
     b_bn_relu,
     r_bn_relu,
     .batch = 5,
     .by_class = true},
/* Every activation of activations.h, its number (where it has one) away from
 * the default. */
#define ACT_CASE(Y, ID, fn, name, code, layer, nargs, arg, def, option)                \
    {#fn, 1, {X(2, {7, 13})}, UNARY(CLG_ACT_##ID), .value = 3 * (def)},
#define ACT_FORM_CASE(Y, ID, fn, code, nargs)                                          \
    {#fn, 1, {X(2, {7, 13})}, UNARY(CLG_ACT_##ID), .value = 2.5f},
    CLG_ACTIVATION_LIST(ACT_CASE, ~) CLG_ACTIVATION_FORM_LIST(ACT_FORM_CASE, ~){
        "softmax", 1, {X(2, {7, 13})}, b_softmax, r_softmax, .by_class = true},
    {"log_softmax",
     1,
     {X(2, {7, 13})},
     b_softmax,
     r_softmax,
     .log = true,
     .by_class = true},
    {"softmax over channels",
     1,
     {X(4, {2, 5, 3, 3})},
     b_softmax,
     r_softmax,
     .by_class = true},
    /* rows of 11: two blocks of four and a tail in the row forms (PoCL) */
    {"softmax + log_softmax (gradients accumulate)",
     1,
     {X(2, {5, 11})},
     b_softmaxes,
     r_softmaxes,
     .batch = 3,
     .by_class = true},
    {"log_softmax + softmax (gradients accumulate)",
     1,
     {X(2, {5, 11})},
     b_softmaxes,
     r_softmaxes,
     .log = true,
     .by_class = true},
    {"add bias-like",
     2,
     {X(4, {2, 3, 4, 5}), P(3, {3, 1, 1})},
     BINARY(REF_ADD),
     .by_class = true},
    {"sub same shape", 2, {X(2, {7, 13}), X(2, {7, 13})}, BINARY(REF_SUB)},
    {"add same shape", 2, {X(3, {2, 5, 7}), X(3, {2, 5, 7})}, BINARY(REF_ADD)},
    {"mul same shape", 2, {X(4, {2, 3, 4, 5}), X(4, {2, 3, 4, 5})}, BINARY(REF_MUL)},
    {"mul broadcast last", 2, {X(3, {3, 4, 5}), P(1, {5})}, BINARY(REF_MUL)},
    {"residual",
     3,
     {X(2, {7, 13}), P(2, {13, 13}), P(1, {13})},
     b_residual,
     r_residual},
    {"concat", 2, {X(4, {2, 3, 4, 4}), X(4, {2, 5, 4, 4})}, b_concat, r_concat},
    {"flatten",
     2,
     {X(4, {2, 3, 4, 4}), P(2, {5, 48})},
     b_flatten_linear,
     r_flatten_linear},
    {"embedding",
     2,
     {ID(11, 2, {3, 4}), P(2, {11, 6})},
     b_embedding,
     r_embedding,
     .by_class = true},
    {"sum axis 1", 1, {X(3, {3, 4, 5})}, REDUCE(REF_SUM, 1), .by_class = true},
    {"mean axis 0", 1, {X(3, {3, 4, 5})}, REDUCE(REF_MEAN, 0), .unbatched = true},
    {"max axis 2", 1, {X(3, {3, 4, 5})}, REDUCE(REF_MAX, 2)},
    {"sum all", 1, {X(2, {7, 13})}, REDUCE(REF_SUM, -1), .by_class = true},
    {"mean all", 1, {X(3, {3, 5, 7})}, REDUCE(REF_MEAN, -1), .by_class = true},
    {"cross_entropy", 2, {X(2, {7, 13}), ID(13, 1, {7})}, b_ce, r_ce, .by_class = true},
    {"cross_entropy smoothed sum",
     2,
     {X(2, {7, 13}), ID(13, 1, {7})},
     b_ce,
     r_ce,
     .sum = true,
     .value = 0.1f,
     .batch = 6},
    {"mse", 2, {X(2, {7, 13}), T(2, {7, 13})}, LOSS(REF_MSE)},
    {"l1 sum", 2, {X(2, {7, 13}), T(2, {7, 13})}, LOSS(REF_L1), .sum = true},
    {"bce_with_logits", 2, {X(2, {7, 13}), T(2, {7, 13})}, LOSS(REF_BCE)},
    {"dropout", 1, {X(2, {7, 13})}, b_dropout, r_dropout, .seed = 1234, .value = 0.3f},
    {"dropout + x (dropout's gradient accumulates)",
     1,
     {X(2, {6, 10})},
     b_dropout_residual,
     r_dropout_residual,
     .seed = 99,
     .value = 0.4f},
    {"layer_norm",
     3,
     {X(3, {3, 5, 13}), P(1, {13}), P(1, {13})},
     b_layer_norm,
     r_layer_norm,
     .value = 1e-5f,
     .batch = 2,
     .by_class = true},
    /* 135 rows: the parameters' gradients sum blocks of 64 rows, a partial
     * last one, and six columns: a float4 and two more (cl/norm.cl) */
    {"layer_norm, 135 rows",
     3,
     {X(3, {5, 27, 6}), P(1, {6}), P(1, {6})},
     b_layer_norm,
     r_layer_norm,
     .value = 1e-5f,
     .batch = 3,
     .by_class = true},
    {"layer_norm no affine",
     1,
     {X(2, {7, 13})},
     b_layer_norm,
     r_layer_norm,
     .value = 1e-3f,
     .by_class = true},
    {"layer_norm no bias",
     2,
     {X(3, {2, 3, 9}), P(1, {9})},
     b_layer_norm,
     r_layer_norm,
     .value = 1e-5f,
     .by_class = true},
    {"rms_norm",
     2,
     {X(3, {3, 5, 13}), P(1, {13})},
     b_rms_norm,
     r_rms_norm,
     .value = 1e-6f,
     .batch = 2,
     .by_class = true},
    /* an eps as large as the variance: where eps goes shows */
    {"layer_norm eps 0.5",
     3,
     {X(3, {2, 3, 8}), P(1, {8}), P(1, {8})},
     b_layer_norm,
     r_layer_norm,
     .value = 0.5f,
     .by_class = true},
    {"rms_norm eps 0.5",
     2,
     {X(2, {5, 9}), P(1, {9})},
     b_rms_norm,
     r_rms_norm,
     .value = 0.5f,
     .by_class = true},
    {"rms_norm no weight", 1, {X(2, {7, 13})}, b_rms_norm, r_rms_norm, .value = 1e-3f},
    {"causal_softmax",
     1,
     {X(4, {2, 3, 7, 7})},
     b_causal,
     r_causal,
     .value = 0.5f,
     .by_class = true},
    {"causal_softmax keys > queries",
     1,
     {X(3, {3, 5, 9})},
     b_causal,
     r_causal,
     .value = 1.0f,
     .by_class = true},
    {"matmul",
     2,
     {X(4, {2, 3, 5, 7}), X(4, {2, 3, 7, 4})},
     b_matmul,
     r_matmul,
     .on_both_gemm = true},
    {"matmul a b^T",
     2,
     {X(3, {3, 5, 7}), X(3, {3, 6, 7})},
     b_matmul,
     r_matmul,
     .tb = true,
     .batch = 2,
     .on_both_gemm = true},
    {"matmul a^T b",
     2,
     {X(3, {3, 7, 5}), X(3, {3, 7, 6})},
     b_matmul,
     r_matmul,
     .ta = true,
     .on_both_gemm = true},
    {"matmul a^T b^T",
     2,
     {X(3, {2, 7, 5}), X(3, {2, 6, 7})},
     b_matmul,
     r_matmul,
     .ta = true,
     .tb = true,
     .on_both_gemm = true},
    {"permute 0 2 1 3",
     1,
     {X(4, {2, 3, 4, 5})},
     b_permute,
     r_permute,
     .perm = {0, 2, 1, 3}},
    {"permute 0 3 1 2",
     1,
     {X(4, {2, 3, 4, 5})},
     b_permute,
     r_permute,
     .perm = {0, 3, 1, 2},
     .batch = 1},
    {"narrow last dim",
     1,
     {X(3, {3, 4, 9})},
     b_narrow,
     r_narrow,
     .axis = 2,
     .start = 3,
     .length = 4},
    {"narrow dim 1",
     1,
     {X(3, {3, 5, 4})},
     b_narrow,
     r_narrow,
     .axis = 1,
     .start = 1,
     .length = 3},
    {"causal self-attention",
     1,
     {X(3, {2, 5, 12})},
     b_attention,
     r_attention,
     .on_both_gemm = true},
    {"causal_attention (fused)",
     1,
     {X(3, {2, 5, 12})},
     b_fused_attention,
     r_attention,
     .on_both_gemm = true,
     .by_class = true},
    {"causal_attention 3 heads, partial batch",
     1,
     {X(3, {3, 7, 18})},
     b_fused_attention,
     r_attention,
     .heads = 3,
     .batch = 2,
     .on_both_gemm = true,
     .by_class = true},
    {"cross_entropy over [N, T, C]",
     2,
     {X(3, {3, 5, 11}), ID(11, 2, {3, 5})},
     b_ce,
     r_ce,
     .batch = 2,
     .by_class = true},
};

#define NCASES (sizeof cases / sizeof *cases)

static bool batched(const input_spec *s)
{
    return s->kind == IN_X || s->kind >= IN_ID;
}

typedef struct host_case {
    const op_case *c;
    ref_tensor in[5];
    ref_tensor y; /* output shape at the run batch */
    double *r;    /* weights R of the scalar L = sum(y * R) */
    double *out;
} host_case;

static double host_loss(host_case *h)
{
    h->c->ref(h->c, h->in, &h->y, h->out);
    double L = 0;
    for (size_t i = 0; i < ref_numel(&h->y); i++)
        L += h->out[i] * h->r[i];
    return L;
}

static float random_value(const input_spec *s, uint32_t *seed, int i)
{
    if (s->kind == IN_ID)
        return (float)((uint32_t)(test_random(seed) * 1e6f + 1e6f) %
                       (uint32_t)s->limit);
    if (s->kind == IN_S)
        return i == 2 ? 1.0f : 0.0f; /* running mean 0, running var 1 */
    if (s->kind == IN_TARGET)
        return 0.5f * (test_random(seed) + 1.0f); /* in [0, 1) for BCE */
    return test_random(seed);
}

static void check_case(clg_context *ctx, const op_case *c)
{
    clg_graph *g;
    assert_ok(clg_graph_create(ctx, &g));
    clg_tensor *in[5] = {0};
    host_case h = {.c = c};
    int planned = 0, run;
    uint32_t seed = 7;
    for (int k = 0; k < c->nin; k++) {
        const input_spec *s = &c->in[k];
        if (batched(s))
            in[k] = clg_input(g, NULL, s->kind == IN_ID ? CLG_INT32 : CLG_FLOAT32,
                              s->ndim, s->shape);
        else if (s->kind == IN_P)
            in[k] = clg_parameter(g, NULL, s->ndim, s->shape);
        else
            in[k] = clg_state(g, NULL, s->ndim, s->shape, 0.0f);
        if (s->kind == IN_X)
            clg_tensor_set_requires_grad(in[k], true);
        if (batched(s))
            planned = s->shape[0];
    }
    run = c->batch ? c->batch : planned;
    clg_tensor *y = c->build(g, in, c);
    assert_ok(clg_graph_status(g));
    bool y_batched = planned && !c->unbatched && clg_tensor_dim(y, 0) == planned;
    int yshape[4];
    for (int i = 0; i < clg_tensor_ndim(y); i++)
        yshape[i] = clg_tensor_dim(y, i);
    clg_tensor *R = y_batched
                        ? clg_input(g, "R", CLG_FLOAT32, clg_tensor_ndim(y), yshape)
                        : clg_state(g, "R", clg_tensor_ndim(y), yshape, 0.0f);
    clg_tensor *loss = clg_sum(g, clg_mul(g, y, R), -1);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, &y, 1, &plan));

    /* Host copies at the run batch, and the uploads. */
    for (int k = 0; k < c->nin; k++) {
        const input_spec *s = &c->in[k];
        ref_tensor *t = &h.in[k];
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        if (batched(s))
            t->shape[0] = run;
        size_t n = ref_numel(t);
        t->v = malloc(n * sizeof(double));
        float *f = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            f[i] = random_value(s, &seed, k);
            t->v[i] = f[i];
        }
        if (s->kind == IN_ID) {
            int32_t *ids = malloc(n * sizeof *ids);
            for (size_t i = 0; i < n; i++)
                ids[i] = (int32_t)f[i];
            assert_ok(clg_tensor_upload(in[k], ids, n));
            free(ids);
        } else {
            assert_ok(clg_tensor_upload(in[k], f, n));
        }
        free(f);
    }
    h.y.ndim = clg_tensor_ndim(y);
    memcpy(h.y.shape, yshape, sizeof yshape);
    if (y_batched)
        h.y.shape[0] = run;
    size_t ny = ref_numel(&h.y);
    h.r = malloc(ny * sizeof(double));
    h.out = malloc(ny * sizeof(double));
    float *fr = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++)
        h.r[i] = fr[i] = test_random(&seed);
    assert_ok(clg_tensor_upload(R, fr, ny));

    assert_ok(clg_plan_run(plan, run, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, y, got, ny));
    host_loss(&h);
    for (size_t i = 0; i < ny; i++)
        if (!(fabs(got[i] - h.out[i]) <= 2e-4 * (1 + fabs(h.out[i]))))
            fail_msg("%s: forward[%zu] = %.7g, reference %.7g", c->name, i, got[i],
                     h.out[i]);

    for (int k = 0; k < c->nin; k++) {
        if (c->in[k].kind != IN_X && c->in[k].kind != IN_P)
            continue;
        ref_tensor *t = &h.in[k];
        size_t n = ref_numel(t);
        float *grad = malloc(n * sizeof(float));
        assert_ok(clg_plan_read_grad(plan, in[k], grad, n));
        for (size_t i = 0; i < n; i++) {
            const double step = 1e-6, keep = t->v[i];
            t->v[i] = keep + step;
            double up = host_loss(&h);
            t->v[i] = keep - step;
            double down = host_loss(&h);
            t->v[i] = keep;
            double num = (up - down) / (2 * step);
            if (!(fabs(grad[i] - num) <= 1e-3 * (1 + fabs(num))))
                fail_msg("%s: d/d input %d [%zu] = %.7g, finite difference %.7g",
                         c->name, k, i, grad[i], num);
        }
        free(grad);
    }
    for (int k = 0; k < c->nin; k++)
        free(h.in[k].v);
    free(h.r), free(h.out), free(fr), free(got);
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* Each case is its own test, so that the first failure hides nothing; the
 * cases that run a GEMM run again on each GEMM path. */

typedef struct path_case {
    const op_case *c;
    clg_gemm_path path;
    char name[96];
} path_case;

static void run_case(void **state)
{
    check_case(test_shared_context, *state);
}

static void run_case_on_path(void **state)
{
    const path_case *pc = *state;
    clg_gemm_path before = clg_context_gemm_path(test_shared_context);
    assert_ok(clg_context_set_gemm_path(test_shared_context, pc->path));
    check_case(test_shared_context, pc->c);
    clg_context_set_gemm_path(test_shared_context, before);
}

/* On PoCL, the default suite's device, the cases of families whose kernels
 * differ by device class run again in each other class's forms, so that
 * every form the library chooses runs here too (elsewhere skipped: each
 * implementation runs its own). A context a class, made when first used. */
typedef struct class_case {
    const op_case *c;
    clg_kernel_class kernels;
    char name[112];
} class_case;

static clg_context *class_contexts[CLG_KERNEL_CLASS_COUNT];

static void run_case_in_class(void **state)
{
    const class_case *cc = *state;
    const clg_device_info *d = clg_context_device(test_shared_context);
    if (clg_kernel_class_of(d) != CLG_KERNELS_POCL_CPU)
        skip();
    clg_context **ctx = &class_contexts[cc->kernels];
    if (!*ctx) {
        assert_ok(clg_context_create(d->index, ctx));
        assert_ok(clg_context_force_kernels(*ctx, cc->kernels));
    }
    check_case(*ctx, cc->c);
}

static int teardown_all(void **state)
{
    for (int k = 0; k < CLG_KERNEL_CLASS_COUNT; k++)
        clg_context_free(class_contexts[k]);
    return test_shared_context_teardown(state);
}

int main(void)
{
    static const clg_kernel_class others[] = {CLG_KERNELS_GPU, CLG_KERNELS_INTEL_CPU,
                                              CLG_KERNELS_LLVMPIPE};
    static struct CMUnitTest tests[6 * NCASES];
    static path_case on_path[2 * NCASES];
    static class_case in_class[3 * NCASES];
    size_t n = 0, np = 0, nc = 0;
    for (size_t i = 0; i < NCASES; i++)
        tests[n++] =
            (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, (void *)&cases[i]};
    for (size_t i = 0; i < NCASES; i++)
        for (int p = CLG_GEMM_CLBLAST; cases[i].on_both_gemm && p <= CLG_GEMM_NATIVE;
             p++) {
            path_case *pc = &on_path[np++];
            pc->c = &cases[i];
            pc->path = (clg_gemm_path)p;
            snprintf(pc->name, sizeof pc->name, "%s [%s GEMM]", cases[i].name,
                     clg_gemm_path_str(pc->path));
            tests[n++] =
                (struct CMUnitTest){pc->name, run_case_on_path, NULL, NULL, pc};
        }
    for (size_t i = 0; i < NCASES; i++)
        for (size_t k = 0; cases[i].by_class && k < CLG_COUNT_OF(others); k++) {
            class_case *cc = &in_class[nc++];
            cc->c = &cases[i];
            cc->kernels = others[k];
            snprintf(cc->name, sizeof cc->name, "%s [%s kernels]", cases[i].name,
                     clg_kernel_class_str(cc->kernels));
            tests[n++] =
                (struct CMUnitTest){cc->name, run_case_in_class, NULL, NULL, cc};
        }
    return _cmocka_run_group_tests("test_ops", tests, n, test_shared_context_setup,
                                   teardown_all);
}
