/* Sequential models: names and layouts as nn.Sequential's state_dict,
 * initialisation schemes, residual blocks, summaries and layer errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/op.h"
#include "test_util.h"

static clg_model *new_model(clg_context *ctx, clg_init init, uint64_t seed, int ndim,
                            const int *shape)
{
    clg_model_opts o = CLG_MODEL_DEFAULTS;
    o.max_batch = 8;
    o.init = init;
    o.seed = seed;
    clg_model *m;
    assert_ok(clg_model_create(ctx, &o, ndim, shape, &m));
    return m;
}

static clg_model *fashion_cnn(clg_context *ctx)
{
    clg_model *m = new_model(ctx, CLG_INIT_PYTORCH, 1, 3, (int[]){1, 28, 28});
    clg_layer conv = CLG_CONV2D(32, 3);
    conv.padding = 1;
    assert_ok(clg_model_add(m, conv));
    assert_ok(clg_model_add(m, CLG_BATCHNORM2D()));
    assert_ok(clg_model_add(m, CLG_RELU()));
    assert_ok(clg_model_add(m, CLG_MAXPOOL2D(2)));
    assert_ok(clg_model_add(m, CLG_FLATTEN()));
    assert_ok(clg_model_add(m, CLG_DROPOUT(0.25f)));
    assert_ok(clg_model_add(m, CLG_LINEAR(10)));
    return m;
}

static void expect_tensor(clg_model *m, int i, const char *name, int ndim,
                          const int *shape)
{
    clg_tensor *t = clg_model_tensor(m, i);
    assert_non_null(t);
    assert_string_equal(clg_tensor_name(t), name);
    assert_int_equal(clg_tensor_ndim(t), ndim);
    for (int k = 0; k < ndim; k++)
        assert_int_equal(clg_tensor_dim(t, k), shape[k]);
}

static void test_names_and_layouts_follow_nn_sequential(void **state)
{
    clg_model *m = fashion_cnn(*state);
    assert_int_equal(clg_model_tensor_count(m), 8);
    expect_tensor(m, 0, "0.weight", 4, (int[]){32, 1, 3, 3});
    expect_tensor(m, 1, "0.bias", 1, (int[]){32});
    expect_tensor(m, 2, "1.weight", 1, (int[]){32});
    expect_tensor(m, 3, "1.bias", 1, (int[]){32});
    expect_tensor(m, 4, "1.running_mean", 1, (int[]){32});
    expect_tensor(m, 5, "1.running_var", 1, (int[]){32});
    expect_tensor(m, 6, "6.weight", 2, (int[]){10, 32 * 14 * 14});
    expect_tensor(m, 7, "6.bias", 1, (int[]){10});
    assert_int_equal(clg_model_layer_count(m), 7);
    assert_int_equal(clg_model_layer(m, 3)->type, CLG_LAYER_MAXPOOL2D);
    assert_int_equal(clg_model_parameter_numel(m, false), 320 + 64 + 62730);
    clg_tensor *out = clg_model_output(m);
    assert_int_equal(clg_tensor_dim(out, 1), 10);
    clg_model_free(m);
}

static void test_summary_lists_layers_and_totals(void **state)
{
    clg_model *m = fashion_cnn(*state);
    char path[] = "/tmp/clgrad-summary-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w+");
    assert_ok(clg_model_summary(m, f));
    rewind(f);
    char text[4096] = {0};
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    unlink(path);
    assert_contains(text, "0 conv2d");
    assert_contains(text, "[N,32,28,28]");
    assert_contains(text, "3 maxpool2d");
    assert_contains(text, "[N,32,14,14]");
    assert_contains(text, "[N,6272]");
    assert_contains(text, "62730");
    assert_contains(text, "Total params: 63114 (trainable 63114, frozen 0)");
    clg_model_free(m);
}

static void stats(clg_tensor *t, double *max_abs, double *mean, double *std)
{
    size_t n = clg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    assert_ok(clg_tensor_download(t, v, n));
    double s = 0, sq = 0;
    *max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        s += v[i];
        sq += (double)v[i] * v[i];
        *max_abs = fmax(*max_abs, fabs(v[i]));
    }
    *mean = s / (double)n;
    *std = sqrt(sq / (double)n - *mean * *mean);
    free(v);
}

static void test_initialisation_schemes(void **state)
{
    const int fan_in = 400, fan_out = 300;
    struct {
        clg_init init;
        double bound, std;
    } cases[] = {
        {CLG_INIT_PYTORCH, 1 / sqrt(fan_in), 1 / sqrt(fan_in) / sqrt(3)},
        {CLG_INIT_KAIMING_UNIFORM, sqrt(6.0 / fan_in), sqrt(2.0 / fan_in)},
        {CLG_INIT_KAIMING_NORMAL, 0, sqrt(2.0 / fan_in)},
        {CLG_INIT_XAVIER_UNIFORM, sqrt(6.0 / (fan_in + fan_out)),
         sqrt(2.0 / (fan_in + fan_out))},
        {CLG_INIT_XAVIER_NORMAL, 0, sqrt(2.0 / (fan_in + fan_out))},
        {CLG_INIT_ZEROS, 0, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        clg_model *m = new_model(*state, cases[c].init, 7, 1, (int[]){fan_in});
        assert_ok(clg_model_add(m, CLG_LINEAR(fan_out)));
        double max_abs, mean, std;
        stats(clg_model_tensor(m, 0), &max_abs, &mean, &std);
        if (cases[c].bound > 0)
            assert_true(max_abs <= cases[c].bound && max_abs > 0.99 * cases[c].bound);
        assert_true(fabs(mean) <= 0.05 * cases[c].std + 1e-12);
        assert_true(fabs(std - cases[c].std) <= 0.02 * cases[c].std + 1e-12);
        stats(clg_model_tensor(m, 1), &max_abs, &mean, &std);
        if (cases[c].init == CLG_INIT_PYTORCH)
            assert_true(max_abs <= 1 / sqrt(fan_in) && max_abs > 0.9 / sqrt(fan_in));
        else
            assert_true(max_abs == 0.0); /* biases start at zero */
        clg_model_free(m);
    }
}

