/* Long axes: sums over more terms than one work-item may loop over on
 * Mesa's llvmpipe (65,535 iterations in all: clg_loop_limit) go in parts,
 * on every device:
 * reductions over an axis, a bias's and layer norm's parameter gradients
 * down 70,001 rows, an embedding row that 60,000 ids share. On llvmpipe
 * each came out short, silently, before. Checked against double sums. On
 * the oclgrind simulator, which checks the parts' memory accesses but has
 * no such limit, 9,001 (three parts of an axis; 3 minutes less there). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_util.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reductions_over_a_long_axis),
        cmocka_unit_test(test_global_average_pool_of_large_planes),
        cmocka_unit_test(test_parameter_gradients_down_many_rows),
        cmocka_unit_test(test_an_embedding_row_many_ids_share),
        cmocka_unit_test(test_loops_past_the_devices_limit_are_refused),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
