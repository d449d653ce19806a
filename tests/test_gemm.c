/* clg_gemm on both paths against a double-precision host reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "base/file.h"
#include "blas/blas_internal.h"

typedef struct gemm_case {
    size_t M, N, K;
} gemm_case;

/* Odd sizes that do not divide the native blocks (8 x 16, and 4 x 4 with
 * 16-wide k vectors for A B^T) or CLBlast's tiles. */
static const gemm_case cases[] = {
    {1, 1, 1},     {7, 13, 5},  {13, 7, 33}, {33, 17, 64},
    {64, 96, 100}, {17, 130, 9}, {9, 21, 1100}, {300, 5, 70},
    /* native.c transposes B for A B^T with k <= 64, or M >= 256 and k <= 1024 */
    /* few tiles, long k: CLBlast's path splits k (gemm.c), with and
     * without a rest after the equal slices, and so does the native one
     * for A B^T over k >= 8192 (2 slices; with a rest: check_all) */
    {5, 7, 4503}, {32, 9, 8192},
};

/* Reference: C = alpha op(A) op(B) + beta C, and the bound on rounding error. */
static void host_gemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                      const float *A, size_t lda, const float *B, size_t ldb,
                      float beta, const float *C, size_t ldc, double *out,
                      double *bound)
{
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            double acc = 0, mag = 0;
            for (size_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
                mag += fabs(a * b);
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            out[i * N + j] = alpha * acc + c;
            bound[i * N + j] = 1e-5 * (fabs(alpha) * mag + fabs(c)) + 1e-6;
        }
    }
}

static clg_buffer *upload(clg_context *ctx, const float *data, size_t n)
{
    clg_buffer *b;
    assert_ok(clg_buffer_create(ctx, n * sizeof(float), &b));
    assert_ok(clg_buffer_upload(b, 0, data, n * sizeof(float)));
    return b;
}

/* One product with padded leading dimensions and offsets into each buffer. */
static void check_case(clg_context *ctx, gemm_case g, bool ta, bool tb, float alpha,
                       float beta)
{
    const size_t pad = 3, off = 5;
    size_t a_rows = ta ? g.K : g.M, a_cols = ta ? g.M : g.K;
    size_t b_rows = tb ? g.N : g.K, b_cols = tb ? g.K : g.N;
    size_t lda = a_cols + pad, ldb = b_cols + pad, ldc = g.N + pad;
    size_t na = off + a_rows * lda, nb = off + b_rows * ldb, nc = off + g.M * ldc;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
    float *C = malloc(nc * sizeof *C), *got = malloc(nc * sizeof *got);
    double *want = malloc(g.M * g.N * sizeof *want);
    double *bound = malloc(g.M * g.N * sizeof *bound);
    uint32_t seed = (uint32_t)(g.M * 131 + g.N * 17 + g.K);
    for (size_t i = 0; i < na; i++)
        A[i] = test_random(&seed);
    for (size_t i = 0; i < nb; i++)
        B[i] = test_random(&seed);
    for (size_t i = 0; i < nc; i++) /* NaN where beta == 0: C must not be read */
        C[i] = beta == 0.0f ? NAN : test_random(&seed);
    host_gemm(ta, tb, g.M, g.N, g.K, alpha, A + off, lda, B + off, ldb, beta, C + off,
              ldc, want, bound);

    clg_buffer *bA = upload(ctx, A, na), *bB = upload(ctx, B, nb),
               *bC = upload(ctx, C, nc);
    assert_ok(clg_gemm(ctx, ta, tb, g.M, g.N, g.K, alpha, bA, off, lda, bB, off, ldb,
                       beta, bC, off, ldc));
    assert_ok(clg_buffer_download(bC, 0, got, nc * sizeof(float)));
    for (size_t i = 0; i < g.M; i++) {
        for (size_t j = 0; j < g.N; j++) {
            double w = want[i * g.N + j], v = got[off + i * ldc + j];
            if (!(fabs(v - w) <= bound[i * g.N + j]))
                fail_msg(
                    "%s gemm %zux%zux%zu ta=%d tb=%d: C[%zu,%zu] = %.8g, want %.8g",
                    clg_gemm_path_str(clg_context_gemm_path(ctx)), g.M, g.N, g.K, ta,
                    tb, i, j, v, w);
        }
        /* The padding after each row is left alone. */
        for (size_t j = g.N; j < ldc && i + 1 < g.M; j++) {
            float before = C[off + i * ldc + j], after = got[off + i * ldc + j];
            assert_true(memcmp(&before, &after, sizeof before) == 0);
        }
    }
    clg_buffer_free(bA);
    clg_buffer_free(bB);
    clg_buffer_free(bC);
    free(A), free(B), free(C), free(got), free(want), free(bound);
}

