/*
 * clgrad-bench — measures clgrad against references on this machine.
 *
 *   clgrad-bench ops     GFLOP/s or GB/s per op at training-sized shapes,
 *                        both GEMM paths beside torch.matmul (numpy without
 *                        torch), each op beside PyTorch
 *   clgrad-bench loader  the input pipeline, alone and under an MLP epoch
 *   clgrad-bench train   training steps of the Fashion-MNIST MLP and CNN,
 *                        beside the same models in PyTorch, as a ratio
 *
 * Timings are whole-op wall-clock times (enqueue to finish) over repeated
 * runs after a warm-up that compiles the kernels.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/rng.h"
#include "cli.h"

typedef struct options {
    const char *device;
    float seconds; /* per measurement */
    bool no_numpy;
    const char *python;       /* the Python with numpy and torch */
    const char *torch_device; /* where PyTorch trains: cpu or cuda */
    int ranks;                /* scale: up to this many */
    int steps;                /* scale: timed steps per measurement (0: 200, CNN 30) */
    const char *model;        /* scale: mlp, cnn or both (NULL) */
} options;

static options flags_set = {.seconds = 0.5f, .torch_device = "cpu"};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: clgrad-bench ops|loader|train|scale [--device SPEC|all] [--seconds S] "
        "[--no-numpy]\n"
        "\n"
        "  ops      per-op throughput at training-sized shapes: GEMM on both\n"
        "           paths (CLBlast, native) beside torch.matmul (numpy where\n"
        "           the Python has no torch), and the example CNN's two\n"
        "           convolutions, linear, pooling, batch norm, activations and\n"
        "           the loss, forward and forward+backward, beside PyTorch\n"
        "  loader   the input pipeline on Fashion-MNIST (or 60000 synthetic\n"
        "           images): batches/s of the loader alone, and a whole MLP\n"
        "           epoch with and without prefetch and augmentation\n"
        "  train    samples/s of training steps of the Fashion-MNIST MLP and\n"
        "           CNN, and of the same models in PyTorch where\n"
        "           /usr/bin/python3 has torch, as a ratio\n"
        "  scale    data parallel: samples/s of the MLP and CNN on 1, 2, ...\n"
        "           ranks (a thread and context each, on the devices in\n"
        "           turn; --ranks N), communication per step, efficiency\n");
}

static int fail(const char *what)
{
    fprintf(stderr, "clgrad-bench: %s: %s\n", what, clg_last_error());
    return 1;
}

/* ---- GEMM ------------------------------------------------------------------ */

typedef struct gemm_shape {
    const char *label;
    size_t M, N, K;
    bool ta, tb;
} gemm_shape;

static const gemm_shape gemm_shapes[] = {
    {"linear fwd   x W^T", 64, 256, 784, false, true},
    {"linear dx    dy W", 64, 784, 256, false, false},
    {"linear dW    dy^T x", 256, 784, 64, true, false},
    {"square", 1024, 1024, 1024, false, false},
};

/* Seconds per call, or a negative value on failure. */
static double time_gemm(clg_context *ctx, const gemm_shape *s, double budget)
{
    clg_buffer *a = NULL, *b = NULL, *c = NULL;
    double result = -1;
    size_t na = s->M * s->K, nb = s->K * s->N, nc = s->M * s->N;
    float *host = calloc(na > nb ? na : nb, sizeof *host);
    if (host && clg_buffer_create(ctx, na * 4, &a) == CLG_OK &&
        clg_buffer_create(ctx, nb * 4, &b) == CLG_OK &&
        clg_buffer_create(ctx, nc * 4, &c) == CLG_OK) {
        for (size_t i = 0; i < (na > nb ? na : nb); i++)
            host[i] = (float)(i % 17) * 0.01f;
        clg_buffer_upload(a, 0, host, na * 4);
        clg_buffer_upload(b, 0, host, nb * 4);
        size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
        int reps = 0;
        double start = 0;
        for (;;) {
            if (clg_gemm(ctx, s->ta, s->tb, s->M, s->N, s->K, 1.0f, a, 0, lda, b, 0,
                         ldb, 0.0f, c, 0, s->N) != CLG_OK ||
                clg_context_finish(ctx) != CLG_OK)
                break;
            if (reps++ == 0) { /* the warm-up compiled the kernels */
                start = clg_now_seconds();
                continue;
            }
            double elapsed = clg_now_seconds() - start;
            if (elapsed >= budget && reps >= 4) {
                result = elapsed / (reps - 1);
                break;
            }
        }
    }
    free(host);
    clg_buffer_free(a), clg_buffer_free(b), clg_buffer_free(c);
    return result;
}

