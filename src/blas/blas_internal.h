/*
 * Private to libclgrad: GEMM on raw cl_mem, for the graph's plans. The blas
 * layer owns the whole path policy: which implementation a call takes
 * (gemm.c), clgrad's native kernel (native.c) and CLBlast (clblast.c).
 *
 * Its files call downward only (scripts/check_layers.py checks it):
 * tuning.c, clblast.c < cache.c < state.c < native.c < gemm.c < tune.c.
 */
#ifndef CLGRAD_BLAS_INTERNAL_H
#define CLGRAD_BLAS_INTERNAL_H

#include "blas/clblast_tune.h"
#include "clgrad/blas.h"
#include "runtime/runtime_internal.h"

/* C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b] for b < batch, row-major;
 * matrix b of X starts at x_off + b * x_stride (floats). A stride of 0
 * reuses one matrix for the whole batch. A bias (N floats, or NULL) is then
 * added to every row of C: only where clg_gemm_adds_bias() says so. */
typedef struct clg_gemm_call {
    bool trans_a, trans_b;
    size_t M, N, K, batch;
    float alpha, beta;
    cl_mem A, B, C, bias;
    size_t a_off, lda, a_stride;
    size_t b_off, ldb, b_stride;
    size_t c_off, ldc, c_stride;
} clg_gemm_call;

/* Whether `dev` is a CPU whose native float vectors are under 16 wide
 * (AVX2): its native kernels start from CLG_GEMM_TUNING_NARROW and gemm_nt
 * loads 8-wide vectors along k, not 16. */
bool clg_gemm_narrow(const clg_device_info *dev);

/* The blas layer's per-context state: its GEMM path (src/library.c). */
extern const clg_context_layer clg_blas_context_layer;

/* Enqueues the call on the context's current path. Shapes are trusted. */
clg_status clg_gemm_enqueue(clg_context *ctx, const clg_gemm_call *call);

/* Appends the call to a command list, prepared once: a native kernel object
 * of the list's own with every argument set, or a CLBlast call kept for
 * each run. Which one follows the context's path now. Shapes are trusted. */
clg_status clg_gemm_record(clg_context *ctx, clg_cmdlist *list,
                           const clg_gemm_call *call);

/* Whether the context's path adds a bias in the product's epilogue (the
 * native kernels do); elsewhere the caller adds it, and a call with a bias
 * fails. */
bool clg_gemm_adds_bias(const clg_context *ctx);

/* CLG_OK if `t` is a tuning the native kernels can take on this context's
 * device, else CLG_INVALID_ARGUMENT naming the field (tuning.c). */
clg_status clg_gemm_tuning_check(const clg_context *ctx, const clg_gemm_tuning *t);

/* A device's tuning as its cache file holds it: the native kernels' and
 * CLBlast's kernels', each only where it was tuned. */
typedef struct clg_gemm_tuned {
    bool has_native;
    clg_gemm_tuning native;
    bool has_clblast[CLG_CLBLAST_KERNELS];
    clg_clblast_params clblast[CLG_CLBLAST_KERNELS];
} clg_gemm_tuned;

/* The cache file of this context's device into *out; false when there is
 * none or it is unreadable. Out-of-range native values are left out
 * (cache.c). */
bool clg_gemm_tuning_load(const clg_context *ctx, clg_gemm_tuned *out);
/* Writes `t` as that file (what has_ marks, nothing else). */
clg_status clg_gemm_tuning_save(const clg_context *ctx, const clg_gemm_tuned *t);

/* Marks that the context has run CLBlast, whose program cache its end must
 * then clear (state.c). */
void clg_blas_used_clblast(const clg_context *ctx);

/* Sets CLBlast's parameters of `kernel` for the context's device (and so
 * for the whole process) and records them on the context as coming from
 * `source`. A failure names CLBlast's status (state.c). */
clg_status clg_gemm_set_clblast_params(clg_context *ctx, clg_clblast_kernel kernel,
                                       const clg_clblast_params *p,
                                       clg_gemm_tuning_source source);

/* The context's tuned CLBlast parameters of `kernel` into *p and true, or
 * false where it uses CLBlast's database. */
bool clg_gemm_clblast_tuned(const clg_context *ctx, clg_clblast_kernel kernel,
                            clg_clblast_params *p, clg_gemm_tuning_source *source);

/* ---- The two implementations -------------------------------------------- */

clg_status clg_gemm_native_enqueue(clg_context *ctx, const clg_gemm_call *call);
clg_status clg_gemm_native_record(clg_context *ctx, clg_cmdlist *list,
                                  const clg_gemm_call *call);
clg_status clg_gemm_clblast_enqueue(clg_context *ctx, const clg_gemm_call *call);
/* Empties CLBlast's process-wide cache of programs (and their contexts). */
void clg_gemm_clblast_release(void);

#endif
