/* The text layers against PyTorch: tests/torch_gpt.py builds the reference
 * GPT (tokpos, two blocks, layernorm, linear; T = 16, d = 32, h = 4,
 * V = 50), and clgrad rebuilds it from tests/fixtures/torch_gpt.spec. The
 * state_dict loads completely, the loss agrees within 1e-5 relative, and 20
 * AdamW steps on the same windows end at PyTorch's weights within 1e-3 (and
 * within twice PyTorch float32's own distance of float64's). */
#include <math.h>
#include <stdlib.h>

#include "fixture.h"
#include "test_util.h"

/* The reference GPT, or (tied) the same with its output layer tied to the
 * token embedding as GPT-2's lm_head: the fixture in use and its files'
 * base name. */
static cJSON *fixture, *fixtures[2];
static const char *base = "torch_gpt";

static void use(int tied)
{
    fixture = fixtures[tied];
    base = tied ? "torch_gpt_tied" : "torch_gpt";
}

static const char *fixture_path(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("CLGRAD_FIXTURES");
    snprintf(buf, len, "%s/%s", dir ? dir : "tests/fixtures", name);
    return buf;
}

static int json_int(const char *key)
{
    return cJSON_GetObjectItem(fixture, key)->valueint;
}

/* The reference model, its weights loaded from `weights`. */
static clg_model *reference(clg_context *ctx, const char *suffix)
{
    char path[1024], weights[128], spec_name[128];
    snprintf(weights, sizeof weights, "%s%s", base, suffix);
    snprintf(spec_name, sizeof spec_name, "%s.spec", base);
    clg_spec *spec;
    assert_ok(clg_spec_load(fixture_path(spec_name, path, sizeof path), &spec));
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = json_int("batch");
    clg_model *m;
    assert_ok(clg_model_from_spec(ctx, spec, &mo, &m));
    clg_spec_free(spec);
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    clg_checkpoint *ck;
    assert_ok(clg_checkpoint_read(fixture_path(weights, path, sizeof path), &ck));
    clg_load_report r;
    assert_ok(clg_load(ck, m, NULL, &r));
    if (r.missing || r.skipped)
        fail_msg("PyTorch's state_dict does not match the model's names:\n%s", r.text);
    assert_int_equal(r.loaded, clg_model_tensor_count(m));
    clg_checkpoint_free(ck);
    return m;
}

/* Uploads window batch `step`: inputs ids[..T-1], targets ids[1..T]. */
static void upload_step(clg_model *m, int step)
{
    cJSON *batch = cJSON_GetArrayItem(cJSON_GetObjectItem(fixture, "windows"), step),
          *w;
    int B = json_int("batch"), T = clg_tensor_dim(clg_model_input(m), 1), b = 0;
    int32_t *x = malloc((size_t)B * T * sizeof *x),
            *y = malloc((size_t)B * T * sizeof *y);
    cJSON_ArrayForEach(w, batch)
    {
        for (int t = 0; t < T; t++) {
            x[b * T + t] = cJSON_GetArrayItem(w, t)->valueint;
            y[b * T + t] = cJSON_GetArrayItem(w, t + 1)->valueint;
        }
        b++;
    }
    assert_int_equal(b, B);
    assert_ok(clg_tensor_upload(clg_model_input(m), x, (size_t)B * T));
    assert_ok(clg_tensor_upload(clg_model_target(m), y, (size_t)B * T));
    free(x), free(y);
}

static double torch_loss(int step)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(fixture, "losses"), step)
        ->valuedouble;
}