static const char *access_python(void)
{
    if (flags_set.python)
        return flags_set.python;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* The reference's GFLOP/s for each shape through the --python interpreter:
 * torch.matmul where it has torch (on all cores), else numpy; < 0 where
 * neither. Its name goes to `name`. */
static void reference_gemm(double budget, double *gflops, size_t count, char *name,
                           size_t len)
{
    for (size_t i = 0; i < count; i++)
        gflops[i] = -1;
    snprintf(name, len, "numpy");
    char cmd[2048];
    int n = snprintf(cmd, sizeof cmd,
                     "%s -c \"import os, time, numpy as np\n"
                     "try:\n"
                     "  import torch; torch.set_num_threads(os.cpu_count()); lib = 'torch'\n"
                     "except ImportError: lib = 'numpy'\n"
                     "print(lib)\n"
                     "for M, N, K, ta, tb in [",
                     access_python());
    for (size_t i = 0; i < count; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, "(%zu,%zu,%zu,%d,%d),",
                      gemm_shapes[i].M, gemm_shapes[i].N, gemm_shapes[i].K,
                      gemm_shapes[i].ta, gemm_shapes[i].tb);
    snprintf(cmd + n, sizeof cmd - (size_t)n,
             "]:\n"
             "  a = np.random.rand(K, M).astype(np.float32).T if ta else "
             "np.random.rand(M, K).astype(np.float32)\n"
             "  b = np.random.rand(N, K).astype(np.float32).T if tb else "
             "np.random.rand(K, N).astype(np.float32)\n"
             "  if lib == 'torch': a, b = torch.from_numpy(a), torch.from_numpy(b)\n"
             "  a @ b; r = 0; t = time.perf_counter()\n"
             "  while r < 4 or time.perf_counter() - t < %g: a @ b; r += 1\n"
             "  print(2.0 * M * N * K * r / (time.perf_counter() - t) / 1e9)\n"
             "\" 2>/dev/null",
             budget);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char lib[16];
    if (fscanf(p, "%15s", lib) == 1)
        snprintf(name, len, "%s", lib);
    for (size_t i = 0; i < count; i++)
        if (fscanf(p, "%lf", &gflops[i]) != 1)
            break;
    pclose(p);
}

/* ---- Loader ------------------------------------------------------------------ */

static clg_dataset *bench_data(void)
{
    clg_dataset *d = NULL;
    if (clg_dataset_fashion_mnist(NULL, true, &d) == CLG_OK)
        return d;
    if (clg_dataset_create(60000, 3, (int[]){1, 28, 28}, true, &d) != CLG_OK)
        return NULL;
    for (size_t i = 0; i < (size_t)d->count * d->sample; i++)
        d->x[i] = (float)(i % 251) / 251.0f;
    for (int i = 0; i < d->count; i++)
        d->labels[i] = i % 10;
    d->classes = 10;
    return d;
}

/* A Fashion-MNIST model as layers; the same architecture as the PyTorch
 * modules in torch_train_rate(). */
static clg_status add_layers(clg_model *m, bool cnn)
{
    clg_layer c1 = CLG_CONV2D(32, 3), c2 = CLG_CONV2D(64, 3);
    c1.padding = c2.padding = 1;
    c1.no_bias = c2.no_bias = true;
    clg_layer cnn_layers[] = {c1,
                              CLG_BATCHNORM2D(),
                              CLG_RELU(),
                              CLG_MAXPOOL2D(2),
                              c2,
                              CLG_BATCHNORM2D(),
                              CLG_RELU(),
                              CLG_MAXPOOL2D(2),
                              CLG_FLATTEN(),
                              CLG_DROPOUT(0.25f),
                              CLG_LINEAR(128),
                              CLG_RELU(),
                              CLG_LINEAR(10)};
    clg_layer mlp_layers[] = {CLG_FLATTEN(),   CLG_LINEAR(256), CLG_RELU(),
                              CLG_LINEAR(128), CLG_RELU(),      CLG_LINEAR(10)};
    const clg_layer *l = cnn ? cnn_layers : mlp_layers;
    int n = cnn ? 13 : 6;
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && i < n; i++)
        s = clg_model_add(m, l[i]);
    return s;
}

/* The Fashion-MNIST MLP or CNN, compiled, with Adam (lr 1e-3) and a loader
 * over d; the caller frees all three. */
static clg_status make_trainer(clg_context *ctx, const clg_dataset *d, bool cnn,
                               const clg_loader_opts *lo, clg_model **m,
                               clg_optimizer **opt, clg_loader **l)
{
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    oo.type = CLG_OPTIM_ADAM, oo.lr = 1e-3f;
    *opt = NULL, *l = NULL;
    clg_status s = clg_model_create(ctx, &mo, 3, (int[]){1, 28, 28}, m);
    if (s == CLG_OK)
        s = add_layers(*m, cnn);
    if (s == CLG_OK)
        s = clg_model_compile(*m, CLG_LOSS_CROSS_ENTROPY, 0.0f);
    if (s == CLG_OK)
        s = clg_optim_create(clg_model_plan(*m), &oo, opt);
    if (s == CLG_OK)
        s = clg_loader_create(d, lo, l);
    return s;
}

static double loader_seconds(const clg_dataset *d, bool prefetch,
                             const clg_augment *aug)
{
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.prefetch = prefetch, lo.augment = *aug;
    clg_loader *l;
    if (clg_loader_create(d, &lo, &l) != CLG_OK)
        return -1;
    double start = clg_now_seconds();
    const clg_batch *b;
    clg_loader_start_epoch(l, 0);
    while (clg_loader_next(l, &b) == CLG_OK && b)
        ;
    double t = clg_now_seconds() - start;
    clg_loader_free(l);
    return t;
}

/* One MLP epoch through clg_fit; seconds, or < 0 on failure. */
static double epoch_seconds(clg_context *ctx, const clg_dataset *d, bool prefetch,
                            const clg_augment *aug)
{
    clg_model *m = NULL;
    clg_optimizer *opt;
    clg_loader *l;
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.prefetch = prefetch, lo.augment = *aug;
    clg_status s = make_trainer(ctx, d, false, &lo, &m, &opt, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1;
    clg_fit_report r;
    double start = clg_now_seconds();
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r);
    double t = clg_now_seconds() - start;
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    return s == CLG_OK ? t : -1;
}

