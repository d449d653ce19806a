/* Ops against PyTorch: tests/fixtures/torch_ops.json holds inputs, outputs
 * and gradients computed by PyTorch 1.13 (tests/torch_reference.py); each
 * case is rebuilt here and must agree within 1e-4 of the tensor's scale. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "fixture.h"
#include "test_util.h"

static cJSON *fixtures;

typedef struct fixture_tensor {
    int ndim;
    int shape[4];
    bool scalar; /* PyTorch's shape is [] (kept here as [1]) */
    size_t n;
    float *data;
} fixture_tensor;

static bool get_tensor(cJSON *c, const char *name, fixture_tensor *t)
{
    cJSON *j = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "tensors"), name);
    if (!j)
        return false;
    cJSON *shape = cJSON_GetObjectItem(j, "shape"),
          *data = cJSON_GetObjectItem(j, "data"), *v;
    t->ndim = 0;
    t->n = 1;
    cJSON_ArrayForEach(v, shape)
    {
        t->shape[t->ndim++] = v->valueint;
        t->n *= (size_t)v->valueint;
    }
    t->scalar = t->ndim == 0;
    if (t->ndim == 0) {
        t->ndim = 1;
        t->shape[0] = 1;
    }
    t->data = malloc(t->n * sizeof(float));
    size_t i = 0;
    cJSON_ArrayForEach(v, data) t->data[i++] = (float)v->valuedouble;
    assert_int_equal(i, t->n);
    return true;
}

/* clgrad's shape for a result against PyTorch's: the same dimensions; a
 * PyTorch scalar is clgrad's [] or [1]. */
static void compare_shape(const char *what, const char *name, const clg_tensor *got,
                          const fixture_tensor *want)
{
    char have[64] = "", expect[64] = "";
    for (int i = 0; i < clg_tensor_ndim(got); i++)
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%d", i ? "," : "",
                 clg_tensor_dim(got, i));
    for (int i = 0; i < want->ndim; i++)
        snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%s%d",
                 i ? "," : "", want->shape[i]);
    bool same = want->scalar ? clg_tensor_ndim(got) == 0 || !strcmp(have, "1")
                             : !strcmp(have, expect);
    if (!same)
        fail_msg("%s %s: clgrad's shape is [%s], PyTorch's [%s]", what, name, have,
                 want->scalar ? "" : expect);
}

static void compare(const char *what, const char *name, const float *got,
                    const fixture_tensor *want)
{
    double scale = 0, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < want->n; i++)
        scale = fmax(scale, fabs(want->data[i]));
    for (size_t i = 0; i < want->n; i++) {
        double d = fabs((double)got[i] - want->data[i]);
        if (!(d <= worst)) {
            worst = d;
            at = i;
        }
    }
    if (!(worst <= 1e-4 * scale + 1e-6))
        fail_msg(
            "%s: %s differs from PyTorch by %.3g at [%zu] (%.8g vs %.8g), scale %.3g",
            what, name, worst, at, got[at], want->data[at], scale);
}

