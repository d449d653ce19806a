/* Graphs and plans: shape errors, autograd bookkeeping, memory reuse,
 * evaluation mode, frozen parameters, and whole MLP / CNN steps. */
#include <math.h>
#include <stdlib.h>

#include "graph/graph_internal.h"
#include "runtime/runtime_internal.h"
#include "test_util.h"

static clg_graph *new_graph(clg_context *ctx)
{
    clg_graph *g;
    assert_ok(clg_graph_create(ctx, &g));
    return g;
}

/* check(ctx) in the forms of ctx's own kernel class and, on PoCL (the
 * default suite's device), in every other class's forms too, each on a
 * context of its own (clg_context_force_kernels): ties and NaNs that random
 * inputs never meet, in every kernel the library may choose. */
static void in_every_kernel_class(clg_context *ctx, void (*check)(clg_context *))
{
    check(ctx);
    if (clg_kernel_class_of(clg_context_device(ctx)) != CLG_KERNELS_POCL_CPU)
        return;
    for (int k = 0; k < CLG_KERNEL_CLASS_COUNT; k++) {
        if (k == CLG_KERNELS_POCL_CPU)
            continue;
        clg_context *other;
        assert_ok(clg_context_create(clg_context_device(ctx)->index, &other));
        assert_ok(clg_context_force_kernels(other, (clg_kernel_class)k));
        check(other);
        clg_context_free(other);
    }
}

static void fill_random(clg_tensor *t, uint32_t seed, float scale)
{
    size_t n = clg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * test_random(&seed);
    assert_ok(clg_tensor_upload(t, v, n));
    free(v);
}

static void test_conv_channel_mismatch_names_both_shapes(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){8, 3, 32, 32});
    clg_tensor *w = clg_parameter(g, "w", 4, (int[]){32, 16, 3, 3});
    assert_null(clg_conv2d(g, x, w, NULL, NULL));
    assert_int_equal(clg_graph_status(g), CLG_SHAPE_MISMATCH);
    assert_contains(clg_last_error(),
                    "conv2d: weight [32,16,3,3] expects 16 input channels, "
                    "input is [8,3,32,32]");
    /* Later builders return NULL and keep the first error. */
    assert_null(clg_relu(g, NULL));
    assert_contains(clg_last_error(), "conv2d: weight [32,16,3,3]");
    clg_plan *plan;
    assert_int_equal(clg_plan_create(g, x, NULL, 0, &plan), CLG_SHAPE_MISMATCH);
    assert_null(plan);
    assert_contains(clg_last_error(), "the graph failed to build");
    assert_contains(clg_last_error(), "expects 16 input channels");
    clg_graph_free(g);
}

static void test_negative_padding_is_refused(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 3, 8, 8});
    clg_tensor *w = clg_parameter(g, "w", 4, (int[]){4, 3, 3, 3});
    clg_conv2d_opts o = {1, 1, -1, 0, 1, 1, CLG_CONV_AUTO};
    assert_null(clg_conv2d(g, x, w, NULL, &o));
    assert_int_equal(clg_graph_status(g), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "padding (-1,0)");
    clg_graph_free(g);

    g = new_graph(*state);
    x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 3, 8, 8});
    assert_null(clg_max_pool2d(g, x, 2, 2, -1));
    assert_contains(clg_last_error(), "padding -1");
    clg_graph_free(g);
}

/* A convolution algorithm that does not exist, asked for in the code or in
 * the environment, is refused when the node is made, by name. */
static void test_unknown_conv_algorithm_is_refused(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 3, 8, 8});
    clg_tensor *w = clg_parameter(g, "w", 4, (int[]){4, 3, 3, 3});
    clg_conv2d_opts o = CLG_CONV2D_DEFAULTS;
    o.algorithm = (clg_conv_algorithm)7;
    assert_null(clg_conv2d(g, x, w, NULL, &o));
    assert_int_equal(clg_graph_status(g), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "unknown algorithm 7");
    clg_graph_free(g);

    g = new_graph(*state);
    x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 3, 8, 8});
    w = clg_parameter(g, "w", 4, (int[]){4, 3, 3, 3});
    setenv("CLGRAD_CONV", "fast", 1);
    clg_tensor *y = clg_conv2d(g, x, w, NULL, NULL);
    unsetenv("CLGRAD_CONV");
    assert_null(y);
    assert_int_equal(clg_graph_status(g), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "CLGRAD_CONV='fast'");
    clg_graph_free(g);
}

/* The algorithm AUTO gives a convolution of x [2, c, h, h] by 3x3 windows,
 * padded by 1, into oc channels (cl/winograd.cl or im2col). */
static clg_conv_algorithm auto_algorithm(clg_context *ctx, int c, int oc, int h,
                                         int stride)
{
    clg_graph *g = new_graph(ctx);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, c, h, h});
    clg_tensor *w = clg_parameter(g, "w", 4, (int[]){oc, c, 3, 3});
    clg_conv2d_opts o = {stride, stride, 1, 1, 1, 1, CLG_CONV_AUTO};
    clg_tensor *y = clg_conv2d(g, x, w, NULL, &o);
    assert_non_null(y);
    clg_conv_algorithm a = (clg_conv_algorithm)y->params.i[6];
    clg_graph_free(g);
    return a;
}

/* AUTO takes Winograd where it measured faster: CPU devices, 3x3 at stride
 * 1, 64 or more channels each side; CLGRAD_CONV overrides it. */
static void test_auto_conv_algorithm_follows_the_measured_rule(void **state)
{
    clg_context *ctx = *state;
    bool cpu = clg_context_device(ctx)->type == CLG_DEVICE_CPU;
    clg_conv_algorithm wide = cpu ? CLG_CONV_WINOGRAD : CLG_CONV_IM2COL;
    assert_int_equal(auto_algorithm(ctx, 64, 64, 8, 1), wide);
    assert_int_equal(auto_algorithm(ctx, 128, 64, 3, 1), wide);
    assert_int_equal(auto_algorithm(ctx, 32, 64, 8, 1), CLG_CONV_IM2COL);
    assert_int_equal(auto_algorithm(ctx, 64, 32, 8, 1), CLG_CONV_IM2COL);
    assert_int_equal(auto_algorithm(ctx, 64, 64, 16, 2), CLG_CONV_IM2COL);
    setenv("CLGRAD_CONV", "im2col", 1);
    clg_conv_algorithm forced = auto_algorithm(ctx, 64, 64, 8, 1);
    setenv("CLGRAD_CONV", "winograd", 1);
    clg_conv_algorithm wino = auto_algorithm(ctx, 8, 8, 3, 1);
    clg_conv_algorithm strided = auto_algorithm(ctx, 64, 64, 16, 2);
    unsetenv("CLGRAD_CONV");
    assert_int_equal(forced, CLG_CONV_IM2COL);
    assert_int_equal(wino, CLG_CONV_WINOGRAD);
    assert_int_equal(strided, CLG_CONV_IM2COL); /* where it does not apply */
}

static void test_loss_over_mismatched_batches_is_refused(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *logits = clg_input(g, "logits", CLG_FLOAT32, 2, (int[]){8, 10});
    clg_tensor *labels = clg_input(g, "labels", CLG_INT32, 1, (int[]){6});
    assert_null(clg_cross_entropy(g, logits, labels, 0, CLG_REDUCE_MEAN));
    assert_int_equal(clg_graph_status(g), CLG_SHAPE_MISMATCH);
    assert_contains(clg_last_error(), "labels [6]");
    assert_contains(clg_last_error(), "logits [8,10]");
    clg_graph_free(g);

    g = new_graph(*state);
    clg_tensor *pred = clg_input(g, "pred", CLG_FLOAT32, 2, (int[]){8, 3});
    clg_tensor *target = clg_input(g, "target", CLG_FLOAT32, 2, (int[]){8, 4});
    assert_null(clg_mse_loss(g, pred, target, CLG_REDUCE_MEAN));
    assert_contains(clg_last_error(), "prediction [8,3] and target [8,4]");
    clg_graph_free(g);
}

