/* The native kernels' tuner: candidates measured at training shapes, the
 * fastest correct one cached on disk per device, platform, driver and
 * clgrad version (include/clgrad/blas.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/hash.h"
#include "blas/blas_internal.h"
#include "clgrad/version.h"
#include <clblast_c.h>

/* Writes what the context has tuned, native and CLBlast, as one file. */
static clg_status cache_save(const clg_context *ctx)
{
    clg_gemm_tuned t = {0};
    clg_gemm_tuning_source src;
    t.native = clg_context_gemm_tuning(ctx, &src);
    t.has_native = src != CLG_TUNING_DEFAULT;
    for (int k = 0; k < CLG_CLBLAST_KERNELS; k++)
        t.has_clblast[k] =
            clg_gemm_clblast_tuned(ctx, (clg_clblast_kernel)k, &t.clblast[k], NULL);
    return clg_gemm_tuning_save(ctx, &t);
}

/* ---- Measuring -------------------------------------------------------------- */

typedef struct shape {
    bool ta, tb;
    size_t M, N, K;
} shape;

/* Training's products: a linear layer's (batch 64, 784 -> 256: input and
 * weight gradients), a 3x3 convolution's over a batch of 64 at 14 x 14 (32
 * -> 64 channels: forward and input gradient, and below its weight
 * gradient), and a square one. */
static const shape native_shapes[] = {
    {false, false, 64, 784, 256},   {true, false, 256, 784, 64},
    {false, false, 64, 12544, 288}, {true, false, 288, 12544, 64},
    {false, false, 512, 512, 512},
};
/* Shapes gemm_nt runs (native.c sends other A B^T through gemm_native
 * over B transposed): a batch of 64 through a linear layer, a
 * convolution's weight gradient, long k. */
static const shape nt_shapes[] = {
    {false, true, 64, 256, 784},
    {false, true, 64, 288, 12544},
    {false, true, 128, 256, 2048},
};

#define MAX_FLOATS ((size_t)288 * 12544)

typedef struct bench {
    clg_context *ctx;
    clg_buffer *a, *b, *c;
    float *got;
    double seconds;
    /* Results differing in summation order (CLBlast's parameters change
     * it; the native kernels' do not) match to rounding of sqrt(k) terms. */
    bool reordered;
} bench;

static clg_gemm_call call_for(const bench *w, const shape *s)
{
    return (clg_gemm_call){.trans_a = s->ta,
                           .trans_b = s->tb,
                           .M = s->M,
                           .N = s->N,
                           .K = s->K,
                           .batch = 1,
                           .alpha = 1.0f,
                           .A = w->a->mem,
                           .lda = s->ta ? s->M : s->K,
                           .B = w->b->mem,
                           .ldb = s->tb ? s->K : s->N,
                           .C = w->c->mem,
                           .ldc = s->N};
}

/* The best time of one product over the budget, or < 0 on failure. */
static double time_one(bench *w, const shape *s, double budget)
{
    clg_gemm_call g = call_for(w, s);
    double best = INFINITY, start = clg_now_seconds();
    for (int reps = 0; reps < 2 || clg_now_seconds() - start < budget; reps++) {
        double t0 = clg_now_seconds();
        if (clg_gemm_enqueue(w->ctx, &g) != CLG_OK ||
            clg_context_finish(w->ctx) != CLG_OK)
            return -1;
        double t = clg_now_seconds() - t0;
        if (reps > 0 && t < best) /* the first run built the kernel */
            best = t;
    }
    return best;
}

/* Whether C matches `want`, the default tuning's result, to rounding. */
static bool same_result(bench *w, const shape *s, const float *want)
{
    size_t n = s->M * s->N;
    if (clg_buffer_download(w->c, 0, w->got, n * sizeof(float)) != CLG_OK)
        return false;
    float tol = w->reordered ? 1e-5f * sqrtf((float)s->K) : 1e-5f;
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(w->got[i] - want[i]) <= tol * (fabsf(want[i]) + 1.0f)))
            return false;
    return true;
}

/* The geometric mean of GF/s over the shapes, or < 0 where a product fails
 * (-1), differs from `want` (-2), or the products' best times add up to
 * more than `limit` seconds (-3: far slower than a candidate already
 * measured, so not worth finishing on a slow device). */
static double score(bench *w, const shape *shapes, size_t n, float **want, double limit,
                    double *total)
{
    double logsum = 0;
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        double t = time_one(w, &shapes[i], w->seconds / (double)n);
        if (t <= 0)
            return -1;
        if ((*total += t) > limit)
            return -3;
        if (want[i] && !same_result(w, &shapes[i], want[i]))
            return -2;
        const shape *s = &shapes[i];
        logsum += log(2.0 * (double)s->M * (double)s->N * (double)s->K / t * 1e-9);
    }
    return exp(logsum / (double)n);
}