static clg_tensor *build(clg_graph *g, cJSON *c, clg_tensor **in)
{
    const char *op = cJSON_GetObjectItem(c, "op")->valuestring;
    cJSON *args = cJSON_GetObjectItem(c, "args");
    cJSON *red = cJSON_GetObjectItem(args, "reduction");
    clg_reduction reduction =
        red && strcmp(red->valuestring, "sum") == 0 ? CLG_REDUCE_SUM : CLG_REDUCE_MEAN;
#define ARG(name) cJSON_GetObjectItem(args, name)->valueint
    if (!strcmp(op, "linear"))
        return clg_linear(g, in[0], in[1], in[2]);
    if (!strcmp(op, "conv2d")) {
        int s = ARG("stride"), p = ARG("padding"), d = ARG("dilation");
        clg_conv2d_opts o = {s, s, p, p, d, d, CLG_CONV_AUTO};
        return clg_conv2d(g, in[0], in[1], in[2], &o);
    }
    if (!strcmp(op, "max_pool2d"))
        return clg_max_pool2d(g, in[0], ARG("kernel"), ARG("stride"), ARG("padding"));
    if (!strcmp(op, "avg_pool2d"))
        return clg_avg_pool2d(g, in[0], ARG("kernel"), ARG("stride"), ARG("padding"));
    if (!strcmp(op, "batch_norm"))
        return clg_batch_norm(g, in[0], in[1], in[2], in[3], in[4],
                              (float)cJSON_GetObjectItem(args, "momentum")->valuedouble,
                              (float)cJSON_GetObjectItem(args, "eps")->valuedouble);
    clg_activation act; /* relu, leaky_relu, ...: the rows of activations.h */
    if (clg_activation_parse(op, &act) == CLG_OK) {
        cJSON *a = cJSON_GetObjectItem(args, "a");
        return clg_activate(g, in[0], act, a ? (float)a->valuedouble : 0.0f);
    }
    if (!strcmp(op, "softmax"))
        return clg_softmax(g, in[0]);
    if (!strcmp(op, "log_softmax"))
        return clg_log_softmax(g, in[0]);
    if (!strcmp(op, "cross_entropy"))
        return clg_cross_entropy(
            g, in[0], in[1],
            (float)cJSON_GetObjectItem(args, "label_smoothing")->valuedouble,
            reduction);
    if (!strcmp(op, "mse_loss"))
        return clg_mse_loss(g, in[0], in[1], reduction);
    if (!strcmp(op, "l1_loss"))
        return clg_l1_loss(g, in[0], in[1], reduction);
    if (!strcmp(op, "bce_with_logits"))
        return clg_bce_with_logits(g, in[0], in[1], reduction);
    if (!strcmp(op, "layer_norm"))
        return clg_layer_norm(g, in[0], in[1], in[2],
                              (float)cJSON_GetObjectItem(args, "eps")->valuedouble);
    if (!strcmp(op, "matmul"))
        return clg_matmul(g, in[0], in[1], false, ARG("trans_b"));
    if (!strcmp(op, "causal_softmax"))
        return clg_causal_softmax(
            g, in[0], (float)cJSON_GetObjectItem(args, "scale")->valuedouble);
    if (!strcmp(op, "causal_attention"))
        return clg_causal_attention(g, in[0], ARG("heads"));
#undef ARG
    fail_msg("unknown op %s in the fixtures", op);
    return NULL;
}