static void test_other_shape_errors_name_the_op(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){4, 20});
    clg_tensor *w = clg_parameter(g, "w", 2, (int[]){10, 30});
    assert_null(clg_linear(g, x, w, NULL));
    assert_contains(clg_last_error(),
                    "linear: weight [10,30] expects inputs [..., 30], input is [4,20]");
    clg_graph_free(g);

    g = new_graph(*state);
    clg_tensor *a = clg_input(g, "a", CLG_FLOAT32, 3, (int[]){4, 5, 6});
    clg_tensor *b = clg_parameter(g, "b", 1, (int[]){5});
    assert_null(clg_add(g, a, b));
    assert_contains(clg_last_error(), "add: b [5] does not broadcast to a [4,5,6]");
    clg_graph_free(g);

    g = new_graph(*state);
    x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){4, 20});
    assert_null(clg_reshape(g, x, 2, (int[]){4, 21}));
    assert_contains(clg_last_error(), "reshape: [4,20]");
    clg_graph_free(g);

    g = new_graph(*state);
    assert_null(clg_input(g, "bad", CLG_FLOAT32, 2, (int[]){4, 0}));
    assert_contains(clg_last_error(), "dimension 1 is 0");
    assert_null(clg_input(g, "bad5", CLG_FLOAT32, 5, (int[]){1, 1, 1, 1, 1}));
    clg_graph_free(g);

    g = new_graph(*state);
    x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 3, 4, 4});
    clg_tensor *small = clg_parameter(g, "w", 4, (int[]){2, 3, 5, 5});
    assert_null(clg_conv2d(g, x, small, NULL, NULL));
    assert_contains(clg_last_error(), "kernel 5x5");
    clg_graph_free(g);
}

static void test_out_of_range_labels_are_refused_on_upload(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *logits = clg_input(g, "logits", CLG_FLOAT32, 2, (int[]){4, 10});
    clg_tensor *labels = clg_input(g, "labels", CLG_INT32, 1, (int[]){4});
    assert_non_null(clg_cross_entropy(g, logits, labels, 0, CLG_REDUCE_MEAN));
    int32_t bad[4] = {1, 2, 10, 3};
    assert_int_equal(clg_tensor_upload(labels, bad, 4), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "'labels'[2] is 10, must lie in [0, 10)");
    int32_t negative[2] = {0, -1};
    assert_int_equal(clg_tensor_upload(labels, negative, 2), CLG_INVALID_ARGUMENT);
    float too_many[5] = {0};
    assert_int_equal(clg_tensor_upload(logits, too_many, 5), CLG_SHAPE_MISMATCH);
    assert_contains(clg_last_error(), "not a whole number of samples of 10");
    clg_graph_free(g);
}

static void test_plan_rejects_bad_runs_and_reads(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){4, 3});
    clg_tensor *h = clg_relu(g, x);
    clg_tensor *y = clg_tanh(g, h);
    clg_tensor *loss = clg_sum(g, y, -1);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, NULL, 0, &plan));
    assert_int_equal(clg_plan_run(plan, 5, CLG_RUN_TRAIN), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "built for 1 to 4");
    assert_int_equal(clg_plan_run(plan, 0, CLG_RUN_TRAIN), CLG_INVALID_ARGUMENT);
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_TRAIN));
    float buf[12];
    assert_int_equal(clg_plan_read(plan, h, buf, 12), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "pass it as an output");
    assert_int_equal(clg_plan_read_grad(plan, x, buf, 12), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "has no gradient");
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* A batch recorded after the GEMM path changed takes the new path: a
 * linear layer's bias, added in the native kernel's epilogue, gets its own
 * launch on CLBlast's, and the gradients match a plan made on that path. */
static void test_a_changed_gemm_path_applies_to_batches_recorded_after(void **state)
{
    clg_context *ctx = *state;
    enum { NW = 18, NV = 3 * 8, NB = 3, ALL = NW + NV + NB + 1 };
    float got[2][ALL];
    for (int k = 0; k < 2; k++) {
        assert_ok(
            clg_context_set_gemm_path(ctx, k ? CLG_GEMM_CLBLAST : CLG_GEMM_NATIVE));
        clg_graph *g = new_graph(ctx);
        clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){4, 1, 5, 5});
        clg_tensor *w = clg_parameter(g, "w", 4, (int[]){2, 1, 3, 3});
        clg_tensor *v = clg_parameter(g, "v", 2, (int[]){3, 2 * 2 * 2});
        clg_tensor *b = clg_parameter(g, "b", 1, (int[]){3});
        clg_tensor *h = clg_conv2d(g, x, w, NULL, &(clg_conv2d_opts){2, 2, 0, 0, 1, 1});
        clg_tensor *loss = clg_sum(g, clg_linear(g, clg_flatten(g, h), v, b), -1);
        fill_random(x, 1, 1.0f), fill_random(w, 2, 0.5f);
        fill_random(v, 3, 0.5f), fill_random(b, 4, 0.5f);
        clg_plan *plan;
        assert_ok(clg_plan_create(g, loss, NULL, 0, &plan));
        assert_ok(clg_plan_run(plan, 4, CLG_RUN_TRAIN));
        if (k == 0) /* the plan of the native path, its batch of 3 on CLBlast */
            assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_CLBLAST));
        assert_ok(clg_plan_run(plan, 3, CLG_RUN_TRAIN));
        assert_ok(clg_plan_read_grad(plan, w, got[k], NW));
        assert_ok(clg_plan_read_grad(plan, v, got[k] + NW, NV));
        assert_ok(clg_plan_read_grad(plan, b, got[k] + NW + NV, NB));
        assert_ok(clg_plan_loss(plan, &got[k][ALL - 1]));
        clg_plan_free(plan);
        clg_graph_free(g);
    }
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
    for (int i = 0; i < ALL; i++)
        if (!(fabsf(got[0][i] - got[1][i]) <= 1e-5f * (1.0f + fabsf(got[1][i]))))
            fail_msg("value %d: %g after the switch, %g on CLBlast alone", i,
                     (double)got[0][i], (double)got[1][i]);
}

/* A sum over a million floats keeps float32's precision (cl/sum.h: short
 * plain sums into compensated ones, in a fixed tree): within an ulp, where
 * one serial float sum of these values is off by more than a hundred. */
static void test_a_long_sum_keeps_float_precision(void **state)
{
    enum { N = 1 << 20 };
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){1, N});
    clg_tensor *loss = clg_sum(g, x, -1);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, NULL, 0, &plan));
    float *v = malloc(N * sizeof *v), serial = 0.0f;
    double exact = 0.0;
    uint32_t seed = 5;
    for (int i = 0; i < N; i++) {
        v[i] = 0.1f + 0.01f * test_random(&seed);
        exact += v[i];
        serial += v[i];
    }
    assert_ok(clg_tensor_upload(x, v, N));
    assert_ok(clg_plan_run(plan, 1, CLG_RUN_EVAL));
    float got;
    assert_ok(clg_plan_loss(plan, &got));
    const double eps = 1.1920929e-7;
    assert_true(fabs(serial - exact) >
                100 * eps * exact); /* the test means something */
    if (!(fabs(got - exact) <= eps * exact))
        fail_msg("sum of %d floats: %.9g, exact %.9g (%.1f ulp)", N, (double)got, exact,
                 fabs(got - exact) / (eps * exact));
    free(v);
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* ---- Long axes ------------------------------------------------------------
 * Sums over more terms than one work-item may loop over on Mesa's llvmpipe
 * (65,535 iterations in all: clg_loop_limit) go in parts, on every device:
 * reductions over an axis, a bias's and layer norm's parameter gradients
 * down 70,001 rows, an embedding row that 60,000 ids share. On llvmpipe
 * each came out short, silently, before. Checked against double sums. On
 * the oclgrind simulator, which checks the parts' memory accesses but has
 * no such limit, 9,001 (three parts of an axis; 3 minutes less there). */
