/* Every op, forward against a double-precision host reference and backward
 * against central differences of that reference, on small odd shapes (7, 13)
 * that do not divide work-group sizes, at the full and at a partial batch. */
#include <math.h>
#include <stdlib.h>

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
    int i[6];
    double f[2];
    int batch; /* run batch; 0: the planned one */
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
    clg_conv2d_opts o = {c->i[0], c->i[1], c->i[2], c->i[3], c->i[4], c->i[5]};
    return clg_conv2d(g, in[0], in[1], c->nin > 2 ? in[2] : NULL, &o);
}
static void r_conv(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    ref_conv2d(&in[0], &in[1], c->nin > 2 ? &in[2] : NULL, c->i, y, out);
}

static clg_tensor *b_pool(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->i[3] ? clg_max_pool2d(g, in[0], c->i[0], c->i[1], c->i[2])
                   : clg_avg_pool2d(g, in[0], c->i[0], c->i[1], c->i[2]);
}
static void r_pool(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    ref_pool(&in[0], c->i[0], c->i[1] ? c->i[1] : c->i[0], c->i[2], c->i[3], y, out);
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
    ref_reduce(2, 2, &flat, out);
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

static clg_tensor *b_unary(clg_graph *g, clg_tensor **in, const op_case *c)
{
    float a = (float)c->f[0];
    switch (c->i[0]) {
    case 1:
        return clg_relu(g, in[0]);
    case 2:
        return clg_leaky_relu(g, in[0], a);
    case 3:
        return clg_elu(g, in[0], a);
    case 4:
        return clg_gelu(g, in[0]);
    case 5:
        return clg_sigmoid(g, in[0]);
    case 6:
        return clg_tanh(g, in[0]);
    default:
        return clg_scale(g, in[0], a);
    }
}
static void r_unary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_unary(c->i[0], (double)(float)c->f[0], &in[0], out);
}

static clg_tensor *b_softmax(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->i[0] ? clg_log_softmax(g, in[0]) : clg_softmax(g, in[0]);
}
static void r_softmax(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out)
{
    (void)y;
    ref_softmax(&in[0], c->i[0], out);
}

static clg_tensor *b_binary(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return c->i[0] == 1   ? clg_add(g, in[0], in[1])
           : c->i[0] == 2 ? clg_sub(g, in[0], in[1])
                          : clg_mul(g, in[0], in[1]);
}
static void r_binary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_binary(c->i[0], &in[0], &in[1], out);
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
    ref_unary(6, 0, &in[0], t);
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
    return c->i[0] == 1   ? clg_sum(g, in[0], c->i[1])
           : c->i[0] == 2 ? clg_mean(g, in[0], c->i[1])
                          : clg_max(g, in[0], c->i[1]);
}
static void r_reduce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    ref_reduce(c->i[0], c->i[1], &in[0], out);
}

static clg_tensor *b_ce(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_cross_entropy(g, in[0], in[1], (float)c->f[0],
                             c->i[0] ? CLG_REDUCE_SUM : CLG_REDUCE_MEAN);
}
static void r_ce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out)
{
    (void)y;
    out[0] = ref_cross_entropy(&in[0], in[1].v, (double)(float)c->f[0], !c->i[0]);
}

static clg_tensor *b_pointwise(clg_graph *g, clg_tensor **in, const op_case *c)
{
    clg_reduction r = c->i[1] ? CLG_REDUCE_SUM : CLG_REDUCE_MEAN;
    return c->i[0] == 1   ? clg_mse_loss(g, in[0], in[1], r)
           : c->i[0] == 2 ? clg_l1_loss(g, in[0], in[1], r)
                          : clg_bce_with_logits(g, in[0], in[1], r);
}
static void r_pointwise(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out)
{
    (void)y;
    out[0] = ref_pointwise_loss(c->i[0], &in[0], in[1].v, !c->i[1]);
}

static clg_tensor *b_dropout(clg_graph *g, clg_tensor **in, const op_case *c)
{
    return clg_dropout(g, in[0], (float)c->f[0], (unsigned long long)c->i[0]);
}
static void r_dropout(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out)
{
    (void)y;
    /* The node's id (c->nin: created right after the inputs) is mixed in. */
    uint64_t seed = (uint64_t)c->i[0] ^ ((uint64_t)c->nin * 0x9E3779B97F4A7C15ull);
    ref_dropout(&in[0], (double)(float)c->f[0], seed, 0, out);
}

/* ---- The check ------------------------------------------------------------ */

#define X(...)                                                                         \
    {                                                                                  \
        IN_X, __VA_ARGS__                                                              \
    }
#define P(...)                                                                         \
    {                                                                                  \
        IN_P, __VA_ARGS__                                                              \
    }
#define S(...)                                                                         \
    {                                                                                  \
        IN_S, __VA_ARGS__                                                              \
    }

