/* The one GEMM entry point: CLBlast or clgrad's native kernel. */
#include <clblast_c.h>
#include <limits.h>
#include <stdio.h>

#include "../runtime/runtime_internal.h"

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

static clg_status gemm_clblast(clg_context *ctx, bool trans_a, bool trans_b, size_t M,
                               size_t N, size_t K, float alpha, const clg_buffer *A,
                               size_t a_offset, size_t lda, const clg_buffer *B,
                               size_t b_offset, size_t ldb, float beta, clg_buffer *C,
                               size_t c_offset, size_t ldc)
{
    cl_event event = NULL;
    CLBlastStatusCode code = CLBlastSgemm(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, alpha, A->mem,
        a_offset, lda, B->mem, b_offset, ldb, beta, C->mem, c_offset, ldc, &ctx->queue,
        ctx->profile ? &event : NULL);
    if (code != CLBlastSuccess) {
        clg_status s =
            code == CLBlastTempBufferAllocFailure || code == CLBlastOpenCLOutOfResources
                ? CLG_OUT_OF_DEVICE_MEMORY
                : CLG_BLAS_ERROR;
        return clg_fail(s, "clg_gemm %zux%zux%zu through CLBlast on %s: %s (%d)", M, N,
                        K, ctx->info.name, clblast_error_name(code), (int)code);
    }
    if (event)
        clg_profile_record(ctx, "clblast_sgemm", event);
    return CLG_OK;
}

static clg_status gemm_native(clg_context *ctx, bool trans_a, bool trans_b, size_t M,
                              size_t N, size_t K, float alpha, const clg_buffer *A,
                              size_t a_offset, size_t lda, const clg_buffer *B,
                              size_t b_offset, size_t ldb, float beta, clg_buffer *C,
                              size_t c_offset, size_t ldc)
{
    /* Block and work-group sizes: RM and RN as in cl/gemm.cl. */
    const size_t rm = 8, rn = 16, group = 4;
    char options[64];
    snprintf(options, sizeof options, "-DTRANS_A=%d -DTRANS_B=%d", trans_a, trans_b);
    cl_kernel k;
    clg_status s = clg_kernel_get(ctx, "gemm", options, "gemm_native", &k);
    if (s != CLG_OK)
        return s;
    /* Must match RM and RN in cl/gemm.cl. */
    const cl_int args_i[] = {(cl_int)M, (cl_int)N, (cl_int)K};
    const cl_int offs[] = {(cl_int)a_offset, (cl_int)lda,      (cl_int)b_offset,
                           (cl_int)ldb,      (cl_int)c_offset, (cl_int)ldc};
    pthread_mutex_lock(&ctx->lock); /* the kernel object is shared */
    for (cl_uint i = 0; s == CLG_OK && i < 3; i++)
        s = clg_kernel_arg(k, i, sizeof(cl_int), &args_i[i]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 3, sizeof alpha, &alpha);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 4, sizeof(cl_mem), &A->mem);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 5, sizeof(cl_int), &offs[0]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 6, sizeof(cl_int), &offs[1]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 7, sizeof(cl_mem), &B->mem);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 8, sizeof(cl_int), &offs[2]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 9, sizeof(cl_int), &offs[3]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 10, sizeof beta, &beta);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 11, sizeof(cl_mem), &C->mem);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 12, sizeof(cl_int), &offs[4]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 13, sizeof(cl_int), &offs[5]);
    size_t global[2] = {(N + rn - 1) / rn, (M + rm - 1) / rm};
    size_t local[2] = {global[0] < group ? global[0] : group, 1};
    if (s == CLG_OK)
        s = clg_launch(ctx, k, 2, global, local);
    pthread_mutex_unlock(&ctx->lock);
    return s;
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
    if (K == 0) /* op(A) op(B) is empty, C = beta * C; CLBlast rejects K = 0 */
        return gemm_native(ctx, false, false, M, N, 0, alpha, C, c_offset, 1, C,
                           c_offset, 1, beta, C, c_offset, ldc);
    if (ctx->gemm_path == CLG_GEMM_CLBLAST)
        return gemm_clblast(ctx, trans_a, trans_b, M, N, K, alpha, A, a_offset, lda, B,
                            b_offset, ldb, beta, C, c_offset, ldc);
    return gemm_native(ctx, trans_a, trans_b, M, N, K, alpha, A, a_offset, lda, B,
                       b_offset, ldb, beta, C, c_offset, ldc);
}