static bool on_simulator(clg_context *ctx)
{
    return test_on_simulator(clg_context_device(ctx));
}

/* A plan for loss = sum(y * r), r random: d loss / d y = r, returned in *r
 * (y's elements at the planned batch; the caller frees it). */
static clg_plan *weighted_plan(clg_graph *g, clg_tensor *y, uint32_t seed, float **r)
{
    int shape[CLG_MAX_DIMS], nd = clg_tensor_ndim(y);
    for (int i = 0; i < nd; i++)
        shape[i] = clg_tensor_dim(y, i);
    clg_tensor *R = y->batched ? clg_input(g, "r", CLG_FLOAT32, nd, shape)
                               : clg_state(g, "r", nd, shape, 0.0f);
    clg_tensor *loss = clg_sum(g, clg_mul(g, y, R), -1);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, &y, 1, &plan));
    size_t n = clg_tensor_numel(y);
    *r = malloc(n * sizeof **r);
    for (size_t i = 0; i < n; i++)
        (*r)[i] = test_random(&seed);
    assert_ok(clg_tensor_upload(R, *r, n));
    return plan;
}

static float *random_upload(clg_tensor *t, uint32_t seed)
{
    size_t n = clg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = test_random(&seed);
    assert_ok(clg_tensor_upload(t, v, n));
    return v;
}

/* got against a float sum whose terms' magnitudes add to `scale`: a sum
 * cut short misses thousands of terms, far past this bound. */
static void assert_sum(const char *what, size_t i, float got, double want, double scale)
{
    if (!(fabs(got - want) <= 1e-6 * scale + 1e-6))
        fail_msg("%s[%zu] = %.9g, want %.9g (terms' magnitudes %.6g)", what, i,
                 (double)got, want, scale);
}

static void test_reductions_over_a_long_axis(void **state)
{
    enum { O = 2, I = 3 };
    enum { SUM, MEAN, MAX };
    const int LONG = on_simulator(*state) ? 9001 : 70001;
    for (int kind = SUM; kind <= MAX; kind++) {
        clg_graph *g = new_graph(*state);
        clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 3, (int[]){O, LONG, I});
        clg_tensor_set_requires_grad(x, true);
        clg_tensor *y = kind == SUM    ? clg_sum(g, x, 1)
                        : kind == MEAN ? clg_mean(g, x, 1)
                                       : clg_max(g, x, 1);
        float *r, *v = malloc((size_t)O * LONG * I * sizeof *v);
        uint32_t seed = 11;
        for (size_t k = 0; k < (size_t)O * LONG * I; k++)
            v[k] = test_random(&seed);
#define AT(o, a, i) v[((size_t)(o)*LONG + (a)) * I + (i)]
        /* max: a largest value near the end, past any one part; two equal
         * largest values, the first of which takes the gradient, in the
         * first and the last part; a NaN, which wins */
        AT(0, LONG - 5, 0) = 2.0f;
        AT(1, 100, 2) = AT(1, LONG - 3, 2) = 3.0f;
        if (kind == MAX)
            AT(0, LONG - 2, 1) = NAN;
        clg_plan *plan = weighted_plan(g, y, 12, &r);
        assert_ok(clg_tensor_upload(x, v, (size_t)O * LONG * I));
        assert_ok(clg_plan_run(plan, O, CLG_RUN_TRAIN));
        float got[O * I], *dx = malloc((size_t)O * LONG * I * sizeof *dx);
        assert_ok(clg_plan_read(plan, y, got, O * I));
        assert_ok(clg_plan_read_grad(plan, x, dx, (size_t)O * LONG * I));
        const char *name = kind == SUM ? "sum" : kind == MEAN ? "mean" : "max";
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++) {
                double sum = 0, mag = 0, best = AT(o, 0, i);
                int at = 0;
                for (int a = 0; a < LONG; a++) {
                    sum += AT(o, a, i), mag += fabs(AT(o, a, i));
                    if (AT(o, a, i) > best || (isnan(AT(o, a, i)) && !isnan(best)))
                        best = AT(o, a, i), at = a;
                }
                size_t j = (size_t)o * I + i;
                if (kind == MAX) {
                    if (!(got[j] == best || (isnan(got[j]) && isnan(best))))
                        fail_msg("max[%zu] = %.9g, want %.9g", j, (double)got[j], best);
                } else {
                    double n = kind == MEAN ? LONG : 1;
                    assert_sum(name, j, got[j], sum / n, mag / n);
                }
                for (int a = 0; a < LONG; a++) {
                    float want = kind == SUM    ? r[j]
                                 : kind == MEAN ? r[j] / (float)LONG
                                 : a == at      ? r[j]
                                                : 0.0f;
                    float d = dx[((size_t)o * LONG + a) * I + i];
                    if (!(fabs(d - want) <= 1e-6 * fabs(want)))
                        fail_msg("%s: dx[%d, %d, %d] = %.9g, want %.9g", name, o, a, i,
                                 (double)d, (double)want);
                }
            }
#undef AT
        free(v), free(r), free(dx);
        clg_plan_free(plan);
        clg_graph_free(g);
    }
}

static void test_global_average_pool_of_large_planes(void **state)
{
    enum { N = 2, C = 2 };
    const int side = on_simulator(*state) ? 100 : 270; /* 10,000 or 72,900 */
    const size_t HW = (size_t)side * side;
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){N, C, side, side});
    clg_tensor_set_requires_grad(x, true);
    clg_tensor *y = clg_global_avg_pool(g, x);
    float *r, *v = random_upload(x, 21);
    clg_plan *plan = weighted_plan(g, y, 22, &r);
    assert_ok(clg_plan_run(plan, N, CLG_RUN_TRAIN));
    float got[N * C], *dx = malloc((size_t)N * C * HW * sizeof *dx);
    assert_ok(clg_plan_read(plan, y, got, N * C));
    assert_ok(clg_plan_read_grad(plan, x, dx, (size_t)N * C * HW));
    for (size_t j = 0; j < N * C; j++) {
        double sum = 0, mag = 0;
        for (size_t k = 0; k < HW; k++)
            sum += v[j * HW + k], mag += fabs(v[j * HW + k]);
        assert_sum("global_avg_pool", j, got[j], sum / HW, mag / HW);
        for (size_t k = 0; k < HW; k++)
            assert_float_equal(dx[j * HW + k], r[j] / (float)HW, 1e-6 * fabs(r[j]));
    }
    free(v), free(r), free(dx);
    clg_plan_free(plan);
    clg_graph_free(g);
}