static void check_all(clg_context *ctx, clg_gemm_path path)
{
    assert_ok(clg_context_set_gemm_path(ctx, path));
    assert_int_equal(clg_context_gemm_path(ctx), path);
    /* On Rusticl's llvmpipe, which ends a work-item's loops once they have
     * run 65,535 iterations in all (runtime_internal.h's clg_loop_limit),
     * the native path slices k over 2,048 (gemm.c): the products over k =
     * 4,503, 8,192 and 8,195 came out short there before (one 8 x 16
     * block's loops stopped near k = 6,550). */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int t = 0; t < 4; t++)
            check_case(ctx, cases[c], t & 1, t & 2, 1.0f, 0.0f);
    /* alpha and beta, on a size that takes every code path. */
    check_case(ctx, (gemm_case){37, 45, 29}, false, true, 1.5f, 0.5f);
    check_case(ctx, (gemm_case){37, 45, 29}, true, false, -0.5f, 1.0f);
    /* A B^T over a k the native path splits in 2 with a rest, beta in the
     * sum; no other transposition (under oclgrind, long k costs minutes) */
    check_case(ctx, (gemm_case){3, 5, 8195}, false, true, 1.5f, 0.5f);
    /* On PoCL's CPU device gemm_native's work-groups go down C's rows
     * first where B is over 2 MB (native.c's rows_first): here 3.2 MB, 37
     * rows (a block at the edge whatever the tuning), columns that end
     * inside a work-group, op(A) = A and A^T, alpha and beta. */
    bool pocl = strstr(clg_context_device(ctx)->platform_name,
                       "Portable Computing Language") != NULL;
    if (pocl && path == CLG_GEMM_NATIVE) {
        check_case(ctx, (gemm_case){37, 6151, 131}, false, false, 1.5f, 0.5f);
        check_case(ctx, (gemm_case){37, 6151, 131}, true, false, 1.0f, 0.0f);
    }
}

static void test_native_matches_host_reference(void **state)
{
    check_all(*state, CLG_GEMM_NATIVE);
}

static void test_clblast_matches_host_reference(void **state)
{
    check_all(*state, CLG_GEMM_CLBLAST);
}

static void test_larger_than_a_tile_on_both_paths(void **state)
{
    clg_context *ctx = *state;
    for (int p = CLG_GEMM_CLBLAST; p <= CLG_GEMM_NATIVE; p++) {
        assert_ok(clg_context_set_gemm_path(ctx, (clg_gemm_path)p));
        check_case(ctx, (gemm_case){130, 257, 200}, false, false, 1.0f, 0.0f);
        /* A B^T over k = 784 (the cases' 9 x 21 over 1,100 on the simulator) */
        if (!test_on_simulator(clg_context_device(ctx)))
            check_case(ctx, (gemm_case){64, 256, 784}, false, true, 1.0f, 0.0f);
    }
}

/* Enqueued and recorded, the same numbers; recorded, under that scratch. */
static void record_equals_enqueue(clg_context *ctx, gemm_case g, bool ta, bool tb,
                                  size_t scratch_below)
{
    clg_gemm_call call = {.trans_a = ta, .trans_b = tb, .M = g.M, .N = g.N, .K = g.K,
                          .batch = 1, .alpha = 1.0f, .beta = 0.5f};
    call.lda = ta ? g.M : g.K, call.ldb = tb ? g.K : g.N, call.ldc = g.N;
    size_t a_n = g.M * g.K, b_n = g.K * g.N;
    size_t nc = call.M * call.ldc, n = (a_n > b_n ? a_n : b_n) + nc;
    float *host = malloc(n * sizeof *host), *c = host + n - nc;
    float *got[2] = {malloc(nc * 4), malloc(nc * 4)};
    uint32_t seed = 5;
    for (size_t i = 0; i < n; i++)
        host[i] = test_random(&seed);
    clg_buffer *bA = upload(ctx, host, a_n), *bB = upload(ctx, host, b_n);
    call.A = clg_buffer_mem(bA), call.B = clg_buffer_mem(bB);
    for (int way = 0; way < 2; way++) {
        clg_buffer *bC = upload(ctx, c, nc);
        call.C = clg_buffer_mem(bC);
        if (way == 0) {
            assert_ok(clg_gemm_enqueue(ctx, &call));
        } else {
            clg_cmdlist list = {0};
            assert_ok(clg_gemm_record(ctx, &list, &call));
            assert_true(clg_cmdlist_scratch_bytes(&list) < scratch_below);
            assert_ok(clg_cmdlist_run(ctx, &list, 0));
            assert_ok(clg_context_finish(ctx));
            clg_cmdlist_clear(&list);
        }
        assert_ok(clg_buffer_download(bC, 0, got[way], nc * sizeof(float)));
        clg_buffer_free(bC);
    }
    assert_memory_equal(got[0], got[1], nc * sizeof(float));
    clg_buffer_free(bA), clg_buffer_free(bB);
    free(host), free(got[0]), free(got[1]);
}

/* A B^T whose transposed B passes 32 MiB goes in panels of C's columns
 * through one smaller buffer (native.c): 131,075 columns of k 64 make a
 * panel of 131,072 and one of 3. The recorded product gives the enqueued
 * one's numbers bit for bit, and holds less than B^T for scratch. */
static void test_a_large_transposed_b_goes_in_panels(void **state)
{
    clg_context *ctx = *state;
    if (test_on_simulator(clg_context_device(ctx)))
        skip(); /* 42 M products: minutes under oclgrind */
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_NATIVE));
    gemm_case g = {5, 131075, 64};
    check_case(ctx, g, false, true, 1.5f, 0.5f);
    record_equals_enqueue(ctx, g, false, true, g.N * g.K * sizeof(float));
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
}