/* want[i]: the result of shape i under the tuning set now. */
static clg_status reference(bench *w, const shape *shapes, size_t n, float **want)
{
    for (size_t i = 0; i < n; i++) {
        const shape *s = &shapes[i];
        clg_gemm_call g = call_for(w, s);
        want[i] = malloc(s->M * s->N * sizeof(float));
        if (!want[i])
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "GEMM tuning");
        clg_status st = clg_gemm_enqueue(w->ctx, &g);
        if (st == CLG_OK)
            st = clg_buffer_download(w->c, 0, want[i], s->M * s->N * sizeof(float));
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}

static const int groups[] = {1, 4, 16};

/* Tries every candidate of one kernel (nt or not) from `base`, keeping the
 * best in *best. */
static clg_status tune_kernel(bench *w, bool nt, const clg_gemm_tuning *base,
                              clg_gemm_tuning *best, FILE *report)
{
    static const int native_blocks[][2] = {{4, 8}, {4, 16}, {8, 8}, {8, 16}, {12, 16}};
    static const int nt_blocks[][2] = {{2, 4}, {4, 2}, {4, 4}, {2, 8}};
    const shape *shapes = nt ? nt_shapes : native_shapes;
    size_t nshapes = nt ? CLG_COUNT_OF(nt_shapes) : CLG_COUNT_OF(native_shapes);
    size_t nblocks = nt ? CLG_COUNT_OF(nt_blocks) : CLG_COUNT_OF(native_blocks);
    float *want[CLG_COUNT_OF(native_shapes)] = {0};
    clg_status st = clg_context_set_gemm_tuning(w->ctx, base);
    if (st == CLG_OK)
        st = reference(w, shapes, nshapes, want);
    double top = -1, fastest = INFINITY; /* the best total time so far */
    for (size_t b = 0; st == CLG_OK && b < nblocks; b++)
        for (size_t g = 0; st == CLG_OK && g < CLG_COUNT_OF(groups); g++) {
            clg_gemm_tuning t = *base;
            const int *blk = nt ? nt_blocks[b] : native_blocks[b];
            if (nt)
                t.nt_rows = blk[0], t.nt_cols = blk[1], t.nt_group = groups[g];
            else
                t.rows = blk[0], t.cols = blk[1], t.group = groups[g];
            if (clg_context_set_gemm_tuning(w->ctx, &t) != CLG_OK)
                continue; /* a work-group this device refuses */
            double took;
            double gf = score(w, shapes, nshapes, want, 4 * fastest, &took);
            if (gf > 0)
                fastest = fmin(fastest, took);
            if (report && gf > 0)
                fprintf(report, "  %-6s %2d x %-2d group %-2d %7.1f GF/s\n",
                        nt ? "A B^T" : "others", blk[0], blk[1], groups[g], gf);
            else if (report)
                fprintf(report, "  %-6s %2d x %-2d group %-2d  %s\n",
                        nt ? "A B^T" : "others", blk[0], blk[1], groups[g],
                        gf == -2   ? "skipped: its results differ from the default's"
                        : gf == -3 ? "stopped: over 4x the time of the best so far"
                                   : "failed");
            if (gf > top) {
                top = gf;
                *best = t;
            }
        }
    for (size_t i = 0; i < nshapes; i++)
        free(want[i]);
    if (st == CLG_OK && top <= 0)
        st = clg_fail(CLG_UNSUPPORTED, "GEMM tuning: no candidate ran on %s",
                      clg_context_device(w->ctx)->name);
    return st;
}

static clg_buffer *filled(clg_context *ctx, const float *host, clg_status *st)
{
    clg_buffer *buf = NULL;
    if (*st == CLG_OK)
        *st = clg_buffer_create(ctx, MAX_FLOATS * sizeof(float), &buf);
    if (*st == CLG_OK)
        *st = clg_buffer_upload(buf, 0, host, MAX_FLOATS * sizeof(float));
    return buf;
}

/* The operands (A, B and C of the largest shape, filled with small values)
 * and a host buffer for results. */
static clg_status bench_open(clg_context *ctx, double seconds, bench *w)
{
    *w = (bench){.ctx = ctx, .seconds = seconds > 0 ? seconds : 0.05};
    float *host = malloc(MAX_FLOATS * sizeof *host);
    w->got = malloc(MAX_FLOATS * sizeof *w->got);
    clg_status st =
        host && w->got ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "GEMM tuning");
    for (size_t i = 0; host && i < MAX_FLOATS; i++)
        host[i] = (float)((int)(i % 23) - 11) * 0.05f;
    w->a = filled(ctx, host, &st);
    w->b = filled(ctx, host, &st);
    w->c = filled(ctx, host, &st);
    free(host);
    return st;
}