static void test_parameter_gradients_down_many_rows(void **state)
{
    enum { IN = 3, OUT = 5, D = 4 };
    const int LONG = on_simulator(*state) ? 9001 : 70001;
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){LONG, IN});
    clg_tensor *w = clg_parameter(g, "w", 2, (int[]){OUT, IN});
    clg_tensor *b = clg_parameter(g, "b", 1, (int[]){OUT});
    clg_tensor_set_frozen(w, true); /* its GEMM over k = 70,001 is test_gemm's */
    clg_tensor *h = clg_input(g, "h", CLG_FLOAT32, 2, (int[]){LONG, D});
    clg_tensor *gamma = clg_parameter(g, "gamma", 1, (int[]){D});
    clg_tensor *beta = clg_parameter(g, "beta", 1, (int[]){D});
    clg_tensor *y =
        clg_concat(g, 2,
                   (clg_tensor *[]){clg_linear(g, x, w, b),
                                    clg_layer_norm(g, h, gamma, beta, 1e-5f)});
    free(random_upload(x, 31));
    free(random_upload(w, 32));
    free(random_upload(b, 33));
    free(random_upload(gamma, 34));
    float *hv = random_upload(h, 35), *r;
    clg_plan *plan = weighted_plan(g, y, 36, &r);
    assert_ok(clg_plan_run(plan, LONG, CLG_RUN_TRAIN));
    float db[OUT], dgamma[D], dbeta[D];
    assert_ok(clg_plan_read_grad(plan, b, db, OUT));
    assert_ok(clg_plan_read_grad(plan, gamma, dgamma, D));
    assert_ok(clg_plan_read_grad(plan, beta, dbeta, D));
    const int W = OUT + D; /* y's row: the linear's, then the layer norm's */
    for (int c = 0; c < OUT; c++) {
        double sum = 0, mag = 0;
        for (size_t k = 0; k < (size_t)LONG; k++)
            sum += r[k * W + c], mag += fabs(r[k * W + c]);
        assert_sum("bias gradient", (size_t)c, db[c], sum, mag);
    }
    double sg[D] = {0}, mg[D] = {0}, sb[D] = {0}, mb[D] = {0};
    for (size_t k = 0; k < (size_t)LONG; k++) {
        const float *row = hv + k * D;
        double mean = 0, var = 0;
        for (int c = 0; c < D; c++)
            mean += row[c] / (double)D;
        for (int c = 0; c < D; c++)
            var += (row[c] - mean) * (row[c] - mean) / D;
        for (int c = 0; c < D; c++) {
            double dy = r[k * W + OUT + c], xhat = (row[c] - mean) / sqrt(var + 1e-5);
            sg[c] += dy * xhat, mg[c] += fabs(dy * xhat);
            sb[c] += dy, mb[c] += fabs(dy);
        }
    }
    for (int c = 0; c < D; c++) {
        assert_sum("layer norm's dgamma", (size_t)c, dgamma[c], sg[c], mg[c]);
        assert_sum("layer norm's dbeta", (size_t)c, dbeta[c], sb[c], mb[c]);
    }
    free(hv), free(r);
    clg_plan_free(plan);
    clg_graph_free(g);
}

static void test_an_embedding_row_many_ids_share(void **state)
{
    enum { V = 7, D = 4, ID = 3 };
    const int COUNT = on_simulator(*state) ? 9000 : 60000;
    clg_graph *g = new_graph(*state);
    clg_tensor *ids = clg_input(g, "ids", CLG_INT32, 1, (int[]){COUNT});
    clg_tensor *w = clg_parameter(g, "w", 2, (int[]){V, D});
    clg_tensor *y = clg_embedding(g, ids, w);
    free(random_upload(w, 41));
    int32_t *iv = malloc(COUNT * sizeof *iv);
    for (int k = 0; k < COUNT; k++)
        iv[k] = k % 1000 == 999 ? 5 : ID; /* one id all but every 1000th */
    assert_ok(clg_tensor_upload(ids, iv, COUNT));
    float *r, dw[V * D];
    clg_plan *plan = weighted_plan(g, y, 42, &r);
    assert_ok(clg_plan_run(plan, COUNT, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read_grad(plan, w, dw, V * D));
    for (int v = 0; v < V; v++)
        for (int d = 0; d < D; d++) {
            double sum = 0, mag = 0;
            for (int k = 0; k < COUNT; k++)
                if (iv[k] == v)
                    sum += r[(size_t)k * D + d], mag += fabs(r[(size_t)k * D + d]);
            assert_sum("embedding gradient", (size_t)(v * D + d), dw[v * D + d], sum,
                       mag);
        }
    free(iv), free(r);
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* Where a work-item's loops are limited, each shape whose loops would pass
 * the limit is refused when built, by name; elsewhere it builds. */
typedef struct too_long {
    const char *op; /* the error's start */
    clg_tensor *(*build)(clg_graph *g);
} too_long;

static clg_tensor *long_layer_norm(clg_graph *g)
{
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){2, 20000});
    return clg_layer_norm(g, x, NULL, NULL, 1e-5f);
}
static clg_tensor *long_softmax(clg_graph *g) /* over dim 1, a dim after it */
{
    return clg_softmax(g, clg_input(g, "x", CLG_FLOAT32, 3, (int[]){2, 20000, 2}));
}
static clg_tensor *long_cross_entropy(clg_graph *g)
{
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){2, 70000});
    clg_tensor *y = clg_input(g, "y", CLG_INT32, 1, (int[]){2});
    return clg_cross_entropy(g, x, y, 0.0f, CLG_REDUCE_MEAN);
}
static clg_tensor *long_batch_norm(clg_graph *g) /* planes of 65,536 */
{
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 1, 256, 256});
    return clg_batch_norm(g, x, NULL, NULL, clg_state(g, "m", 1, (int[]){1}, 0.0f),
                          clg_state(g, "v", 1, (int[]){1}, 1.0f), 0.1f, 1e-5f);
}
static clg_tensor *long_embedding(clg_graph *g)
{
    clg_tensor *ids = clg_input(g, "ids", CLG_INT32, 1, (int[]){70000});
    return clg_embedding(g, ids, clg_parameter(g, "w", 2, (int[]){7, 4}));
}
static clg_tensor *long_broadcast(clg_graph *g)
{
    clg_tensor *a = clg_input(g, "a", CLG_FLOAT32, 2, (int[]){2, 70000});
    return clg_add(g, a, clg_parameter(g, "b", 1, (int[]){1}));
}
static clg_tensor *long_conv_bias(clg_graph *g) /* 64 x 256 x 256 outputs */
{
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){64, 1, 256, 256});
    clg_conv2d_opts o = CLG_CONV2D_DEFAULTS;
    o.pad_h = o.pad_w = 1;
    return clg_conv2d(g, x, clg_parameter(g, "w", 4, (int[]){2, 1, 3, 3}),
                      clg_parameter(g, "b", 1, (int[]){2}), &o);
}

static void test_loops_past_the_devices_limit_are_refused(void **state)
{
    clg_context *ctx = *state;
    bool limited = strstr(clg_context_device(ctx)->name, "llvmpipe") != NULL;
    const too_long cases[] = {
        {"layer_norm: a work-item would loop about 80000 times over a row of features",
         long_layer_norm},
        {"softmax: a work-item would loop about 80000 times over dim 1", long_softmax},
        {"cross_entropy: a work-item would loop about 70000 times over the classes",
         long_cross_entropy},
        {"batch_norm: a work-item would loop about 65536 times over a channel's values",
         long_batch_norm},
        {"embedding: a work-item would loop about 70000 times over the ids",
         long_embedding},
        {"add: a work-item would loop about 157500 times over b's broadcast",
         long_broadcast},
        {"conv2d: a work-item would loop about 131200 times over an output channel",
         long_conv_bias},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        clg_graph *g = new_graph(ctx);
        clg_tensor *y = cases[i].build(g);
        if (limited) {
            assert_null(y);
            assert_int_equal(clg_graph_status(g), CLG_UNSUPPORTED);
            assert_contains(clg_last_error(), cases[i].op);
            assert_contains(clg_last_error(), "after 65535 (Mesa's loop limit)");
        } else {
            if (!y)
                fail_msg("%.20s... refused off llvmpipe: %s", cases[i].op,
                         clg_last_error());
            assert_ok(clg_graph_status(g));
        }
        clg_graph_free(g);
    }
}