static void loads_and_gives_pytorch_loss(void **state)
{
    clg_model *m = reference(*state, "_init.safetensors");
    upload_step(m, 0);
    float loss;
    assert_ok(clg_plan_run(clg_model_plan(m), json_int("batch"), CLG_RUN_TRAIN));
    assert_ok(clg_plan_loss(clg_model_plan(m), &loss));
    double want = cJSON_GetObjectItem(fixture, "first_loss_float64")->valuedouble;
    print_message("loss %.9g, PyTorch float32 %.9g, float64 %.9g\n", loss,
                  torch_loss(0), want);
    if (!(fabs(loss - want) <= 1e-5 * fabs(want)))
        fail_msg("loss %.9g, PyTorch (float64) %.9g: off by %.3g relative", loss, want,
                 fabs(loss - want) / want);
    /* An evaluation run (no dropout here) gives the same loss. */
    float eval;
    assert_ok(clg_plan_run(clg_model_plan(m), json_int("batch"), CLG_RUN_EVAL));
    assert_ok(clg_plan_loss(clg_model_plan(m), &eval));
    assert_float_equal(eval, loss, 0.0f);
    clg_model_free(m);
}

/* The largest difference between m's weights and those of `weights`. */
static double largest_difference(clg_context *ctx, clg_model *m, const char *weights,
                                 const char **where)
{
    clg_model *want = reference(ctx, weights);
    double worst = 0;
    static char name[64];
    for (int i = 0; i < clg_model_tensor_count(m); i++) {
        clg_tensor *a = clg_model_tensor(m, i), *b = clg_model_tensor(want, i);
        assert_string_equal(clg_tensor_name(a), clg_tensor_name(b));
        size_t n = clg_tensor_numel(a);
        float *va = malloc(n * sizeof *va), *vb = malloc(n * sizeof *vb);
        assert_ok(clg_tensor_download(a, va, n));
        assert_ok(clg_tensor_download(b, vb, n));
        for (size_t k = 0; k < n; k++)
            if (fabs(va[k] - vb[k]) > worst) {
                worst = fabs(va[k] - vb[k]);
                snprintf(name, sizeof name, "%s", clg_tensor_name(a));
            }
        free(va), free(vb);
    }
    clg_model_free(want);
    *where = name;
    return worst;
}

static void twenty_adamw_steps_end_at_pytorch_weights(void **state)
{
    clg_context *ctx = *state;
    clg_model *m = reference(ctx, "_init.safetensors");
    clg_optim_opts o = CLG_OPTIM_DEFAULTS;
    o.type = CLG_OPTIM_ADAMW;
    o.lr = cJSON_GetObjectItem(fixture, "lr")->valuedouble;
    o.beta1 = cJSON_GetObjectItem(fixture, "beta1")->valuedouble;
    o.beta2 = cJSON_GetObjectItem(fixture, "beta2")->valuedouble;
    o.eps = cJSON_GetObjectItem(fixture, "eps")->valuedouble;
    o.weight_decay = cJSON_GetObjectItem(fixture, "weight_decay")->valuedouble;
    o.decay_biases = false; /* nanoGPT: no decay for biases and norms */
    clg_optimizer *opt;
    assert_ok(clg_optim_create(clg_model_plan(m), &o, &opt));
    for (int s = 0; s < json_int("steps"); s++) {
        upload_step(m, s);
        float loss;
        assert_ok(clg_plan_run(clg_model_plan(m), json_int("batch"), CLG_RUN_TRAIN));
        assert_ok(clg_plan_loss(clg_model_plan(m), &loss));
        if (!(fabs(loss - torch_loss(s)) <= 1e-4 * torch_loss(s)))
            fail_msg("step %d: loss %.7g, PyTorch %.7g", s, loss, torch_loss(s));
        assert_ok(clg_optim_step(opt));
        assert_ok(clg_optim_check(opt));
    }
    /* Every weight against PyTorch's after the same steps: float32 within
     * 1e-3, float64 within twice PyTorch float32's own distance from it. */
    const char *where;
    double to32 = largest_difference(ctx, m, "_final.safetensors", &where);
    print_message("20 AdamW steps: largest weight difference from PyTorch float32 %.3g "
                  "(%s)\n",
                  to32, where);
    if (!(to32 <= 1e-3))
        fail_msg("after 20 AdamW steps %s differs from PyTorch's by %.3g", where, to32);
    double to64 = largest_difference(ctx, m, "_final64.safetensors", &where);
    double drift = cJSON_GetObjectItem(fixture, "float32_weight_drift")->valuedouble;
    print_message("from float64 %.3g (%s); PyTorch float32 from float64 %.3g\n", to64,
                  where, drift);
    if (!(to64 <= 2 * drift))
        fail_msg(
            "after 20 AdamW steps %s is %.3g from PyTorch float64, more than twice "
            "PyTorch float32's %.3g",
            where, to64, drift);
    clg_optim_free(opt);
    clg_model_free(m);
}

