/* clgrad-bench ops: SGEMM on both paths beside torch.matmul (numpy without
 * torch), and the example CNN's ops forward and forward + backward beside
 * PyTorch's (peers.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "bench.h"

typedef struct gemm_shape {
    const char *label;
    size_t M, N, K;
    bool ta, tb;
} gemm_shape;

static const gemm_shape mlp_shapes[] = {
    {"linear fwd   x W^T", 64, 256, 784, false, true},
    {"linear dx    dy W", 64, 784, 256, false, false},
    {"linear dW    dy^T x", 256, 784, 64, true, false},
    {"square", 1024, 1024, 1024, false, false},
};
/* --model gpt2-small: GPT-2 small at T 1,024, batch 1: its blocks' linear
 * layers forward, the MLP's backward, and the tied output layer's three
 * products (seconds each on a CPU, minutes on CLBlast's path there). */
static const gemm_shape gpt2_shapes[] = {
    {"gpt2 qkv   x W^T", 1024, 2304, 768, false, true},
    {"gpt2 fc    x W^T", 1024, 3072, 768, false, true},
    {"gpt2 proj  x W^T", 1024, 768, 3072, false, true},
    {"gpt2 proj  dy W", 1024, 3072, 768, false, false},
    {"gpt2 fc    dy^T x", 3072, 768, 1024, true, false},
    {"gpt2 head  x W^T", 1024, 50257, 768, false, true},
    {"gpt2 head  dy W", 1024, 768, 50257, false, false},
    {"gpt2 head  dy^T x", 50257, 768, 1024, true, false},
};
#define MAX_GEMM_SHAPES 8
_Static_assert(sizeof gpt2_shapes / sizeof *gpt2_shapes <= MAX_GEMM_SHAPES &&
                   sizeof mlp_shapes / sizeof *mlp_shapes <= MAX_GEMM_SHAPES,
               "numpy[] in bench_ops holds every row");

/* The shapes this run times, and how many. */
static const gemm_shape *gemm_shapes = mlp_shapes;
static size_t gemm_count = sizeof mlp_shapes / sizeof *mlp_shapes;

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

/* The reference's GFLOP/s for each shape (peers.py gemm): torch.matmul
 * where the Python has torch (on all cores), else numpy; < 0 where
 * neither. Its name goes to `name`. */