/* ---- Whole models ---------------------------------------------------------- */

typedef struct model {
    clg_graph *g;
    clg_tensor *x, *labels, *logits, *loss;
    clg_tensor *params[16];
    int nparams;
} model;

static clg_tensor *param(model *m, const char *name, int ndim, const int *shape,
                         float scale)
{
    clg_tensor *p = clg_parameter(m->g, name, ndim, shape);
    fill_random(p, (uint32_t)(m->nparams * 977 + 13), scale);
    m->params[m->nparams++] = p;
    return p;
}

/* 784-64-10 with a residual 64-64 block and dropout. */
static void build_mlp(clg_context *ctx, model *m, int batch)
{
    memset(m, 0, sizeof *m);
    m->g = new_graph(ctx);
    m->x = clg_input(m->g, "x", CLG_FLOAT32, 2, (int[]){batch, 784});
    m->labels = clg_input(m->g, "y", CLG_INT32, 1, (int[]){batch});
    clg_tensor *h = clg_relu(
        m->g, clg_linear(m->g, m->x, param(m, "0.weight", 2, (int[]){64, 784}, 0.05f),
                         param(m, "0.bias", 1, (int[]){64}, 0.05f)));
    clg_tensor *r = clg_relu(
        m->g, clg_linear(m->g, h, param(m, "2.weight", 2, (int[]){64, 64}, 0.1f),
                         param(m, "2.bias", 1, (int[]){64}, 0.1f)));
    h = clg_dropout(m->g, clg_add(m->g, r, h), 0.25f, 42);
    m->logits = clg_linear(m->g, h, param(m, "5.weight", 2, (int[]){10, 64}, 0.1f),
                           param(m, "5.bias", 1, (int[]){10}, 0.1f));
    m->loss = clg_cross_entropy(m->g, m->logits, m->labels, 0.0f, CLG_REDUCE_MEAN);
    assert_ok(clg_graph_status(m->g));
}

/* conv8-bn-relu-pool-conv16-relu-gap-fc10, as a small CNN. */
static void build_cnn(clg_context *ctx, model *m, int batch)
{
    memset(m, 0, sizeof *m);
    m->g = new_graph(ctx);
    clg_graph *g = m->g;
    m->x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){batch, 1, 12, 12});
    m->labels = clg_input(g, "y", CLG_INT32, 1, (int[]){batch});
    clg_conv2d_opts pad1 = {1, 1, 1, 1, 1, 1};
    clg_tensor *h = clg_conv2d(
        g, m->x, param(m, "0.weight", 4, (int[]){8, 1, 3, 3}, 0.3f), NULL, &pad1);
    clg_tensor *rm = clg_state(g, "1.running_mean", 1, (int[]){8}, 0.0f);
    clg_tensor *rv = clg_state(g, "1.running_var", 1, (int[]){8}, 1.0f);
    clg_tensor *gamma = clg_parameter(g, "1.weight", 1, (int[]){8});
    float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_ok(clg_tensor_upload(gamma, ones, 8));
    m->params[m->nparams++] = gamma;
    h = clg_batch_norm(g, h, gamma, param(m, "1.bias", 1, (int[]){8}, 0.0f), rm, rv,
                       0.1f, 1e-5f);
    h = clg_max_pool2d(g, clg_relu(g, h), 2, 2, 0);
    h = clg_relu(g,
                 clg_conv2d(g, h, param(m, "4.weight", 4, (int[]){16, 8, 3, 3}, 0.2f),
                            param(m, "4.bias", 1, (int[]){16}, 0.1f), &pad1));
    h = clg_flatten(g, clg_global_avg_pool(g, h));
    m->logits = clg_linear(g, h, param(m, "8.weight", 2, (int[]){10, 16}, 0.3f),
                           param(m, "8.bias", 1, (int[]){10}, 0.1f));
    m->loss = clg_cross_entropy(g, m->logits, m->labels, 0.0f, CLG_REDUCE_MEAN);
    assert_ok(clg_graph_status(g));
}

static void feed(model *m, int batch, uint32_t seed)
{
    size_t per = clg_tensor_numel(m->x) / (size_t)clg_tensor_dim(m->x, 0);
    float *x = malloc((size_t)batch * per * sizeof *x);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    for (size_t i = 0; i < (size_t)batch * per; i++)
        x[i] = test_random(&seed);
    for (int i = 0; i < batch; i++)
        y[i] = (int32_t)((i * 7 + 3) % 10);
    assert_ok(clg_tensor_upload(m->x, x, (size_t)batch * per));
    assert_ok(clg_tensor_upload(m->labels, y, (size_t)batch));
    free(x);
    free(y);
}

/* Loss and every parameter gradient of one training step, concatenated. */
static float *step_results(model *m, clg_plan *plan, int batch, size_t *len)
{
    size_t total = 1;
    for (int i = 0; i < m->nparams; i++)
        total += clg_tensor_numel(m->params[i]);
    float *out = malloc(total * sizeof *out);
    assert_ok(clg_plan_run(plan, batch, CLG_RUN_TRAIN));
    assert_ok(clg_plan_loss(plan, &out[0]));
    size_t at = 1;
    for (int i = 0; i < m->nparams; i++) {
        size_t n = clg_tensor_numel(m->params[i]);
        assert_ok(clg_plan_read_grad(plan, m->params[i], out + at, n));
        at += n;
    }
    *len = total;
    return out;
}

static void check_repeatable(clg_context *ctx,
                             void (*build)(clg_context *, model *, int))
{
    model m;
    build(ctx, &m, 16);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, &m.logits, 1, &plan));
    feed(&m, 16, 99);
    size_t n1, n2;
    clg_plan_set_step(plan, 5);
    float *first = step_results(&m, plan, 16, &n1);
    clg_plan_set_step(plan, 5); /* same dropout masks */
    float *second = step_results(&m, plan, 16, &n2);
    assert_int_equal(n1, n2);
    assert_true(isfinite(first[0]) && first[0] > 0.5f && first[0] < 10.0f);
    assert_memory_equal(first, second, n1 * sizeof *first);
    /* Every gradient is finite and some are not zero. */
    double norm = 0;
    for (size_t i = 1; i < n1; i++) {
        assert_true(isfinite(first[i]));
        norm += (double)first[i] * first[i];
    }
    assert_true(norm > 1e-8);
    free(first);
    free(second);
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

static void test_mlp_step_is_repeatable(void **state)
{
    check_repeatable(*state, build_mlp);
}
static void test_cnn_step_is_repeatable(void **state)
{
    check_repeatable(*state, build_cnn);
}

static void test_partial_batch_matches_a_plan_of_that_size(void **state)
{
    model big, small;
    build_cnn(*state, &big, 16);
    build_cnn(*state, &small, 5);
    clg_plan *pb, *ps;
    assert_ok(clg_plan_create(big.g, big.loss, NULL, 0, &pb));
    assert_ok(clg_plan_create(small.g, small.loss, NULL, 0, &ps));
    feed(&big, 5, 3);
    feed(&small, 5, 3);
    size_t nb, ns;
    float *rb = step_results(&big, pb, 5, &nb);
    float *rs = step_results(&small, ps, 5, &ns);
    assert_int_equal(nb, ns);
    for (size_t i = 0; i < nb; i++)
        if (!(fabsf(rb[i] - rs[i]) <= 1e-5f * (1 + fabsf(rs[i]))))
            fail_msg("value %zu: batch 5 of 16 gives %g, a plan for 5 gives %g", i,
                     rb[i], rs[i]);
    /* And back to the full batch. */
    feed(&big, 16, 4);
    assert_ok(clg_plan_run(pb, 16, CLG_RUN_TRAIN));
    free(rb), free(rs);
    clg_plan_free(pb), clg_plan_free(ps);
    clg_graph_free(big.g), clg_graph_free(small.g);
}