static int bench_loader(clg_context *ctx)
{
    clg_dataset *d = bench_data();
    if (!d)
        return fail("loading the data");
    const clg_device_info *dev = clg_context_device(ctx);
    printf(
        "clgrad %s loader benchmark on device %d: %s; %d images of 28x28, batch 64\n\n",
        clg_version(), dev->index, dev->name, d->count);
    clg_augment none = CLG_AUGMENT_NONE, aug = CLG_AUGMENT_NONE;
    aug.hflip = 0.5f, aug.crop_pad = 2, aug.probability = 0.5f;
    struct {
        const char *label;
        bool prefetch;
        const clg_augment *aug;
    } rows[] = {{"no prefetch", false, &none},
                {"prefetch", true, &none},
                {"no prefetch, flip+crop", false, &aug},
                {"prefetch, flip+crop", true, &aug}};
    printf("%-26s %14s %16s\n", "", "loader alone", "MLP epoch");
    double epoch[4];
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        double lt = loader_seconds(d, rows[i].prefetch, rows[i].aug);
        epoch[i] = epoch_seconds(ctx, d, rows[i].prefetch, rows[i].aug);
        failures += lt < 0 || epoch[i] < 0;
        printf("%-26s %8.2f s %5.0f b/s %9.2f s\n", rows[i].label, lt,
               lt > 0 ? 938.0 / lt : 0.0, epoch[i]);
    }
    printf("\nprefetch: epoch %.2fx the time without it; flip+crop with prefetch: "
           "%.2fx the plain epoch\n",
           epoch[1] / epoch[0], epoch[3] / epoch[1]);
    clg_dataset_free(d);
    return failures ? 1 : 0;
}

/* ---- Training against PyTorch ------------------------------------------------ */

/* The small GPT of the text example: T 64, d 128, 4 heads, 2 blocks, 96
 * ids, batch 32 (2,048 tokens a step), AdamW; PyTorch builds the same from
 * the reference modules of issue 14 (tests/torch_gpt.py). */
enum { GPT_T = 64, GPT_D = 128, GPT_H = 4, GPT_V = 96, GPT_B = 32 };

static const char gpt_spec[] = "input tokens 64\n"
                               "tokpos 96 128\n"
                               "block 128 4\n"
                               "block 128 4\n"
                               "layernorm\n"
                               "linear 96\n";

/* The clock of a timed clg_fit: the time of every step's end, so that a
 * rate counts the steps between the first and the last, not clg_fit's
 * start (checking every sample of the dataset, shuffling the epoch). */
typedef struct step_clock {
    long long first, last;
    double t_first, t_last;
} step_clock;

static bool clock_step(const clg_step_info *info, void *user)
{
    step_clock *c = user;
    double t = clg_now_seconds();
    if (c->first < 0)
        c->first = info->step, c->t_first = t;
    c->last = info->step, c->t_last = t;
    return true;
}

/* Steps per second between the first and the last step clocked; < 0 if
 * fewer than two were. */
static double clock_rate(const step_clock *c)
{
    return c->last > c->first && c->t_last > c->t_first
               ? (double)(c->last - c->first) / (c->t_last - c->t_first)
               : -1;
}

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

/* The reference modules of issue 14, as tests/torch_gpt.py defines them. */
static const char torch_gpt[] =
    "import math\n"
    "class TokPos(nn.Module):\n"
    "  def __init__(s, v, c, d):\n"
    "    super().__init__(); s.wte, s.wpe = nn.Embedding(v, d), nn.Embedding(c, d)\n"
    "  def forward(s, i): return s.wte(i) + s.wpe(torch.arange(i.shape[1], "
    "device=i.device))\n"
    "class Attention(nn.Module):\n"
    "  def __init__(s, d, h):\n"
    "    super().__init__(); s.h = h; s.c_attn, s.c_proj = nn.Linear(d, 3 * d), "
    "nn.Linear(d, d)\n"
    "  def forward(s, x):\n"
    "    B, T, C = x.shape; q, k, v = s.c_attn(x).split(C, dim=2)\n"
    "    q, k, v = (t.view(B, T, s.h, C // s.h).transpose(1, 2) for t in (q, k, v))\n"
    "    a = (q @ k.transpose(-2, -1)) / math.sqrt(C // s.h)\n"
    "    a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool, "
    "device=x.device), 1), float('-inf'))\n"
    "    return s.c_proj((a.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C))\n"
    "class Block(nn.Module):\n"
    "  def __init__(s, d, h):\n"
    "    super().__init__(); s.ln_1, s.attn, s.ln_2 = nn.LayerNorm(d), Attention(d, "
    "h), nn.LayerNorm(d)\n"
    "    s.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate='tanh'), "
    "nn.Linear(4 * d, d))\n"
    "  def forward(s, x): x = x + s.attn(s.ln_1(x)); return x + s.mlp(s.ln_2(x))\n";

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

/* The same in PyTorch (CPU, all cores), through /usr/bin/python3. */
/* PyTorch's samples/s for the same model and steps, on --torch-device
 * (all CPU cores, or CUDA with the timing synchronised); < 0 if absent. */
