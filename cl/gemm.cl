/* Native SGEMM, row-major: C = alpha * op(A) * op(B) + beta * C.
 * op(A) is M x K, op(B) is K x N, C is M x N; offsets, leading dimensions and
 * batch strides count floats. Built with -DTRANS_A=0|1 -DTRANS_B=0|1
 * -DBIAS=0|1. Dimension 2 of the range is the batch: matrix b of a strided
 * batch starts at offset + b * stride. With BIAS, bias[j] is added to
 * column j of every C after alpha and beta (a linear layer's epilogue: one
 * launch and one pass over C fewer).
 *
 * Register-blocked without local memory: each work-item keeps an RM x RN
 * block of C in vector registers, which suits CPUs, where caches do the
 * tiling. GPUs use CLBlast unless CLGRAD_GEMM=native. */

#include "index.h"

#ifndef TRANS_A
#define TRANS_A 0
#endif
#ifndef TRANS_B
#define TRANS_B 0
#endif
#ifndef BIAS
#define BIAS 0
#endif
#ifndef ROWS_FIRST
#define ROWS_FIRST 0
#endif
/* Block of C per work-item: RM rows x RN columns (RN is 4, 8 or 16). 8 x 16
 * measured best on a 2-core AVX-512 EPYC under PoCL 3.1: 165-200 GFLOP/s at
 * 1024^3, against 113-150 for 6, 12 or 14 rows. src/blas/native.c sets the
 * launch range to match.
 *
 * Every loop over a block's rows or columns is unrolled by pragma: PoCL's
 * compiler otherwise kept acc[] on the stack, a load and a store around
 * every FMA, and the kernel ran at 68 GFLOP/s where Intel's runtime (which
 * unrolls by itself) ran at 180. Loops with a run-time bound stay rolled. */
#ifndef RM
#define RM 8
#endif

#if BIAS
#define ADD_BIAS(v, j) ((v) + bias[j])
#else
#define ADD_BIAS(v, j) (v)
#endif

#if TRANS_A
#define A_AT(i, k) A[(size_t)(k) * lda + (i)]
#else
#define A_AT(i, k) A[(size_t)(i) * lda + (k)]
#endif
#if TRANS_B
#define B_AT(k, j) B[(size_t)(j) * ldb + (k)]
#else
#define B_AT(k, j) B[(size_t)(k) * ldb + (j)]
#endif

/* Rows of op(B) are RN-wide vectors; each k adds RM broadcasts of A times one
 * vector of B into the RM x RN block. RN is 4, 8 or 16. */