static void test_intermediates_share_memory(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){32, 256});
    clg_tensor *h = x;
    for (int i = 0; i < 12; i++)
        h = clg_tanh(g, h);
    clg_tensor *loss = clg_sum(g, h, -1);
    clg_plan *plan;
    size_t used, unshared;
    assert_ok(clg_plan_create(g, NULL, &loss, 1, &plan));
    clg_plan_memory(plan, &used, &unshared);
    /* 12 activations of 32 KiB, forward only: a few buffers suffice. */
    assert_true(unshared >= 12 * 32 * 256 * 4);
    assert_true(used <= 3 * 32 * 256 * 4 + 64);
    clg_plan_free(plan);

    /* With backward every activation is kept for it, but gradients reuse. */
    clg_tensor_set_requires_grad(x, true);
    assert_ok(clg_plan_create(g, loss, NULL, 0, &plan));
    clg_plan_memory(plan, &used, &unshared);
    assert_true(used < unshared);
    float *v = calloc(32 * 256, sizeof *v), loss_value;
    for (int i = 0; i < 32 * 256; i++)
        v[i] = 0.001f * (float)(i % 100);
    assert_ok(clg_tensor_upload(x, v, 32 * 256));
    assert_ok(clg_plan_run(plan, 32, CLG_RUN_TRAIN));
    assert_ok(clg_plan_loss(plan, &loss_value));
    double want = 0;
    for (int i = 0; i < 32 * 256; i++) {
        double t = v[i];
        for (int k = 0; k < 12; k++)
            t = tanh(t);
        want += t;
    }
    assert_true(fabs(loss_value - want) <= 1e-4 * fabs(want));
    free(v);
    clg_plan_free(plan);
    clg_graph_free(g);
}

static void test_eval_skips_backward_and_uses_running_stats(void **state)
{
    model m;
    build_cnn(*state, &m, 8);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, &m.logits, 1, &plan));
    feed(&m, 8, 11);
    clg_tensor *w = m.params[0];
    size_t n = clg_tensor_numel(w);
    float *before = malloc(n * 4), *after = malloc(n * 4), *logits1 = malloc(80 * 4),
          *logits2 = malloc(80 * 4);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read_grad(plan, w, before, n));
    /* Evaluation leaves gradients alone and is deterministic. */
    feed(&m, 8, 12);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, m.logits, logits1, 80));
    assert_ok(clg_plan_read_grad(plan, w, after, n));
    assert_memory_equal(before, after, n * 4);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, m.logits, logits2, 80));
    assert_memory_equal(logits1, logits2, 80 * 4);
    /* Batch statistics differ from the running ones: training logits differ. */
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, m.logits, logits2, 80));
    assert_memory_not_equal(logits1, logits2, 80 * 4);
    assert_int_equal(clg_plan_step(plan), 2);
    free(before), free(after), free(logits1), free(logits2);
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

static void test_running_stats_follow_pytorch_momentum(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){4, 2});
    clg_tensor *rm = clg_state(g, "rm", 1, (int[]){2}, 0.0f);
    clg_tensor *rv = clg_state(g, "rv", 1, (int[]){2}, 1.0f);
    clg_tensor *y = clg_batch_norm(g, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, NULL, &y, 1, &plan));
    float v[8] = {1, 10, 2, 20, 3, 30, 6, 40}, mean[2], var[2];
    assert_ok(clg_tensor_upload(x, v, 8));
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_TRAIN));
    assert_ok(clg_tensor_download(rm, mean, 2));
    assert_ok(clg_tensor_download(rv, var, 2));
    /* channel 0: mean 3, unbiased var 14/3; channel 1: mean 25, var 500/3 */
    assert_true(fabsf(mean[0] - 0.3f) < 1e-6f && fabsf(mean[1] - 2.5f) < 1e-6f);
    assert_true(fabsf(var[0] - (0.9f + 0.1f * 14.0f / 3.0f)) < 1e-5f);
    assert_true(fabsf(var[1] - (0.9f + 0.1f * 500.0f / 3.0f)) < 1e-4f);
    /* Evaluation normalises with them: (1 - 0.3) / sqrt(var0 + eps). */
    float out[8];
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, y, out, 8));
    assert_true(fabsf(out[0] - (1.0f - 0.3f) / sqrtf(var[0] + 1e-5f)) < 1e-5f);
    clg_plan_free(plan);
    clg_graph_free(g);
}