static double torch_gpt_rate(int steps)
{
    static bool measured;
    static double rate;
    if (measured)
        return rate;
    char cmd[6000];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import time, os, torch, torch.nn as nn\n%s"
             "torch.set_num_threads(os.cpu_count()); torch.manual_seed(0)\n"
             "dev = torch.device('%s')\n"
             "sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)\n"
             "m = nn.Sequential(TokPos(%d, %d, %d), Block(%d, %d), Block(%d, %d), "
             "nn.LayerNorm(%d), nn.Linear(%d, %d)).to(dev)\n"
             "opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.1)\n"
             "x = torch.randint(0, %d, (%d, %d), device=dev); y = torch.randint(0, %d, "
             "(%d, %d), device=dev)\n"
             "def step():\n"
             "  opt.zero_grad(); l = nn.functional.cross_entropy(m(x).view(-1, %d), "
             "y.view(-1)); l.backward(); opt.step(); return float(l)\n"
             "step(); sync(); t = time.perf_counter()\n"
             "for _ in range(%d): step()\n"
             "sync(); print(%d * %d / (time.perf_counter() - t))\n\" 2>/dev/null",
             access_python(), torch_gpt, flags_set.torch_device, GPT_V, GPT_T, GPT_D,
             GPT_D, GPT_H, GPT_D, GPT_H, GPT_D, GPT_D, GPT_V, GPT_V, GPT_B, GPT_T,
             GPT_V, GPT_B, GPT_T, GPT_V, steps, steps, GPT_B * GPT_T);
    FILE *p = popen(cmd, "r");
    rate = -1;
    if (p) {
        if (fscanf(p, "%lf", &rate) != 1)
            rate = -1;
        pclose(p);
    }
    measured = true;
    return rate;
}

static double torch_train_rate(bool cnn, int steps)
{
    /* Measured once a run: --device all compares every device with it. */
    static bool measured[2];
    static double rate[2];
    if (measured[cnn])
        return rate[cnn];
    char cmd[3000];
    snprintf(
        cmd, sizeof cmd,
        "%s -c \"import time, os, torch, torch.nn as nn\n"
        "torch.set_num_threads(os.cpu_count())\n"
        "torch.manual_seed(0)\n"
        "dev = torch.device('%s')\n"
        "sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)\n"
        "m = nn.Sequential(%s).to(dev)\n"
        "opt = torch.optim.Adam(m.parameters(), lr=1e-3)\n"
        "x = torch.rand(64, 1, 28, 28, device=dev); y = torch.randint(0, 10, (64,), "
        "device=dev)\n"
        "def step():\n"
        "  opt.zero_grad(); l = nn.functional.cross_entropy(m(x), y); l.backward(); "
        "opt.step(); return float(l)\n"
        "step(); sync(); t = time.perf_counter()\n"
        "for _ in range(%d): step()\n"
        "sync(); print(%d * 64 / (time.perf_counter() - t))\n\" 2>/dev/null",
        access_python(), flags_set.torch_device,
        cnn ? "nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), "
              "nn.ReLU(), "
              "nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1, bias=False), "
              "nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), "
              "nn.Dropout(0.25), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)"
            : "nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), "
              "nn.ReLU(), nn.Linear(128, 10)",
        steps, steps);
    FILE *p = popen(cmd, "r");
    rate[cnn] = -1;
    if (p) {
        if (fscanf(p, "%lf", &rate[cnn]) != 1)
            rate[cnn] = -1;
        pclose(p);
    }
    measured[cnn] = true;
    return rate[cnn];
}

static int bench_train(clg_context *ctx)
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

/* ---- Data parallel scaling --------------------------------------------------- */

typedef struct scale_rank {
    clg_comm *comm;
    const clg_dataset *d;
    bool cnn, after; /* after: sum the gradients after backward, not during */
    int device, steps;
    double seconds, comm_seconds; /* of the timed steps */
    clg_status status;
    char error[512];
} scale_rank;

/* One rank: its own context, the model on its shard of batches of 64; one
 * warm-up step, then `steps` timed. */
static void *scale_worker(void *arg)
{
    scale_rank *r = arg;
    clg_context *ctx = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_loader *l = NULL;
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.shard = clg_comm_rank(r->comm), lo.shards = clg_comm_size(r->comm);
    clg_status s = clg_context_create(r->device, &ctx);
    if (s == CLG_OK)
        s = make_trainer(ctx, r->d, r->cnn, &lo, &m, &opt, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1, fo.max_steps = 1, fo.comm = r->comm;
    fo.sum_after_backward = r->after;
    clg_fit_report rep;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &rep);
    else
        clg_comm_abort(r->comm, clg_last_error());
    double start = clg_now_seconds(), comm0 = clg_comm_seconds(r->comm);
    fo.max_steps = 1 + r->steps, fo.first_step = 1;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &rep);
    r->seconds = clg_now_seconds() - start;
    r->comm_seconds = clg_comm_seconds(r->comm) - comm0;
    r->status = s;
    if (s != CLG_OK)
        snprintf(r->error, sizeof r->error, "%s", clg_last_error());
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m), clg_context_free(ctx);
    return NULL;
}

