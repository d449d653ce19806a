/* The internal GEMM call: strided batches over raw cl_mem, for the plan. */
#ifndef CLGRAD_GEMM_INTERNAL_H
#define CLGRAD_GEMM_INTERNAL_H

#include "runtime_internal.h"

/* C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b] for b < batch, row-major;
 * matrix b of X starts at x_off + b * x_stride (floats). A stride of 0
 * reuses one matrix for the whole batch. */
typedef struct clg_gemm_call {
    bool trans_a, trans_b;
    size_t M, N, K, batch;
    float alpha, beta;
    cl_mem A, B, C;
    size_t a_off, lda, a_stride;
    size_t b_off, ldb, b_stride;
    size_t c_off, ldc, c_stride;
} clg_gemm_call;

/* Enqueues the call on the context's current path. Shapes are trusted. */
clg_status clg_gemm_enqueue(clg_context *ctx, const clg_gemm_call *call);

/* Creates a native GEMM kernel object of the caller's own with every argument
 * set, and its launch range: a plan enqueues it each step without touching
 * arguments. The caller releases the kernel. */
clg_status clg_gemm_native_prepare(clg_context *ctx, const clg_gemm_call *call,
                                   cl_kernel *kernel, size_t global[3],
                                   size_t local[3]);

#endif
