/* clgrad's own GEMM kernel (cl/gemm.cl): launch ranges and arguments. */
#include <stdio.h>

#include "blas/blas_internal.h"

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
    const cl_mem bias = g->bias ? g->bias : g->C; /* unread without BIAS */
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(cl_mem), &bias);
    return s;
}

/* The block of C per work-item and the work-group width: the context's
 * tuning (clg_gemm_tune), RM x RN of gemm_native or RMT x RNT of gemm_nt. */
static void tuned_block(const clg_context *ctx, const clg_gemm_call *g, size_t *rm,
                        size_t *rn, size_t *group)
{
    clg_gemm_tuning t = clg_context_gemm_tuning(ctx, NULL);
    bool nt = nt_case(g);
    *rm = (size_t)(nt ? t.nt_rows : t.rows);
    *rn = (size_t)(nt ? t.nt_cols : t.cols);
    *group = (size_t)(nt ? t.nt_group : t.group);
}

/* gemm_native's work-groups, each a row of `group` work-items along C's
 * columns: *cols of them across C, *rows down it. */
static void native_groups(const clg_context *ctx, const clg_gemm_call *g, size_t *cols,
                          size_t *rows, size_t *width)
{
    size_t rm, rn, group;
    tuned_block(ctx, g, &rm, &rn, &group);
    size_t items = (g->N + rn - 1) / rn;
    *width = items < group ? items : group;
    *cols = (items + *width - 1) / *width;
    *rows = (g->M + rm - 1) / rm;
}

/* PoCL's CPU device runs a launch's work-groups in order of their ids,
 * along C's columns first in a 2-d range, so gemm_native then reads all of
 * B [K, N] once for each block of rows of C and A's rows once; when B
 * outgrows what the caches keep, each of those passes comes from memory.
 * Whether the work-groups go down C's rows first instead (ROWS_FIRST in
 * cl/gemm.cl: one work-group column's panel of B, K x group RN floats,
 * stays in cache while every block of rows uses it, and A is read once for
 * each work-group column): where B is over 2 MB and that reads fewer
 * floats. PoCL runs work-groups in order; along the columns first it read
 * B once per block of rows, which fell off a cliff where B outgrew the
 * last-level cache. Intel's CPU runtime showed no such cliff: it keeps its
 * order (docs/performance.md). */
#define ROWS_FIRST_MIN_B ((size_t)2 << 20)
static bool rows_first(const clg_context *ctx, const clg_gemm_call *g)
{
    if (nt_case(g) || !clg_is_pocl_cpu(ctx) ||
        g->K * g->N * sizeof(float) <= ROWS_FIRST_MIN_B)
        return false;
    size_t cols, rows, width;
    native_groups(ctx, g, &cols, &rows, &width);
    double a = (double)g->M * g->K, b = (double)g->K * g->N;
    return b + a * (double)cols < a + b * (double)rows;
}

static void native_range(const clg_context *ctx, const clg_gemm_call *g,
                         size_t global[3], size_t local[3])
{
    size_t cols, rows, width;
    native_groups(ctx, g, &cols, &rows, &width);
    bool down = rows_first(ctx, g);
    global[0] = cols * width * (down ? rows : 1);
    global[1] = down ? 1 : rows;
    global[2] = g->batch;
    local[0] = width;
    local[1] = local[2] = 1;
}

static void native_options(const clg_context *ctx, const clg_gemm_call *g, char *buf,
                           size_t len)
{
    size_t rm, rn, group;
    tuned_block(ctx, g, &rm, &rn, &group);
    snprintf(buf, len,
             "-DTRANS_A=%d -DTRANS_B=%d -DBIAS=%d -D%s=%zu -D%s=%zu -DROWS_FIRST=%d "
             "-DVK=%d",
             g->trans_a, g->trans_b, g->bias != NULL, nt_case(g) ? "RMT" : "RM", rm,
             nt_case(g) ? "RNT" : "RN", rn, rows_first(ctx, g),
             clg_gemm_narrow(clg_context_device(ctx)) ? 8 : 16);
}

/* A B^T goes as A (B^T) through gemm_native, B transposed first, where
 * that pays: gemm_nt sums each block's products across vector lanes at the
 * end, which costs most when k is short, and the transposition moves N K
 * floats, which pays back when M rows reuse them, not for the MLP's
 * shapes, and with k in the thousands (a convolution's weight gradient)
 * gemm_nt is as fast or faster (docs/performance.md). */