static void test_frozen_parameters_get_no_gradient(void **state)
{
    model m;
    build_mlp(*state, &m, 8);
    clg_tensor_set_frozen(m.params[0], true);
    clg_tensor_set_frozen(m.params[1], true);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    feed(&m, 8, 5);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    float g0[64];
    assert_int_equal(clg_plan_read_grad(plan, m.params[1], g0, 64),
                     CLG_INVALID_ARGUMENT);
    assert_null(clg_tensor_grad_buffer(m.params[0]));
    float g5[10];
    assert_ok(clg_plan_read_grad(plan, m.params[5], g5, 10));
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

/* The whole arena a packed parameter's buffer views, downloaded. */
static float *arena_of(const clg_buffer *view, size_t *floats)
{
    assert_non_null(view->parent);
    *floats = view->parent->size / 4;
    float *all = malloc(view->parent->size);
    assert_ok(clg_buffer_download(view->parent, 0, all, view->parent->size));
    return all;
}

/* Checks that m's parameters from `first` on are packed in one arena, in
 * `which` storage (0 values, 1 gradients): weights before biases, aligned
 * starts, zeros in every gap; returns the arena's contents. */
static float *check_packed(const model *m, int first, int which)
{
    const clg_buffer *b0 =
        which ? m->params[first]->grad_buffer : m->params[first]->buffer;
    size_t floats;
    float *all = arena_of(b0, &floats);
    bool *used = calloc(floats, sizeof *used);
    size_t last_weight = 0, first_bias = floats;
    for (int i = first; i < m->nparams; i++) {
        const clg_tensor *t = m->params[i];
        const clg_buffer *b = which ? t->grad_buffer : t->buffer;
        assert_ptr_equal(b->parent, b0->parent);
        assert_int_equal(b->offset % (CLG_ARENA_ALIGN_FLOATS * 4), 0);
        size_t at = b->offset / 4, n = clg_tensor_numel(t);
        assert_true(at + n <= floats);
        for (size_t k = at; k < at + n; k++) {
            assert_false(used[k]);
            used[k] = true;
        }
        if (t->ndim > 1 && at > last_weight)
            last_weight = at;
        if (t->ndim == 1 && at < first_bias)
            first_bias = at;
    }
    assert_true(last_weight < first_bias); /* weights first */
    for (size_t k = 0; k < floats; k++)
        if (!used[k] && all[k] != 0.0f)
            fail_msg("arena float %zu, in a gap, is %g", k, (double)all[k]);
    free(used);
    return all;
}

/* The first plan moves the parameters into one buffer, values kept, and
 * their gradients into another; training leaves the gaps zero, and the
 * gradients are those of unpacked parameters (a graph that never packs:
 * its first plan is made with every parameter frozen but one). */
static void test_parameters_are_packed_with_their_values(void **state)
{
    model m;
    build_mlp(*state, &m, 8);
    float *before[16];
    for (int i = 0; i < m.nparams; i++) {
        size_t n = clg_tensor_numel(m.params[i]);
        before[i] = malloc(n * sizeof(float));
        assert_ok(clg_tensor_download(m.params[i], before[i], n));
        assert_null(m.params[i]->buffer->parent);
    }
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    for (int i = 0; i < m.nparams; i++) {
        size_t n = clg_tensor_numel(m.params[i]);
        float *now = malloc(n * sizeof *now);
        assert_ok(clg_tensor_download(m.params[i], now, n));
        assert_memory_equal(now, before[i], n * sizeof *now);
        free(now);
    }
    free(check_packed(&m, 0, 0));
    feed(&m, 8, 5);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    free(check_packed(&m, 0, 1));
    free(check_packed(&m, 0, 0));
    size_t len;
    clg_plan_set_step(plan, 5);
    float *packed = step_results(&m, plan, 8, &len);
    clg_plan_free(plan);
    clg_graph_free(m.g);

    /* The same model with its parameters in buffers of their own. */
    model u;
    build_mlp(*state, &u, 8);
    for (int i = 0; i < u.nparams; i++)
        assert_ok(
            clg_tensor_upload(u.params[i], before[i], clg_tensor_numel(u.params[i])));
    u.g->packed = true; /* as if packed: nothing moves */
    assert_ok(clg_plan_create(u.g, u.loss, NULL, 0, &plan));
    for (int i = 0; i < u.nparams; i++)
        assert_null(u.params[i]->buffer->parent);
    feed(&u, 8, 5);
    size_t ulen;
    clg_plan_set_step(plan, 5);
    float *unpacked = step_results(&u, plan, 8, &ulen);
    assert_int_equal(len, ulen);
    assert_memory_equal(packed, unpacked, len * sizeof *packed);
    free(packed), free(unpacked);
    for (int i = 0; i < u.nparams; i++)
        free(before[i]);
    clg_plan_free(plan);
    clg_graph_free(u.g);
}

/* Frozen parameters get no gradient, in the arena or out of it; unfrozen
 * later, a new plan packs their gradients on their own. */
static void test_gradients_unfrozen_later_are_packed_apart(void **state)
{
    model m;
    build_mlp(*state, &m, 8);
    clg_tensor_set_frozen(m.params[0], true);
    clg_tensor_set_frozen(m.params[1], true);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    free(check_packed(&m, 0, 0));
    assert_null(m.params[0]->grad_buffer);
    free(check_packed(&m, 2, 1));
    clg_plan_free(plan);
    clg_tensor_set_frozen(m.params[0], false);
    clg_tensor_set_frozen(m.params[1], false);
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    assert_non_null(m.params[0]->grad_buffer);
    assert_ptr_equal(m.params[0]->grad_buffer->parent,
                     m.params[1]->grad_buffer->parent);
    assert_ptr_not_equal(m.params[0]->grad_buffer->parent,
                         m.params[2]->grad_buffer->parent);
    feed(&m, 8, 5);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    float g1[64];
    assert_ok(clg_plan_read_grad(plan, m.params[1], g1, 64));
    bool any = false;
    for (int i = 0; i < 64; i++)
        any |= g1[i] != 0.0f;
    assert_true(any);
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

static void test_dropout_masks_depend_on_step_not_run(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){8, 100});
    clg_tensor *y = clg_dropout(g, x, 0.5f, 7);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, NULL, &y, 1, &plan));
    float ones[800], a[800], b[800], e[800];
    for (int i = 0; i < 800; i++)
        ones[i] = 1.0f;
    assert_ok(clg_tensor_upload(x, ones, 800));
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, y, a, 800));
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, y, b, 800));
    assert_memory_not_equal(a, b, sizeof a); /* a new step, a new mask */
    int kept = 0;
    for (int i = 0; i < 800; i++) {
        assert_true(a[i] == 0.0f || a[i] == 2.0f);
        kept += a[i] != 0.0f;
    }
    assert_in_range(kept, 320, 480); /* about half */
    clg_plan_set_step(plan, 0);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, y, b, 800));
    assert_memory_equal(a, b, sizeof a); /* step 0 again: the same mask */
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, y, e, 800));
    assert_memory_equal(e, ones, sizeof e); /* identity in evaluation */
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* A NaN input gives a NaN output wherever PyTorch gives one: activations,
 * dropout (dropped values are multiplied by 0), pooling, softmax, losses. */
static void nan_propagates(clg_context *ctx)
{
    clg_graph *g = new_graph(ctx);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 1, 4, 4});
    clg_tensor *outs[] = {clg_relu(g, x),
                          clg_leaky_relu(g, x, 0.1f),
                          clg_elu(g, x, 1.0f),
                          clg_gelu(g, x),
                          clg_sigmoid(g, x),
                          clg_tanh(g, x),
                          clg_dropout(g, x, 0.5f, 7),
                          clg_max_pool2d(g, x, 2, 0, 0),
                          clg_avg_pool2d(g, x, 2, 0, 0),
                          clg_softmax(g, clg_flatten(g, x))};
    const int n = (int)(sizeof outs / sizeof *outs);
    clg_tensor *y = clg_input(g, "y", CLG_INT32, 1, (int[]){2});
    clg_tensor *loss =
        clg_cross_entropy(g, clg_flatten(g, x), y, 0.0f, CLG_REDUCE_MEAN);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, outs, n, &plan));
    float v[32];
    for (int i = 0; i < 32; i++)
        v[i] = -1.0f + 0.1f * (float)i;
    v[5] = NAN; /* sample 0, row 1, column 1 */
    assert_ok(clg_tensor_upload(x, v, 32));
    assert_ok(clg_tensor_upload(y, (int32_t[]){3, 4}, 2));
    for (int run = 0; run < 4; run++) { /* dropout: kept and dropped alike */
        assert_ok(clg_plan_run(plan, 2, CLG_RUN_TRAIN));
        for (int k = 0; k < n; k++) {
            float out[32];
            size_t count = clg_tensor_numel(outs[k]);
            assert_ok(clg_plan_read(plan, outs[k], out, count));
            /* element 5 itself; the first window; the first sample's row */
            size_t at = count == 32 ? 5 : 0;
            if (!isnan(out[at]))
                fail_msg("%s: NaN input gave %g", clg_tensor_name(outs[k]),
                         (double)out[at]);
        }
        float l;
        assert_ok(clg_plan_loss(plan, &l));
        assert_true(isnan(l));
    }
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* Max pooling 2 x 2 over a row of 8 windows (CPUs take them four at a time
 * in vectors): a NaN in any of a window's four places wins it and takes its
 * gradient, and of equal largest values the first does, as in PyTorch. */
static void max_pool_nan_wins(clg_context *ctx)
{
    clg_graph *g = new_graph(ctx);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){1, 1, 2, 16});
    clg_tensor_set_requires_grad(x, true);
    clg_tensor *y = clg_max_pool2d(g, x, 2, 0, 0);
    float v[32], *r, out[8], dx[32];
    for (int i = 0; i < 32; i++)
        v[i] = 0.01f * (float)((i * 7) % 32);
    /* window w covers columns 2w, 2w + 1 of both rows (row 1 at 16 + ...) */
    v[1] = NAN;      /* window 0, top right */
    v[16 + 4] = NAN; /* window 2, bottom left */
    v[16 + 7] = NAN; /* window 3, bottom right */
    v[8] = NAN;      /* window 4, top left */
    v[9] = v[24] = v[25] = 5.0f;
    v[10] = v[11] = v[26] = v[27] = 1.0f; /* window 5: all equal */
    const int nan_at[8] = {1, -1, 20, 23, 8, -1, -1, -1};
    clg_plan *plan = weighted_plan(g, y, 3, &r);
    assert_ok(clg_tensor_upload(x, v, 32));
    assert_ok(clg_plan_run(plan, 1, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, y, out, 8));
    assert_ok(clg_plan_read_grad(plan, x, dx, 32));
    for (int w = 0; w < 8; w++) {
        int first = 2 * w, best = first;
        const int places[4] = {2 * w, 2 * w + 1, 16 + 2 * w, 16 + 2 * w + 1};
        for (int k = 1; k < 4; k++)
            if (isnan(v[places[k]]) ? !isnan(v[best]) : v[places[k]] > v[best])
                best = places[k];
        if (nan_at[w] >= 0) {
            assert_int_equal(best, nan_at[w]);
            if (!isnan(out[w]))
                fail_msg("window %d: NaN at %d gave %g", w, nan_at[w], (double)out[w]);
        } else {
            assert_float_equal(out[w], v[best], 0.0f);
        }
        for (int k = 0; k < 4; k++)
            assert_float_equal(dx[places[k]], places[k] == best ? r[w] : 0.0f, 0.0f);
    }
    free(r);
    clg_plan_free(plan);
    clg_graph_free(g);
}