static const op_case cases[] = {
    {"linear", 3, {X(2, {7, 13}), P(2, {5, 13}), P(1, {5})}, b_linear, r_linear},
    {"linear partial batch",
     3,
     {X(2, {7, 13}), P(2, {5, 13}), P(1, {5})},
     b_linear,
     r_linear,
     .batch = 4},
    {"linear 3-d, no bias", 2, {X(3, {3, 4, 13}), P(2, {6, 13})}, b_linear, r_linear},
    {"conv2d 3x3 pad 1",
     3,
     {X(4, {2, 3, 7, 7}), P(4, {4, 3, 3, 3}), P(1, {4})},
     b_conv,
     r_conv,
     {1, 1, 1, 1, 1, 1}},
    {"conv2d stride 2 dilation 2",
     2,
     {X(4, {2, 2, 9, 8}), P(4, {3, 2, 3, 2})},
     b_conv,
     r_conv,
     {2, 1, 0, 1, 2, 1},
     .batch = 1},
    {"max_pool2d 3/2/1", 1, {X(4, {2, 3, 7, 7})}, b_pool, r_pool, {3, 2, 1, 1}},
    {"max_pool2d 2", 1, {X(4, {2, 2, 8, 8})}, b_pool, r_pool, {2, 0, 0, 1}},
    {"avg_pool2d 3/2/1", 1, {X(4, {2, 3, 7, 7})}, b_pool, r_pool, {3, 2, 1, 0}},
    {"global_avg_pool", 1, {X(4, {2, 3, 5, 5})}, b_gap, r_gap},
    {"batch_norm 2d",
     5,
     {X(4, {4, 3, 5, 5}), S(1, {3}), S(1, {3}), P(1, {3}), P(1, {3})},
     b_bn,
     r_bn},
    {"batch_norm 1d no affine",
     3,
     {X(2, {7, 13}), S(1, {13}), S(1, {13})},
     b_bn,
     r_bn,
     .batch = 5},
    {"relu", 1, {X(2, {7, 13})}, b_unary, r_unary, {1}},
    {"leaky_relu", 1, {X(2, {7, 13})}, b_unary, r_unary, {2}, {0.1}},
    {"elu", 1, {X(2, {7, 13})}, b_unary, r_unary, {3}, {1.0}},
    {"gelu", 1, {X(2, {7, 13})}, b_unary, r_unary, {4}},
    {"sigmoid", 1, {X(2, {7, 13})}, b_unary, r_unary, {5}},
    {"tanh", 1, {X(2, {7, 13})}, b_unary, r_unary, {6}},
    {"scale", 1, {X(2, {7, 13})}, b_unary, r_unary, {7}, {2.5}},
    {"softmax", 1, {X(2, {7, 13})}, b_softmax, r_softmax, {0}},
    {"log_softmax", 1, {X(2, {7, 13})}, b_softmax, r_softmax, {1}},
    {"softmax over channels", 1, {X(4, {2, 5, 3, 3})}, b_softmax, r_softmax, {0}},
    {"add bias-like",
     2,
     {X(4, {2, 3, 4, 5}), P(3, {3, 1, 1})},
     b_binary,
     r_binary,
     {1}},
    {"sub same shape", 2, {X(2, {7, 13}), X(2, {7, 13})}, b_binary, r_binary, {2}},
    {"mul broadcast last", 2, {X(3, {3, 4, 5}), P(1, {5})}, b_binary, r_binary, {3}},
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
    {"embedding", 2, {{IN_ID, 2, {3, 4}, 11}, P(2, {11, 6})}, b_embedding, r_embedding},
    {"sum axis 1", 1, {X(3, {3, 4, 5})}, b_reduce, r_reduce, {1, 1}},
    {"mean axis 0", 1, {X(3, {3, 4, 5})}, b_reduce, r_reduce, {2, 0}},
    {"max axis 2", 1, {X(3, {3, 4, 5})}, b_reduce, r_reduce, {3, 2}},
    {"sum all", 1, {X(2, {7, 13})}, b_reduce, r_reduce, {1, -1}},
    {"cross_entropy", 2, {X(2, {7, 13}), {IN_ID, 1, {7}, 13}}, b_ce, r_ce, {0}},
    {"cross_entropy smoothed sum",
     2,
     {X(2, {7, 13}), {IN_ID, 1, {7}, 13}},
     b_ce,
     r_ce,
     {1},
     {0.1},
     .batch = 6},
    {"mse",
     2,
     {X(2, {7, 13}), {IN_TARGET, 2, {7, 13}}},
     b_pointwise,
     r_pointwise,
     {1, 0}},
    {"l1 sum",
     2,
     {X(2, {7, 13}), {IN_TARGET, 2, {7, 13}}},
     b_pointwise,
     r_pointwise,
     {2, 1}},
    {"bce_with_logits",
     2,
     {X(2, {7, 13}), {IN_TARGET, 2, {7, 13}}},
     b_pointwise,
     r_pointwise,
     {3, 0}},
    {"dropout", 1, {X(2, {7, 13})}, b_dropout, r_dropout, {1234}, {0.3}},
};

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
    bool y_batched = clg_tensor_ndim(y) > 0 && clg_tensor_dim(y, 0) == planned &&
                     planned && strcmp(c->name, "mean axis 0") != 0;
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

static void test_every_op_matches_reference_and_finite_differences(void **state)
{
    clg_context *ctx = *state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(ctx, &cases[i]);
}

static void test_linear_and_conv_on_both_gemm_paths(void **state)
{
    clg_context *ctx = *state;
    clg_gemm_path before = clg_context_gemm_path(ctx);
    for (int p = CLG_GEMM_CLBLAST; p <= CLG_GEMM_NATIVE; p++) {
        assert_ok(clg_context_set_gemm_path(ctx, (clg_gemm_path)p));
        check_case(ctx, &cases[0]);
        check_case(ctx, &cases[1]);
        check_case(ctx, &cases[3]);
        check_case(ctx, &cases[4]);
    }
    clg_context_set_gemm_path(ctx, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_matches_reference_and_finite_differences),
        cmocka_unit_test(test_linear_and_conv_on_both_gemm_paths),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