/* Samples/s of n ranks, and rank 0's communication seconds per step. */
static double scale_rate(const clg_dataset *d, bool cnn, bool after, int n, int steps,
                         double *comm_per_step)
{
    int count = 1;
    clg_device_count(&count);
    clg_comm **comms;
    *comm_per_step = 0;
    if (n > 64 || clg_comm_local_create(n, &comms) != CLG_OK)
        return -1;
    scale_rank r[64];
    pthread_t t[64];
    for (int k = 0; k < n; k++) {
        r[k] =
            (scale_rank){comms[k], d, cnn, after, k % count, steps, 0, 0, CLG_OK, ""};
        pthread_create(&t[k], NULL, scale_worker, &r[k]);
    }
    bool ok = true;
    for (int k = 0; k < n; k++) {
        pthread_join(t[k], NULL);
        if (ok && r[k].status != CLG_OK)
            fprintf(stderr, "clgrad-bench: rank %d of %d: %s\n", k, n, r[k].error);
        ok = ok && r[k].status == CLG_OK;
    }
    clg_comm_local_free(comms, n);
    *comm_per_step = r[0].comm_seconds / steps;
    return ok ? (double)steps * 64 / r[0].seconds : -1;
}

static int bench_scale(int max_ranks)
{
    clg_dataset *d = bench_data();
    if (!d)
        return fail("loading the data");
    int count = 1;
    clg_device_count(&count);
    printf("clgrad %s data parallel benchmark: batches of 64 split over 1 to %d ranks "
           "(a thread each, on devices 0..%d in turn: %d device%s here), Adam; "
           "communication: rank 0's seconds in collectives (the gradient sum over the "
           "host, the losses)\n\n",
           clg_version(), max_ranks, count - 1, count, count == 1 ? "" : "s");
    printf("%-50s %6s %12s %10s %12s\n", "model", "ranks", "samples/s", "speed-up",
           "comm ms/step");
    int failures = 0;
    for (int cnn = 0; cnn < 2; cnn++) {
        if (flags_set.model && strcmp(flags_set.model, cnn ? "cnn" : "mlp"))
            continue;
        double one = 0;
        /* n ranks; from 2 on, also with the sums after the backward pass */
        for (int n = 1, after = 0; n <= max_ranks;
             after = n > 1 && !after, n += !after) {
            double comm = 0;
            int steps = flags_set.steps ? flags_set.steps : cnn ? 30 : 200;
            double rate = scale_rate(d, cnn, after, n, steps, &comm);
            failures += rate < 0;
            if (n == 1)
                one = rate;
            char label[64];
            snprintf(label, sizeof label, "%s%s",
                     cnn ? "CNN conv32-conv64-fc128, batch norm" : "MLP 784-256-128-10",
                     after ? ", sums after" : "");
            printf("%-50s %6d %12.0f %9.2fx %12.3f\n", label, n, rate,
                   one > 0 ? rate / one : 0, comm * 1e3);
        }
    }
    printf(
        "\nspeed-up: samples/s against one rank; efficiency is speed-up / ranks. "
        "Ranks sharing one device (or one CPU's cores) compete for it. The gradients "
        "are summed in buckets while backward runs; 'sums after': once it is done.\n");
    clg_dataset_free(d);
    return failures ? 1 : 0;
}

/* ---- Graph ops ------------------------------------------------------------- */

typedef struct op_bench {
    const char *label;
    const char *shape;
    /* Builds the op on x (and parameters); returns its output. */
    clg_tensor *(*build)(clg_graph *g, clg_tensor *x);
    int ndim;
    int shape_in[4];
    double flops; /* forward FLOPs; 0: report bandwidth */
    double bytes; /* forward bytes moved, for bandwidth */
    /* The same op in PyTorch: Python defining f(x, training) (torch, F). */
    const char *torch;
} op_bench;

static clg_tensor *new_param(clg_graph *g, int ndim, const int *shape)
{
    clg_tensor *p = clg_parameter(g, NULL, ndim, shape);
    size_t n = clg_tensor_numel(p);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = 0.01f * (float)((int)(i % 19) - 9);
    if (v)
        clg_tensor_upload(p, v, n);
    free(v);
    return p;
}

/* The example CNN's two convolutions (examples/fashion_cnn.spec): 3x3,
 * padding 1, no bias (batch norm follows), to `out` channels. */
static clg_tensor *conv3x3(clg_graph *g, clg_tensor *x, int out)
{
    clg_conv2d_opts o = {1, 1, 1, 1, 1, 1, CLG_CONV_AUTO};
    int shape[4] = {out, clg_tensor_dim(x, 1), 3, 3};
    return clg_conv2d(g, x, new_param(g, 4, shape), NULL, &o);
}
static clg_tensor *build_conv1(clg_graph *g, clg_tensor *x)
{
    return conv3x3(g, x, 32);
}
static clg_tensor *build_conv2(clg_graph *g, clg_tensor *x)
{
    return conv3x3(g, x, 64);
}
/* A 64 -> 64 channel 3x3 layer by each algorithm (clg_conv_algorithm):
 * where AUTO's choice between them is measured. */