/* On CPUs A^T B over M and k of 256 and more goes as A transposed first,
 * in panels of C's rows whose transposed A stays within 32 MiB: over k
 * 40,000, panels of 192 rows, here one and a rest of 108 (native.c). */
static void test_a_transposed_a_goes_through_a_transposed_copy(void **state)
{
    clg_context *ctx = *state;
    if (test_on_simulator(clg_context_device(ctx)))
        skip(); /* 84 M products: minutes under oclgrind */
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_NATIVE));
    gemm_case g = {300, 7, 40000};
    check_case(ctx, g, true, false, 1.5f, 0.5f);
    check_case(ctx, (gemm_case){257, 33, 300}, true, false, 1.0f, 0.0f); /* 1 panel */
    record_equals_enqueue(ctx, g, true, false, 256 * g.K * sizeof(float));
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
}

/* On CPUs gemm_native over k of 8,192 and more with a B of over 32 MiB
 * goes in chunks of k, each adding to C (native.c): 8,200 = 8 x 1,024 + 8
 * for N 1,024, with alpha and beta, op(A) = A and A^T. */
static void test_a_long_k_goes_in_chunks_on_cpus(void **state)
{
    clg_context *ctx = *state;
    if (test_on_simulator(clg_context_device(ctx)))
        skip(); /* half a billion products: hours under oclgrind */
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_NATIVE));
    check_case(ctx, (gemm_case){65, 1024, 8200}, false, false, 1.5f, 0.5f);
    check_case(ctx, (gemm_case){65, 1024, 8200}, true, false, 1.0f, 0.0f);
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
}

static void test_k_zero_scales_c_by_beta(void **state)
{
    clg_context *ctx = *state;
    for (int p = CLG_GEMM_CLBLAST; p <= CLG_GEMM_NATIVE; p++) {
        assert_ok(clg_context_set_gemm_path(ctx, (clg_gemm_path)p));
        float c[6] = {1, 2, 3, 4, 5, 6}, out[6];
        clg_buffer *bC = upload(ctx, c, 6);
        assert_ok(clg_gemm(ctx, false, false, 2, 3, 0, 1.0f, NULL, 0, 1, NULL, 0, 3,
                           2.0f, bC, 0, 3));
        assert_ok(clg_buffer_download(bC, 0, out, sizeof out));
        for (int i = 0; i < 6; i++)
            assert_true(out[i] == 2.0f * c[i]);
        clg_buffer_free(bC);
    }
}

static void test_bad_arguments_name_the_matrix(void **state)
{
    clg_context *ctx = *state;
    clg_buffer *small, *big;
    assert_ok(clg_buffer_create(ctx, 10 * sizeof(float), &small));
    assert_ok(clg_buffer_create(ctx, 100 * sizeof(float), &big));
    /* B needs 4 x 5 = 20 floats, has 10. */
    assert_int_equal(
        clg_gemm(ctx, false, false, 3, 5, 4, 1, big, 0, 4, small, 0, 5, 0, big, 0, 5),
        CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "matrix B");
    assert_contains(clg_last_error(), "needs 20 floats, its buffer holds 10");
    /* A leading dimension shorter than a row. */
    assert_int_equal(
        clg_gemm(ctx, false, false, 3, 5, 4, 1, big, 0, 3, big, 0, 5, 0, big, 0, 5),
        CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "leading dimension of A is 3");
    assert_int_equal(
        clg_gemm(ctx, false, false, 3, 5, 4, 1, big, 0, 4, big, 0, 5, 0, NULL, 0, 5),
        CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "matrix C is NULL");
    clg_buffer_free(small);
    clg_buffer_free(big);
}