static void test_nan_propagates_as_in_pytorch(void **state)
{
    in_every_kernel_class(*state, nan_propagates);
}

static void test_max_pool_nan_wins_in_every_place(void **state)
{
    in_every_kernel_class(*state, max_pool_nan_wins);
}

typedef struct ready_log {
    int calls[16], n;
} ready_log;

static void on_ready(void *user, int param)
{
    ready_log *l = user;
    if (l->n < 16)
        l->calls[l->n++] = param;
}

/* The plan says when each parameter's gradient is complete, while it
 * enqueues backward: once a training run, the last layer's first; the
 * frozen parameter never. */
static void test_plan_tells_when_each_gradient_is_complete(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){4, 6});
    clg_tensor *y = clg_input(g, "y", CLG_INT32, 1, (int[]){4});
    clg_tensor *w0 = clg_parameter(g, "0.weight", 2, (int[]){5, 6});
    clg_tensor *b0 = clg_parameter(g, "0.bias", 1, (int[]){5});
    clg_tensor *w1 = clg_parameter(g, "2.weight", 2, (int[]){3, 5});
    clg_tensor *b1 = clg_parameter(g, "2.bias", 1, (int[]){3});
    clg_tensor_set_frozen(b0, true);
    fill_random(w0, 1, 0.5f), fill_random(w1, 2, 0.5f);
    clg_tensor *loss = clg_cross_entropy(
        g, clg_linear(g, clg_relu(g, clg_linear(g, x, w0, b0)), w1, b1), y, 0.0f,
        CLG_REDUCE_MEAN);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, NULL, 0, &plan));
    fill_random(x, 3, 1.0f);
    assert_ok(clg_tensor_upload(y, (int32_t[]){0, 1, 2, 0}, 4));
    ready_log log = {{0}, 0};
    clg_plan_on_grad_ready(plan, on_ready, &log);
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_TRAIN));
    assert_int_equal(log.n, 3);        /* 0.bias is frozen */
    assert_int_equal(log.calls[2], 0); /* 0.weight last: backward ends there */
    assert_true((log.calls[0] == 2 && log.calls[1] == 3) ||
                (log.calls[0] == 3 && log.calls[1] == 2));
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_EVAL)); /* no backward, no calls */
    assert_int_equal(log.n, 3);
    assert_ok(clg_plan_run(plan, 3, CLG_RUN_ACCUMULATE));
    assert_int_equal(log.n, 6);
    clg_plan_on_grad_ready(plan, NULL, NULL);
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_TRAIN));
    assert_int_equal(log.n, 6);
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* Batch norm over one value per channel in training has no variance:
 * refused, naming the layer, as PyTorch refuses it; evaluation and a 2-d
 * batch of one image (its planes' values) run. */
static void test_batch_norm_of_one_value_per_channel_is_refused(void **state)
{
    for (int twod = 0; twod < 2; twod++) {
        clg_graph *g = new_graph(*state);
        int shape2[2] = {4, 3}, shape4[4] = {4, 3, 2, 2};
        clg_tensor *x =
            clg_input(g, "x", CLG_FLOAT32, twod ? 4 : 2, twod ? shape4 : shape2);
        clg_tensor_set_requires_grad(x, true);
        clg_tensor *rm = clg_state(g, "1.running_mean", 1, (int[]){3}, 0.0f);
        clg_tensor *rv = clg_state(g, "1.running_var", 1, (int[]){3}, 1.0f);
        clg_tensor *y = clg_batch_norm(g, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
        clg_plan *plan;
        assert_ok(clg_plan_create(g, clg_sum(g, y, -1), NULL, 0, &plan));
        fill_random(x, 5, 1.0f);
        assert_ok(clg_plan_run(plan, 2, CLG_RUN_TRAIN));
        assert_ok(clg_plan_run(plan, 1, CLG_RUN_EVAL));
        if (twod) {
            assert_int_equal(clg_graph_min_train_batch(g), 1);
            assert_ok(clg_plan_run(plan, 1, CLG_RUN_TRAIN));
        } else {
            assert_int_equal(clg_graph_min_train_batch(g), 2);
            assert_int_equal(clg_plan_run(plan, 1, CLG_RUN_TRAIN),
                             CLG_INVALID_ARGUMENT);
            assert_contains(clg_last_error(), "batch_norm '1' trains on batches of 2");
            assert_contains(clg_last_error(), "one value per channel");
            assert_int_equal(clg_plan_run(plan, 1, CLG_RUN_ACCUMULATE),
                             CLG_INVALID_ARGUMENT);
            assert_ok(clg_plan_run(plan, 3, CLG_RUN_TRAIN)); /* and on after it */
        }
        clg_plan_free(plan);
        clg_graph_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_channel_mismatch_names_both_shapes),
        cmocka_unit_test(test_unknown_conv_algorithm_is_refused),
        cmocka_unit_test(test_auto_conv_algorithm_follows_the_measured_rule),
        cmocka_unit_test(test_plan_tells_when_each_gradient_is_complete),
        cmocka_unit_test(test_a_long_sum_keeps_float_precision),
        cmocka_unit_test(test_reductions_over_a_long_axis),
        cmocka_unit_test(test_global_average_pool_of_large_planes),
        cmocka_unit_test(test_parameter_gradients_down_many_rows),
        cmocka_unit_test(test_an_embedding_row_many_ids_share),
        cmocka_unit_test(test_loops_past_the_devices_limit_are_refused),
        cmocka_unit_test(test_a_changed_gemm_path_applies_to_batches_recorded_after),
        cmocka_unit_test(test_nan_propagates_as_in_pytorch),
        cmocka_unit_test(test_max_pool_nan_wins_in_every_place),
        cmocka_unit_test(test_negative_padding_is_refused),
        cmocka_unit_test(test_loss_over_mismatched_batches_is_refused),
        cmocka_unit_test(test_other_shape_errors_name_the_op),
        cmocka_unit_test(test_out_of_range_labels_are_refused_on_upload),
        cmocka_unit_test(test_plan_rejects_bad_runs_and_reads),
        cmocka_unit_test(test_mlp_step_is_repeatable),
        cmocka_unit_test(test_cnn_step_is_repeatable),
        cmocka_unit_test(test_partial_batch_matches_a_plan_of_that_size),
        cmocka_unit_test(test_intermediates_share_memory),
        cmocka_unit_test(test_eval_skips_backward_and_uses_running_stats),
        cmocka_unit_test(test_running_stats_follow_pytorch_momentum),
        cmocka_unit_test(test_batch_norm_of_one_value_per_channel_is_refused),
        cmocka_unit_test(test_frozen_parameters_get_no_gradient),
        cmocka_unit_test(test_parameters_are_packed_with_their_values),
        cmocka_unit_test(test_gradients_unfrozen_later_are_packed_apart),
        cmocka_unit_test(test_dropout_masks_depend_on_step_not_run),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
