/* Linear layers: y = x W^T + b over the last dimension of x. */
#include "ops/ops_internal.h"

/* x is [rows, in] once its leading dims are folded; y is [rows, out]. */
static void dims(const clg_tensor *t, int batch, size_t *rows, size_t *in, size_t *out)
{
    const clg_tensor *x = t->src[0];
    *in = (size_t)x->shape[x->ndim - 1];
    *rows = clg_numel_at(x, batch) / *in;
    *out = (size_t)t->src[1]->shape[0];
}

static clg_status linear_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 bool training)
{
    (void)training;
    size_t rows, in, out;
    dims(t, batch, &rows, &in, &out);
    clg_gemm_call y = {.trans_b = true,
                       .M = rows,
                       .N = out,
                       .K = in,
                       .batch = 1,
                       .alpha = 1.0f,
                       .beta = 0.0f,
                       .A = clg_val(p, t->src[0]),
                       .lda = in,
                       .B = clg_val(p, t->src[1]),
                       .ldb = in,
                       .C = clg_val(p, t),
                       .ldc = out};
    /* the bias in the GEMM's epilogue where the path adds one */
    bool fused = t->nsrc == 3 && clg_gemm_adds_bias(t->graph->ctx);
    if (fused)
        y.bias = clg_val(p, t->src[2]);
    clg_status st = clg_rec_gemm(p, s, &y);
    if (st == CLG_OK && t->nsrc == 3 && !fused)
        st = clg_rec_channel_bias(p, s, clg_val(p, t), clg_val(p, t->src[2]), rows,
                                  (int)out, 1);
    return st;
}

static clg_status linear_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  const clg_grad_io *io)
{
    size_t rows, in, out;
    dims(t, batch, &rows, &in, &out);
    clg_status st = CLG_OK;
    if (io->grad_src[0]) { /* dx [rows, in] = dy [rows, out] W [out, in] */
        clg_gemm_call dx = {.M = rows,
                            .N = in,
                            .K = out,
                            .batch = 1,
                            .alpha = 1.0f,
                            .beta = io->accumulate[0] ? 1.0f : 0.0f,
                            .A = io->grad_out,
                            .lda = out,
                            .B = clg_val(p, t->src[1]),
                            .ldb = in,
                            .C = io->grad_src[0],
                            .ldc = in};
        st = clg_rec_gemm(p, s, &dx);
    }
    if (st == CLG_OK && io->grad_src[1]) { /* dW [out, in] = dy^T x */
        clg_gemm_call dw = {.trans_a = true,
                            .M = out,
                            .N = in,
                            .K = rows,
                            .batch = 1,
                            .alpha = 1.0f,
                            .beta = io->accumulate[1] ? 1.0f : 0.0f,
                            .A = io->grad_out,
                            .lda = out,
                            .B = clg_val(p, t->src[0]),
                            .ldb = in,
                            .C = io->grad_src[1],
                            .ldc = in};
        st = clg_rec_gemm(p, s, &dw);
    }
    if (st == CLG_OK && t->nsrc == 3 && io->grad_src[2])
        st = clg_rec_channel_sum(p, s, io->grad_out, io->grad_src[2], rows, (int)out, 1,
                                 io->accumulate[2]);
    return st;
}

static const clg_op_class linear_class = {"linear",
                                          linear_forward,
                                          linear_backward,
                                          NULL,
                                          0,
                                          0,
                                          CLG_OP_BACKWARD_SKIPS_OUTPUT};

clg_tensor *clg_linear(clg_graph *g, clg_tensor *x, clg_tensor *w, clg_tensor *b)
{
    clg_tensor *src[3] = {x, w, b};
    int nsrc = b ? 3 : 2;
    if (clg_graph_bad_args(g, "linear", nsrc, src))
        return NULL;
    char sx[64], sw[64], sb[64];
    if (x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "linear: input '%s' is not float32", x->name);
    if (w->ndim != 2 || x->ndim < 2 || x->shape[x->ndim - 1] != w->shape[1])
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "linear: weight %s expects inputs [..., %d], input is %s",
                              clg_shape_str(w, sw, sizeof sw),
                              w->ndim == 2 ? w->shape[1] : -1,
                              clg_shape_str(x, sx, sizeof sx));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "linear: bias %s does not match weight %s (expects [%d])",
                              clg_shape_str(b, sb, sizeof sb),
                              clg_shape_str(w, sw, sizeof sw), w->shape[0]);
    int shape[CLG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        shape[i] = x->shape[i];
    shape[x->ndim - 1] = w->shape[0];
    return clg_node(g, &linear_class, nsrc, src, x->ndim, shape);
}