static void run_case(clg_context *ctx, cJSON *c)
{
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    clg_graph *g;
    assert_ok(clg_graph_create(ctx, &g));
    clg_tensor *in[5] = {0};
    fixture_tensor data[5] = {0};
    int n = 0;
    cJSON *input;
    cJSON_ArrayForEach(input, cJSON_GetObjectItem(c, "inputs"))
    {
        const char *k = input->valuestring;
        fixture_tensor *t = &data[n];
        assert_true(get_tensor(c, k, t));
        if (!strcmp(k, "x") || !strcmp(k, "x2") || !strcmp(k, "target")) {
            in[n] = clg_input(g, k, CLG_FLOAT32, t->ndim, t->shape);
            clg_tensor_set_requires_grad(in[n], strcmp(k, "target") != 0);
        } else if (!strcmp(k, "labels")) {
            in[n] = clg_input(g, k, CLG_INT32, t->ndim, t->shape);
        } else if (!strncmp(k, "running_", 8)) {
            in[n] = clg_state(g, k, t->ndim, t->shape, 0.0f);
        } else {
            in[n] = clg_parameter(g, k, t->ndim, t->shape);
        }
        n++;
    }
    /* Fixture inputs come in the builders' argument order (batch_norm: x,
     * weight, bias, running_mean, running_var). */
    clg_tensor *y = build(g, c, in);
    fixture_tensor R, out;
    assert_true(get_tensor(c, "R", &R));
    assert_true(get_tensor(c, "out", &out));
    compare_shape(name, "output", y, &out);
    bool batched = clg_tensor_ndim(y) > 1 || out.n > 1;
    clg_tensor *r = batched ? clg_input(g, "R", CLG_FLOAT32, R.ndim, R.shape)
                            : clg_state(g, "R", 1, (int[]){1}, 0.0f);
    clg_tensor *loss = clg_sum(g, clg_mul(g, y, r), -1);
    assert_ok(clg_graph_status(g));
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, &y, 1, &plan));
    for (int i = 0; i < n; i++) {
        if (clg_tensor_dtype(in[i]) == CLG_INT32) {
            int32_t *ids = malloc(data[i].n * sizeof *ids);
            for (size_t k = 0; k < data[i].n; k++)
                ids[k] = (int32_t)data[i].data[k];
            assert_ok(clg_tensor_upload(in[i], ids, data[i].n));
            free(ids);
        } else {
            assert_ok(clg_tensor_upload(in[i], data[i].data, data[i].n));
        }
    }
    assert_ok(clg_tensor_upload(r, R.data, R.n));
    int batch = clg_tensor_dim(in[0], 0);
    assert_ok(clg_plan_run(plan, batch, CLG_RUN_TRAIN));

    float *got = malloc(out.n * sizeof *got);
    assert_ok(clg_plan_read(plan, y, got, out.n));
    compare(name, "output", got, &out);
    free(got);
    cJSON *gname;
    cJSON_ArrayForEach(gname, cJSON_GetObjectItem(c, "grads"))
    {
        char key[64];
        snprintf(key, sizeof key, "grad_%s", gname->valuestring);
        fixture_tensor want;
        assert_true(get_tensor(c, key, &want));
        int idx = 0;
        while (strcmp(clg_tensor_name(in[idx]), gname->valuestring) != 0)
            idx++;
        compare_shape(name, key, in[idx], &want);
        float *grad = malloc(want.n * sizeof *grad);
        assert_ok(clg_plan_read_grad(plan, in[idx], grad, want.n));
        compare(name, key, grad, &want);
        free(grad);
        free(want.data);
    }
    fixture_tensor after;
    if (get_tensor(c, "running_mean_after", &after)) {
        float *v = malloc(after.n * sizeof *v);
        assert_ok(clg_tensor_download(in[3], v, after.n));
        compare(name, "running_mean", v, &after);
        free(after.data);
        assert_true(get_tensor(c, "running_var_after", &after));
        assert_ok(clg_tensor_download(in[4], v, after.n));
        compare(name, "running_var", v, &after);
        free(after.data);
        free(v);
        assert_true(get_tensor(c, "eval_out", &after));
        v = malloc(after.n * sizeof *v);
        assert_ok(clg_plan_run(plan, batch, CLG_RUN_EVAL));
        assert_ok(clg_plan_read(plan, y, v, after.n));
        compare(name, "evaluation output", v, &after);
        free(after.data);
        free(v);
    }
    for (int i = 0; i < n; i++)
        free(data[i].data);
    free(R.data), free(out.data);
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* Each fixture case is its own test, named as the fixture names it. The
 * fixtures are read before the tests are made. */

static void test_case(void **state)
{
    run_case(test_shared_context, *state);
}

int main(void)
{
    fixtures = test_fixture_json("torch_ops.json");
    cJSON *cases = cJSON_GetObjectItem(fixtures, "cases"), *c;
    int count = cJSON_GetArraySize(cases);
    if (count < 25) {
        fprintf(stderr, "torch_ops.json holds %d cases, expected at least 25\n", count);
        return 1;
    }
    struct CMUnitTest *tests = calloc((size_t)count, sizeof *tests);
    int n = 0;
    cJSON_ArrayForEach(c, cases)
    {
        tests[n++] = (struct CMUnitTest){cJSON_GetObjectItem(c, "name")->valuestring,
                                         test_case, NULL, NULL, c};
    }
    int rc = _cmocka_run_group_tests("test_torch", tests, (size_t)n,
                                     test_shared_context_setup,
                                     test_shared_context_teardown);
    free(tests);
    cJSON_Delete(fixtures);
    return rc;
}