static clg_tensor *conv64(clg_graph *g, clg_tensor *x, clg_conv_algorithm a)
{
    clg_conv2d_opts o = {1, 1, 1, 1, 1, 1, a};
    return clg_conv2d(g, x, new_param(g, 4, (int[]){64, 64, 3, 3}), NULL, &o);
}
static clg_tensor *build_conv64_im2col(clg_graph *g, clg_tensor *x)
{
    return conv64(g, x, CLG_CONV_IM2COL);
}
static clg_tensor *build_conv64_winograd(clg_graph *g, clg_tensor *x)
{
    return conv64(g, x, CLG_CONV_WINOGRAD);
}
static clg_tensor *build_linear(clg_graph *g, clg_tensor *x)
{
    return clg_linear(g, x, new_param(g, 2, (int[]){256, 784}),
                      new_param(g, 1, (int[]){256}));
}
static clg_tensor *build_pool(clg_graph *g, clg_tensor *x)
{
    return clg_max_pool2d(g, x, 2, 2, 0);
}
static clg_tensor *build_bn(clg_graph *g, clg_tensor *x)
{
    int c[1] = {32};
    return clg_batch_norm(g, x, new_param(g, 1, c), new_param(g, 1, c),
                          clg_state(g, NULL, 1, c, 0.0f),
                          clg_state(g, NULL, 1, c, 1.0f), 0.1f, 1e-5f);
}
static clg_tensor *build_relu(clg_graph *g, clg_tensor *x)
{
    return clg_relu(g, x);
}
static clg_tensor *build_dropout(clg_graph *g, clg_tensor *x)
{
    return clg_dropout(g, x, 0.5f, 1);
}
static clg_tensor *build_softmax(clg_graph *g, clg_tensor *x)
{
    return clg_log_softmax(g, x);
}

#define MB(n) ((double)(n)*4.0)
static const op_bench op_benches[] = {
    {"conv2d 3x3 (CNN 1)",
     "64x1x28x28 -> 32",
     build_conv1,
     4,
     {64, 1, 28, 28},
     2.0 * 64 * 32 * 784 * 9,
     0,
     "w = torch.randn(32, 1, 3, 3, requires_grad=True)\n"
     "f = lambda x, t: F.conv2d(x, w, padding=1)"},
    {"conv2d 3x3 (CNN 2)",
     "64x32x14x14 -> 64",
     build_conv2,
     4,
     {64, 32, 14, 14},
     2.0 * 64 * 64 * 196 * 288,
     0,
     "w = torch.randn(64, 32, 3, 3, requires_grad=True)\n"
     "f = lambda x, t: F.conv2d(x, w, padding=1)"},
    {"conv2d 64 im2col",
     "64x64x14x14 -> 64",
     build_conv64_im2col,
     4,
     {64, 64, 14, 14},
     2.0 * 64 * 64 * 196 * 576,
     0,
     "w = torch.randn(64, 64, 3, 3, requires_grad=True)\n"
     "f = lambda x, t: F.conv2d(x, w, padding=1)"},
    {"conv2d 64 Winograd",
     "64x64x14x14 -> 64",
     build_conv64_winograd,
     4,
     {64, 64, 14, 14},
     2.0 * 64 * 64 * 196 * 576,
     0,
     "w = torch.randn(64, 64, 3, 3, requires_grad=True)\n"
     "f = lambda x, t: F.conv2d(x, w, padding=1)"},
    {"linear + bias",
     "64x784 -> 256",
     build_linear,
     2,
     {64, 784},
     2.0 * 64 * 784 * 256,
     0,
     "w = torch.randn(256, 784, requires_grad=True); "
     "b = torch.randn(256, requires_grad=True)\n"
     "f = lambda x, t: F.linear(x, w, b)"},
    {"max_pool2d 2x2",
     "64x32x28x28",
     build_pool,
     4,
     {64, 32, 28, 28},
     0,
     MB(64 * 32 * 784) + 2 * MB(64 * 32 * 196),
     "f = lambda x, t: F.max_pool2d(x, 2)"},
    {"batch_norm2d",
     "64x32x14x14",
     build_bn,
     4,
     {64, 32, 14, 14},
     0,
     3 * MB(64 * 32 * 196),
     "w = torch.ones(32, requires_grad=True); b = torch.zeros(32, requires_grad=True)\n"
     "rm, rv = torch.zeros(32), torch.ones(32)\n"
     "f = lambda x, t: F.batch_norm(x, rm, rv, w, b, training=t)"},
    {"relu",
     "64x32x28x28",
     build_relu,
     4,
     {64, 32, 28, 28},
     0,
     2 * MB(64 * 32 * 784),
     "f = lambda x, t: F.relu(x)"},
    {"dropout 0.5",
     "64x32x28x28",
     build_dropout,
     4,
     {64, 32, 28, 28},
     0,
     2 * MB(64 * 32 * 784),
     "f = lambda x, t: F.dropout(x, 0.5, training=t)"},
    {"log_softmax",
     "64x1000",
     build_softmax,
     2,
     {64, 1000},
     0,
     2 * MB(64 * 1000),
     "f = lambda x, t: F.log_softmax(x, 1)"},
};

#define NOPS (sizeof op_benches / sizeof *op_benches)

/* PyTorch's forward (evaluation mode, no gradient) and forward + backward
 * (training mode, the sum's gradient) milliseconds for every op, through
 * the --python interpreter; < 0 where it has no torch. */