static void reference_gemm(double budget, double *gflops, size_t count, char *name,
                           size_t len)
{
    char args[1024];
    int n = snprintf(args, sizeof args, "gemm %g", budget);
    for (size_t i = 0; i < count; i++) {
        gflops[i] = -1;
        n += snprintf(args + n, sizeof args - (size_t)n, " %zu,%zu,%zu,%d,%d",
                      gemm_shapes[i].M, gemm_shapes[i].N, gemm_shapes[i].K,
                      gemm_shapes[i].ta, gemm_shapes[i].tb);
    }
    snprintf(name, len, "numpy");
    FILE *p = bench_peer(args);
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

typedef struct op_bench {
    const char *label;
    const char *shape;
    /* Builds the op on x (and parameters); returns its output. */
    clg_tensor *(*build)(clg_graph *g, clg_tensor *x);
    int ndim;
    int shape_in[4];
    double flops; /* forward FLOPs; 0: report bandwidth */
    double bytes; /* forward bytes moved, for bandwidth */
    /* The same op in PyTorch: its key in peers.py's op(). */
    const char *peer;
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
    clg_conv2d_opts o = {1, 1, 1, 1, 1, 1, CLG_CONV_AUTO, 1};
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
    clg_conv2d_opts o = {1, 1, 1, 1, 1, 1, a, 1};
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
/* A MobileNet block's depthwise 3x3 convolution (groups = channels). */
static clg_tensor *build_depthwise(clg_graph *g, clg_tensor *x)
{
    int C = clg_tensor_dim(x, 1);
    clg_conv2d_opts o = {1, 1, 1, 1, 1, 1, CLG_CONV_AUTO, C};
    return clg_conv2d(g, x, new_param(g, 4, (int[]){C, 1, 3, 3}), NULL, &o);
}
/* A decoder's 2x upsampling by a 2x2 transposed convolution, 32 -> 16. */
static clg_tensor *build_tconv(clg_graph *g, clg_tensor *x)
{
    clg_conv_transpose2d_opts o = {2, 2, 0, 0, 0, 0, 1, 1, 1};
    return clg_conv_transpose2d(g, x, new_param(g, 4, (int[]){32, 16, 2, 2}), NULL, &o);
}
static clg_tensor *build_upsample(clg_graph *g, clg_tensor *x)
{
    return clg_upsample(g, x, 2, 2, true);
}
static clg_tensor *build_adaptive(clg_graph *g, clg_tensor *x)
{
    return clg_adaptive_avg_pool2d(g, x, 7, 7);
}
/* Causal attention of a GPT layer's qkv [8, 256, 3 x 256], 4 heads of 64. */
static clg_tensor *build_attention_composed(clg_graph *g, clg_tensor *x)
{
    return clg_causal_attention_with(g, x, 4, CLG_ATTENTION_COMPOSED);
}
static clg_tensor *build_attention_tiled(clg_graph *g, clg_tensor *x)
{
    return clg_causal_attention_with(g, x, 4, CLG_ATTENTION_TILED);
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
static clg_tensor *build_silu(clg_graph *g, clg_tensor *x)
{
    return clg_silu(g, x);
}
static clg_tensor *build_hardswish(clg_graph *g, clg_tensor *x)
{
    return clg_hardswish(g, x);
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
     "conv1"},
    {"conv2d 3x3 (CNN 2)",
     "64x32x14x14 -> 64",
     build_conv2,
     4,
     {64, 32, 14, 14},
     2.0 * 64 * 64 * 196 * 288,
     0,
     "conv2"},
    {"conv2d 64 im2col",
     "64x64x14x14 -> 64",
     build_conv64_im2col,
     4,
     {64, 64, 14, 14},
     2.0 * 64 * 64 * 196 * 576,
     0,
     "conv64_im2col"},
    {"conv2d 64 Winograd",
     "64x64x14x14 -> 64",
     build_conv64_winograd,
     4,
     {64, 64, 14, 14},
     2.0 * 64 * 64 * 196 * 576,
     0,
     "conv64_winograd"},
    {"conv2d depthwise 3x3",
     "64x32x28x28, groups 32",
     build_depthwise,
     4,
     {64, 32, 28, 28},
     2.0 * 64 * 32 * 784 * 9,
     0,
     "depthwise"},
    {"conv_transpose2d 2x2/2",
     "64x32x14x14 -> 16",
     build_tconv,
     4,
     {64, 32, 14, 14},
     2.0 * 64 * 16 * 784 * 32,
     0,
     "tconv"},
    {"upsample bilinear 2x",
     "64x32x14x14",
     build_upsample,
     4,
     {64, 32, 14, 14},
     0,
     5 * MB(64 * 32 * 196),
     "upsample"},
    {"adaptive_avg_pool2d 7x7",
     "64x32x28x28",
     build_adaptive,
     4,
     {64, 32, 28, 28},
     0,
     MB(64 * 32 * 784) + MB(64 * 32 * 49),
     "adaptive"},
    {"attention composed",
     "8x256x768, 4 heads",
     build_attention_composed,
     3,
     {8, 256, 768},
     2.0 * 8 * 256 * 256 * 256,
     0,
     "attention"},
    {"attention tiled",
     "8x256x768, 4 heads",
     build_attention_tiled,
     3,
     {8, 256, 768},
     2.0 * 8 * 256 * 256 * 256,
     0,
     "attention"},
    {"linear + bias",
     "64x784 -> 256",
     build_linear,
     2,
     {64, 784},
     2.0 * 64 * 784 * 256,
     0,
     "linear"},
    {"max_pool2d 2x2",
     "64x32x28x28",
     build_pool,
     4,
     {64, 32, 28, 28},
     0,
     MB(64 * 32 * 784) + 2 * MB(64 * 32 * 196),
     "maxpool"},
    {"batch_norm2d",
     "64x32x14x14",
     build_bn,
     4,
     {64, 32, 14, 14},
     0,
     3 * MB(64 * 32 * 196),
     "batchnorm"},
    {"relu",
     "64x32x28x28",
     build_relu,
     4,
     {64, 32, 28, 28},
     0,
     2 * MB(64 * 32 * 784),
     "relu"},
    {"silu",
     "64x32x28x28",
     build_silu,
     4,
     {64, 32, 28, 28},
     0,
     2 * MB(64 * 32 * 784),
     "silu"},
    {"hardswish",
     "64x32x28x28",
     build_hardswish,
     4,
     {64, 32, 28, 28},
     0,
     2 * MB(64 * 32 * 784),
     "hardswish"},
    {"dropout 0.5",
     "64x32x28x28",
     build_dropout,
     4,
     {64, 32, 28, 28},
     0,
     2 * MB(64 * 32 * 784),
     "dropout"},
    {"log_softmax",
     "64x1000",
     build_softmax,
     2,
     {64, 1000},
     0,
     2 * MB(64 * 1000),
     "log_softmax"},
};

#define NOPS (sizeof op_benches / sizeof *op_benches)

/* PyTorch's forward (evaluation mode, no gradient) and forward + backward
 * (training mode, the sum's gradient) milliseconds for every op (peers.py
 * ops); < 0 where the Python has no torch. */
static void torch_ops(double budget, double fwd[NOPS], double both[NOPS])
{
    char args[2048], key[32];
    int n = snprintf(args, sizeof args, "ops %g", budget);
    for (size_t i = 0; i < NOPS; i++) {
        const op_bench *b = &op_benches[i];
        fwd[i] = both[i] = -1;
        n += snprintf(args + n, sizeof args - (size_t)n, " %s:", b->peer);
        for (int k = 0; k < b->ndim; k++)
            n += snprintf(args + n, sizeof args - (size_t)n, "%s%d", k ? "x" : "",
                          b->shape_in[k]);
    }
    FILE *p = bench_peer(args);
    double a, c;
    while (p && fscanf(p, "%31s %lf %lf", key, &a, &c) == 3)
        for (size_t i = 0; i < NOPS; i++)
            if (!strcmp(key, op_benches[i].peer))
                fwd[i] = a, both[i] = c;
    if (p)
        pclose(p);
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

int bench_ops(clg_context *ctx, const options *opt)
{
    const clg_device_info *d = clg_context_device(ctx);
    printf("clgrad %s ops benchmark on device %d: %s (%s)\n\n", clg_version(), d->index,
           d->name, clg_device_type_str(d->type));
    if (opt->model) { /* main.c allows gpt2-small alone */
        gemm_shapes = gpt2_shapes;
        gemm_count = sizeof gpt2_shapes / sizeof *gpt2_shapes;
    }
    size_t ng = gemm_count;
    double numpy[MAX_GEMM_SHAPES];
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