static void test_unknown_clgrad_gemm_value_is_refused(void **state)
{
    (void)state;
    const char *was = getenv("CLGRAD_GEMM"); /* the test setup's, put back */
    char before[32] = "";
    if (was)
        snprintf(before, sizeof before, "%s", was);
    setenv("CLGRAD_GEMM", "fastest", 1);
    clg_context *ctx = NULL;
    assert_int_equal(clg_context_create(0, &ctx), CLG_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_contains(clg_last_error(), "CLGRAD_GEMM='fastest'");
    setenv("CLGRAD_GEMM", "native", 1);
    assert_ok(clg_context_create(0, &ctx));
    assert_int_equal(clg_context_gemm_path(ctx), CLG_GEMM_NATIVE);
    clg_context_free(ctx);
    if (was)
        setenv("CLGRAD_GEMM", before, 1);
    else
        unsetenv("CLGRAD_GEMM");
}

/* With beta = 0, C is written, never read, as BLAS defines it: a pooled
 * buffer may hold NaN from earlier work, and 0 * NaN would be NaN. */
static void test_beta_zero_never_reads_c(void **state)
{
    clg_context *ctx = *state;
    enum { M = 37, N = 29, K = 19 };
    static float a[M * K], b[K * N], c[M * N];
    static double want[M * N], bound[M * N]; /* small integers: exact */
    for (int i = 0; i < M * K; i++)
        a[i] = (float)((i * 7) % 11) - 5.0f;
    for (int i = 0; i < K * N; i++)
        b[i] = (float)((i * 5) % 13) - 6.0f;
    host_gemm(false, false, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N, want, bound);
    const clg_gemm_path paths[] = {CLG_GEMM_NATIVE, CLG_GEMM_CLBLAST};
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < M * N; i++)
            c[i] = NAN;
        clg_buffer *bA = upload(ctx, a, M * K), *bB = upload(ctx, b, K * N),
                   *bC = upload(ctx, c, M * N);
        assert_ok(clg_context_set_gemm_path(ctx, paths[p]));
        assert_ok(clg_gemm(ctx, false, false, M, N, K, 1.0f, bA, 0, K, bB, 0, N, 0.0f,
                           bC, 0, N));
        assert_ok(clg_buffer_download(bC, 0, c, sizeof c));
        for (int i = 0; i < M * N; i++)
            if (!((double)c[i] == want[i]))
                fail_msg("%s: C[%d] = %g, want %g (C held NaN, beta 0)",
                         clg_gemm_path_str(paths[p]), i, (double)c[i], want[i]);
        clg_buffer_free(bA), clg_buffer_free(bB), clg_buffer_free(bC);
    }
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
}

/* References to a context's cl_context left after clg_context_free, when
 * its GEMM ran on `path`, waiting up to a second for the driver to drop its
 * own (Rusticl releases them lazily): 1, the caller's, if nothing kept it. */