static bool via_transpose(const clg_gemm_call *g)
{
    return nt_case(g) && g->K <= 1024 && (g->M >= 256 || g->K <= 64);
}

/* Bt holds one transposed B per batch entry, or one for all when the batch
 * shares B (stride 0). */
static size_t transposed_bytes(const clg_gemm_call *g)
{
    return (g->b_stride ? g->batch : 1) * g->N * g->K * sizeof(float);
}

/* A transposed B of over this many bytes goes in panels of B's rows (C's
 * columns), one after another through one such buffer: GPT-2's output
 * layer, B [50,257, 768], would otherwise hold 147 MiB for it. A bias
 * (indexed by C's column, from 0) keeps the product whole. */
#define TRANSPOSE_PANEL_BYTES ((size_t)32 << 20)

/* The columns of C per panel: all of them, or a multiple of 64 that keeps
 * the transposed panel within TRANSPOSE_PANEL_BYTES. */
static size_t panel_width(const clg_gemm_call *g)
{
    size_t per_column = transposed_bytes(g) / g->N;
    size_t w = TRANSPOSE_PANEL_BYTES / per_column / 64 * 64;
    return g->bias || transposed_bytes(g) <= TRANSPOSE_PANEL_BYTES || w >= g->N
               ? g->N
               : (w ? w : 64);
}

/* Columns n0 .. n0 + w - 1 of C (fewer at the end): B's rows n0 .. */
static clg_gemm_call panel(const clg_gemm_call *g, size_t n0, size_t w)
{
    clg_gemm_call part = *g;
    part.N = n0 + w <= g->N ? w : g->N - n0;
    part.b_off = g->b_off + n0 * g->ldb;
    part.c_off = g->c_off + n0;
    return part;
}

static clg_gemm_call reading_transposed(const clg_gemm_call *g, cl_mem bt)
{
    clg_gemm_call nn = *g;
    nn.trans_b = false;
    nn.B = bt;
    nn.b_off = 0;
    nn.ldb = g->N;
    nn.b_stride = g->b_stride ? g->N * g->K : 0;
    return nn;
}

static clg_status set_transpose_args(cl_kernel k, const clg_gemm_call *g, cl_mem bt)
{
    const cl_int v[] = {(cl_int)g->N, (cl_int)g->K};
    const cl_int b[] = {(cl_int)g->b_off, (cl_int)g->ldb, (cl_int)g->b_stride};
    clg_status s = CLG_OK;
    cl_uint i = 0;
    for (int d = 0; s == CLG_OK && d < 2; d++)
        s = clg_kernel_arg(k, i++, sizeof(cl_int), &v[d]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(cl_mem), &g->B);
    for (int d = 0; s == CLG_OK && d < 3; d++)
        s = clg_kernel_arg(k, i++, sizeof(cl_int), &b[d]);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, i++, sizeof(cl_mem), &bt);
    return s;
}

static void transpose_range(const clg_gemm_call *g, size_t global[3], size_t local[3])
{
    global[0] = g->N;
    global[1] = g->K;
    global[2] = g->b_stride ? g->batch : 1;
    local[0] = g->N < 16 ? g->N : 16;
    local[1] = local[2] = 1;
}

/* The product's kernel, or with bt the transposition of B into bt: its
 * arguments and launch range. */
static clg_status set_args(cl_kernel k, const clg_gemm_call *g, cl_mem bt)
{
    return bt ? set_transpose_args(k, g, bt) : set_native_args(k, g);
}

static void launch_range(const clg_context *ctx, const clg_gemm_call *g, cl_mem bt,
                         size_t global[3], size_t local[3])
{
    if (bt)
        transpose_range(g, global, local);
    else
        native_range(ctx, g, global, local);
}

/* Appends kernel `name` of the list's own, its arguments set once. */
static clg_status record_kernel(clg_context *ctx, clg_cmdlist *list,
                                const char *options, const char *name,
                                const clg_gemm_call *g, cl_mem bt)
{
    cl_kernel own;
    clg_status s = clg_kernel_create(ctx, "gemm", options, name, &own);
    if (s != CLG_OK)
        return s;
    s = set_args(own, g, bt);
    if (s != CLG_OK) {
        clReleaseKernel(own);
        return s;
    }
    size_t global[3], local[3];
    launch_range(ctx, g, bt, global, local);
    return clg_cmd_kernel(list, own, 3, global, local, CLG_NO_COUNTER);
}