static void test_reference_gpt_loads_and_gives_pytorch_loss(void **state)
{
    use(0);
    loads_and_gives_pytorch_loss(state);
}

static void test_twenty_adamw_steps_end_at_pytorch_weights(void **state)
{
    use(0);
    twenty_adamw_steps_end_at_pytorch_weights(state);
}

/* The output layer tied to the token embedding: one tensor (0.wte.weight,
 * saved once, no 4.weight), its gradient both uses' sum, as PyTorch's
 * shared Parameter. */
static void test_tied_output_layer_trains_as_pytorch(void **state)
{
    use(1);
    loads_and_gives_pytorch_loss(state);
    twenty_adamw_steps_end_at_pytorch_weights(state);
    clg_model *m = reference(*state, "_init.safetensors");
    assert_null(clg_graph_find(clg_model_graph(m), "4.weight"));
    assert_int_equal(clg_model_tensor_count(m), 2 + 2 * 12 + 2); /* no 4.weight */
    clg_model_free(m);
    use(0);
}

static clg_status build(clg_context *ctx, const char *text, clg_init init,
                        clg_model **m)
{
    clg_spec *spec;
    clg_status s = clg_spec_parse(text, "gpt.spec", &spec);
    if (s != CLG_OK)
        return s;
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = 2;
    mo.init = init;
    s = clg_model_from_spec(ctx, spec, &mo, m);
    clg_spec_free(spec);
    return s;
}

static void expect_error(clg_context *ctx, const char *text, const char *message)
{
    clg_model *m = NULL;
    clg_status s = build(ctx, text, CLG_INIT_PYTORCH, &m);
    if (s == CLG_OK)
        fail_msg("built:\n%s", text);
    assert_null(m);
    assert_contains(clg_last_error(), message);
}

static void test_text_layer_errors_name_file_line_and_shapes(void **state)
{
    clg_context *ctx = *state;
    expect_error(ctx, "input tokens 8\ntokpos 10 12\nblock 16 4\n",
                 "gpt.spec:3: layer 1 (block): block 16 4 needs an input [N, T, 16]");
    expect_error(ctx, "input tokens 8\ntokpos 10 12\nattention 12 5\n",
                 "divisible by the 5 heads, got [2,8,12]");
    expect_error(ctx, "input 4\ntokpos 10 12\n",
                 "gpt.spec:2: layer 0 (tokpos): tokpos needs token ids [N, T]");
    expect_error(ctx, "input tokens 8\ntokpos 10\n", "gpt.spec:2: tokpos: missing dim");
    expect_error(
        ctx, "input tokens 8\ntokpos 10 12\nlayernorm epsilon=1e-6\n",
        "gpt.spec:3: layernorm: unknown option 'epsilon' (options: eps, bias)");
    expect_error(ctx, "input tokens 8\ntokpos 10 12\ngelu approximate=yes\n",
                 "gpt.spec:3: gelu: bad value 'yes' for approximate (tanh or none)");
    expect_error(ctx, "input tokens 8\ntokpos 10 12\nlinear 11 tie=true\n",
                 "linear 11 tie=true over a width of 12 needs the token embedding "
                 "0.wte.weight as [11, 12]; it is [10, 12]");
    expect_error(ctx, "input 12\nlinear 10 tie=true\n",
                 "gpt.spec:2: layer 0 (linear): linear tie=true shares the weight of "
                 "the model's token embedding, and it has none");
    expect_error(ctx, "input tokens 8\ntokpos 10 12\nlinear 10 tie=maybe\n",
                 "gpt.spec:3: linear: bad value 'maybe' for tie (true or false)");
}