static void bench_close(bench *w)
{
    clg_buffer_free(w->a), clg_buffer_free(w->b), clg_buffer_free(w->c);
    free(w->got);
}

clg_status clg_gemm_tune(clg_context *ctx, double seconds, FILE *report)
{
    if (!ctx)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gemm_tune: ctx is NULL");
    if (!(seconds >= 0) || seconds > 60)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm_tune: %g seconds per candidate (0 to 60)", seconds);
    /* An unwritable cache fails now, not after the measurements. */
    clg_status st = cache_save(ctx);
    bench w = {0};
    if (st == CLG_OK)
        st = bench_open(ctx, seconds, &w);
    clg_gemm_path path = clg_context_gemm_path(ctx);
    clg_gemm_tuning before = clg_context_gemm_tuning(ctx, NULL);
    clg_gemm_tuning best = clg_gemm_default_tuning(clg_context_device(ctx));
    if (st == CLG_OK)
        st = clg_context_set_gemm_path(ctx, CLG_GEMM_NATIVE);
    if (st == CLG_OK && report)
        fprintf(report,
                "tuning the native GEMM on %s (geometric mean over %zu + %zu "
                "shapes):\n",
                clg_context_device(ctx)->name, CLG_COUNT_OF(native_shapes),
                CLG_COUNT_OF(nt_shapes));
    if (st == CLG_OK)
        st = tune_kernel(&w, false, &best, &best, report);
    if (st == CLG_OK)
        st = tune_kernel(&w, true, &best, &best, report);
    clg_context_set_gemm_path(ctx, path);
    clg_context_set_gemm_tuning(ctx, st == CLG_OK ? &best : &before);
    if (st == CLG_OK)
        st = cache_save(ctx);
    bench_close(&w);
    return st;
}

/* ---- CLBlast ------------------------------------------------------------------ */

/* The geometric mean of GF/s through the context's path over every shape
 * above, or < 0 as score() says; want[]: the results to match. */
static double score_all(bench *w, float **want)
{
    double t1, t2;
    size_t n1 = CLG_COUNT_OF(native_shapes), n2 = CLG_COUNT_OF(nt_shapes);
    double g1 = score(w, native_shapes, n1, want, INFINITY, &t1);
    double g2 = g1 > 0 ? score(w, nt_shapes, n2, want + n1, INFINITY, &t2) : g1;
    if (g2 <= 0)
        return g2;
    return exp(((double)n1 * log(g1) + (double)n2 * log(g2)) / (double)(n1 + n2));
}

/* What each CLBlast tuner runs at: XgemmDirect, the kernel of small
 * products, at a linear layer's size; Xgemm at a convolution's. */
static const shape clblast_tune_shapes[CLG_CLBLAST_KERNELS] = {
    [CLG_CLBLAST_XGEMM_DIRECT] = {false, false, 256, 256, 256},
    [CLG_CLBLAST_XGEMM] = {false, false, 512, 512, 512},
};
/* The fraction of each kernel's search space that effort 1 samples. */
static const double clblast_fractions[CLG_CLBLAST_KERNELS] = {
    [CLG_CLBLAST_XGEMM_DIRECT] = 1.0 / 128,
    [CLG_CLBLAST_XGEMM] = 1.0 / 1024,
};

/* The parameters CLBlast runs for kernel k on the context's device: those
 * clgrad set (tuned or cached), else CLBlast's database's. */
static clg_status clblast_params_now(clg_context *ctx, clg_clblast_kernel k,
                                     clg_clblast_params *p,
                                     clg_gemm_tuning_source *source)
{
    if (clg_gemm_clblast_tuned(ctx, k, p, source))
        return CLG_OK;
    int code = clg_clblast_current(ctx->device, k, p);
    if (code == 0)
        return CLG_OK;
    return clg_fail(code == CLBlastNotImplemented ? CLG_UNSUPPORTED : CLG_BLAS_ERROR,
                    "CLBlast's %s parameters on %s: %s (%d)%s",
                    clg_clblast_kernel_name(k), ctx->info.name,
                    clg_clblast_status_name(code), code,
                    code == CLBlastNotImplemented
                        ? ": this clgrad was built without a C++ compiler, which "
                          "CLBlast's tuning API needs"
                        : "");
}

/* Runs CLBlast's tuner for one kernel and keeps its choice where SGEMM
 * through CLBlast gets faster at the training shapes (*top: the best
 * score so far); otherwise puts back what the kernel had. */
