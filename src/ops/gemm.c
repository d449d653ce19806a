/* The one GEMM entry point: CLBlast or clgrad's native kernel. */
#include <clblast_c.h>
#include <limits.h>
#include <stdio.h>

#include "gemm_internal.h"

const char *clg_gemm_path_str(clg_gemm_path path)
{
    switch (path) {
    case CLG_GEMM_AUTO:
        return "auto";
    case CLG_GEMM_CLBLAST:
        return "clblast";
    case CLG_GEMM_NATIVE:
        return "native";
    }
    return "?";
}

clg_status clg_context_set_gemm_path(clg_context *ctx, clg_gemm_path path)
{
    if (!ctx)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_context_set_gemm_path: ctx is NULL");
    switch (path) {
    case CLG_GEMM_AUTO:
        ctx->gemm_path =
            ctx->info.type == CLG_DEVICE_CPU ? CLG_GEMM_NATIVE : CLG_GEMM_CLBLAST;
        return CLG_OK;
    case CLG_GEMM_CLBLAST:
    case CLG_GEMM_NATIVE:
        ctx->gemm_path = path;
        return CLG_OK;
    }
    return clg_fail(CLG_INVALID_ARGUMENT, "clg_context_set_gemm_path: unknown path %d",
                    (int)path);
}

clg_gemm_path clg_context_gemm_path(const clg_context *ctx)
{
    return ctx ? ctx->gemm_path : CLG_GEMM_AUTO;
}

/* Checks one operand: `rows` x `cols` as stored, leading dimension `ld`. */
static clg_status check_matrix(char name, const clg_buffer *buf, size_t offset,
                               size_t rows, size_t cols, size_t ld)
{
    if (!buf)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gemm: matrix %c is NULL", name);
    if (ld < cols || ld > INT_MAX)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm: leading dimension of %c is %zu, its stored "
                        "rows hold %zu floats",
                        name, ld, cols);
    size_t need = offset + (rows - 1) * ld + cols;
    if (need * sizeof(float) > clg_buffer_size(buf) || offset > INT_MAX)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm: matrix %c (%zu x %zu, ld %zu, offset %zu) needs "
                        "%zu floats, its buffer holds %zu",
                        name, rows, cols, ld, offset, need,
                        clg_buffer_size(buf) / sizeof(float));
    return CLG_OK;
}

static const char *clblast_error_name(CLBlastStatusCode code)
{
    switch (code) {
    case CLBlastNotImplemented:
        return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA:
        return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB:
        return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC:
        return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension:
        return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA:
        return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB:
        return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC:
        return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA:
        return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB:
        return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC:
        return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidLocalMemUsage:
        return "CLBlastInvalidLocalMemUsage";
    case CLBlastDatabaseError:
        return "CLBlastDatabaseError";
    case CLBlastUnknownError:
        return "CLBlastUnknownError";
    case CLBlastUnexpectedError:
        return "CLBlastUnexpectedError";
    default:
        return clg_cl_error_name((cl_int)code); /* OpenCL's own codes */
    }
}

static clg_status gemm_clblast(clg_context *ctx, const clg_gemm_call *g)
{
    cl_event event = NULL;
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode code;
    if (g->batch == 1)
        code =
            CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->M, g->N, g->K, g->alpha,
                         g->A, g->a_off, g->lda, g->B, g->b_off, g->ldb, g->beta, g->C,
                         g->c_off, g->ldc, &ctx->queue, ctx->profile ? &event : NULL);
    else
        code = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, g->M, g->N, g->K, g->alpha, g->A, g->a_off,
            g->lda, g->a_stride, g->B, g->b_off, g->ldb, g->b_stride, g->beta, g->C,
            g->c_off, g->ldc, g->c_stride, g->batch, &ctx->queue,
            ctx->profile ? &event : NULL);
    if (code != CLBlastSuccess) {
        clg_status s =
            code == CLBlastTempBufferAllocFailure || code == CLBlastOpenCLOutOfResources
                ? CLG_OUT_OF_DEVICE_MEMORY
                : CLG_BLAS_ERROR;
        return clg_fail(
            s, "gemm %zux%zux%zu (batch %zu) through CLBlast on %s: %s (%d)", g->M,
            g->N, g->K, g->batch, ctx->info.name, clblast_error_name(code), (int)code);
    }
    if (event)
        clg_profile_record(ctx, "clblast_sgemm", event);
    return CLG_OK;
}

/* Block and work-group sizes; RM and RN as in cl/gemm.cl. */
enum { NATIVE_RM = 8, NATIVE_RN = 16, NATIVE_GROUP = 4 };