#ifndef RN
#define RN 16
#endif
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define floatN XCAT(float, RN)
#define vloadN XCAT(vload, RN)
#define vstoreN XCAT(vstore, RN)
__kernel void gemm_native(const int M, const int N, const int K, const float alpha,
                          __global const float *A, const int a_off, const int lda,
                          const int a_stride, __global const float *B,
                          const int b_off, const int ldb, const int b_stride,
                          const float beta, __global float *C, const int c_off,
                          const int ldc, const int c_stride, __global const float *bias)
{
#if ROWS_FIRST
    /* A 1-d range of work-groups going down C's rows first: a work-group
     * column's panel of B stays in cache while every block of rows uses it
     * (src/blas/native.c, rows_first) */
    const int row_blocks = (M + RM - 1) / RM, group = (int)get_group_id(0);
    const int j0 =
        ((group / row_blocks) * (int)get_local_size(0) + (int)get_local_id(0)) * RN;
    const int i0 = (group % row_blocks) * RM;
#else
    const int j0 = clg_global_id(0) * RN;
    const int i0 = clg_global_id(1) * RM;
#endif
    const size_t batch = clg_global_id(2);
    if (i0 >= M || j0 >= N)
        return;
    A += a_off + batch * a_stride;
    B += b_off + batch * b_stride;
    C += c_off + batch * c_stride;
    floatN acc[RM];
    #pragma unroll
    for (int r = 0; r < RM; r++)
        acc[r] = (floatN)(0.0f);
    if (i0 + RM <= M && j0 + RN <= N) {
        for (int k = 0; k < K; k++) {
#if TRANS_B
            float gathered[RN];
            #pragma unroll
            for (int c = 0; c < RN; c++)
                gathered[c] = B_AT(k, j0 + c);
            const floatN b = vloadN(0, gathered);
#else
            const floatN b = vloadN(0, B + (size_t)k * ldb + j0);
#endif
            #pragma unroll
            for (int r = 0; r < RM; r++)
                acc[r] = fma((floatN)(A_AT(i0 + r, k)), b, acc[r]);
        }
        #pragma unroll
        for (int r = 0; r < RM; r++) {
            __global float *row = C + (size_t)(i0 + r) * ldc + j0;
            floatN out = alpha * acc[r];
            if (beta != 0.0f)
                out += beta * vloadN(0, row);
#if BIAS
            out += vloadN(0, bias + j0);
#endif
            vstoreN(out, 0, row);
        }
        return;
    }
    /* A block that straddles the edge: the same vector arithmetic on rows
     * and columns clamped into the matrix; only real elements are stored. */
    int rows[RM], cols[RN];
    #pragma unroll
    for (int r = 0; r < RM; r++)
        rows[r] = min(i0 + r, M - 1);
    #pragma unroll
    for (int c = 0; c < RN; c++)
        cols[c] = min(j0 + c, N - 1);
    for (int k = 0; k < K; k++) {
        float gathered[RN];
        #pragma unroll
        for (int c = 0; c < RN; c++)
            gathered[c] = B_AT(k, cols[c]);
        const floatN b = vloadN(0, gathered);
        #pragma unroll
        for (int r = 0; r < RM; r++)
            acc[r] = fma((floatN)(A_AT(rows[r], k)), b, acc[r]);
    }
    for (int r = 0; r < RM && i0 + r < M; r++) {
        float out[RN];
        vstoreN(alpha * acc[r], 0, out);
        __global float *row = C + (size_t)(i0 + r) * ldc + j0;
        for (int c = 0; c < RN && j0 + c < N; c++)
            row[c] = ADD_BIAS(beta == 0.0f ? out[c] : out[c] + beta * row[c], j0 + c);
    }
}

/* The NT case, op(A) = A and op(B) = B^T (x W^T, a convolution's weight
 * gradient): rows of A and of B both run along k, so gemm_native would
 * gather B one element at a time. Here each work-item takes an RMT x RNT
 * block of C as dot products of VK-wide vectors loaded along k, each summed
 * across its lanes (pairwise) at the end. src/blas/native.c launches it for
 * TRANS_B without TRANS_A, with VK 8 on CPUs with 8-wide float vectors
 * (AVX2: 16-wide ones, two registers each, spilled; src/blas/tuning.c),
 * else 16. */
#ifndef VK
#define VK 16
#endif
#ifndef RMT
#define RMT 4
#endif
#ifndef RNT
#define RNT 4
#endif
#define floatK XCAT(float, VK)
#define vloadK XCAT(vload, VK)

static float lane_sum(const floatK v)
{
#if VK == 16
    const float8 h = v.lo + v.hi;
    const float4 q = h.lo + h.hi;
#elif VK == 8
    const float4 q = v.lo + v.hi;
#else
    const float4 q = v;
#endif
    const float2 d = q.lo + q.hi;
    return d.x + d.y;
}

