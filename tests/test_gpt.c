/* The text layers against PyTorch: tests/torch_gpt.py builds the reference
 * GPT (tokpos, two blocks, layernorm, linear; T = 16, d = 32, h = 4,
 * V = 50), and clgrad rebuilds it from tests/fixtures/torch_gpt.spec. The
 * state_dict loads completely, the loss agrees within 1e-5 relative, and 20
 * AdamW steps on the same windows end at PyTorch's weights within 1e-3 (and
 * within twice PyTorch float32's own distance of float64's). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Every parameter's gradient, one after another (freed by the caller). */
static float *all_gradients(clg_model *m, size_t *n)
{
    *n = clg_model_parameter_numel(m, false);
    float *g = malloc(*n * sizeof *g), *at = g;
    for (int i = 0; i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        size_t k = clg_tensor_numel(t);
        assert_ok(clg_buffer_download(clg_tensor_grad_buffer(t), 0, at, k * 4));
        at += k;
    }
    assert_true(at == g + *n);
    return g;
}

/* GPT blocks recomputed in backward (clg_model_opts.recompute) give the
 * gradients of blocks kept, bit for bit, at the planned batch and a smaller
 * one, accumulated too, and hold less for activations; a batch norm in a
 * recomputed segment and nested segments are refused. */
static void test_recomputed_blocks_give_the_same_gradients(void **state)
{
    const char *text = "input tokens 12\ntokpos 40 16\nblock 16 2\nblock 16 2\n"
                       "block 16 4\nlayernorm\nlinear 40 bias=false tie=true\n";
    enum { B = 4, T = 12 };
    int32_t x[B * T], y[B * T];
    for (int i = 0; i < B * T; i++)
        x[i] = (i * 7 + 3) % 40, y[i] = (i * 11 + 5) % 40;
    float *grads[2][2];
    size_t n[2];
    uint64_t activations[2];
    for (int way = 0; way < 2; way++) {
        clg_spec *spec;
        assert_ok(clg_spec_parse(text, "recompute.spec", &spec));
        clg_model_opts mo = CLG_MODEL_DEFAULTS;
        mo.max_batch = B, mo.init = CLG_INIT_GPT2, mo.recompute = way == 1;
        clg_model *m;
        assert_ok(clg_model_from_spec(*state, spec, &mo, &m));
        assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
        clg_plan *plan = clg_model_plan(m);
        assert_ok(clg_tensor_upload(clg_model_input(m), x, B * T));
        assert_ok(clg_tensor_upload(clg_model_target(m), y, B * T));
        assert_ok(clg_plan_run(plan, B, CLG_RUN_TRAIN));
        grads[way][0] = all_gradients(m, &n[way]);
        assert_ok(clg_plan_run(plan, B - 1, CLG_RUN_TRAIN));
        assert_ok(clg_plan_run(plan, B - 1, CLG_RUN_ACCUMULATE));
        grads[way][1] = all_gradients(m, &n[way]);
        clg_memory_report r;
        assert_ok(clg_plan_memory_report(plan, &r));
        activations[way] = r.activations;
        clg_model_free(m), clg_spec_free(spec);
    }
    assert_int_equal(n[0], n[1]);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < n[0]; i++)
            if (memcmp(&grads[0][k][i], &grads[1][k][i], 4))
                fail_msg("run %d: gradient %zu is %.9g recomputed, %.9g kept", k, i,
                         (double)grads[1][k][i], (double)grads[0][k][i]);
        free(grads[0][k]), free(grads[1][k]);
    }
    if (!(activations[1] < activations[0] * 3 / 4))
        fail_msg("activations: %llu bytes recomputed, %llu kept",
                 (unsigned long long)activations[1],
                 (unsigned long long)activations[0]);

    clg_graph *g;
    assert_ok(clg_graph_create(*state, &g));
    assert_ok(clg_graph_recompute_begin(g));
    assert_int_equal(clg_graph_recompute_begin(g), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "segment 1 is still open");
    clg_tensor *in = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){4, 3});
    clg_tensor *w = clg_parameter(g, "w", 1, (int[]){3});
    clg_tensor *bn = clg_batch_norm(
        g, clg_mul(g, in, w), w, w, clg_state(g, "mean", 1, (int[]){3}, 0.0f),
        clg_state(g, "var", 1, (int[]){3}, 1.0f), 0.1f, 1e-5f);
    clg_tensor *h = clg_mul(g, bn, w);
    assert_ok(clg_graph_recompute_end(g));
    assert_int_equal(clg_graph_recompute_end(g), CLG_INVALID_ARGUMENT);
    clg_tensor *loss = clg_mean(g, clg_mul(g, h, h), -1);
    clg_plan *plan = NULL;
    assert_int_equal(clg_plan_create(g, loss, NULL, 0, &plan), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "is in recomputed segment 1");
    clg_graph_free(g);
}

