/* GEMM through CLBlast: plain and strided-batch SGEMM, errors by name. */
#include <clblast_c.h>

#include "blas/blas_internal.h"

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

clg_status clg_gemm_clblast_enqueue(clg_context *ctx, const clg_gemm_call *g)
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

void clg_gemm_clblast_release(void)
{
    CLBlastClearCache();
}