static clg_status tune_clblast_kernel(bench *w, clg_clblast_kernel k, double effort,
                                      float **want, double *top, FILE *report)
{
    clg_context *ctx = w->ctx;
    const char *name = clg_clblast_kernel_name(k);
    clg_clblast_params before, found;
    clg_gemm_tuning_source source;
    clg_status now = clblast_params_now(ctx, k, &before, &source);
    if (now != CLG_OK)
        return now;
    const shape *s = &clblast_tune_shapes[k];
    double fraction = fmin(1.0, clblast_fractions[k] * effort);
    double t0 = clg_now_seconds();
    int code =
        clg_clblast_tune_kernel(ctx->queue, k, s->M, s->N, s->K, fraction, &found);
    double took = clg_now_seconds() - t0;
    char text[1024];
    if (code != 0) { /* no configuration in the sample ran: keep what is */
        if (report)
            fprintf(report,
                    "  %-11s CLBlast's tuner (%.4g of its space, %.0f s): %s "
                    "(%d); kept as it was\n",
                    name, fraction, took, clg_clblast_status_name(code), code);
        return CLG_OK;
    }
    clg_status st = clg_gemm_set_clblast_params(ctx, k, &found, CLG_TUNING_SET);
    double gf = st == CLG_OK ? score_all(w, want) : -1;
    bool keep = gf > *top;
    if (report) {
        clg_clblast_params_format(&found, text, sizeof text);
        fprintf(report, "  %-11s CLBlast's tuner (%.4g of its space, %.0f s): %s\n",
                name, fraction, took, text);
        if (gf > 0)
            fprintf(report,
                    "  %-11s SGEMM through CLBlast %.1f GF/s against %.1f: %s\n", name,
                    gf, *top, keep ? "kept" : "not kept");
        else
            fprintf(report, "  %-11s %s: not kept\n", name,
                    gf == -2 ? "its results differ from the previous parameters'"
                             : "SGEMM through CLBlast failed with it");
    }
    if (keep) {
        *top = gf;
        return CLG_OK;
    }
    return clg_gemm_set_clblast_params(ctx, k, &before, source);
}

clg_status clg_gemm_tune_clblast(clg_context *ctx, double effort, FILE *report)
{
    if (!ctx)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gemm_tune_clblast: ctx is NULL");
    if (!(effort > 0) || effort > 128)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm_tune_clblast: effort %g (above 0, at most 128)",
                        effort);
    clg_status st = cache_save(ctx); /* an unwritable cache fails now */
    bench w = {0};
    if (st == CLG_OK)
        st = bench_open(ctx, 0, &w);
    w.reordered = true;
    clg_gemm_path path = clg_context_gemm_path(ctx);
    size_t n = CLG_COUNT_OF(native_shapes) + CLG_COUNT_OF(nt_shapes);
    float *want[CLG_COUNT_OF(native_shapes) + CLG_COUNT_OF(nt_shapes)] = {0};
    if (st == CLG_OK)
        st = clg_context_set_gemm_path(ctx, CLG_GEMM_CLBLAST);
    if (st == CLG_OK) {
        st = reference(&w, native_shapes, CLG_COUNT_OF(native_shapes), want);
        if (st == CLG_OK)
            st = reference(&w, nt_shapes, CLG_COUNT_OF(nt_shapes),
                           want + CLG_COUNT_OF(native_shapes));
    }
    double top = st == CLG_OK ? score_all(&w, want) : -1;
    if (st == CLG_OK && top <= 0)
        st = clg_fail(CLG_BLAS_ERROR,
                      "CLBlast tuning: SGEMM through CLBlast failed on %s",
                      ctx->info.name);
    if (st == CLG_OK && report)
        fprintf(report,
                "tuning CLBlast's SGEMM kernels on %s (effort %g); through CLBlast "
                "now: %.1f GF/s (geometric mean over %zu shapes)\n",
                ctx->info.name, effort, top, n);
    for (int k = 0; st == CLG_OK && k < CLG_CLBLAST_KERNELS; k++)
        st = tune_clblast_kernel(&w, (clg_clblast_kernel)k, effort, want, &top, report);
    clg_context_set_gemm_path(ctx, path);
    if (st == CLG_OK)
        st = cache_save(ctx);
    for (size_t i = 0; i < n; i++)
        free(want[i]);
    bench_close(&w);
    return st;
}

clg_status clg_gemm_clblast_parameters(clg_context *ctx, const char *kernel, char *buf,
                                       size_t len, clg_gemm_tuning_source *source)
{
    if (!ctx || !kernel || !buf || !len)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm_clblast_parameters: NULL argument");
    for (int k = 0; k < CLG_CLBLAST_KERNELS; k++) {
        if (strcmp(kernel, clg_clblast_kernel_name((clg_clblast_kernel)k)))
            continue;
        clg_clblast_params p;
        clg_status st = clblast_params_now(ctx, (clg_clblast_kernel)k, &p, source);
        if (st != CLG_OK)
            return st;
        clg_clblast_params_format(&p, buf, len);
        return CLG_OK;
    }
    return clg_fail(CLG_INVALID_ARGUMENT,
                    "clg_gemm_clblast_parameters: kernel '%s' (Xgemm or XgemmDirect)",
                    kernel);
}