/* nn.RMSNorm(C) has a weight only; nn.LayerNorm(C, bias=False) too. */
static void test_norm_layers_name_their_parameters_as_pytorch(void **state)
{
    clg_model *m;
    assert_ok(build(*state,
                    "input tokens 8\ntokpos 10 12\nrmsnorm\nlayernorm bias=false\n"
                    "layernorm eps=1e-6\nattention 12 3\nlinear 10\n",
                    CLG_INIT_PYTORCH, &m));
    const char *names[] = {"0.wte.weight",    "0.wpe.weight",  "1.weight",
                           "2.weight",        "3.weight",      "3.bias",
                           "4.c_attn.weight", "4.c_attn.bias", "4.c_proj.weight",
                           "4.c_proj.bias",   "5.weight",      "5.bias"};
    assert_int_equal(clg_model_tensor_count(m), 12);
    for (int i = 0; i < 12; i++)
        assert_string_equal(clg_tensor_name(clg_model_tensor(m, i)), names[i]);
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    assert_int_equal(clg_tensor_ndim(clg_model_target(m)), 2); /* [N, T] labels */
    clg_model_free(m);
}

static float std_of(clg_model *m, const char *name, float *mean)
{
    clg_tensor *t = clg_graph_find(clg_model_graph(m), name);
    assert_non_null(t);
    size_t n = clg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    assert_ok(clg_tensor_download(t, v, n));
    double s = 0, q = 0;
    for (size_t k = 0; k < n; k++)
        s += v[k], q += (double)v[k] * v[k];
    free(v);
    *mean = (float)(s / n);
    return (float)sqrt(q / n - (s / n) * (s / n));
}

static void test_gpt2_init_scales_residual_projections(void **state)
{
    clg_model *m;
    assert_ok(build(*state,
                    "input tokens 16\ntokpos 64 64\nblock 64 4\nblock 64 4\n"
                    "layernorm\nlinear 64\n",
                    CLG_INIT_GPT2, &m));
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    float mean, sd;
    sd = std_of(m, "1.attn.c_attn.weight", &mean);
    assert_float_equal(sd, 0.02f, 0.002f);
    sd = std_of(m, "0.wte.weight", &mean);
    assert_float_equal(sd, 0.02f, 0.002f);
    /* two blocks: 0.02 / sqrt(4) */
    sd = std_of(m, "2.attn.c_proj.weight", &mean);
    assert_float_equal(sd, 0.01f, 0.001f);
    sd = std_of(m, "1.mlp.2.weight", &mean);
    assert_float_equal(sd, 0.01f, 0.001f);
    sd = std_of(m, "1.mlp.0.bias", &mean);
    assert_float_equal(sd, 0.0f, 0.0f);
    assert_float_equal(mean, 0.0f, 0.0f);
    sd = std_of(m, "1.ln_1.weight", &mean);
    assert_float_equal(mean, 1.0f, 0.0f);
    assert_float_equal(sd, 0.0f, 0.0f);
    clg_model_free(m);
}

int main(void)
{
    fixtures[0] = test_fixture_json("torch_gpt.json");
    fixtures[1] = test_fixture_json("torch_gpt_tied.json");
    if (!fixtures[0] || !fixtures[1])
        return 1;
    use(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_gpt_loads_and_gives_pytorch_loss),
        cmocka_unit_test(test_twenty_adamw_steps_end_at_pytorch_weights),
        cmocka_unit_test(test_tied_output_layer_trains_as_pytorch),
        cmocka_unit_test(test_text_layer_errors_name_file_line_and_shapes),
        cmocka_unit_test(test_gpt2_init_scales_residual_projections),
        cmocka_unit_test(test_norm_layers_name_their_parameters_as_pytorch),
    };
    int rc = cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
    cJSON_Delete(fixtures[0]), cJSON_Delete(fixtures[1]);
    return rc;
}