static cl_uint refs_after_free(clg_gemm_path path)
{
    clg_context *ctx;
    assert_ok(clg_context_create(0, &ctx));
    assert_ok(clg_context_set_gemm_path(ctx, path));
    float a[4] = {1, 2, 3, 4}, c[4];
    clg_buffer *bA = upload(ctx, a, 4), *bC = upload(ctx, a, 4);
    assert_ok(
        clg_gemm(ctx, false, false, 2, 2, 2, 1.0f, bA, 0, 2, bA, 0, 2, 0.0f, bC, 0, 2));
    assert_ok(clg_buffer_download(bC, 0, c, sizeof c));
    assert_true(c[0] == 7 && c[3] == 22);
    clg_buffer_free(bA), clg_buffer_free(bC);
    cl_context cl = ctx->context;
    assert_int_equal(clRetainContext(cl), CL_SUCCESS);
    clg_context_free(ctx);
    cl_uint refs = 0;
    for (int wait = 0; wait < 100; wait++) {
        assert_int_equal(
            clGetContextInfo(cl, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL),
            CL_SUCCESS);
        if (refs <= 1)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    clReleaseContext(cl);
    return refs;
}

/* Freeing a context that ran CLBlast releases its OpenCL context: CLBlast
 * caches its programs, each holding the context, until told to let go. */
static void test_freeing_a_context_releases_clblasts_programs(void **state)
{
    (void)state;
    assert_int_equal(refs_after_free(CLG_GEMM_NATIVE), 1);
    assert_int_equal(refs_after_free(CLG_GEMM_CLBLAST), 1); /* ours alone */
}

/* A strided batch of A B^T on both paths: odd sizes, a k tail past the
 * vectors, padded strides, alpha and beta. */
static void test_batches_of_a_b_transposed(void **state)
{
    clg_context *ctx = *state;
    enum { BATCH = 5, M = 13, N = 9, K = 37, LDA = K + 2, LDB = K + 1 };
    const size_t a_stride = M * LDA + 3, b_stride = N * LDB + 1;
    static float a[BATCH * (M * LDA + 3)], b[BATCH * (N * LDB + 1)];
    static float c0[BATCH * M * N], got[BATCH * M * N];
    static double one[M * N], bound1[M * N];
    uint32_t seed = 11;
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        a[i] = test_random(&seed);
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        b[i] = test_random(&seed);
    for (size_t i = 0; i < sizeof c0 / sizeof *c0; i++)
        c0[i] = test_random(&seed);
    const float alpha = 0.5f, beta = 1.5f;
    for (int path = CLG_GEMM_CLBLAST; path <= CLG_GEMM_NATIVE; path++) {
        assert_ok(clg_context_set_gemm_path(ctx, (clg_gemm_path)path));
        const char *name = clg_gemm_path_str((clg_gemm_path)path);
        clg_buffer *bA = upload(ctx, a, sizeof a / sizeof *a),
                   *bB = upload(ctx, b, sizeof b / sizeof *b),
                   *bC = upload(ctx, c0, sizeof c0 / sizeof *c0);
        clg_gemm_call call = {.trans_b = true, .M = M, .N = N, .K = K,
                              .batch = BATCH, .alpha = alpha, .beta = beta,
                              .A = clg_buffer_mem(bA), .lda = LDA, .a_stride = a_stride,
                              .B = clg_buffer_mem(bB), .ldb = LDB, .b_stride = b_stride,
                              .C = clg_buffer_mem(bC), .ldc = N, .c_stride = M * N};
        assert_ok(clg_gemm_enqueue(ctx, &call));
        assert_ok(clg_buffer_download(bC, 0, got, sizeof got));
        for (int s = 0; s < BATCH; s++) {
            host_gemm(false, true, M, N, K, alpha, a + s * a_stride, LDA,
                      b + s * b_stride, LDB, beta, c0 + s * M * N, N, one, bound1);
            for (int i = 0; i < M * N; i++)
                if (!(fabs(got[s * M * N + i] - one[i]) <= bound1[i]))
                    fail_msg("%s: C[%d][%d] = %g, want %g", name, s, i,
                             (double)got[s * M * N + i], one[i]);
        }
        clg_buffer_free(bA), clg_buffer_free(bB), clg_buffer_free(bC);
    }
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
}

/* A bias in the epilogue: added to every row of C after alpha and beta, on
 * every kernel of the native path, at sizes with edge blocks; refused on
 * CLBlast's. */
static void epilogue_case(clg_context *ctx, int K);

static void test_native_epilogue_adds_a_bias(void **state)
{
    for (int round = 0; round < 2; round++)
        epilogue_case(*state, round ? 1031 : 19); /* A B^T as is, or transposed */
}

static void epilogue_case(clg_context *ctx, int K)
{
    enum { M = 13, N = 37, KMAX = 1031 };
    static float a[M * KMAX], b[KMAX * N], c0[M * N], bias[N], got[M * N];
    static double want[M * N], bound[M * N];
    uint32_t seed = 5;
    for (int i = 0; i < M * K; i++)
        a[i] = test_random(&seed);
    for (int i = 0; i < K * N; i++)
        b[i] = test_random(&seed);
    for (int i = 0; i < M * N; i++)
        c0[i] = test_random(&seed);
    for (int i = 0; i < N; i++)
        bias[i] = test_random(&seed);
    clg_buffer *bA = upload(ctx, a, M * K), *bB = upload(ctx, b, K * N),
               *bC = upload(ctx, c0, M * N), *bBias = upload(ctx, bias, N);
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        size_t lda = ta ? M : K, ldb = tb ? K : N;
        host_gemm(ta, tb, M, N, K, 0.5f, a, lda, b, ldb, 1.5f, c0, N, want, bound);
        assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_NATIVE));
        assert_true(clg_gemm_adds_bias(ctx));
        clg_gemm_call call = {.trans_a = ta, .trans_b = tb, .M = M, .N = N, .K = K,
                              .batch = 1, .alpha = 0.5f, .beta = 1.5f,
                              .A = clg_buffer_mem(bA), .lda = lda,
                              .B = clg_buffer_mem(bB), .ldb = ldb,
                              .C = clg_buffer_mem(bC), .ldc = N,
                              .bias = clg_buffer_mem(bBias)};
        assert_ok(clg_buffer_upload(bC, 0, c0, sizeof c0));
        assert_ok(clg_gemm_enqueue(ctx, &call));
        assert_ok(clg_buffer_download(bC, 0, got, sizeof got));
        for (int i = 0; i < M * N; i++) {
            double w = want[i] + bias[i % N];
            if (!(fabs(got[i] - w) <= bound[i] + 1e-6 * fabs(w)))
                fail_msg("ta=%d tb=%d: C[%d] = %g, want %g", ta, tb, i, (double)got[i],
                         w);
        }
        assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_CLBLAST));
        assert_false(clg_gemm_adds_bias(ctx));
        assert_int_equal(clg_gemm_enqueue(ctx, &call), CLG_INVALID_ARGUMENT);
        assert_contains(clg_last_error(), "bias in the epilogue runs only on the native");
    }
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
    clg_buffer_free(bA), clg_buffer_free(bB), clg_buffer_free(bC), clg_buffer_free(bBias);
}

/* Blocks the tuner tries and the extremes it accepts compute the same
 * products: every case above under each tuning. */
static void test_every_tuning_matches_host_reference(void **state)
{
    clg_context *ctx = *state;
    const clg_gemm_tuning tunings[] = {
        {4, 8, 1, 2, 4, 1},
        {12, 16, 16, 4, 2, 16},
        {1, 4, 1, 1, 1, 1},
        {16, 16, 4, 8, 2, 4},
    };
    for (size_t i = 0; i < sizeof tunings / sizeof *tunings; i++) {
        assert_ok(clg_context_set_gemm_tuning(ctx, &tunings[i]));
        check_all(ctx, CLG_GEMM_NATIVE);
    }
    const clg_gemm_tuning def = clg_gemm_default_tuning(clg_context_device(ctx));
    assert_ok(clg_context_set_gemm_tuning(ctx, &def));
    assert_ok(clg_context_set_gemm_path(ctx, CLG_GEMM_AUTO));
}