/* On CPUs gemm_native over a long k (K_CHUNK_MIN_K and more) with a B of
 * over K_CHUNK_MIN_B goes as products over chunks of k, one after another,
 * each adding to C: every block of C's rows would otherwise stream all of
 * B from memory again, where a chunk's share of B (about K_CHUNK_B) stays
 * in cache. GPT-2's output layer's input gradient, dy [1,024, 50,257] W
 * (154 MB of B): 41 -> 178 GFLOP/s on PoCL (chunks of 1 MiB: 167, 16 MiB:
 * 111; docs/performance.md). The first chunk takes beta and the bias, the
 * rest add. A B^T (gemm_nt) is split by gemm.c where it needs to be. */
#define K_CHUNK_MIN_K 8192
#define K_CHUNK_MIN_B ((size_t)32 << 20)
#define K_CHUNK_B     ((size_t)4 << 20)

static size_t k_chunk(const clg_context *ctx, const clg_gemm_call *g)
{
    if (ctx->info.type != CLG_DEVICE_CPU || g->batch != 1 || g->trans_b ||
        g->K < K_CHUNK_MIN_K || g->K * g->N * sizeof(float) <= K_CHUNK_MIN_B)
        return g->K;
    size_t kc = K_CHUNK_B / (g->N * sizeof(float)) / 256 * 256;
    return kc < 256 ? 256 : kc;
}

/* On CPUs, A^T B (a weight gradient, dy^T x) over M, N and k of 256 and
 * more goes as (A^T) B through gemm_native, A transposed first: with A's
 * columns as C's rows, each k read half a cache line of A at a stride of
 * lda. GPT-2's MLP weight gradient (3,072 x 768 x 1,024): 93-112 -> 129-
 * 154 GFLOP/s on PoCL, 46 -> 148 on Intel's runtime; the output layer's
 * (50,257 x 768 x 1,024) 88-114 -> 142-152 on PoCL (docs/performance.md).
 * In panels of C's rows, each transposed within TRANSPOSE_PANEL_BYTES. */
static bool via_transpose_a(const clg_context *ctx, const clg_gemm_call *g)
{
    return ctx->info.type == CLG_DEVICE_CPU && g->trans_a && !g->trans_b &&
           g->batch == 1 && g->M >= 256 && g->N >= 256 && g->K >= 256;
}

/* Rows i0 .. i0 + w - 1 of C (fewer at the end): A's columns i0 .. */
static clg_gemm_call row_panel(const clg_gemm_call *g, size_t i0, size_t w)
{
    clg_gemm_call part = *g;
    part.M = i0 + w <= g->M ? w : g->M - i0;
    part.a_off = g->a_off + i0;
    part.c_off = g->c_off + i0 * g->ldc;
    return part;
}

static size_t row_panel_height(const clg_gemm_call *g)
{
    size_t h = TRANSPOSE_PANEL_BYTES / (g->K * sizeof(float)) / 64 * 64;
    return h < 64 ? 64 : h;
}

/* transpose_b's call that makes A^T [M, K] of A [K, M]: its "B" [N, K] is A
 * with N = K rows of M. */
static clg_gemm_call a_as_b(const clg_gemm_call *g)
{
    clg_gemm_call t = *g;
    t.N = g->K;
    t.K = g->M;
    t.B = g->A;
    t.b_off = g->a_off;
    t.ldb = g->lda;
    t.b_stride = 0;
    return t;
}

/* The product reading the transposed A in at. */
static clg_gemm_call reading_transposed_a(const clg_gemm_call *g, cl_mem at)
{
    clg_gemm_call nn = *g;
    nn.trans_a = false;
    nn.A = at;
    nn.a_off = 0;
    nn.lda = g->K;
    nn.a_stride = 0;
    return nn;
}

/* Chunk [k0, k0 + kc) of k (fewer at the end). */
static clg_gemm_call k_part(const clg_gemm_call *g, size_t k0, size_t kc)
{
    clg_gemm_call part = *g;
    part.K = k0 + kc <= g->K ? kc : g->K - k0;
    part.a_off += g->trans_a ? k0 * g->lda : k0;
    part.b_off += g->trans_b ? k0 : k0 * g->ldb;
    if (k0) {
        part.beta = 1.0f;
        part.bias = NULL;
    }
    return part;
}

