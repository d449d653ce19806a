/* Graphs and plans: shape errors, gradients' readiness, NaN propagation in
 * every kernel class, dropout masks (long axes: test_graph_long.c; whole
 * MLP and CNN steps, memory, evaluation, frozen and packed parameters:
 * test_plan.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_util.h"

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

/* The algorithm attention takes: AUTO by one layer's weights [N, heads, T,
 * T] (composed up to 16 MiB, recomputed while two of them take up to
 * 256 MiB, tiled beyond), the environment over AUTO, tiled's wide heads and
 * recomputed's 2^31 floats going to the form that serves them. */
static void test_attention_algorithm_follows_the_weights_size(void **state)
{
    struct {
        int N, T, heads, head_dim;
        clg_attention_algorithm asked;
        const char *env;
        clg_attention_algorithm want;
    } cases[] = {
        {2, 64, 2, 8, CLG_ATTENTION_AUTO, NULL, CLG_ATTENTION_COMPOSED},
        {1, 1024, 4, 2, CLG_ATTENTION_AUTO, NULL, CLG_ATTENTION_COMPOSED}, /* 16 MiB */
        {1, 1024, 5, 2, CLG_ATTENTION_AUTO, NULL, CLG_ATTENTION_RECOMPUTED},
        {1, 1024, 32, 2, CLG_ATTENTION_AUTO, NULL, CLG_ATTENTION_RECOMPUTED},
        {1, 1024, 33, 2, CLG_ATTENTION_AUTO, NULL, CLG_ATTENTION_TILED},
        {1, 1024, 33, 257, CLG_ATTENTION_AUTO, NULL, CLG_ATTENTION_COMPOSED},
        {2, 64, 2, 8, CLG_ATTENTION_AUTO, "recomputed", CLG_ATTENTION_RECOMPUTED},
        {2, 64, 2, 8, CLG_ATTENTION_AUTO, "tiled", CLG_ATTENTION_TILED},
        {1, 1024, 33, 2, CLG_ATTENTION_AUTO, "composed", CLG_ATTENTION_COMPOSED},
        {2, 64, 2, 8, CLG_ATTENTION_COMPOSED, "tiled", CLG_ATTENTION_COMPOSED},
        {2, 8192, 32, 2, CLG_ATTENTION_RECOMPUTED, NULL, CLG_ATTENTION_TILED},
    };
    const char *set = getenv("CLGRAD_ATTENTION"); /* the caller's, put back */
    char *was = set ? strdup(set) : NULL;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        clg_graph *g = new_graph(*state);
        int C = cases[k].heads * cases[k].head_dim;
        clg_tensor *qkv =
            clg_input(g, "qkv", CLG_FLOAT32, 3, (int[]){cases[k].N, cases[k].T, 3 * C});
        if (cases[k].env)
            setenv("CLGRAD_ATTENTION", cases[k].env, 1);
        else
            unsetenv("CLGRAD_ATTENTION");
        clg_tensor *y =
            clg_causal_attention_with(g, qkv, cases[k].heads, cases[k].asked);
        assert_non_null(y);
        if (y->params.i[1] != (int)cases[k].want)
            fail_msg("case %zu: algorithm %d, want %d", k, y->params.i[1],
                     (int)cases[k].want);
        clg_graph_free(g);
    }
    if (was)
        setenv("CLGRAD_ATTENTION", was, 1);
    else
        unsetenv("CLGRAD_ATTENTION");
    free(was);
}

/* Attention's algorithm likewise, and the shapes grouped and transposed
 * convolution, upsampling and adaptive pooling cannot take. */
static void test_bad_attention_and_vision_arguments_are_refused(void **state)
{
    struct {
        const char *message;
        clg_status status;
    } want[] = {
        {"unknown algorithm 9", CLG_INVALID_ARGUMENT},
        {"CLGRAD_ATTENTION='flash' is not an attention algorithm",
         CLG_INVALID_ARGUMENT},
        {"conv2d: weight [4,2,3,3] in 2 groups expects 4 input channels and output "
         "channels divisible by 2, input is [2,3,8,8]",
         CLG_SHAPE_MISMATCH},
        {"output padding (2,2) >= 0 and smaller than the stride or the dilation",
         CLG_INVALID_ARGUMENT},
        {"upsample: scale factors 0 x 2 must be whole numbers from 1 to 64",
         CLG_INVALID_ARGUMENT},
        {"adaptive_avg_pool2d: output 9 x 4 must be from 1 x 1 to the input's planes",
         CLG_SHAPE_MISMATCH},
    };
    for (int k = 0; k < 6; k++) {
        clg_graph *g = new_graph(*state);
        clg_tensor *qkv = clg_input(g, "qkv", CLG_FLOAT32, 3, (int[]){2, 5, 12});
        clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){2, 3, 8, 8});
        clg_tensor *y = NULL;
        if (k == 0)
            y = clg_causal_attention_with(g, qkv, 2, (clg_attention_algorithm)9);
        if (k == 1) {
            setenv("CLGRAD_ATTENTION", "flash", 1);
            y = clg_causal_attention(g, qkv, 2);
            unsetenv("CLGRAD_ATTENTION");
        }
        if (k == 2) {
            clg_conv2d_opts o = CLG_CONV2D_DEFAULTS;
            o.groups = 2;
            y = clg_conv2d(g, x, clg_parameter(g, "w", 4, (int[]){4, 2, 3, 3}), NULL,
                           &o);
        }
        if (k == 3) {
            clg_conv_transpose2d_opts o = CLG_CONV_TRANSPOSE2D_DEFAULTS;
            o.stride_h = o.stride_w = 2, o.output_pad_h = o.output_pad_w = 2;
            y = clg_conv_transpose2d(
                g, x, clg_parameter(g, "w", 4, (int[]){3, 2, 3, 3}), NULL, &o);
        }
        if (k == 4)
            y = clg_upsample(g, x, 0, 2, true);
        if (k == 5)
            y = clg_adaptive_avg_pool2d(g, x, 9, 4);
        assert_null(y);
        assert_int_equal(clg_graph_status(g), want[k].status);
        assert_contains(clg_last_error(), want[k].message);
        clg_graph_free(g);
    }
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
        cmocka_unit_test(test_attention_algorithm_follows_the_weights_size),
        cmocka_unit_test(test_bad_attention_and_vision_arguments_are_refused),
        cmocka_unit_test(test_auto_conv_algorithm_follows_the_measured_rule),
        cmocka_unit_test(test_plan_tells_when_each_gradient_is_complete),
        cmocka_unit_test(test_a_long_sum_keeps_float_precision),
        cmocka_unit_test(test_a_changed_gemm_path_applies_to_batches_recorded_after),
        cmocka_unit_test(test_nan_propagates_as_in_pytorch),
        cmocka_unit_test(test_max_pool_nan_wins_in_every_place),
        cmocka_unit_test(test_negative_padding_is_refused),
        cmocka_unit_test(test_loss_over_mismatched_batches_is_refused),
        cmocka_unit_test(test_other_shape_errors_name_the_op),
        cmocka_unit_test(test_out_of_range_labels_are_refused_on_upload),
        cmocka_unit_test(test_plan_rejects_bad_runs_and_reads),
        cmocka_unit_test(test_batch_norm_of_one_value_per_channel_is_refused),
        cmocka_unit_test(test_dropout_masks_depend_on_step_not_run),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