static void test_tunings_out_of_range_are_refused(void **state)
{
    clg_context *ctx = *state;
    clg_gemm_tuning t = CLG_GEMM_TUNING_DEFAULT;
    t.cols = 5;
    assert_int_equal(clg_context_set_gemm_tuning(ctx, &t), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "cols (4, 8 or 16)");
    t = CLG_GEMM_TUNING_DEFAULT;
    t.nt_rows = 8, t.nt_cols = 4;
    assert_int_equal(clg_context_set_gemm_tuning(ctx, &t), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "at most 16");
    t = CLG_GEMM_TUNING_DEFAULT;
    t.group = 1 << 30;
    assert_int_equal(clg_context_set_gemm_tuning(ctx, &t), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "group (1 to the device's");
    assert_int_equal(clg_gemm_tune(ctx, -1, NULL), CLG_INVALID_ARGUMENT);
    clg_gemm_tuning_source src;
    clg_gemm_tuning now = clg_context_gemm_tuning(ctx, &src);
    assert_int_equal(now.cols, 16); /* unchanged */
}

/* With nothing cached: 4 x 16 on CPUs with 8-wide float vectors (AVX2,
 * where 8 x 16 spills), 8 x 16 where they are 16 wide and on GPUs; a
 * device that reports no width keeps the wide default. This device's
 * context starts with its own. */
static void test_default_tuning_follows_the_vector_width(void **state)
{
    clg_context *ctx = *state;
    clg_device_info d = *clg_context_device(ctx);
    const clg_gemm_tuning wide = CLG_GEMM_TUNING_DEFAULT,
                          narrow = CLG_GEMM_TUNING_NARROW;
    struct {
        clg_device_type type;
        unsigned width;
        const clg_gemm_tuning *want;
    } rows[] = {{CLG_DEVICE_CPU, 8, &narrow}, {CLG_DEVICE_CPU, 4, &narrow},
                {CLG_DEVICE_CPU, 16, &wide},  {CLG_DEVICE_CPU, 0, &wide},
                {CLG_DEVICE_GPU, 1, &wide},   {CLG_DEVICE_GPU, 8, &wide}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        clg_device_info v = d;
        v.type = rows[i].type, v.float_vector_width = rows[i].width;
        clg_gemm_tuning t = clg_gemm_default_tuning(&v);
        assert_memory_equal(&t, rows[i].want, sizeof t);
    }
    assert_int_equal(narrow.rows, 4);
    assert_int_equal(wide.rows, 8);
    char dir[] = "/tmp/clgrad-default-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("CLGRAD_CACHE_DIR", dir, 1); /* nothing cached there */
    clg_context *fresh;
    assert_ok(clg_context_create(d.index, &fresh));
    clg_gemm_tuning_source src;
    clg_gemm_tuning t = clg_context_gemm_tuning(fresh, &src),
                    want = clg_gemm_default_tuning(&d);
    assert_int_equal(src, CLG_TUNING_DEFAULT);
    assert_memory_equal(&t, &want, sizeof t);
    clg_context_free(fresh);
    unsetenv("CLGRAD_CACHE_DIR");
    rmdir(dir);
}

static clg_gemm_tuning fresh_tuning(int index, clg_gemm_tuning_source *src)
{
    clg_context *ctx;
    assert_ok(clg_context_create(index, &ctx));
    clg_gemm_tuning t = clg_context_gemm_tuning(ctx, src);
    clg_context_free(ctx);
    return t;
}

/* The tuner's choice goes to the cache, and new contexts on the device
 * start with it; a cache entry that is out of range, or of another driver,
 * is ignored; an unwritable cache is an error naming it. */
static void test_tuning_is_cached_per_device(void **state)
{
    clg_context *ctx = *state;
    const clg_device_info *d = clg_context_device(ctx);
    /* The tuner's products take minutes on a simulator, and on llvmpipe,
     * whose test setup runs CLBlast's path (CLGRAD_GEMM=clblast) because the
     * native kernel is that slow there. */
    const char *path_env = getenv("CLGRAD_GEMM");
    if (test_on_simulator(d) || strstr(d->name, "llvmpipe") ||
        (path_env && !strcmp(path_env, "clblast")))
        skip();
    char dir[] = "/tmp/clgrad-tune-XXXXXX", cache[256], path[1024], text[2048];
    assert_non_null(mkdtemp(dir));
    snprintf(cache, sizeof cache, "%s/a/b", dir); /* made by the tuner */
    setenv("CLGRAD_CACHE_DIR", cache, 1);
    clg_gemm_tuning_source src;
    clg_gemm_tuning t = fresh_tuning(d->index, &src);
    assert_int_equal(src, CLG_TUNING_DEFAULT);
    clg_gemm_tuning start = clg_gemm_default_tuning(d);
    assert_memory_equal(&t, &start, sizeof t);

    assert_ok(clg_gemm_tune(ctx, 0.001, NULL));
    clg_gemm_tuning tuned = clg_context_gemm_tuning(ctx, &src);
    assert_int_equal(src, CLG_TUNING_SET);
    t = fresh_tuning(d->index, &src);
    assert_int_equal(src, CLG_TUNING_CACHED);
    assert_memory_equal(&t, &tuned, sizeof t);

    /* The file is what new contexts read: an edited one is taken. */
    assert_ok(clg_gemm_tuning_path(ctx, path, sizeof path));
    snprintf(text, sizeof text,
             "clgrad GEMM tuning 1\ndevice %s\nplatform %s\ndriver %s\nclgrad %s\n"
             "native 4 8 16\nnt 2 8 1\n",
             d->name, d->platform_name, d->driver_version, clg_version());
    test_write_file(path, text);
    t = fresh_tuning(d->index, &src);
    assert_int_equal(src, CLG_TUNING_CACHED);
    assert_true(t.rows == 4 && t.cols == 8 && t.group == 16 && t.nt_rows == 2 &&
                t.nt_cols == 8 && t.nt_group == 1);
    *strstr(text, "native 4 8") = '\0';
    strcat(text, "native 4 9 16\nnt 2 8 1\n"); /* no 9-wide vectors */
    test_write_file(path, text);
    t = fresh_tuning(d->index, &src);
    assert_int_equal(src, CLG_TUNING_DEFAULT);
    assert_int_equal(t.cols, 16);
    test_write_file(path, "clgrad GEMM tuning 1\ndevice x\nnative 4 8 16\nnt 2 8 1\n");
    fresh_tuning(d->index, &src);
    assert_int_equal(src, CLG_TUNING_DEFAULT);

    /* A cache under a file cannot be made. */
    snprintf(cache, sizeof cache, "%s/plain", dir);
    test_write_file(cache, "");
    strcat(cache, "/sub");
    setenv("CLGRAD_CACHE_DIR", cache, 1);
    assert_int_equal(clg_gemm_tune(ctx, 0.001, NULL), CLG_IO_ERROR);
    assert_contains(clg_last_error(), "plain");
    clg_context_gemm_tuning(ctx, &src);
    assert_int_equal(src, CLG_TUNING_SET); /* the context keeps what was tuned */

    unsetenv("CLGRAD_CACHE_DIR");
    snprintf(text, sizeof text, "rm -rf '%s'", dir);
    assert_int_equal(system(text), 0);
    const clg_gemm_tuning def = clg_gemm_default_tuning(clg_context_device(ctx));
    assert_ok(clg_context_set_gemm_tuning(ctx, &def));
}