static void torch_ops(double budget, double fwd[NOPS], double both[NOPS])
{
    for (size_t i = 0; i < NOPS; i++)
        fwd[i] = both[i] = -1;
    char path[] = "/tmp/clgrad-bench-XXXXXX";
    int fd = mkstemp(path);
    FILE *py = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!py)
        return;
    fprintf(py,
            "import os, time, torch\nimport torch.nn.functional as F\n"
            "torch.set_num_threads(os.cpu_count())\n"
            "def clock(g, budget=%g):\n"
            "  g(); n, t0 = 0, time.perf_counter()\n"
            "  while time.perf_counter() - t0 < budget: g(); n += 1\n"
            "  return (time.perf_counter() - t0) / max(n, 1) * 1e3\n",
            budget);
    for (size_t i = 0; i < NOPS; i++) {
        const op_bench *b = &op_benches[i];
        fprintf(py, "x = torch.randn(");
        for (int k = 0; k < b->ndim; k++)
            fprintf(py, "%s%d", k ? ", " : "", b->shape_in[k]);
        fprintf(py,
                ", requires_grad=True)\n%s\n"
                "def fwd():\n  with torch.no_grad(): f(x, False)\n"
                "def both():\n  f(x, True).sum().backward()\n"
                "print(%zu, clock(fwd), clock(both), flush=True)\n",
                b->torch, i);
    }
    fclose(py);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", access_python(), path);
    FILE *p = popen(cmd, "r");
    size_t i;
    double a, c;
    while (p && fscanf(p, "%zu %lf %lf", &i, &a, &c) == 3)
        if (i < NOPS)
            fwd[i] = a, both[i] = c;
    if (p)
        pclose(p);
    remove(path);
}

/* Seconds per run of the plan in `mode`, or < 0 on failure. */
static double time_plan(clg_context *ctx, clg_plan *plan, int batch, clg_run_mode mode,
                        double budget)
{
    int reps = 0;
    double start = 0;
    for (;;) {
        if (clg_plan_run(plan, batch, mode) != CLG_OK ||
            clg_context_finish(ctx) != CLG_OK)
            return -1;
        if (reps++ == 0) {
            start = clg_now_seconds();
            continue;
        }
        double elapsed = clg_now_seconds() - start;
        if (elapsed >= budget && reps >= 4)
            return elapsed / (reps - 1);
    }
}

static void print_rate(double seconds, double work, bool flops)
{
    if (seconds < 0)
        printf(" %12s", "failed");
    else
        printf(" %8.1f %s", work / seconds * 1e-9, flops ? "GF/s" : "GB/s");
}

static int bench_op(clg_context *ctx, const op_bench *b, double budget,
                    double torch_both)
{
    clg_graph *g;
    if (clg_graph_create(ctx, &g) != CLG_OK)
        return fail("creating a graph");
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, b->ndim, b->shape_in);
    clg_tensor_set_requires_grad(x, true);
    clg_tensor *y = b->build(g, x);
    clg_tensor *loss = clg_sum(g, y, -1);
    clg_plan *plan = NULL;
    if (clg_plan_create(g, loss, NULL, 0, &plan) != CLG_OK) {
        clg_graph_free(g);
        return fail(b->label);
    }
    size_t n = clg_tensor_numel(x);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = (float)((int)(i % 23) - 11) * 0.1f;
    clg_tensor_upload(x, v, n);
    free(v);
    int batch = b->shape_in[0];
    double fwd = time_plan(ctx, plan, batch, CLG_RUN_EVAL, budget);
    double both = time_plan(ctx, plan, batch, CLG_RUN_TRAIN, budget);
    bool flops = b->flops > 0;
    /* Backward does about twice forward's work: three times in all. */
    double work = flops ? b->flops : b->bytes;
    printf("%-18s %-20s %9.3f ms", b->label, b->shape, fwd * 1e3);
    print_rate(fwd, work, flops);
    printf(" %9.3f ms", both * 1e3);
    print_rate(both, 3 * work, flops);
    if (torch_both > 0 && both > 0)
        printf(" %9.3f ms %7.2fx", torch_both, torch_both / (both * 1e3));
    printf("\n");
    clg_plan_free(plan);
    clg_graph_free(g);
    return fwd < 0 || both < 0;
}

