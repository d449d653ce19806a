/* Native SGEMM, row-major: C = alpha * op(A) * op(B) + beta * C.
 * op(A) is M x K, op(B) is K x N, C is M x N; offsets, leading dimensions and
 * batch strides count floats. Built with -DTRANS_A=0|1 -DTRANS_B=0|1.
 * Dimension 2 of the range is the batch: matrix b of a strided batch starts
 * at offset + b * stride.
 *
 * Register-blocked without local memory: each work-item keeps an RM x RN
 * block of C in vector registers, which suits CPUs, where caches do the
 * tiling. GPUs use CLBlast unless CLGRAD_GEMM=native. */

#ifndef TRANS_A
#define TRANS_A 0
#endif
#ifndef TRANS_B
#define TRANS_B 0
#endif
/* Block of C per work-item: RM rows x RN columns (RN is 4, 8 or 16). 8 x 16
 * measured best on an AVX-512 Xeon under PoCL (see the ops issue note). */
#ifndef RM
#define RM 8
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

/* One element of C, for blocks that straddle the matrix edge. */
static float dot_element(int i, int j, int K, __global const float *A, int lda,
                         __global const float *B, int ldb)
{
    float acc = 0.0f;
    for (int k = 0; k < K; k++)
        acc = fma(A_AT(i, k), B_AT(k, j), acc);
    return acc;
}

static void store(__global float *C, size_t at, float value, float alpha,
                  float beta)
{
    C[at] = beta == 0.0f ? alpha * value : alpha * value + beta * C[at];
}

static void edge_block(int i0, int j0, int rows, int cols, int M, int N, int K,
                       float alpha, __global const float *A, int lda,
                       __global const float *B, int ldb, float beta,
                       __global float *C, int ldc)
{
    for (int r = 0; r < rows && i0 + r < M; r++)
        for (int c = 0; c < cols && j0 + c < N; c++)
            store(C, (size_t)(i0 + r) * ldc + j0 + c,
                  dot_element(i0 + r, j0 + c, K, A, lda, B, ldb), alpha, beta);
}

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
                          const int ldc, const int c_stride)
{
    const int j0 = get_global_id(0) * RN;
    const int i0 = get_global_id(1) * RM;
    const size_t batch = get_global_id(2);
    if (i0 >= M || j0 >= N)
        return;
    A += a_off + batch * a_stride;
    B += b_off + batch * b_stride;
    C += c_off + batch * c_stride;
    if (i0 + RM > M || j0 + RN > N) {
        edge_block(i0, j0, RM, RN, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    floatN acc[RM];
    for (int r = 0; r < RM; r++)
        acc[r] = (floatN)(0.0f);
    for (int k = 0; k < K; k++) {
#if TRANS_B
        float gathered[RN];
        for (int c = 0; c < RN; c++)
            gathered[c] = B_AT(k, j0 + c);
        const floatN b = vloadN(0, gathered);
#else
        const floatN b = vloadN(0, B + (size_t)k * ldb + j0);
#endif
        for (int r = 0; r < RM; r++)
            acc[r] = fma((floatN)(A_AT(i0 + r, k)), b, acc[r]);
    }
    for (int r = 0; r < RM; r++) {
        __global float *row = C + (size_t)(i0 + r) * ldc + j0;
        floatN out = alpha * acc[r];
        if (beta != 0.0f)
            out += beta * vloadN(0, row);
        vstoreN(out, 0, row);
    }
}