static bool stop_after_three(const int32_t *tokens, int count, void *user)
{
    (void)tokens;
    *(int *)user = count;
    return count < 3;
}

/* clg_generate draws each token as the test does by hand: the last T ids
 * (the prompt's, then its own) in the window, zeros after them, the logits
 * at the last one's position, clg_sample_token with the seed's stream; a
 * prompt longer than T keeps its last T ids. */
static void test_generate_samples_the_last_position_of_the_last_window(void **state)
{
    clg_context *ctx = *state;
    clg_model *m = NULL;
    enum { T = 6, V = 11, COUNT = 9 };
    assert_ok(build(ctx,
                    "input tokens 6\ntokpos 11 8\nblock 8 2\nlayernorm\nlinear 11\n",
                    CLG_INIT_GPT2, &m));
    if (!clg_model_plan(m))
        assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    const int32_t prompts[2][8] = {{3, 1, 4}, {1, 5, 9, 2, 6, 5, 3, 5}};
    const size_t lengths[2] = {3, 8};
    for (int which = 0; which < 2; which++) {
        const int32_t *prompt = prompts[which];
        size_t n = lengths[which];
        clg_generate_opts go = CLG_GENERATE_DEFAULTS;
        go.temperature = 0.8f, go.top_k = 5, go.seed = 42;
        int32_t got[COUNT], want[COUNT], all[8 + COUNT];
        int produced = 0;
        assert_ok(clg_generate(m, prompt, n, COUNT, &go, got, &produced));
        assert_int_equal(produced, COUNT);
        memcpy(all, prompt, n * sizeof *all);
        uint64_t rng = 42 * 0x9E3779B97F4A7C15ull + 1;
        for (int k = 0; k < COUNT; k++) {
            size_t have = n + (size_t)k, L = have < T ? have : T;
            int32_t window[T] = {0};
            float logits[T * V];
            memcpy(window, all + have - L, L * sizeof *window);
            assert_ok(clg_tensor_upload(clg_model_input(m), window, T));
            assert_ok(clg_plan_run(clg_model_plan(m), 1, CLG_RUN_EVAL));
            assert_ok(
                clg_plan_read(clg_model_plan(m), clg_model_output(m), logits, T * V));
            assert_ok(clg_sample_token(logits + (L - 1) * V, V, 0.8f, 5, &rng, NULL,
                                       &want[k]));
            all[have] = want[k];
        }
        assert_memory_equal(got, want, sizeof got);
        int32_t again[COUNT];
        assert_ok(clg_generate(m, prompt, n, COUNT, &go, again, NULL));
        assert_memory_equal(got, again, sizeof got); /* same seed, same text */
    }
    /* Stopping, limits and bad arguments. */
    clg_generate_opts go = CLG_GENERATE_DEFAULTS;
    int seen = 0, produced = 0;
    int32_t out[COUNT];
    go.on_token = stop_after_three, go.user = &seen, go.vocab = 4;
    assert_ok(clg_generate(m, prompts[0], 3, COUNT, &go, out, &produced));
    assert_int_equal(produced, 3);
    assert_int_equal(seen, 3);
    for (int k = 0; k < 3; k++)
        assert_true(out[k] >= 0 && out[k] < 4);
    go = (clg_generate_opts)CLG_GENERATE_DEFAULTS;
    assert_int_equal(clg_generate(m, prompts[0], 0, 1, &go, out, NULL),
                     CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "empty prompt");
    const int32_t bad[1] = {11};
    assert_int_equal(clg_generate(m, bad, 1, 1, &go, out, NULL), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(),
                    "prompt id 11 at 0 is outside the model's 11 ids");
    clg_model_free(m);
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

/* ---- A Hugging Face GPT-2 directory (tests/hf_gpt2_model.py) ---------------- */

/* Tensor `name` of the reference file, as floats (n of them). */
static float *ref_floats(const clg_checkpoint *ck, const char *name, size_t n)
{
    for (int i = 0; i < clg_checkpoint_count(ck); i++)
        if (!strcmp(clg_checkpoint_name(ck, i), name)) {
            float *v = malloc(n * sizeof *v);
            assert_ok(clg_checkpoint_floats(ck, i, v, n));
            return v;
        }
    fail_msg("no %s in the reference", name);
    return NULL;
}

/* GPT2LMHeadModel.save_pretrained()'s directory, with its tokenizer, loads
 * into clgrad from config.json alone: its logits, its loss before each of
 * 10 AdamW steps on windows of the fortunes and every weight after them are
 * within 10 times PyTorch float32's distance from float64 (the differential
 * test's rule), Conv1D's transposed weights and the tied output layer
 * included. */
static void test_hugging_face_gpt2_trains_as_transformers(void **state)
{
    clg_context *ctx = *state;
    cJSON *ref = test_fixture_json("hf_gpt2.json");
    assert_non_null(ref);
    char dir[1024], path[1024];
    fixture_path("hf_gpt2", dir, sizeof dir);
    int B = cJSON_GetObjectItem(ref, "batch")->valueint,
        T = cJSON_GetObjectItem(ref, "context")->valueint,
        steps = cJSON_GetObjectItem(ref, "steps")->valueint;
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = B;
    clg_model *m;
    assert_ok(clg_model_from_gpt2_dir(ctx, dir, &mo, 0, &m));
    assert_int_equal(clg_tensor_dim(clg_model_input(m), 1), T); /* n_positions */
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    clg_tokenizer *t;
    assert_ok(clg_tokenizer_load_gpt2(dir, &t));
    int V = clg_tokenizer_vocab_size(t);
    assert_int_equal(V, 2000);
    clg_tokenizer_free(t);
    clg_checkpoint *want;
    assert_ok(clg_checkpoint_read(
        fixture_path("hf_gpt2_ref.safetensors", path, sizeof path), &want));
    cJSON *windows = cJSON_GetObjectItem(ref, "windows");
    int32_t *x = malloc((size_t)B * T * sizeof *x),
            *y = malloc((size_t)B * T * sizeof *y);
    float *logits = malloc((size_t)B * T * V * sizeof *logits);
    clg_optim_opts o = CLG_OPTIM_DEFAULTS;
    o.type = CLG_OPTIM_ADAMW, o.weight_decay = 0.0f;
    o.lr = (float)cJSON_GetObjectItem(ref, "lr")->valuedouble;
    o.beta1 = 0.9f, o.beta2 = 0.999f, o.eps = 1e-8f;
    clg_optimizer *opt;
    assert_ok(clg_optim_create(clg_model_plan(m), &o, &opt));
    double loss_err = 0, loss_err32 = 0;
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < B; b++) {
            cJSON *w = cJSON_GetArrayItem(cJSON_GetArrayItem(windows, s), b);
            for (int k = 0; k < T; k++) {
                x[b * T + k] = cJSON_GetArrayItem(w, k)->valueint;
                y[b * T + k] = cJSON_GetArrayItem(w, k + 1)->valueint;
            }
        }
        assert_ok(clg_tensor_upload(clg_model_input(m), x, (size_t)B * T));
        assert_ok(clg_tensor_upload(clg_model_target(m), y, (size_t)B * T));
        if (s == 0) { /* the first window's first two positions' logits */
            assert_ok(clg_plan_run(clg_model_plan(m), B, CLG_RUN_EVAL));
            assert_ok(clg_plan_read(clg_model_plan(m), clg_model_output(m), logits,
                                    (size_t)B * T * V));
            float *l64 = ref_floats(want, "logits64", 2 * (size_t)V);
            double err = 0,
                   err32 = cJSON_GetObjectItem(ref, "logits_err32")->valuedouble;
            for (int i = 0; i < 2 * V; i++)
                err = fmax(err, fabs(logits[i] - l64[i]));
            print_message("logits: %.3g from float64; PyTorch float32 %.3g\n", err,
                          err32);
            if (!(err <= fmax(10 * err32, 1e-6)))
                fail_msg("logits %.3g from float64, PyTorch float32 %.3g", err, err32);
            free(l64);
        }
        float loss;
        assert_ok(clg_plan_run(clg_model_plan(m), B, CLG_RUN_TRAIN));
        assert_ok(clg_plan_loss(clg_model_plan(m), &loss));
        double l64 = cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "losses64"), s)
                         ->valuedouble,
               l32 = cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "losses32"), s)
                         ->valuedouble;
        loss_err = fmax(loss_err, fabs(loss - l64));
        loss_err32 = fmax(loss_err32, fabs(l32 - l64));
        assert_ok(clg_optim_step(opt));
    }
    print_message("losses: %.3g from float64; PyTorch float32 %.3g\n", loss_err,
                  loss_err32);
    if (!(loss_err <= fmax(10 * loss_err32, 4e-7 * 8)))
        fail_msg("losses %.3g from float64, PyTorch float32 %.3g", loss_err,
                 loss_err32);
    double err = 0, err32 = 0;
    for (int i = 0; i < clg_model_tensor_count(m); i++) {
        clg_tensor *p = clg_model_tensor(m, i);
        size_t n = clg_tensor_numel(p);
        char k64[128], k32[128];
        snprintf(k64, sizeof k64, "final64.%s", clg_tensor_name(p));
        snprintf(k32, sizeof k32, "final32.%s", clg_tensor_name(p));
        float *got = malloc(n * sizeof *got), *w64 = ref_floats(want, k64, n),
              *w32 = ref_floats(want, k32, n);
        assert_ok(clg_tensor_download(p, got, n));
        for (size_t k = 0; k < n; k++) {
            err = fmax(err, fabs(got[k] - w64[k]));
            err32 = fmax(err32, fabs(w32[k] - w64[k]));
        }
        free(got), free(w64), free(w32);
    }
    print_message(
        "weights after %d AdamW steps: %.3g from float64; PyTorch float32 %.3g\n",
        steps, err, err32);
    if (!(err <= 10 * err32))
        fail_msg("weights %.3g from float64, PyTorch float32 %.3g", err, err32);
    free(x), free(y), free(logits);
    clg_optim_free(opt);
    clg_checkpoint_free(want);
    clg_model_free(m);
    cJSON_Delete(ref);
}

