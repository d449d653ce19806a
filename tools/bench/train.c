/* clgrad-bench train: samples/s of training steps of the Fashion-MNIST MLP
 * and CNN and tokens/s of the small GPT, beside the same in PyTorch
 * (peers.py), as a ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "bench.h"

/* GPTs as clgrad-bench trains them, PyTorch building the same from the
 * tests' reference modules (tests/torch_gpt.py, through peers.py): the
 * small GPT of the text example (T 64, d 128, 4 heads, 2 blocks, 96 ids,
 * batch 32: 2,048 tokens a step), and GPT-2 small (124 M parameters: 12
 * blocks of d 768 and 12 heads, V 50,257, T 1,024, lm_head tied to the
 * token embedding) and a quick GPT-2-shaped mini, both AdamW. */
typedef struct gpt_config {
    const char *name;
    int V, T, D, H, L, B;
    bool tie;
    int steps;
} gpt_config;

static const gpt_config gpt_small = {"gpt", 96, 64, 128, 4, 2, 32, false, 20};
static const gpt_config gpt2_configs[] = {
    {"gpt2-mini", 50257, 256, 256, 4, 4, 4, true, 6},
    {"gpt2-small", 50257, 1024, 768, 12, 12, 1, true, 3},
};

static char *gpt_spec(const gpt_config *c)
{
    char *spec = malloc(4096);
    if (!spec)
        return NULL;
    int n = snprintf(spec, 4096, "input tokens %d\ntokpos %d %d\n", c->T, c->V, c->D);
    for (int i = 0; i < c->L; i++)
        n += snprintf(spec + n, 4096 - (size_t)n, "block %d %d\n", c->D, c->H);
    snprintf(spec + n, 4096 - (size_t)n, "layernorm\nlinear %d%s\n", c->V,
             c->tie ? " bias=false tie=true" : "");
    return spec;
}

/* Tokens/s of AdamW steps of the GPT on windows of a fixed walk over the
 * vocabulary, after one warm-up step, between the ends of the first and the
 * last of `steps` (step_clock); < 0 on failure. *held: the bytes the
 * device holds then (clg_context_pool_stats). */
static double clgrad_gpt_rate(clg_context *ctx, const gpt_config *c, uint64_t *held,
                              clg_memory_report *report)
{
    size_t n = (size_t)c->B * (c->steps + 1) * c->T + 1;
    int32_t *ids = malloc(n * sizeof *ids);
    char *text = gpt_spec(c);
    clg_context_pool_trim(ctx); /* what other rows left pooled is not this one's */
    clg_dataset *d = NULL;
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_loader *l = NULL;
    clg_status s = ids && text ? CLG_OK : CLG_OUT_OF_HOST_MEMORY;
    uint64_t rng = 1;
    for (size_t i = 0; ids && i < n; i++)
        ids[i] =
            (int32_t)((i ? ids[i - 1] : 0) + (int)(clg_rng_next(&rng) % 5) + c->V - 2) %
            c->V;
    if (s == CLG_OK)
        s = clg_dataset_windows(ids, n, c->T, c->V, &d);
    if (s == CLG_OK)
        s = clg_spec_parse(text, c->name, &spec);
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = c->B;
    mo.init = CLG_INIT_GPT2;
    mo.recompute = flags_set.recompute;
    if (s == CLG_OK)
        s = clg_model_from_spec(ctx, spec, &mo, &m);
    if (s == CLG_OK)
        s = clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f);
    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    oo.type = CLG_OPTIM_ADAMW, oo.lr = 1e-3, oo.weight_decay = 0.1;
    if (s == CLG_OK)
        s = clg_optim_create(clg_model_plan(m), &oo, &opt);
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = c->B;
    if (s == CLG_OK)
        s = clg_loader_create(d, &lo, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1, fo.max_steps = 1;
    clg_fit_report r;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r); /* warm-up */
    fo.max_steps = 1 + c->steps, fo.first_step = 1;
    step_clock clock = {-1, -1, 0, 0};
    fo.on_step = clock_step, fo.user = &clock;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r);
    double rate = clock_rate(&clock);
    clg_pool_stats ps;
    clg_context_pool_stats(ctx, &ps);
    *held = ps.device_bytes;
    memset(report, 0, sizeof *report);
    if (s == CLG_OK && clg_plan_memory_report(clg_model_plan(m), report) == CLG_OK) {
        report->optimizer = clg_optim_memory(opt);
        report->total += report->optimizer;
    }
    if (s != CLG_OK)
        fprintf(stderr, "clgrad-bench: %s: %s\n", c->name, clg_last_error());
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_spec_free(spec), clg_dataset_free(d), free(ids), free(text);
    return s == CLG_OK && rate > 0 ? rate * c->B * c->T : -1;
}

/* Samples per second of training steps (Adam, batch 64), after one warm-up
 * step that compiles the kernels, between the ends of the first and the
 * last of `steps` (step_clock); < 0 on failure. */
static double clgrad_train_rate(clg_context *ctx, const clg_dataset *d, bool cnn,
                                int steps)
{
    clg_model *m = NULL;
    clg_optimizer *opt;
    clg_loader *l;
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    clg_status s = make_trainer(ctx, d, cnn, &lo, &m, &opt, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1, fo.max_steps = 1;
    clg_fit_report r;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r); /* warm-up */
    fo.max_steps = 1 + steps;
    fo.first_epoch = 0;
    fo.first_step = 1;
    step_clock clock = {-1, -1, 0, 0};
    fo.on_step = clock_step, fo.user = &clock;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r);
    double rate = clock_rate(&clock);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    return s == CLG_OK && rate > 0 ? rate * 64 : -1;
}

