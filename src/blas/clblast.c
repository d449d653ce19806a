/* GEMM through CLBlast: plain and strided-batch SGEMM, errors by name, and
 * the C side of its tuned parameters (clblast_tune.h). */
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas/blas_internal.h"
#include "blas/clblast_tune.h"

const char *clg_clblast_status_name(int status)
{
    CLBlastStatusCode code = (CLBlastStatusCode)status;
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
    case CLBlastInvalidOverrideKernel:
        return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter:
        return "CLBlastMissingOverrideParameter";
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
            g->N, g->K, g->batch, ctx->info.name, clg_clblast_status_name(code), (int)code);
    }
    if (event)
        clg_profile_record(ctx, "clblast_sgemm", event);
    return CLG_OK;
}

void clg_gemm_clblast_release(void)
{
    CLBlastClearCache();
}

const char *clg_clblast_kernel_name(clg_clblast_kernel kernel)
{
    return kernel == CLG_CLBLAST_XGEMM ? "Xgemm" : "XgemmDirect";
}

int clg_clblast_override(cl_device_id device, clg_clblast_kernel kernel,
                         const clg_clblast_params *p)
{
    const char *names[CLG_CLBLAST_MAX_PARAMS];
    for (int i = 0; i < p->count; i++)
        names[i] = p->names[i];
    return CLBlastOverrideParameters(device, clg_clblast_kernel_name(kernel),
                                     CLBlastPrecisionSingle, (size_t)p->count, names,
                                     p->values);
}

void clg_clblast_params_format(const clg_clblast_params *p, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->count && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s=%zu", i ? " " : "", p->names[i],
                         p->values[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

bool clg_clblast_params_parse(const char *text, clg_clblast_params *p)
{
    p->count = 0;
    for (const char *s = text; *s;) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *eq = strchr(s, '=');
        size_t name_len = eq ? (size_t)(eq - s) : 0;
        if (!eq || name_len == 0 || name_len >= CLG_CLBLAST_NAME_LEN ||
            memchr(s, ' ', name_len) || p->count == CLG_CLBLAST_MAX_PARAMS)
            return false;
        char *end;
        unsigned long long v = strtoull(eq + 1, &end, 10);
        if (eq[1] < '0' || eq[1] > '9' || (*end && *end != ' ') || v > 4096)
            return false;
        memcpy(p->names[p->count], s, name_len);
        p->names[p->count][name_len] = '\0';
        p->values[p->count++] = (size_t)v;
        s = end;
    }
    return p->count > 0;
}

#ifndef CLGRAD_HAVE_CLBLAST_TUNER
/* Built without a C++ compiler: CLBlast's tuner and its parameter query,
 * C++ alone, are not there. */
int clg_clblast_tune_kernel(cl_command_queue queue, clg_clblast_kernel kernel, size_t m,
                            size_t n, size_t k, double fraction, clg_clblast_params *out)
{
    (void)queue, (void)kernel, (void)m, (void)n, (void)k, (void)fraction, (void)out;
    return CLBlastNotImplemented;
}

int clg_clblast_current(cl_device_id device, clg_clblast_kernel kernel,
                        clg_clblast_params *out)
{
    (void)device, (void)kernel, (void)out;
    return CLBlastNotImplemented;
}
#endif