static clg_status set_native_args(cl_kernel k, const clg_gemm_call *g)
{
    const cl_int dims[] = {(cl_int)g->M, (cl_int)g->N, (cl_int)g->K};
    const cl_int a[] = {(cl_int)g->a_off, (cl_int)g->lda, (cl_int)g->a_stride};
    const cl_int b[] = {(cl_int)g->b_off, (cl_int)g->ldb, (cl_int)g->b_stride};
    const cl_int c[] = {(cl_int)g->c_off, (cl_int)g->ldc, (cl_int)g->c_stride};
    clg_status s = CLG_OK;
    cl_uint i = 0;
    for (int d = 0; s == CLG_OK && d < 3; d++)
        s = clg_kernel_arg(k, i++, sizeof(cl_int), &dims[d]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(float), &g->alpha);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(cl_mem), &g->A);
    for (int d = 0; s == CLG_OK && d < 3; d++)
        s = clg_kernel_arg(k, i++, sizeof(cl_int), &a[d]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(cl_mem), &g->B);
    for (int d = 0; s == CLG_OK && d < 3; d++)
        s = clg_kernel_arg(k, i++, sizeof(cl_int), &b[d]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(float), &g->beta);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(cl_mem), &g->C);
    for (int d = 0; s == CLG_OK && d < 3; d++)
        s = clg_kernel_arg(k, i++, sizeof(cl_int), &c[d]);
    return s;
}

static void native_range(const clg_gemm_call *g, size_t global[3], size_t local[3])
{
    global[0] = (g->N + NATIVE_RN - 1) / NATIVE_RN;
    global[1] = (g->M + NATIVE_RM - 1) / NATIVE_RM;
    global[2] = g->batch;
    local[0] = global[0] < NATIVE_GROUP ? global[0] : NATIVE_GROUP;
    local[1] = local[2] = 1;
}

static void native_options(const clg_gemm_call *g, char *buf, size_t len)
{
    snprintf(buf, len, "-DTRANS_A=%d -DTRANS_B=%d", g->trans_a, g->trans_b);
}

clg_status clg_gemm_native_prepare(clg_context *ctx, const clg_gemm_call *g,
                                   cl_kernel *kernel, size_t global[3], size_t local[3])
{
    char options[64];
    native_options(g, options, sizeof options);
    cl_kernel own;
    clg_status s = clg_kernel_create(ctx, "gemm", options, "gemm_native", &own);
    if (s != CLG_OK)
        return s;
    s = set_native_args(own, g);
    if (s != CLG_OK) {
        clReleaseKernel(own);
        return s;
    }
    native_range(g, global, local);
    *kernel = own;
    return CLG_OK;
}

static clg_status gemm_native(clg_context *ctx, const clg_gemm_call *g)
{
    cl_kernel k;
    char options[64];
    native_options(g, options, sizeof options);
    clg_status s = clg_kernel_get(ctx, "gemm", options, "gemm_native", &k);
    if (s != CLG_OK)
        return s;
    size_t global[3], local[3];
    native_range(g, global, local);
    pthread_mutex_lock(&ctx->lock); /* the cached kernel object is shared */
    s = set_native_args(k, g);
    if (s == CLG_OK)
        s = clg_launch(ctx, k, 3, global, local);
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

clg_status clg_gemm_enqueue(clg_context *ctx, const clg_gemm_call *g)
{
    if (g->M == 0 || g->N == 0 || g->batch == 0)
        return CLG_OK;
    /* CLBlast rejects K = 0; the native kernel computes C = beta * C. */
    if (ctx->gemm_path == CLG_GEMM_CLBLAST && g->K > 0)
        return gemm_clblast(ctx, g);
    return gemm_native(ctx, g);
}

clg_status clg_gemm(clg_context *ctx, bool trans_a, bool trans_b, size_t M, size_t N,
                    size_t K, float alpha, const clg_buffer *A, size_t a_offset,
                    size_t lda, const clg_buffer *B, size_t b_offset, size_t ldb,
                    float beta, clg_buffer *C, size_t c_offset, size_t ldc)
{
    if (!ctx)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gemm: ctx is NULL");
    if (M == 0 || N == 0)
        return CLG_OK;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm: %zu x %zu x %zu exceeds the 2^31 element limit", M,
                        N, K);
    clg_status s = CLG_OK;
    if (K > 0) {
        s = check_matrix('A', A, a_offset, trans_a ? K : M, trans_a ? M : K, lda);
        if (s == CLG_OK)
            s = check_matrix('B', B, b_offset, trans_b ? N : K, trans_b ? K : N, ldb);
    }
    if (s == CLG_OK)
        s = check_matrix('C', C, c_offset, M, N, ldc);
    if (s != CLG_OK)
        return s;
    if ((A && A->ctx != ctx) || (B && B->ctx != ctx) || C->ctx != ctx)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm: a buffer belongs to another context");
    clg_gemm_call call = {
        .trans_a = trans_a,
        .trans_b = trans_b,
        .M = M,
        .N = N,
        .K = K,
        .batch = 1,
        .alpha = alpha,
        .beta = beta,
        .A = K > 0 ? A->mem : C->mem,
        .a_off = a_offset,
        .lda = lda,
        .B = K > 0 ? B->mem : C->mem,
        .b_off = b_offset,
        .ldb = ldb,
        .C = C->mem,
        .c_off = c_offset,
        .ldc = ldc,
    };
    return clg_gemm_enqueue(ctx, &call);
}
