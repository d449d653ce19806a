/* The blas layer's state in each context: its GEMM path, the native
 * kernels' tuning and CLBlast's parameters, from the environment, the
 * tuning cache (cache.c) or the caller. */
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "blas/blas_internal.h"

CLG_DEFINE_ENUM_NAMES(clg_gemm_path, CLG_GEMM_PATH_LIST, "GEMM path")

typedef struct blas_state {
    clg_gemm_path path;     /* never CLG_GEMM_AUTO */
    bool used_clblast;      /* CLBlast has programs of this context cached */
    clg_gemm_tuning tuning; /* the native kernels' (tune.c) */
    clg_gemm_tuning_source tuning_source;
    /* CLBlast's kernels' tuned parameters; DEFAULT: its database's */
    clg_clblast_params clblast[CLG_CLBLAST_KERNELS];
    clg_gemm_tuning_source clblast_source[CLG_CLBLAST_KERNELS];
} blas_state;

/* The path AUTO stands for: native on CPUs, where CLBlast's untuned
 * defaults reach about a tenth of the native kernel, CLBlast elsewhere and
 * on Mesa's llvmpipe, a CPU device that runs work-items in SIMD lanes as a
 * GPU does: the native kernel is ten times slower there than CLBlast, and
 * gave wrong sums over a long k (tests/test_gemm.c). */
static clg_gemm_path resolve(const clg_context *ctx, clg_gemm_path path)
{
    if (path != CLG_GEMM_AUTO)
        return path;
    return ctx->info.type == CLG_DEVICE_CPU && !strstr(ctx->info.name, "llvmpipe")
               ? CLG_GEMM_NATIVE
               : CLG_GEMM_CLBLAST;
}

/* A new context starts on CLGRAD_GEMM (clblast, native or auto), else auto,
 * with its device's cached tuning, else the defaults: the native kernels'
 * and CLBlast's (set into CLBlast, whose parameters are per device and
 * process). A cache CLBlast refuses is ignored, as an unreadable one is. */
static clg_status blas_create(clg_context *ctx, void **out)
{
    const char *v = getenv("CLGRAD_GEMM");
    clg_gemm_path path = CLG_GEMM_AUTO;
    if (v && *v && clg_gemm_path_parse(v, &path) != CLG_OK)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "CLGRAD_GEMM='%s' is not a GEMM path: use clblast, native "
                        "or auto",
                        v);
    blas_state *st = calloc(1, sizeof *st);
    if (!st)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_context_create: GEMM state");
    st->path = resolve(ctx, path);
    st->tuning = clg_gemm_default_tuning(clg_context_device(ctx));
    clg_gemm_tuned cached;
    if (clg_gemm_tuning_load(ctx, &cached)) {
        if (cached.has_native) {
            st->tuning = cached.native;
            st->tuning_source = CLG_TUNING_CACHED;
        }
        for (int k = 0; k < CLG_CLBLAST_KERNELS; k++)
            if (cached.has_clblast[k] &&
                clg_clblast_override(ctx->device, (clg_clblast_kernel)k,
                                     &cached.clblast[k]) == 0) {
                st->clblast[k] = cached.clblast[k];
                st->clblast_source[k] = CLG_TUNING_CACHED;
            }
    }
    *out = st;
    return CLG_OK;
}

/* CLBlast keeps the programs it built, and with them their OpenCL context,
 * in a process-wide cache until it is cleared: without this a freed clgrad
 * context would live on inside CLBlast (with its device memory) until exit,
 * when CLBlast's static destructors release it after the driver may have
 * torn itself down (oclgrind aborts there). CLBlast can only clear its
 * whole cache; other contexts rebuild their programs on next use. */
static void blas_destroy(void *state)
{
    blas_state *st = state;
    if (st && st->used_clblast)
        clg_gemm_clblast_release();
    free(st);
}

const clg_context_layer clg_blas_context_layer = {"blas", blas_create, blas_destroy};

static blas_state *state_of(const clg_context *ctx)
{
    return clg_context_layer_state(ctx, &clg_blas_context_layer);
}

clg_status clg_context_set_gemm_path(clg_context *ctx, clg_gemm_path path)
{
    if (!ctx)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_context_set_gemm_path: ctx is NULL");
    if ((unsigned)path > CLG_GEMM_NATIVE)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_context_set_gemm_path: unknown path %d", (int)path);
    state_of(ctx)->path = resolve(ctx, path);
    return CLG_OK;
}

clg_gemm_path clg_context_gemm_path(const clg_context *ctx)
{
    return ctx ? state_of(ctx)->path : CLG_GEMM_AUTO;
}

clg_gemm_tuning clg_context_gemm_tuning(const clg_context *ctx,
                                        clg_gemm_tuning_source *source)
{
    const blas_state *st = ctx ? state_of(ctx) : NULL;
    if (source)
        *source = st ? st->tuning_source : CLG_TUNING_DEFAULT;
    return st ? st->tuning : CLG_GEMM_TUNING_DEFAULT;
}

clg_status clg_context_set_gemm_tuning(clg_context *ctx, const clg_gemm_tuning *t)
{
    if (!ctx || !t)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_context_set_gemm_tuning: NULL argument");
    clg_status s = clg_gemm_tuning_check(ctx, t);
    if (s != CLG_OK)
        return s;
    state_of(ctx)->tuning = *t;
    state_of(ctx)->tuning_source = CLG_TUNING_SET;
    return CLG_OK;
}

clg_status clg_gemm_set_clblast_params(clg_context *ctx, clg_clblast_kernel kernel,
                                       const clg_clblast_params *p,
                                       clg_gemm_tuning_source source)
{
    int code = clg_clblast_override(ctx->device, kernel, p);
    if (code != 0)
        return clg_fail(CLG_BLAS_ERROR, "CLBlast's %s parameters on %s: %s (%d)",
                        clg_clblast_kernel_name(kernel), ctx->info.name,
                        clg_clblast_status_name(code), code);
    blas_state *st = state_of(ctx);
    st->clblast[kernel] = *p;
    st->clblast_source[kernel] = source;
    return CLG_OK;
}

bool clg_gemm_clblast_tuned(const clg_context *ctx, clg_clblast_kernel kernel,
                            clg_clblast_params *p, clg_gemm_tuning_source *source)
{
    const blas_state *st = state_of(ctx);
    if (source)
        *source = st->clblast_source[kernel];
    if (st->clblast_source[kernel] == CLG_TUNING_DEFAULT)
        return false;
    if (p)
        *p = st->clblast[kernel];
    return true;
}

void clg_blas_used_clblast(const clg_context *ctx)
{
    state_of(ctx)->used_clblast = true;
}