static void test_one_seed_gives_one_model(void **state)
{
    float a[40], b[40], c[40];
    for (int k = 0; k < 3; k++) {
        clg_model *m =
            new_model(*state, CLG_INIT_PYTORCH, k == 2 ? 43 : 42, 1, (int[]){8});
        assert_ok(clg_model_add(m, CLG_LINEAR(5)));
        assert_ok(clg_tensor_download(clg_model_tensor(m, 0),
                                      k == 0   ? a
                                      : k == 1 ? b
                                               : c,
                                      40));
        clg_model_free(m);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

static void test_residual_blocks_name_body_and_projection(void **state)
{
    clg_model *m = new_model(*state, CLG_INIT_PYTORCH, 1, 3, (int[]){4, 8, 8});
    clg_layer c8 = CLG_CONV2D(8, 3);
    c8.padding = 1;
    assert_ok(clg_model_add(m, c8));
    assert_ok(clg_model_begin_residual(m)); /* same shape: identity skip */
    assert_ok(clg_model_add(m, c8));
    assert_ok(clg_model_add(m, CLG_RELU()));
    assert_ok(clg_model_end_residual(m));
    assert_ok(clg_model_begin_residual(m)); /* 8 -> 16 channels, stride 2 */
    clg_layer down = CLG_CONV2D(16, 3);
    down.padding = 1, down.stride = 2;
    assert_ok(clg_model_add(m, down));
    assert_ok(clg_model_end_residual(m));
    assert_ok(clg_model_add(m, CLG_GLOBALAVGPOOL()));
    assert_ok(clg_model_add(m, CLG_FLATTEN()));
    assert_ok(clg_model_add(m, CLG_LINEAR(3)));
    expect_tensor(m, 2, "1.body.0.weight", 4, (int[]){8, 8, 3, 3});
    expect_tensor(m, 4, "2.body.0.weight", 4, (int[]){16, 8, 3, 3});
    expect_tensor(m, 6, "2.proj.weight", 4, (int[]){16, 8, 1, 1});
    expect_tensor(m, 7, "2.proj.bias", 1, (int[]){16});
    expect_tensor(m, 8, "5.weight", 2, (int[]){3, 16});
    assert_int_equal(clg_model_layer(m, 2)->type, CLG_LAYER_RESIDUAL);
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    assert_ok(clg_plan_run(clg_model_plan(m), 8, CLG_RUN_TRAIN));
    float loss;
    assert_ok(clg_plan_loss(clg_model_plan(m), &loss));
    assert_true(isfinite(loss));
    clg_model_free(m);
}

/* Nodes of the model's graph made by op `name`. */
static int count_ops(clg_model *m, const char *name)
{
    const clg_graph *g = clg_model_graph(m);
    int n = 0;
    for (int i = 0; i < g->count; i++)
        n += g->tensors[i]->op && !strcmp(g->tensors[i]->op->name, name);
    return n;
}

/* A ReLU layer right after a BatchNorm layer runs in batch norm's kernels
 * (cl/norm.cl, RELU): no relu node. Not where something else reads batch
 * norm's output (a residual block's skip), nor after another op. */
static void test_batch_norm_takes_the_relu_after_it(void **state)
{
    clg_layer conv = CLG_CONV2D(3, 3);
    conv.padding = 1;
    clg_model *m = new_model(*state, CLG_INIT_PYTORCH, 1, 3, (int[]){3, 6, 6});
    assert_ok(clg_model_add(m, conv));
    assert_ok(clg_model_add(m, CLG_BATCHNORM2D()));
    assert_ok(clg_model_add(m, CLG_RELU()));
    assert_ok(clg_model_add(m, CLG_RELU())); /* a second one stays a node */
    assert_int_equal(count_ops(m, "relu"), 1);
    assert_ok(clg_model_compile(m, CLG_LOSS_MSE, 0.0f));
    assert_ok(clg_plan_run(clg_model_plan(m), 8, CLG_RUN_TRAIN));
    clg_model_free(m);

    m = new_model(*state, CLG_INIT_PYTORCH, 1, 3, (int[]){3, 6, 6});
    assert_ok(clg_model_add(m, conv));
    assert_ok(clg_model_add(m, CLG_BATCHNORM2D()));
    assert_ok(clg_model_begin_residual(m)); /* the skip reads batch norm's output */
    assert_ok(clg_model_add(m, CLG_RELU()));
    assert_ok(clg_model_add(m, conv));
    assert_ok(clg_model_end_residual(m));
    assert_ok(clg_model_add(m, CLG_RELU())); /* after the sum */
    assert_int_equal(count_ops(m, "relu"), 2);
    clg_model_free(m);
}

static void test_layer_errors_name_the_layer(void **state)
{
    clg_model *m = new_model(*state, CLG_INIT_PYTORCH, 1, 1, (int[]){20});
    assert_ok(clg_model_add(m, CLG_LINEAR(10)));
    assert_int_equal(clg_model_add(m, CLG_CONV2D(4, 3)), CLG_SHAPE_MISMATCH);
    assert_contains(clg_last_error(), "layer 1 (conv2d)");
    assert_contains(clg_last_error(), "[8,10]");
    clg_model_free(m);

    m = new_model(*state, CLG_INIT_PYTORCH, 1, 1, (int[]){20});
    assert_int_equal(clg_model_add(m, CLG_BATCHNORM2D()), CLG_SHAPE_MISMATCH);
    assert_contains(clg_last_error(), "batchnorm2d needs a [N,C,H,W] input");
    assert_int_equal(clg_model_end_residual(m), CLG_SHAPE_MISMATCH);
    clg_model_free(m);

    m = new_model(*state, CLG_INIT_PYTORCH, 1, 1, (int[]){20});
    assert_int_equal(clg_model_end_residual(m), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "no residual block is open");
    assert_ok(clg_model_begin_residual(m));
    assert_int_equal(clg_model_compile(m, CLG_LOSS_MSE, 0), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "still open");
    clg_model_free(m);
}

static void test_freeze_stops_gradients_of_leading_layers(void **state)
{
    clg_model *m = fashion_cnn(*state);
    assert_ok(clg_model_freeze(m, 6));
    assert_int_equal(clg_model_parameter_numel(m, true), 62730);
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    assert_ok(clg_plan_run(clg_model_plan(m), 8, CLG_RUN_TRAIN));
    float g[10];
    assert_int_equal(
        clg_plan_read_grad(clg_model_plan(m), clg_model_tensor(m, 0), g, 10),
        CLG_INVALID_ARGUMENT);
    assert_ok(clg_plan_read_grad(clg_model_plan(m), clg_model_tensor(m, 7), g, 10));
    assert_int_equal(clg_model_add(m, CLG_RELU()), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "already compiled");
    clg_model_free(m);
}

/* ---- Sampling (clg_sample_token) ------------------------------------------ */

/* softmax(logits / T) over the logits at or above `cut`, in double. */
static void expected_probs(const float *logits, int V, double T, float cut, double *p)
{
    double top = -INFINITY, sum = 0;
    for (int v = 0; v < V; v++)
        top = fmax(top, logits[v] / T);
    for (int v = 0; v < V; v++)
        sum += p[v] = logits[v] >= cut ? exp(logits[v] / T - top) : 0.0;
    for (int v = 0; v < V; v++)
        p[v] /= sum;
}

static const float sample_logits[8] = {0.1f, 2.0f, -1.0f, 1.5f,
                                       0.7f, 3.0f, -0.2f, 1.0f};

static void test_sampling_top_k_keeps_exactly_k(void **state)
{
    (void)state;
    uint64_t rng = 1;
    double p[8];
    int32_t token;
    const int kept[] = {5, 1, 3}; /* the three largest: 3.0, 2.0, 1.5 */
    assert_ok(clg_sample_token(sample_logits, 8, 1.0f, 3, &rng, p, &token));
    for (int v = 0, n = 0; v < 8; v++) {
        bool in = v == kept[0] || v == kept[1] || v == kept[2];
        if (in != (p[v] > 0))
            fail_msg("top-3: token %d has probability %g", v, p[v]);
        n += p[v] > 0;
        if (v == 7)
            assert_int_equal(n, 3);
    }
    for (int i = 0; i < 1000; i++) { /* and only those are drawn */
        assert_ok(clg_sample_token(sample_logits, 8, 1.0f, 3, &rng, NULL, &token));
        assert_true(token == 5 || token == 1 || token == 3);
    }
    /* k = 1 is greedy; k 0 or >= V keeps all */
    assert_ok(clg_sample_token(sample_logits, 8, 1.0f, 1, &rng, p, &token));
    assert_int_equal(token, 5);
    assert_true(p[5] == 1.0);
    for (int k = 0; k <= 9; k += 8) {
        assert_ok(clg_sample_token(sample_logits, 8, 1.0f, k, &rng, p, &token));
        for (int v = 0; v < 8; v++)
            assert_true(p[v] > 0);
    }
    /* ties with the k-th largest are all kept, as Hugging Face's filter does */
    const float tied[5] = {1.0f, 2.0f, 1.0f, 0.0f, 1.0f};
    assert_ok(clg_sample_token(tied, 5, 1.0f, 2, &rng, p, &token));
    assert_true(p[0] > 0 && p[1] > 0 && p[2] > 0 && p[4] > 0);
    assert_true(p[3] == 0);
}

static void test_sampling_divides_by_the_temperature(void **state)
{
    (void)state;
    const float T[] = {0.5f, 1.0f, 2.0f};
    for (int t = 0; t < 3; t++) {
        uint64_t rng = 3;
        double p[8], want[8];
        int32_t token;
        assert_ok(clg_sample_token(sample_logits, 8, T[t], 0, &rng, p, &token));
        expected_probs(sample_logits, 8, T[t], -INFINITY, want);
        for (int v = 0; v < 8; v++)
            if (!(fabs(p[v] - want[v]) <= 1e-12))
                fail_msg("T %g: p[%d] = %.15g, softmax(logits / T) %.15g", (double)T[t],
                         v, p[v], want[v]);
    }
}

/* Over many draws of one seed the tokens follow softmax(logits / T) over
 * the top k: a chi-square bound of 30 on 4 degrees of freedom (p < 1e-5
 * for a correct sampler; the seed is fixed, so this never flickers). */
static void test_sampling_draws_follow_the_distribution(void **state)
{
    (void)state;
    const int V = 8, k = 5, N = 200000;
    const float T = 0.7f;
    double want[8];
    expected_probs(sample_logits, V, T, 0.7f /* the 5th largest */, want);
    long count[8] = {0};
    uint64_t rng = 12345;
    for (int i = 0; i < N; i++) {
        int32_t token;
        assert_ok(clg_sample_token(sample_logits, V, T, k, &rng, NULL, &token));
        assert_true(token >= 0 && token < V);
        count[token]++;
    }
    double chi2 = 0;
    for (int v = 0; v < V; v++) {
        if (want[v] == 0) {
            assert_int_equal(count[v], 0);
            continue;
        }
        double e = want[v] * N;
        chi2 += (count[v] - e) * (count[v] - e) / e;
    }
    if (!(chi2 < 30))
        fail_msg("chi-square %.1f of the draws against softmax(logits / %g)", chi2,
                 (double)T);
}

static void test_sampling_refuses_non_finite_logits(void **state)
{
    (void)state;
    float bad[4] = {0.5f, 1.0f, NAN, 0.0f};
    uint64_t rng = 1;
    int32_t token = -7;
    assert_int_equal(clg_sample_token(bad, 4, 1.0f, 0, &rng, NULL, &token),
                     CLG_NOT_FINITE);
    assert_contains(clg_last_error(), "logit 2 of 4 is nan");
    bad[2] = INFINITY;
    assert_int_equal(clg_sample_token(bad, 4, 1.0f, 2, &rng, NULL, &token),
                     CLG_NOT_FINITE);
    assert_int_equal(token, -7);
    bad[2] = 0.25f;
    assert_int_equal(clg_sample_token(bad, 4, 0.0f, 0, &rng, NULL, &token),
                     CLG_INVALID_ARGUMENT);
    assert_int_equal(clg_sample_token(bad, 4, 1.0f, -1, &rng, NULL, &token),
                     CLG_INVALID_ARGUMENT);
    assert_int_equal(clg_sample_token(bad, 0, 1.0f, 0, &rng, NULL, &token),
                     CLG_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_layouts_follow_nn_sequential),
        cmocka_unit_test(test_summary_lists_layers_and_totals),
        cmocka_unit_test(test_initialisation_schemes),
        cmocka_unit_test(test_one_seed_gives_one_model),
        cmocka_unit_test(test_residual_blocks_name_body_and_projection),
        cmocka_unit_test(test_batch_norm_takes_the_relu_after_it),
        cmocka_unit_test(test_layer_errors_name_the_layer),
        cmocka_unit_test(test_freeze_stops_gradients_of_leading_layers),
        cmocka_unit_test(test_sampling_top_k_keeps_exactly_k),
        cmocka_unit_test(test_sampling_divides_by_the_temperature),
        cmocka_unit_test(test_sampling_draws_follow_the_distribution),
        cmocka_unit_test(test_sampling_refuses_non_finite_logits),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
