/* clgrad's own GEMM kernel (cl/gemm.cl): launch ranges and arguments. */
#include <stdio.h>

#include "blas/blas_internal.h"

/* Block and work-group sizes: RM and RN of gemm_native, RMT and RNT of
 * gemm_nt, as in cl/gemm.cl. */
enum { NATIVE_RM = 8, NATIVE_RN = 16, NT_RM = 4, NT_RN = 4, NATIVE_GROUP = 4 };

/* A B^T takes gemm_nt, whose loads both run along k; the rest gemm_native. */
static bool nt_case(const clg_gemm_call *g)
{
    return g->trans_b && !g->trans_a;
}

static const char *native_kernel(const clg_gemm_call *g)
{
    return nt_case(g) ? "gemm_nt" : "gemm_native";
}

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
    const size_t rn = nt_case(g) ? NT_RN : NATIVE_RN, rm = nt_case(g) ? NT_RM : NATIVE_RM;
    global[0] = (g->N + rn - 1) / rn;
    global[1] = (g->M + rm - 1) / rm;
    global[2] = g->batch;
    local[0] = global[0] < NATIVE_GROUP ? global[0] : NATIVE_GROUP;
    local[1] = local[2] = 1;
}

static void native_options(const clg_gemm_call *g, char *buf, size_t len)
{
    snprintf(buf, len, "-DTRANS_A=%d -DTRANS_B=%d", g->trans_a, g->trans_b);
}

clg_status clg_gemm_native_record(clg_context *ctx, clg_cmdlist *list,
                                  const clg_gemm_call *g)
{
    char options[64];
    native_options(g, options, sizeof options);
    cl_kernel own;
    clg_status s = clg_kernel_create(ctx, "gemm", options, native_kernel(g), &own);
    if (s != CLG_OK)
        return s;
    s = set_native_args(own, g);
    if (s != CLG_OK) {
        clReleaseKernel(own);
        return s;
    }
    size_t global[3], local[3];
    native_range(g, global, local);
    return clg_cmd_kernel(list, own, 3, global, local, CLG_NO_COUNTER);
}

clg_status clg_gemm_native_enqueue(clg_context *ctx, const clg_gemm_call *g)
{
    cl_kernel k;
    char options[64];
    native_options(g, options, sizeof options);
    clg_status s = clg_kernel_get(ctx, "gemm", options, native_kernel(g), &k);
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