/* A context's view of CLBlast's XgemmDirect parameters, and their source. */
static void clblast_direct(clg_context *ctx, char *buf, size_t len,
                           clg_gemm_tuning_source *src)
{
    assert_ok(clg_gemm_clblast_parameters(ctx, "XgemmDirect", buf, len, src));
}

/* CLBlast parameters in the cache file are set into CLBlast by each new
 * context, and products stay right under them; lines CLBlast or the parser
 * refuse are ignored. */
static void test_clblast_parameters_from_the_cache_are_used(void **state)
{
    clg_context *ctx = *state;
    const clg_device_info *d = clg_context_device(ctx);
    char dir[] = "/tmp/clgrad-tune-XXXXXX", path[1024], text[2048], got[600], db[600];
    assert_non_null(mkdtemp(dir));
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    clg_gemm_tuning_source src;
    clblast_direct(ctx, db, sizeof db, &src);
    assert_int_equal(src, CLG_TUNING_DEFAULT);
    assert_non_null(strstr(db, "WGD="));
    char buf[32];
    assert_int_equal(clg_gemm_clblast_parameters(ctx, "Xgemv", buf, sizeof buf, NULL),
                     CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "Xgemv");

    /* A configuration CLBlast's tuner can pick (64 work-items), not its
     * database's default for any device here (VWMD=1). */
    const char *tuned = "KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 "
                        "VWMD=2 VWND=2 WGD=16";
    assert_ok(clg_gemm_tuning_path(ctx, path, sizeof path));
    int head = snprintf(text, sizeof text,
                        "clgrad GEMM tuning 1\ndevice %s\nplatform %s\ndriver %s\n"
                        "clgrad %s\n",
                        d->name, d->platform_name, d->driver_version, clg_version());
    snprintf(text + head, sizeof text - (size_t)head, "clblast XgemmDirect %s\n", tuned);
    test_write_file(path, text);
    clg_context *fresh;
    assert_ok(clg_context_create(d->index, &fresh));
    clblast_direct(fresh, got, sizeof got, &src);
    assert_int_equal(src, CLG_TUNING_CACHED);
    assert_string_equal(got, tuned);
    clg_gemm_tuning_source native_src;
    clg_context_gemm_tuning(fresh, &native_src);
    assert_int_equal(native_src, CLG_TUNING_DEFAULT); /* no native lines */
    if (test_on_simulator(d)) { /* the new kernel's accesses, at its edges */
        assert_ok(clg_context_set_gemm_path(fresh, CLG_GEMM_CLBLAST));
        for (int t = 0; t < 4; t++)
            check_case(fresh, (gemm_case){37, 45, 29}, t & 1, t & 2, 1.5f, 0.5f);
    } else {
        check_all(fresh, CLG_GEMM_CLBLAST);
    }
    clg_context_free(fresh);

    /* A value that is no number, and a set CLBlast finds incomplete. */
    const char *bad[] = {"clblast XgemmDirect KWID=2 WGD\n", "clblast XgemmDirect KWID=x\n",
                         "clblast XgemmDirect KWID=2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text + head, sizeof text - (size_t)head, "%s", bad[i]);
        test_write_file(path, text);
        assert_ok(clg_context_create(d->index, &fresh));
        clblast_direct(fresh, got, sizeof got, &src);
        assert_int_equal(src, CLG_TUNING_DEFAULT);
        clg_context_free(fresh);
    }

    /* CLBlast's parameters hold for the whole process: put the database's
     * back for the tests after this one. */
    clg_clblast_params p;
    assert_true(clg_clblast_params_parse(db, &p));
    assert_ok(clg_gemm_set_clblast_params(ctx, CLG_CLBLAST_XGEMM_DIRECT, &p,
                                          CLG_TUNING_DEFAULT));
    unsetenv("CLGRAD_CACHE_DIR");
    snprintf(text, sizeof text, "rm -rf '%s'", dir);
    assert_int_equal(system(text), 0);
}