/* A copy of the fixture directory's config.json and model.safetensors in a
 * new directory, config.json's `key` set to the JSON `value`. */
static const char *hf_copy_with(const char *key, const char *value)
{
    static char dir[64];
    char src[1024], path[1100];
    snprintf(dir, sizeof dir, "/tmp/clgrad-hf-XXXXXX");
    assert_non_null(mkdtemp(dir));
    fixture_path("hf_gpt2", src, sizeof src);
    snprintf(path, sizeof path, "%s/config.json", src);
    cJSON *c = NULL;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char text[8192];
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    c = cJSON_Parse(text);
    cJSON_DeleteItemFromObjectCaseSensitive(c, key);
    cJSON_AddItemToObject(c, key, cJSON_Parse(value));
    char *out = cJSON_Print(c);
    snprintf(path, sizeof path, "%s/config.json", dir);
    test_write_file(path, out);
    free(out);
    cJSON_Delete(c);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cp '%s/model.safetensors' '%s/'", src, dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

static void test_hugging_face_configs_clgrad_cannot_run_are_refused(void **state)
{
    struct {
        const char *key, *value, *message;
    } cases[] = {
        {"activation_function", "\"relu\"", "\"activation_function\": \"relu\""},
        {"scale_attn_by_inverse_layer_idx", "true", "scale_attn_by_inverse_layer_idx"},
        {"reorder_and_upcast_attn", "true", "reorder_and_upcast_attn"},
        {"add_cross_attention", "true", "add_cross_attention"},
        {"scale_attn_weights", "false", "scale_attn_weights"},
        {"n_inner", "100", "\"n_inner\""},
        {"layer_norm_epsilon", "1e-6", "layer_norm_epsilon"},
        {"model_type", "\"llama\"", "\"model_type\" is llama"},
        {"n_head", "5", "n_embd 32 is not a multiple of n_head 5"},
        {"n_layer", "0", "\"n_layer\" must be a whole number from 1"},
        {"n_layer", "3",
         "tensor 'h.2.ln_1.weight' (clgrad's 3.ln_1.weight) is missing"},
        {"n_layer", "1", "tensor 'transformer.h.1.attn.c_attn.bias' is not part of"},
        {"n_embd", "16", "is [2000, 32], config.json makes it [2000, 16]"},
        {"vocab_size", "1999", "config.json makes it [1999, 32]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *dir = hf_copy_with(cases[i].key, cases[i].value);
        clg_model_opts mo = CLG_MODEL_DEFAULTS;
        mo.max_batch = 2;
        clg_model *m = (clg_model *)dir;
        clg_status s = clg_model_from_gpt2_dir(*state, dir, &mo, 0, &m);
        if (s != CLG_BAD_FILE)
            fail_msg("%s = %s: %s (%s)", cases[i].key, cases[i].value,
                     clg_status_str(s), clg_last_error());
        assert_null(m);
        assert_contains(clg_last_error(), dir);
        assert_contains(clg_last_error(), cases[i].message);
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -r '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    /* a context past n_positions */
    char dir[1024];
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    clg_model *m;
    assert_int_equal(clg_model_from_gpt2_dir(
                         *state, fixture_path("hf_gpt2", dir, sizeof dir), &mo, 17, &m),
                     CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "a context of 17 tokens is past the model's "
                                      "n_positions 16");
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
        cmocka_unit_test(test_recomputed_blocks_give_the_same_gradients),
        cmocka_unit_test(test_hugging_face_gpt2_trains_as_transformers),
        cmocka_unit_test(test_hugging_face_configs_clgrad_cannot_run_are_refused),
        cmocka_unit_test(test_text_layer_errors_name_file_line_and_shapes),
        cmocka_unit_test(test_generate_samples_the_last_position_of_the_last_window),
        cmocka_unit_test(test_gpt2_init_scales_residual_projections),
        cmocka_unit_test(test_norm_layers_name_their_parameters_as_pytorch),
    };
    int rc = cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
    cJSON_Delete(fixtures[0]), cJSON_Delete(fixtures[1]);
    return rc;
}
