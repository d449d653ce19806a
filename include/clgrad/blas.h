/*
 * clgrad/blas.h — matrix products on raw device buffers.
 *
 * The graph's linear and convolution layers run on this GEMM; it is public
 * so that a program can use clgrad as a portable BLAS-like library too.
 *
 *     // C[M,N] = A[M,K] * B[K,N], all row-major floats in clg_buffers
 *     clg_gemm(ctx, false, false, M, N, K, 1.0f, A, 0, K, B, 0, N, 0.0f, C, 0, N);
 *
 * Two implementations stand behind it: CLBlast's kernels and clgrad's own
 * register-blocked kernel (cl/gemm.cl). Each context picks one (see
 * clg_context_set_gemm_path); both are tested against a host reference.
 */
#ifndef CLGRAD_BLAS_H
#define CLGRAD_BLAS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which implementation runs clg_gemm:
 *   auto     the faster one measured for this device class
 *   clblast  CLBlast's tuned kernels
 *   native   clgrad's register-blocked kernel (cl/gemm.cl) */
#define CLG_GEMM_PATH_LIST(X)                                                          \
    X(CLG_GEMM_AUTO, 0, "auto")                                                        \
    X(CLG_GEMM_CLBLAST, 1, "clblast")                                                  \
    X(CLG_GEMM_NATIVE, 2, "native")

typedef enum clg_gemm_path { CLG_GEMM_PATH_LIST(CLG_ENUM_VALUE) } clg_gemm_path;

/* "auto", "clblast", "native"; "?" for a value outside the list. */
const char *clg_gemm_path_str(clg_gemm_path path);

/* The path named `name`, or CLG_INVALID_ARGUMENT listing the names. */
clg_status clg_gemm_path_parse(const char *name, clg_gemm_path *path);

/* Forces a GEMM path for this context. The initial choice is CLGRAD_GEMM
 * (clblast|native) when set, else CLG_GEMM_AUTO: native on CPU devices
 * (CLBlast's untuned defaults are far slower there), CLBlast elsewhere. */
clg_status clg_context_set_gemm_path(clg_context *ctx, clg_gemm_path path);

/* The path clg_gemm takes on this context now (never CLG_GEMM_AUTO). */
clg_gemm_path clg_context_gemm_path(const clg_context *ctx);

/* Row-major single-precision GEMM, enqueued (not waited for):
 *   C = alpha * op(A) * op(B) + beta * C
 * op(A) is M x K (A is stored K x M when trans_a), op(B) is K x N (stored
 * N x K when trans_b), C is M x N. Offsets and leading dimensions count
 * floats. With beta == 0, C is not read. Buffers too small for the shapes,
 * or leading dimensions shorter than a row, are CLG_INVALID_ARGUMENT naming
 * the matrix. */
clg_status clg_gemm(clg_context *ctx, bool trans_a, bool trans_b, size_t M, size_t N,
                    size_t K, float alpha, const clg_buffer *A, size_t a_offset,
                    size_t lda, const clg_buffer *B, size_t b_offset, size_t ldb,
                    float beta, clg_buffer *C, size_t c_offset, size_t ldc);

#ifdef __cplusplus
}
#endif

#endif