/* CLBlast's tuner runs through clgrad: what it keeps is set, cached and
 * read back by new contexts, and products stay right. */
static void test_clblast_tuner_keeps_only_what_it_cached(void **state)
{
    clg_context *ctx = *state;
    const clg_device_info *d = clg_context_device(ctx);
    assert_int_equal(clg_gemm_tune_clblast(ctx, 0, NULL), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "effort");
    assert_int_equal(clg_gemm_tune_clblast(ctx, 200, NULL), CLG_INVALID_ARGUMENT);
    /* Each configuration is a build through the device's OpenCL compiler:
     * PoCL's takes about a second, the others here longer, a sanitized
     * build longer still. */
#if defined(__SANITIZE_ADDRESS__)
    skip();
#endif
    if (!strstr(d->platform_name, "Portable Computing Language"))
        skip();
    char dir[] = "/tmp/clgrad-tune-XXXXXX", path[1024], *file = NULL, cmd[128];
    char line[700], got[600];
    assert_non_null(mkdtemp(dir));
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    assert_ok(clg_gemm_tune_clblast(ctx, 0.05, NULL));
    assert_ok(clg_gemm_tuning_path(ctx, path, sizeof path));
    assert_ok(clg_read_file(path, 1 << 16, &file, NULL));
    clg_context *fresh;
    assert_ok(clg_context_create(d->index, &fresh));
    const char *kernels[] = {"XgemmDirect", "Xgemm"};
    for (int k = 0; k < 2; k++) {
        clg_gemm_tuning_source src, fresh_src;
        assert_ok(clg_gemm_clblast_parameters(ctx, kernels[k], got, sizeof got, &src));
        snprintf(line, sizeof line, "clblast %s %s\n", kernels[k], got);
        assert_true(src == CLG_TUNING_SET || src == CLG_TUNING_DEFAULT);
        assert_int_equal(strstr(file, line) != NULL, src == CLG_TUNING_SET);
        char fresh_got[600];
        assert_ok(clg_gemm_clblast_parameters(fresh, kernels[k], fresh_got,
                                              sizeof fresh_got, &fresh_src));
        assert_int_equal(fresh_src, src == CLG_TUNING_SET ? CLG_TUNING_CACHED
                                                          : CLG_TUNING_DEFAULT);
        assert_string_equal(fresh_got, got);
    }
    check_all(fresh, CLG_GEMM_CLBLAST);
    clg_context_free(fresh);

    /* Tuning the native kernels afterwards keeps CLBlast's lines. */
    assert_ok(clg_gemm_tune(ctx, 0.001, NULL));
    char *again = NULL;
    assert_ok(clg_read_file(path, 1 << 16, &again, NULL));
    assert_non_null(strstr(again, "\nnative "));
    assert_non_null(strstr(again, strstr(file, "clblast") ? strstr(file, "clblast") : ""));
    free(again);
    free(file);
    const clg_gemm_tuning def = clg_gemm_default_tuning(clg_context_device(ctx));
    assert_ok(clg_context_set_gemm_tuning(ctx, &def));
    unsetenv("CLGRAD_CACHE_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_matches_host_reference),
        cmocka_unit_test(test_clblast_matches_host_reference),
        cmocka_unit_test(test_larger_than_a_tile_on_both_paths),
        cmocka_unit_test(test_a_large_transposed_b_goes_in_panels),
        cmocka_unit_test(test_a_transposed_a_goes_through_a_transposed_copy),
        cmocka_unit_test(test_a_long_k_goes_in_chunks_on_cpus),
        cmocka_unit_test(test_k_zero_scales_c_by_beta),
        cmocka_unit_test(test_bad_arguments_name_the_matrix),
        cmocka_unit_test(test_unknown_clgrad_gemm_value_is_refused),
        cmocka_unit_test(test_beta_zero_never_reads_c),
        cmocka_unit_test(test_freeing_a_context_releases_clblasts_programs),
        cmocka_unit_test(test_batches_of_a_b_transposed),
        cmocka_unit_test(test_native_epilogue_adds_a_bias),
        cmocka_unit_test(test_every_tuning_matches_host_reference),
        cmocka_unit_test(test_tunings_out_of_range_are_refused),
        cmocka_unit_test(test_default_tuning_follows_the_vector_width),
        cmocka_unit_test(test_tuning_is_cached_per_device),
        cmocka_unit_test(test_clblast_parameters_from_the_cache_are_used),
        cmocka_unit_test(test_clblast_tuner_keeps_only_what_it_cached),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
