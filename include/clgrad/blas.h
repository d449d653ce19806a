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

#include "api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
CLG_API const char *clg_gemm_path_str(clg_gemm_path path);

/* The path named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_gemm_path_parse(const char *name, clg_gemm_path *path);

/* Forces a GEMM path for this context. The initial choice is CLGRAD_GEMM
 * (clblast|native) when set, else CLG_GEMM_AUTO: native on CPU devices
 * (CLBlast's untuned defaults are far slower there) but Mesa's llvmpipe,
 * CLBlast elsewhere. */
CLG_API clg_status clg_context_set_gemm_path(clg_context *ctx, clg_gemm_path path);

/* The path clg_gemm takes on this context now (never CLG_GEMM_AUTO). */
CLG_API clg_gemm_path clg_context_gemm_path(const clg_context *ctx);

/* Row-major single-precision GEMM, enqueued (not waited for):
 *   C = alpha * op(A) * op(B) + beta * C
 * op(A) is M x K (A is stored K x M when trans_a), op(B) is K x N (stored
 * N x K when trans_b), C is M x N. Offsets and leading dimensions count
 * floats. With beta == 0, C is not read. Buffers too small for the shapes,
 * or leading dimensions shorter than a row, are CLG_INVALID_ARGUMENT naming
 * the matrix. */
CLG_API clg_status clg_gemm(clg_context *ctx, bool trans_a, bool trans_b, size_t M,
                            size_t N, size_t K, float alpha, const clg_buffer *A,
                            size_t a_offset, size_t lda, const clg_buffer *B,
                            size_t b_offset, size_t ldb, float beta, clg_buffer *C,
                            size_t c_offset, size_t ldc);

/* ---- Tuning the native kernel --------------------------------------------
 *
 * The native kernels' block sizes and work-group widths differ in speed by
 * up to 2x from one OpenCL implementation to another at the same shapes.
 * clg_gemm_tune measures a set of candidates on the context's device at
 * the shapes of training (linear layers, a convolution over a batch, a
 * square product), keeps the fastest whose results match the default
 * kernel's, and caches the choice on disk, keyed by device, platform,
 * driver and clgrad version. Every new context on that device then starts
 * with it; without a cache entry it starts with clg_gemm_default_tuning().
 * The cache lives in $CLGRAD_CACHE_DIR, else $XDG_CACHE_HOME/clgrad, else
 * ~/.cache/clgrad; `clgrad-devices --tune` runs the tuner. */
typedef struct clg_gemm_tuning {
    /* gemm_native (every case but A B^T): rows (1..16) x columns (4, 8 or
     * 16) of C per work-item, work-items per work-group along columns */
    int rows, cols, group;
    /* gemm_nt (A B^T, where B is not transposed for gemm_native first:
     * long k, or few rows of A): rows x columns of C per work-item (1..8
     * each, at most 16 products), work-group width */
    int nt_rows, nt_cols, nt_group;
} clg_gemm_tuning;

/* The default where float vectors are 16 wide (AVX-512) and on GPUs. */
#define CLG_GEMM_TUNING_DEFAULT ((clg_gemm_tuning){8, 16, 4, 4, 4, 4})
/* The default on CPUs with narrower float vectors (AVX2: 8): 8 x 16 keeps
 * 16 vectors of C, all that AVX2 has, and spills; there gemm_nt also loads
 * 8-wide vectors along k, not 16, and 4 x 2 in groups of 16 is its best. */
#define CLG_GEMM_TUNING_NARROW ((clg_gemm_tuning){4, 16, 16, 4, 2, 16})

/* The tuning a context on `dev` starts with when nothing is cached:
 * CLG_GEMM_TUNING_NARROW on a CPU whose native float vectors are under 16
 * wide, else CLG_GEMM_TUNING_DEFAULT. */
CLG_API clg_gemm_tuning clg_gemm_default_tuning(const clg_device_info *dev);

/* Where the context's tuning came from. */
typedef enum clg_gemm_tuning_source {
    CLG_TUNING_DEFAULT, /* no cache entry (or an unreadable one) */
    CLG_TUNING_CACHED,  /* read from the cache when the context was made */
    CLG_TUNING_SET,     /* clg_context_set_gemm_tuning or clg_gemm_tune */
} clg_gemm_tuning_source;

/* The context's tuning, and where it came from (may be NULL). */
CLG_API clg_gemm_tuning clg_context_gemm_tuning(const clg_context *ctx,
                                                clg_gemm_tuning_source *source);

/* Uses `t` for the native kernels of this context from now on (plans made
 * before keep what they recorded). CLG_INVALID_ARGUMENT, naming the field,
 * for values outside the ranges above or a work-group the device refuses. */
CLG_API clg_status clg_context_set_gemm_tuning(clg_context *ctx,
                                               const clg_gemm_tuning *t);

/* The cache file of this context's device (for messages and tools). */
CLG_API clg_status clg_gemm_tuning_path(const clg_context *ctx, char *path, size_t len);

/* Measures the candidates for about `seconds` each (0: 0.05 s), sets the
 * best on the context and writes it to the cache (creating the directory).
 * When `report` is not NULL, one line per candidate goes there. An
 * unwritable cache is CLG_IO_ERROR naming the path, the tuning kept on the
 * context. */
CLG_API clg_status clg_gemm_tune(clg_context *ctx, double seconds, FILE *report);

/* ---- Tuning CLBlast ---------------------------------------------------------
 *
 * CLBlast picks its kernels' parameters from a database by vendor and
 * device, which has nothing for many devices (CPUs of the kind clgrad runs
 * on, NVIDIA's Hopper). clg_gemm_tune_clblast runs CLBlast's own tuner
 * (its TuneXgemmDirect at 256^3 and TuneXgemm at 512^3) on a random sample
 * of each kernel's search space, the same sample every run, then measures
 * SGEMM through CLBlast at the training shapes above and keeps a kernel's
 * result only where it is faster than what the device had (geometric mean
 * of GF/s) and its results match to rounding. What is kept goes into the
 * device's cache file beside the native kernels' tuning; each context made
 * later sets it into CLBlast (whose parameters hold per device for the
 * whole process). `effort` scales the sample: 1 tries 1/128 of
 * XgemmDirect's space and 1/1024 of Xgemm's (a few hundred builds of each:
 * minutes on a GPU, much longer through a CPU's OpenCL compiler). With
 * `report`, a line per kernel. CLG_UNSUPPORTED when clgrad was built
 * without a C++ compiler (CLBlast's tuning API is C++); an unwritable
 * cache is CLG_IO_ERROR naming the path, the parameters kept on the
 * device. */
CLG_API clg_status clg_gemm_tune_clblast(clg_context *ctx, double effort, FILE *report);

/* CLBlast's parameters for its kernel `kernel` ("Xgemm" or "XgemmDirect")
 * on the context's device as "NAME=VALUE ..." into buf, and in *source (may
 * be NULL) CLG_TUNING_DEFAULT where they are CLBlast's database's. */
CLG_API clg_status clg_gemm_clblast_parameters(clg_context *ctx, const char *kernel,
                                               char *buf, size_t len,
                                               clg_gemm_tuning_source *source);

#ifdef __cplusplus
}
#endif

#endif
