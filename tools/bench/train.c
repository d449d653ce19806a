/* clgrad-bench train: samples/s of training steps of the Fashion-MNIST MLP
 * and CNN and tokens/s of the small GPT, beside the same in PyTorch
 * (peers.py), as a ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "bench.h"

/* The small GPT of the text example: T 64, d 128, 4 heads, 2 blocks, 96
 * ids, batch 32 (2,048 tokens a step), AdamW; PyTorch builds the same from
 * the tests' reference modules (tests/torch_gpt.py, through peers.py). */
enum { GPT_T = 64, GPT_D = 128, GPT_H = 4, GPT_V = 96, GPT_B = 32 };

static const char gpt_spec[] = "input tokens 64\n"
                               "tokpos 96 128\n"
                               "block 128 4\n"
                               "block 128 4\n"
                               "layernorm\n"
                               "linear 96\n";

/* Tokens/s of AdamW steps of the GPT on windows of a fixed walk over the
 * vocabulary, after one warm-up step, between the ends of the first and the
 * last of `steps` (step_clock); < 0 on failure. */
static double clgrad_gpt_rate(clg_context *ctx, int steps)
{
    size_t n = (size_t)GPT_B * (steps + 1) * GPT_T + 1;
    int32_t *ids = malloc(n * sizeof *ids);
    clg_dataset *d = NULL;
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_loader *l = NULL;
    clg_status s = ids ? CLG_OK : CLG_OUT_OF_HOST_MEMORY;
    uint64_t rng = 1;
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = (int32_t)((i ? ids[i - 1] : 0) + (int)(clg_rng_next(&rng) % 5) +
                           GPT_V - 2) %
                 GPT_V;
    if (s == CLG_OK)
        s = clg_dataset_windows(ids, n, GPT_T, GPT_V, &d);
    if (s == CLG_OK)
        s = clg_spec_parse(gpt_spec, "gpt", &spec);
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = GPT_B;
    if (s == CLG_OK)
        s = clg_model_from_spec(ctx, spec, &mo, &m);
    if (s == CLG_OK)
        s = clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f);
    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    oo.type = CLG_OPTIM_ADAMW, oo.lr = 1e-3, oo.weight_decay = 0.1;
    if (s == CLG_OK)
        s = clg_optim_create(clg_model_plan(m), &oo, &opt);
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = GPT_B;
    if (s == CLG_OK)
        s = clg_loader_create(d, &lo, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1, fo.max_steps = 1;
    clg_fit_report r;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r); /* warm-up */
    fo.max_steps = 1 + steps, fo.first_step = 1;
    step_clock clock = {-1, -1, 0, 0};
    fo.on_step = clock_step, fo.user = &clock;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r);
    double rate = clock_rate(&clock);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_spec_free(spec), clg_dataset_free(d), free(ids);
    return s == CLG_OK && rate > 0 ? rate * GPT_B * GPT_T : -1;
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
 * where it has no torch. Measured once a run. */
static double torch_gpt_rate(int steps)
{
    static bool measured;
    static double rate;
    if (!measured) {
        char args[256];
        snprintf(args, sizeof args, "gpt %d '%s' %d %d %d %d %d", steps,
                 flags_set.torch_device, GPT_V, GPT_T, GPT_D, GPT_H, GPT_B);
        rate = bench_peer_number(args);
        measured = true;
    }
    return rate;
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

int bench_train(clg_context *ctx)
{
    clg_dataset *d = bench_data();
    if (!d)
        return fail("loading the data");
    const clg_device_info *dev = clg_context_device(ctx);
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
                {"CNN conv32-conv64-fc128, batch norm", true, 120},
                {"GPT 2 blocks d128 h4 T64, chars (tokens/s)", false, 20}};
    int failures = 0;
    for (int i = 0; i < 3; i++) {
        bool gpt = i == 2;
        double ours = gpt ? clgrad_gpt_rate(ctx, rows[i].steps)
                          : clgrad_train_rate(ctx, d, rows[i].cnn, rows[i].steps);
        double theirs = gpt ? torch_gpt_rate(rows[i].steps)
                            : torch_train_rate(rows[i].cnn, rows[i].steps);
        failures += ours < 0;
        printf("%-44s %12.0f ", rows[i].label, ours);
        if (theirs > 0)
            printf("%12.0f %9.2fx\n", theirs, ours / theirs);
        else
            printf("%12s %10s\n", "n/a", "");
    }
    if (!strcmp(flags_set.torch_device, "cpu"))
        printf("\nratio > 1: clgrad is faster. PyTorch runs on the host CPU with all "
               "cores; clgrad on the device above.\n");
    else
        printf("\nratio > 1: clgrad is faster. PyTorch runs on %s (%s); clgrad on "
               "the device above.\n",
               flags_set.torch_device, access_python());
    clg_dataset_free(d);
    return failures ? 1 : 0;
}