/* PyTorch's tokens/s for the same GPT and steps, on --torch-device; < 0
 * where it has no torch. *peak: the memory it reports at its peak (CUDA's
 * allocator, or on the CPU the process's resident set above where it
 * started). */
static double torch_gpt_rate(const gpt_config *c, double *peak)
{
    char args[256];
    snprintf(args, sizeof args, "gpt %d '%s' %d %d %d %d %d %d %d", c->steps,
             flags_set.torch_device, c->V, c->T, c->D, c->H, c->B, c->L, c->tie);
    double both[2];
    if (bench_peer_numbers(args, both, 2) != 2)
        return -1;
    *peak = both[1];
    return both[0];
}

/* PyTorch's samples/s for the same model and steps, on --torch-device (all
 * CPU cores, or CUDA with the timing synchronised); < 0 if absent.
 * Measured once a run: --device all compares every device with it. */
static double torch_train_rate(bool cnn, int steps)
{
    static bool measured[2];
    static double rate[2];
    if (!measured[cnn]) {
        char args[256];
        snprintf(args, sizeof args, "train %s %d '%s'", cnn ? "cnn" : "mlp", steps,
                 flags_set.torch_device);
        rate[cnn] = bench_peer_number(args);
        measured[cnn] = true;
    }
    return rate[cnn];
}

/* One GPT row: tokens/s on both sides and what each held. */
static int gpt_row(clg_context *ctx, const gpt_config *c, const char *label)
{
    uint64_t held = 0;
    double torch_peak = -1;
    clg_memory_report r;
    double ours = clgrad_gpt_rate(ctx, c, &held, &r);
    double theirs = torch_gpt_rate(c, &torch_peak);
    char mem[32];
    printf("%-44s %12.0f ", label, ours);
    if (theirs > 0)
        printf("%12.0f %9.2fx", theirs, ours / theirs);
    else
        printf("%12s %10s", "n/a", "");
    printf("   memory: clgrad's device %s", clg_format_bytes(held, mem, sizeof mem));
    if (torch_peak > 0)
        printf(", PyTorch %s", clg_format_bytes((uint64_t)torch_peak, mem, sizeof mem));
    printf("\n");
    if (r.total) {
        char b[6][32];
        printf("  clgrad: parameters %s, gradients %s, optimizer %s, activations %s, "
               "inputs %s, workspace %s\n",
               clg_format_bytes(r.parameters, b[0], 32),
               clg_format_bytes(r.gradients, b[1], 32),
               clg_format_bytes(r.optimizer, b[2], 32),
               clg_format_bytes(r.activations, b[3], 32),
               clg_format_bytes(r.inputs, b[4], 32),
               clg_format_bytes(r.workspace, b[5], 32));
    }
    return ours < 0;
}

int bench_train(clg_context *ctx)
{
    const clg_device_info *dev = clg_context_device(ctx);
    const char *only = flags_set.model;
    for (size_t k = 0; only && k < sizeof gpt2_configs / sizeof *gpt2_configs; k++)
        if (!strcmp(only, gpt2_configs[k].name)) {
            const gpt_config *c = &gpt2_configs[k];
            printf(
                "clgrad %s training benchmark on device %d: %s; %s (%d blocks, d %d, "
                "%d heads, V %d, T %d, batch %d, AdamW) as tokens/s\n\n",
                clg_version(), dev->index, dev->name, c->name, c->L, c->D, c->H, c->V,
                c->T, c->B);
            printf("%-44s %12s %12s %10s\n", "model", "clgrad", "PyTorch", "ratio");
            return gpt_row(ctx, c, c->name) ? 1 : 0;
        }
    clg_dataset *d = bench_data();
    if (!d)
        return fail("loading the data");
    printf("clgrad %s training benchmark on device %d: %s; training steps (forward, "
           "backward, update) per second: MLP and CNN as samples/s (Adam, batch 64), "
           "the GPT as tokens/s (AdamW, batch 32 of 64 tokens)\n\n",
           clg_version(), dev->index, dev->name);
    printf("%-44s %12s %12s %10s\n", "model", "clgrad", "PyTorch", "ratio");
    struct {
        const char *label;
        bool cnn;
        int steps;
    } rows[] = {{"MLP 784-256-128-10", false, 300},
                {"CNN conv32-conv64-fc128, batch norm", true, 120}};
    int failures = 0;
    for (int i = 0; i < 2; i++) {
        double ours = clgrad_train_rate(ctx, d, rows[i].cnn, rows[i].steps);
        double theirs = torch_train_rate(rows[i].cnn, rows[i].steps);
        failures += ours < 0;
        printf("%-44s %12.0f ", rows[i].label, ours);
        if (theirs > 0)
            printf("%12.0f %9.2fx\n", theirs, ours / theirs);
        else
            printf("%12s %10s\n", "n/a", "");
    }
    failures += gpt_row(ctx, &gpt_small, "GPT 2 blocks d128 h4 T64, chars (tokens/s)");
    if (!strcmp(flags_set.torch_device, "cpu"))
        printf(
            "\nratio > 1: clgrad is faster. PyTorch runs on the host CPU with all "
            "cores; clgrad on the device above. --model gpt2-mini|gpt2-small: GPT-2's "
            "shapes.\n");
    else
        printf("\nratio > 1: clgrad is faster. PyTorch runs on %s (%s); clgrad on "
               "the device above.\n",
               flags_set.torch_device, access_python());
    clg_dataset_free(d);
    return failures ? 1 : 0;
}
