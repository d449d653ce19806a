/* Batched matrix products: C[b] = op(A[b]) op(B[b]) over the leading dims. */
#include "ops/ops_internal.h"

/* params.i = {trans_a, trans_b}. A is [..., M, K] ([..., K, M] transposed),
 * B [..., K, N] ([..., N, K] transposed), C [..., M, N]; `batch` matrices. */
typedef struct mm_dims {
    size_t batch, M, N, K;
    bool ta, tb;
} mm_dims;

static mm_dims dims(const clg_tensor *t, int batch)
{
    mm_dims d = {.ta = t->params.i[0], .tb = t->params.i[1]};
    d.M = (size_t)t->shape[t->ndim - 2];
    d.N = (size_t)t->shape[t->ndim - 1];
    d.K = (size_t)t->src[0]->shape[t->ndim - (d.ta ? 2 : 1)];
    d.batch = clg_numel_at(t, batch) / (d.M * d.N);
    return d;
}

clg_status clg_rec_product(clg_plan *p, clg_cmdlist *s, size_t batch, size_t m,
                           size_t n, size_t k, clg_operand X, clg_operand Y,
                           clg_operand Z, bool accumulate)
{
    clg_gemm_call c = {.trans_a = X.trans,
                       .trans_b = Y.trans,
                       .M = m,
                       .N = n,
                       .K = k,
                       .batch = batch,
                       .alpha = 1.0f,
                       .beta = accumulate ? 1.0f : 0.0f,
                       .A = X.mem,
                       .a_off = X.off,
                       .lda = X.ld,
                       .a_stride = X.stride,
                       .B = Y.mem,
                       .b_off = Y.off,
                       .ldb = Y.ld,
                       .b_stride = Y.stride,
                       .C = Z.mem,
                       .c_off = Z.off,
                       .ldc = Z.ld,
                       .c_stride = Z.stride};
    return clg_rec_gemm(p, s, &c);
}

/* One product of whole stored matrices X (m x k, or k x m when tx) and Y
 * into Z [m, n], over the batch. */
static clg_status product(clg_plan *p, clg_cmdlist *s, size_t batch, size_t m, size_t n,
                          size_t k, cl_mem X, bool tx, cl_mem Y, bool ty, cl_mem Z,
                          bool accumulate)
{
    return clg_rec_product(p, s, batch, m, n, k,
                           (clg_operand){X, 0, tx ? m : k, m * k, tx},
                           (clg_operand){Y, 0, ty ? k : n, k * n, ty},
                           (clg_operand){Z, 0, n, m * n, false}, accumulate);
}

static clg_status matmul_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 bool training)
{
    (void)training;
    mm_dims d = dims(t, batch);
    return product(p, s, d.batch, d.M, d.N, d.K, clg_val(p, t->src[0]), d.ta,
                   clg_val(p, t->src[1]), d.tb, clg_val(p, t), false);
}

/* With A' = op(A), B' = op(B): dA' = dC B'^T and dB' = A'^T dC, each written
 * in the layout its operand is stored in. */
static clg_status matmul_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  const clg_grad_io *io)
{
    mm_dims d = dims(t, batch);
    cl_mem A = clg_val(p, t->src[0]), B = clg_val(p, t->src[1]), dC = io->grad_out;
    clg_status st = CLG_OK;
    if (io->grad_src[0])
        st = d.ta ? /* dA [K, M] = B' dC^T */
                 product(p, s, d.batch, d.K, d.M, d.N, B, d.tb, dC, true,
                         io->grad_src[0], io->accumulate[0])
                  : /* dA [M, K] = dC B'^T */
                 product(p, s, d.batch, d.M, d.K, d.N, dC, false, B, !d.tb,
                         io->grad_src[0], io->accumulate[0]);
    if (st == CLG_OK && io->grad_src[1])
        st = d.tb ? /* dB [N, K] = dC^T A' */
                 product(p, s, d.batch, d.N, d.K, d.M, dC, true, A, d.ta,
                         io->grad_src[1], io->accumulate[1])
                  : /* dB [K, N] = A'^T dC */
                 product(p, s, d.batch, d.K, d.N, d.M, A, !d.ta, dC, false,
                         io->grad_src[1], io->accumulate[1]);
    return st;
}

static const clg_op_class matmul_class = {"matmul",
                                          matmul_forward,
                                          matmul_backward,
                                          NULL,
                                          0,
                                          0,
                                          CLG_OP_BACKWARD_SKIPS_OUTPUT};

clg_tensor *clg_matmul(clg_graph *g, clg_tensor *a, clg_tensor *b, bool trans_a,
                       bool trans_b)
{
    clg_tensor *src[2] = {a, b};
    if (clg_graph_bad_args(g, "matmul", 2, src))
        return NULL;
    char sa[64], sb[64];
    int nd = a->ndim;
    bool fits = nd >= 2 && b->ndim == nd && a->dtype == CLG_FLOAT32 &&
                b->dtype == CLG_FLOAT32 && a->batched == b->batched;
    for (int i = 0; fits && i < nd - 2; i++)
        fits = a->shape[i] == b->shape[i];
    int M = 0, K = 0, Kb = 0, N = 0;
    if (fits) {
        M = a->shape[nd - (trans_a ? 1 : 2)];
        K = a->shape[nd - (trans_a ? 2 : 1)];
        Kb = b->shape[nd - (trans_b ? 1 : 2)];
        N = b->shape[nd - (trans_b ? 2 : 1)];
    }
    if (!fits || K != Kb)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "matmul: %s%s and %s%s do not multiply (float32, the same "
            "leading dims, inner sizes equal)",
            clg_shape_str(a, sa, sizeof sa), trans_a ? "^T" : "",
            clg_shape_str(b, sb, sizeof sb), trans_b ? "^T" : "");
    int shape[CLG_MAX_DIMS];
    for (int i = 0; i < nd - 2; i++)
        shape[i] = a->shape[i];
    shape[nd - 2] = M;
    shape[nd - 1] = N;
    clg_tensor *t = clg_node(g, &matmul_class, 2, src, nd, shape);
    if (t) {
        t->params.i[0] = trans_a;
        t->params.i[1] = trans_b;
    }
    return t;
}