/* Sets a shared kernel's arguments and launches it, under the context's
 * lock: another thread's call may use the same cached kernel object. */
static clg_status launch_shared(clg_context *ctx, cl_kernel k, const clg_gemm_call *g,
                                cl_mem bt)
{
    size_t global[3], local[3];
    launch_range(ctx, g, bt, global, local);
    pthread_mutex_lock(&ctx->lock);
    clg_status s = set_args(k, g, bt);
    if (s == CLG_OK)
        s = clg_launch(ctx, k, 3, global, local);
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

/* A product's commands go to `list`, or with list NULL are enqueued now:
 * a kernel of the list's own, or the context's shared one; scratch of the
 * list's, or a buffer of the product's own that goes back to the pool once
 * the product is enqueued (whatever reuses it comes after on the in-order
 * queue). */
static clg_status put_kernel(clg_context *ctx, clg_cmdlist *list, const char *options,
                             const char *name, const clg_gemm_call *g, cl_mem bt)
{
    if (list)
        return record_kernel(ctx, list, options, name, g, bt);
    cl_kernel k;
    clg_status s = clg_kernel_get(ctx, "gemm", options, name, &k);
    return s == CLG_OK ? launch_shared(ctx, k, g, bt) : s;
}

static clg_status put_scratch(clg_context *ctx, clg_cmdlist *list, size_t bytes,
                              clg_buffer **held, cl_mem *mem)
{
    if (list)
        return clg_cmd_scratch(list, ctx, bytes, mem);
    clg_status s = clg_buffer_create(ctx, bytes, held);
    if (s == CLG_OK)
        *mem = (*held)->mem;
    return s;
}

/* The product as chunks of k, through a transposed A or B, or whole. */
static clg_status put_product(clg_context *ctx, clg_cmdlist *list,
                              const clg_gemm_call *g)
{
    size_t kc = k_chunk(ctx, g);
    clg_status s = CLG_OK;
    if (kc < g->K) {
        for (size_t k0 = 0; s == CLG_OK && k0 < g->K; k0 += kc) {
            clg_gemm_call part = k_part(g, k0, kc);
            s = put_product(ctx, list, &part);
        }
        return s;
    }
    clg_buffer *held = NULL;
    cl_mem t = NULL;
    if (via_transpose_a(ctx, g)) {
        size_t h = row_panel_height(g);
        clg_gemm_call first = row_panel(g, 0, h);
        s = put_scratch(ctx, list, first.M * g->K * sizeof(float), &held, &t);
        for (size_t i0 = 0; s == CLG_OK && i0 < g->M; i0 += h) {
            clg_gemm_call part = row_panel(g, i0, h), a = a_as_b(&part);
            s = put_kernel(ctx, list, NULL, "transpose_b", &a, t);
            clg_gemm_call nn = reading_transposed_a(&part, t);
            if (s == CLG_OK)
                s = put_product(ctx, list, &nn);
        }
    } else if (via_transpose(g)) {
        size_t w = panel_width(g);
        clg_gemm_call first = panel(g, 0, w);
        s = put_scratch(ctx, list, transposed_bytes(&first), &held, &t);
        for (size_t n0 = 0; s == CLG_OK && n0 < g->N; n0 += w) {
            clg_gemm_call part = panel(g, n0, w);
            s = put_kernel(ctx, list, NULL, "transpose_b", &part, t);
            clg_gemm_call nn = reading_transposed(&part, t);
            if (s == CLG_OK)
                s = put_product(ctx, list, &nn);
        }
    } else {
        char options[128];
        native_options(ctx, g, options, sizeof options);
        s = put_kernel(ctx, list, options, native_kernel(g), g, NULL);
    }
    clg_buffer_free(held);
    return s;
}

clg_status clg_gemm_native_record(clg_context *ctx, clg_cmdlist *list,
                                  const clg_gemm_call *g)
{
    return put_product(ctx, list, g);
}

clg_status clg_gemm_native_enqueue(clg_context *ctx, const clg_gemm_call *g)
{
    return put_product(ctx, NULL, g);
}