static int bench_ops(clg_context *ctx, const options *opt)
{
    const clg_device_info *d = clg_context_device(ctx);
    printf("clgrad %s ops benchmark on device %d: %s (%s)\n\n", clg_version(), d->index,
           d->name, clg_device_type_str(d->type));
    size_t ng = sizeof gemm_shapes / sizeof *gemm_shapes;
    double numpy[8];
    char ref[16] = "numpy", best_ref[24];
    if (opt->no_numpy)
        for (size_t i = 0; i < ng; i++)
            numpy[i] = -1;
    else
        reference_gemm(opt->seconds, numpy, ng, ref, sizeof ref);
    snprintf(best_ref, sizeof best_ref, "best/%s", ref);
    printf("SGEMM (row-major)               %14s %14s %14s %10s\n", "clblast", "native",
           ref, best_ref);
    clg_gemm_path before = clg_context_gemm_path(ctx);
    int failures = 0;
    for (size_t i = 0; i < ng; i++) {
        const gemm_shape *s = &gemm_shapes[i];
        double gf[2];
        for (int p = 0; p < 2; p++) {
            clg_context_set_gemm_path(ctx, p == 0 ? CLG_GEMM_CLBLAST : CLG_GEMM_NATIVE);
            double t = time_gemm(ctx, s, opt->seconds);
            gf[p] = t > 0 ? 2.0 * (double)s->M * (double)s->N * (double)s->K / t * 1e-9
                          : -1;
            failures += t < 0;
        }
        char shape[64];
        snprintf(shape, sizeof shape, "%zux%zux%zu", s->M, s->N, s->K);
        printf("%-19s %-12s", s->label, shape);
        for (int p = 0; p < 2; p++)
            if (gf[p] < 0)
                printf(" %14s", "failed");
            else
                printf(" %9.1f GF/s", gf[p]);
        if (numpy[i] > 0)
            printf(" %9.1f GF/s %9.2fx\n", numpy[i], fmax(gf[0], gf[1]) / numpy[i]);
        else
            printf(" %14s %10s\n", "n/a", "");
    }
    clg_context_set_gemm_path(ctx, before);
    double torch_fwd[NOPS], torch_both[NOPS];
    for (size_t i = 0; i < NOPS; i++)
        torch_fwd[i] = torch_both[i] = -1;
    if (!opt->no_numpy)
        torch_ops(opt->seconds, torch_fwd, torch_both);
    printf("\nGraph ops (GEMM path: %s)  %12s %13s %12s %13s %12s %8s\n",
           clg_gemm_path_str(clg_context_gemm_path(ctx)), "forward", "", "fwd+bwd", "",
           "PyTorch", "ratio");
    for (size_t i = 0; i < NOPS; i++)
        failures += bench_op(ctx, &op_benches[i], opt->seconds, torch_both[i]);
    printf("\nGF/s and GB/s count the forward work once and fwd+bwd as three times it. "
           "PyTorch: the same op's fwd+bwd on the host's cores (--python); ratio > 1: "
           "clgrad is faster.\n");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *command = NULL;
    const cli_flag flags[] = {
        CLI_GROUP("Options"),
        {"--device", CLI_STRING, &flags_set.device, .value = "SPEC",
         .help = "device index, gpu, cpu, name:SUBSTRING, or all: each in turn"},
        {"--seconds", CLI_FLOAT, &flags_set.seconds, 0.001, 60, .value = "S",
         .help = "time spent per measurement"},
        {"--no-numpy", CLI_SWITCH, &flags_set.no_numpy,
         .help = "skip the numpy and PyTorch references"},
        {"--python", CLI_STRING, &flags_set.python, .value = "PATH",
         .help = "the Python with numpy and torch (default /usr/bin/python3)"},
        {"--torch-device", CLI_STRING, &flags_set.torch_device, .value = "cpu|cuda[:N]",
         .help = "where PyTorch trains in 'train'"},
        {"--ranks", CLI_INT, &flags_set.ranks, 1, 64, .value = "N",
         .help = "'scale': up to N ranks (default: the devices, at least 2)"},
        {"--steps", CLI_INT, &flags_set.steps, 1, 100000, .value = "N",
         .help = "'scale': timed steps (default 200 for the MLP, 30 for the CNN)"},
        {"--model", CLI_STRING, &flags_set.model, .value = "mlp|cnn",
         .help = "'scale': only this model (default both)"},
        CLI_END,
    };
    int rc = cli_parse("clgrad-bench", usage, flags, argc, argv, &command, 1);
    if (rc >= 0)
        return rc;
    if (!command)
        return cli_usage_error("clgrad-bench",
                               "name a benchmark: ops, loader or train (try --help)");
    if (strcmp(flags_set.torch_device, "cpu") &&
        strncmp(flags_set.torch_device, "cuda", 4))
        return cli_usage_error("clgrad-bench",
                               "--torch-device: '%s' is not cpu, cuda or cuda:N",
                               flags_set.torch_device);
    if (strcmp(command, "ops") && strcmp(command, "loader") &&
        strcmp(command, "train") && strcmp(command, "scale"))
        return cli_usage_error("clgrad-bench",
                               "unknown benchmark: '%s' is not one of: ops, loader, "
                               "train, scale",
                               command);
    if (flags_set.model && strcmp(flags_set.model, "mlp") &&
        strcmp(flags_set.model, "cnn"))
        return cli_usage_error("clgrad-bench", "--model: '%s' is not mlp or cnn",
                               flags_set.model);
    if (!strcmp(command, "scale")) {
        int devices = 1;
        if (clg_device_count(&devices) != CLG_OK)
            return cli_fail("clgrad-bench", CLI_USAGE_ERROR);
        return bench_scale(flags_set.ranks ? flags_set.ranks
                           : devices > 2   ? devices
                                           : 2);
    }
    /* One device, or with --device all each in turn. */
    int first, count;
    if (flags_set.device && !strcmp(flags_set.device, "all")) {
        if (clg_device_select(NULL, &first) != CLG_OK ||
            clg_device_count(&count) != CLG_OK)
            return cli_fail("clgrad-bench", CLI_USAGE_ERROR); /* none at all */
        first = 0;
    } else {
        if (clg_device_select(flags_set.device, &first) != CLG_OK)
            return cli_fail("clgrad-bench", CLI_USAGE_ERROR);
        count = first + 1;
    }
    rc = 0;
    for (int dev = first; dev < count; dev++) {
        clg_context *ctx;
        if (dev > first)
            printf("\n");
        if (clg_context_create(dev, &ctx) != CLG_OK) {
            rc = fail("creating a context");
            continue;
        }
        int one = !strcmp(command, "ops")      ? bench_ops(ctx, &flags_set)
                  : !strcmp(command, "loader") ? bench_loader(ctx)
                                               : bench_train(ctx);
        rc = rc ? rc : one;
        clg_context_free(ctx);
    }
    return rc;
}