__kernel void gemm_nt(const int M, const int N, const int K, const float alpha,
                      __global const float *A, const int a_off, const int lda,
                      const int a_stride, __global const float *B, const int b_off,
                      const int ldb, const int b_stride, const float beta,
                      __global float *C, const int c_off, const int ldc,
                      const int c_stride, __global const float *bias)
{
    const int j0 = clg_global_id(0) * RNT;
    const int i0 = clg_global_id(1) * RMT;
    const size_t batch = clg_global_id(2);
    if (i0 >= M || j0 >= N)
        return;
    A += a_off + batch * a_stride;
    B += b_off + batch * b_stride;
    C += c_off + batch * c_stride;
    floatK acc[RMT][RNT];
    float tail[RMT][RNT]; /* the k past the last whole vector */
    #pragma unroll
    for (int r = 0; r < RMT; r++)
        #pragma unroll
        for (int c = 0; c < RNT; c++) {
            acc[r][c] = (floatK)(0.0f);
            tail[r][c] = 0.0f;
        }
        /* Rows past the edge repeat the last one; only real ones are stored. */
        __global const float *a[RMT], *b[RNT];
        #pragma unroll
        for (int r = 0; r < RMT; r++)
            a[r] = A + (size_t)min(i0 + r, M - 1) * lda;
        #pragma unroll
        for (int c = 0; c < RNT; c++)
            b[c] = B + (size_t)min(j0 + c, N - 1) * ldb;
        int k = 0;
        for (; k + VK <= K; k += VK) {
            floatK av[RMT], bv[RNT];
            #pragma unroll
            for (int r = 0; r < RMT; r++)
                av[r] = vloadK(0, a[r] + k);
            #pragma unroll
            for (int c = 0; c < RNT; c++)
                bv[c] = vloadK(0, b[c] + k);
            #pragma unroll
            for (int r = 0; r < RMT; r++)
                #pragma unroll
                for (int c = 0; c < RNT; c++)
                    acc[r][c] = fma(av[r], bv[c], acc[r][c]);
        }
        for (; k < K; k++)
            #pragma unroll
            for (int r = 0; r < RMT; r++)
                #pragma unroll
                for (int c = 0; c < RNT; c++)
                    tail[r][c] = fma(a[r][k], b[c][k], tail[r][c]);
    float sum[RMT][RNT];
    #pragma unroll
    for (int r = 0; r < RMT; r++)
        #pragma unroll
        for (int c = 0; c < RNT; c++)
            sum[r][c] = lane_sum(acc[r][c]) + tail[r][c];
    for (int r = 0; r < RMT && i0 + r < M; r++) {
        __global float *row = C + (size_t)(i0 + r) * ldc + j0;
        for (int c = 0; c < RNT && j0 + c < N; c++)
            row[c] = ADD_BIAS(
                beta == 0.0f ? alpha * sum[r][c] : alpha * sum[r][c] + beta * row[c], j0 + c);
    }
}

/* Bt[b] (K x N, rows N apart) = B[b]^T, B[b] being N x K with rows ldb
 * apart: A B^T with a short k goes through gemm_native as A Bt
 * (src/blas/native.c). A 3-d range (N, K, batch). */
__kernel void transpose_b(const int N, const int K, __global const float *B,
                          const int b_off, const int ldb, const int b_stride,
                          __global float *Bt)
{
    const int j = clg_global_id(0), k = clg_global_id(1);
    const size_t batch = clg_global_id(2);
    if (j >= N || k >= K)
        return;
    Bt[batch * N * K + (size_t)k * N + j] =
        B[b_off + batch * b_stride + (size_t)j * ldb + k];
}

/* C (M x N, rows ldc apart from c_off) = the sum of the `parts` M x N
 * matrices in P, one after another, + beta C (not read when beta is 0):
 * the end of a product whose k was split into slices (src/blas/gemm.c). */
__kernel void gemm_sum_parts(const int M, const int N, const int parts,
                             __global const float *P, const float beta,
                             __global float *C, const int c_off, const int ldc)
{
    const int n = clg_global_id(0);
    if (n >= M * N)
        return;
    const int i = n / N, j = n - i * N;
    float s = 0.0f;
    for (int p = 0; p < parts; p++)
        s += P[(size_t)p * M * N + n];
    __global float *c = C + c_off + (size_t)i * ldc + j;
    *c = beta == 0.0f ? s : s + beta * *c;
}
