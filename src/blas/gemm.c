/* The one GEMM entry point: the path policy, then CLBlast or the native
 * kernel. Every decision about which implementation runs is made here. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "blas/blas_internal.h"

/* CLBlast rejects K = 0, where the native kernel computes C = beta * C. */
static bool takes_clblast(const clg_context *ctx, const clg_gemm_call *g)
{
    if (clg_context_gemm_path(ctx) != CLG_GEMM_CLBLAST || g->K == 0)
        return false;
    clg_blas_used_clblast(ctx);
    return true;
}

bool clg_gemm_adds_bias(const clg_context *ctx)
{
    return clg_context_gemm_path(ctx) == CLG_GEMM_NATIVE;
}

/* A bias where the path cannot add one is refused; where it can, the path
 * is native, so the calls below never hand it to CLBlast. */
static clg_status check_bias(const clg_context *ctx, const clg_gemm_call *g)
{
    if (g->bias && !clg_gemm_adds_bias(ctx))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_gemm: a bias in the epilogue runs only on the native "
                        "path (path %s)",
                        clg_gemm_path_str(clg_context_gemm_path(ctx)));
    return CLG_OK;
}

/* An empty product: nothing to launch. */
static bool nothing_to_do(const clg_gemm_call *g)
{
    return g->M == 0 || g->N == 0 || g->batch == 0;
}

/* Where a work-item's loops are limited (clg_loop_limit: Mesa's llvmpipe),
 * the native kernels' k loop and its inner loops ran out near k = 6,550 in
 * the default 8 x 16 block, and the sums came out short: a product of one
 * matrix over a longer k goes in slices of at most this many (up to 64
 * slices, k of 131,072; batches and products with a bias are not split). */
#define LIMITED_SLICE_K 2048

/* How many slices of k a product takes. On CLBlast's path: CLBlast gives
 * each tile of C to one work-group, so a product with few tiles and a long
 * k (a convolution's weight gradient over the batch: 32 x 9 over k =
 * 50,176 at the example CNN's first layer) leaves a GPU nearly idle
 * (docs/performance.md). Such a
 * product runs as a strided batch over slices of k (1,024 or more, at most
 * 64 slices) into a scratch, then a sum. On the native path, gemm_nt (A
 * B^T) over k of 8,192 or more, in slices of 4,096 or more: each
 * work-item's rows of A and B then stay in a CPU's caches, and a few
 * outputs over a long k give more cores work (docs/performance.md). A
 * product with a bias in its epilogue is not split. 1: not split. */
static size_t k_slices(const clg_context *ctx, const clg_gemm_call *g)
{
    if (g->batch != 1 || g->bias)
        return 1;
    if (clg_context_gemm_path(ctx) == CLG_GEMM_NATIVE && clg_loop_limit(ctx) &&
        g->K > LIMITED_SLICE_K) {
        size_t slices = (g->K + LIMITED_SLICE_K - 1) / LIMITED_SLICE_K;
        return slices < 64 ? slices : 64;
    }
    if (g->M * g->N > 64 * 1024)
        return 1;
    if (clg_context_gemm_path(ctx) == CLG_GEMM_CLBLAST)
        return g->K < 4096 ? 1 : g->K / 1024 < 64 ? g->K / 1024 : 64;
    if (!g->trans_b || g->trans_a || g->K < 8192)
        return 1;
    return g->K / 4096 < 64 ? g->K / 4096 : 64;
}

/* Slice s of k, as matrix s of a strided batch; `rest`: the k left after
 * the equal slices, as one product after them. Part p goes to parts[p]. */
static clg_gemm_call slice_call(const clg_gemm_call *g, size_t slices, bool rest,
                                cl_mem parts)
{
    size_t c = g->K / slices, skip = rest ? slices * c : 0;
    clg_gemm_call b = *g;
    b.K = rest ? g->K - skip : c;
    b.batch = rest ? 1 : slices;
    b.beta = 0.0f;
    b.a_off += g->trans_a ? skip * g->lda : skip;
    b.b_off += g->trans_b ? skip : skip * g->ldb;
    b.a_stride = g->trans_a ? c * g->lda : c;
    b.b_stride = g->trans_b ? c : c * g->ldb;
    b.C = parts;
    b.c_off = rest ? slices * g->M * g->N : 0;
    b.ldc = g->N;
    b.c_stride = g->M * g->N;
    return b;
}

static clg_status clblast_call(clg_context *ctx, const void *call)
{
    return clg_gemm_clblast_enqueue(ctx, call);
}

/* Appends one product, without splitting it, on the context's path. */
static clg_status record_whole(clg_context *ctx, clg_cmdlist *list,
                               const clg_gemm_call *g)
{
    return takes_clblast(ctx, g) ? clg_cmd_call(list, clblast_call, g, sizeof *g)
                                 : clg_gemm_native_record(ctx, list, g);
}

/* The split product's commands: the slices, the rest, the sum into C. */
static clg_status record_split(clg_context *ctx, clg_cmdlist *list,
                               const clg_gemm_call *g, size_t slices)
{
    size_t nparts = slices + (g->K % slices ? 1 : 0);
    cl_mem parts = NULL;
    clg_status s =
        clg_cmd_scratch(list, ctx, nparts * g->M * g->N * sizeof(float), &parts);
    clg_gemm_call batch = slice_call(g, slices, false, parts);
    if (s == CLG_OK)
        s = record_whole(ctx, list, &batch);
    if (s == CLG_OK && nparts > slices) {
        clg_gemm_call rest = slice_call(g, slices, true, parts);
        s = record_whole(ctx, list, &rest);
    }
    if (s == CLG_OK)
        s = clg_cmd_kernel_1d(list, ctx, "gemm", NULL, "gemm_sum_parts", g->M * g->N,
                              CLG_ARGS(KINT(g->M), KINT(g->N), KINT(nparts),
                                       KMEM(parts), KFLOAT(g->beta), KMEM(g->C),
                                       KINT(g->c_off), KINT(g->ldc)),
                              CLG_NO_COUNTER, NULL);
    return s;
}

clg_status clg_gemm_enqueue(clg_context *ctx, const clg_gemm_call *g)
{
    clg_status s = check_bias(ctx, g);
    if (s != CLG_OK || nothing_to_do(g))
        return s;
    size_t slices = k_slices(ctx, g);
    if (slices == 1)
        return takes_clblast(ctx, g) ? clg_gemm_clblast_enqueue(ctx, g)
                                     : clg_gemm_native_enqueue(ctx, g);
    /* Recorded and run at once; the scratch goes back to the pool with the
     * list, and whatever reuses it is enqueued after on the in-order queue. */
    clg_cmdlist list = {0};
    s = record_split(ctx, &list, g, slices);
    if (s == CLG_OK)
        s = clg_cmdlist_run(ctx, &list, 0);
    clg_cmdlist_clear(&list);
    return s;
}

clg_status clg_gemm_record(clg_context *ctx, clg_cmdlist *list, const clg_gemm_call *g)
{
    clg_status s = check_bias(ctx, g);
    if (s != CLG_OK || nothing_to_do(g))
        return s;
    size_t slices = k_slices(ctx, g);
    return slices == 1 ? record_whole(ctx, list, g)
                       : record_split(ctx, list, g, slices);
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
