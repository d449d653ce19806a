/* Causal multi-head self-attention from one qkv tensor, without copies: the
 * heads are strided views that the GEMMs read and write in place.
 *
 * qkv [N, T, 3C] holds q, k and v side by side in each row; head h of q is
 * the columns h*D .. h*D + D - 1 (D = C / heads), of k those + C, of v + 2C.
 * For each head, over the batch of N sequences (a batch stride of T*3C):
 *
 *     P = causal_softmax(scale * Q K^T)   [T, T]   (aux 0: [N, heads, T, T])
 *     Y = P V                             [T, D]   into y [N, T, C] at h*D
 *
 * and backward, dP in aux 1:
 *
 *     dP = dY V^T,  dV = P^T dY,  dS = scale * P (dP - rowsum(dP P)),
 *     dQ = dS K,    dK = dS^T Q
 *
 * Recomputed keeps each row's log-sum-exp L [N, heads, T] in aux 0 instead
 * of P: P lives in scratch, and backward makes it again as exp(scale Q K^T
 * - L). Tiled (cl/attention.cl) never makes P at all.
 *
 * It computes what clg_matmul, clg_causal_softmax, clg_narrow and
 * clg_permute compose (test_ops checks the forms against each other and the
 * double-precision reference); params.i[0] = heads, params.i[1] = the
 * algorithm, params.f[0] = scale. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"

typedef struct att_dims {
    size_t N, T, C, D, heads;
} att_dims;

static att_dims dims(const clg_tensor *t, int batch)
{
    att_dims d = {.N = (size_t)clg_dim_at(t, 0, batch),
                  .T = (size_t)t->shape[1],
                  .C = (size_t)t->shape[2],
                  .heads = (size_t)t->params.i[0]};
    d.D = d.C / d.heads;
    return d;
}

/* Head h's q (part 0), k (1) or v (2) in a qkv-shaped buffer. */
static clg_operand part(cl_mem qkv, const att_dims *d, size_t h, int which, bool trans)
{
    return (clg_operand){qkv, which * d->C + h * d->D, 3 * d->C, d->T * 3 * d->C,
                         trans};
}

/* Head h's [T, T] block of an attention-weights buffer [N, heads, T, T]. */
static clg_operand weights(cl_mem w, const att_dims *d, size_t h, bool trans)
{
    return (clg_operand){w, h * d->T * d->T, d->T, d->heads * d->T * d->T, trans};
}

/* Head h's columns of a [N, T, C] buffer (y, dy). */
static clg_operand columns(cl_mem y, const att_dims *d, size_t h)
{
    return (clg_operand){y, h * d->D, d->C, d->T * d->C, false};
}

static bool tiled(const clg_tensor *t)
{
    return t->params.i[1] == CLG_ATTENTION_TILED;
}

/* Recomputed: the weights are scratch, made again in backward. */
static bool recomputed(const clg_tensor *t)
{
    return t->params.i[1] == CLG_ATTENTION_RECOMPUTED;
}

/* Composed: the weights P and their gradient, [N, heads, T, T] each.
 * Tiled: each row's log-sum-exp L and backward's delta, [N, heads, T].
 * Recomputed: L, and the gradient of the weights. */
static void att_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    size_t N = (size_t)t->shape[0], T = (size_t)t->shape[1];
    size_t rows = N * (size_t)t->params.i[0] * T;
    bytes[0] = rows * (tiled(t) || recomputed(t) ? 1 : T) * 4;
    bytes[1] = rows * (tiled(t) ? 1 : T) * 4;
}

/* ---- In tiles (cl/attention.cl) ---------------------------------------------- */

/* The key tile of the forward's online softmax. */
#define ATT_TILE 16

static void tile_options(const att_dims *d, char *buf, size_t len)
{
    snprintf(buf, len, "-DT=%zu -DC=%zu -DD=%zu -DHEADS=%zu -DBC=%d", d->T, d->C, d->D,
             d->heads, ATT_TILE);
}

static clg_status tiled_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                const att_dims *d)
{
    char opts[128];
    tile_options(d, opts, sizeof opts);
    size_t n = d->N * d->heads * d->T;
    return clg_rec_kernel(p, s, "attention", opts, "flash_forward", n,
                          CLG_ARGS(KINT(n), KFLOAT(t->params.f[0]),
                                   KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, t)),
                                   KMEM(clg_aux(p, t, 0))));
}

static clg_status tiled_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                 const att_dims *d, const clg_grad_io *io)
{
    char opts[128];
    tile_options(d, opts, sizeof opts);
    size_t n = d->N * d->heads * d->T;
    int acc = io->accumulate[0];
    cl_mem qkv = clg_val(p, t->src[0]), L = clg_aux(p, t, 0), delta = clg_aux(p, t, 1);
    clg_status st = clg_rec_kernel(
        p, s, "attention", opts, "flash_delta", n,
        CLG_ARGS(KINT(n), KMEM(clg_val(p, t)), KMEM(io->grad_out), KMEM(delta)));
    const char *kernels[2] = {"flash_backward_dq", "flash_backward_dkv"};
    for (int k = 0; st == CLG_OK && k < 2; k++)
        st = clg_rec_kernel(p, s, "attention", opts, kernels[k], n,
                            CLG_ARGS(KINT(n), KINT(acc), KFLOAT(t->params.f[0]),
                                     KMEM(qkv), KMEM(io->grad_out), KMEM(L),
                                     KMEM(delta), KMEM(io->grad_src[0])));
    return st;
}

/* The causal softmax kernels over every head's [T, T] block; lse (unless
 * NULL) gets each row's log-sum-exp. */
static clg_status softmax_forward(clg_plan *p, clg_cmdlist *s, const att_dims *d,
                                  float scale, cl_mem P, cl_mem lse)
{
    size_t rows = d->N * d->heads * d->T;
    /* in place: each row reads its scores before it writes them */
    return clg_rec_causal_softmax(p, s, rows, (int)d->T, (int)d->T, scale, P, P, lse);
}

/* S = Q K^T for every head, into P. */
static clg_status scores(clg_plan *p, clg_cmdlist *s, const att_dims *d, cl_mem qkv,
                         cl_mem P)
{
    clg_status st = CLG_OK;
    for (size_t h = 0; st == CLG_OK && h < d->heads; h++)
        st = clg_rec_product(p, s, d->N, d->T, d->T, d->D, part(qkv, d, h, 0, false),
                             part(qkv, d, h, 1, true), weights(P, d, h, false), false);
    return st;
}

/* The weights: recomputed's from the scores and the kept log-sum-exp into
 * scratch, composed's as the forward kept them. */
static clg_status weights_for_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                       const att_dims *d, cl_mem *P)
{
    if (!recomputed(t)) {
        *P = clg_aux(p, t, 0);
        return CLG_OK;
    }
    clg_status st = clg_rec_scratch(p, s, d->N * d->heads * d->T * d->T * 4, P);
    if (st == CLG_OK)
        st = scores(p, s, d, clg_val(p, t->src[0]), *P);
    if (st == CLG_OK)
        st = clg_rec_causal_softmax_recompute(p, s, d->N * d->heads * d->T, (int)d->T,
                                              (int)d->T, t->params.f[0], *P,
                                              clg_aux(p, t, 0), *P);
    return st;
}

static clg_status softmax_backward(clg_plan *p, clg_cmdlist *s, const att_dims *d,
                                   float scale, cl_mem P, cl_mem dP)
{
    size_t rows = d->N * d->heads * d->T;
    /* dS over dP in place: a row's dot product is read before any write */
    return clg_rec_causal_softmax_backward(p, s, rows, (int)d->T, (int)d->T, scale,
                                           false, P, dP, dP);
}

static clg_status att_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                              bool training)
{
    (void)training;
    att_dims d = dims(t, batch);
    if (tiled(t))
        return tiled_forward(p, s, t, &d);
    cl_mem qkv = clg_val(p, t->src[0]), P = clg_aux(p, t, 0), y = clg_val(p, t);
    cl_mem lse = NULL;
    clg_status st = CLG_OK;
    if (recomputed(t)) {
        lse = P;
        st = clg_rec_scratch(p, s, d.N * d.heads * d.T * d.T * 4, &P);
    }
    if (st == CLG_OK)
        st = scores(p, s, &d, qkv, P);
    if (st == CLG_OK)
        st = softmax_forward(p, s, &d, t->params.f[0], P, lse);
    for (size_t h = 0; st == CLG_OK && h < d.heads; h++) /* Y = P V */
        st = clg_rec_product(p, s, d.N, d.T, d.D, d.T, weights(P, &d, h, false),
                             part(qkv, &d, h, 2, false), columns(y, &d, h), false);
    return st;
}

static clg_status att_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                               const clg_grad_io *io)
{
    att_dims d = dims(t, batch);
    if (tiled(t))
        return tiled_backward(p, s, t, &d, io);
    cl_mem qkv = clg_val(p, t->src[0]), P = NULL, dP = clg_aux(p, t, 1);
    cl_mem dy = io->grad_out, dqkv = io->grad_src[0];
    bool acc = io->accumulate[0];
    clg_status st = weights_for_backward(p, s, t, &d, &P);
    for (size_t h = 0; st == CLG_OK && h < d.heads; h++) {
        /* dP = dY V^T;  dV = P^T dY */
        st = clg_rec_product(p, s, d.N, d.T, d.T, d.D, columns(dy, &d, h),
                             part(qkv, &d, h, 2, true), weights(dP, &d, h, false),
                             false);
        if (st == CLG_OK)
            st = clg_rec_product(p, s, d.N, d.T, d.D, d.T, weights(P, &d, h, true),
                                 columns(dy, &d, h), part(dqkv, &d, h, 2, false), acc);
    }
    if (st == CLG_OK) /* dS = scale P (dP - rowsum(dP P)) */
        st = softmax_backward(p, s, &d, t->params.f[0], P, dP);
    for (size_t h = 0; st == CLG_OK && h < d.heads; h++) {
        /* dQ = dS K;  dK = dS^T Q */
        st = clg_rec_product(p, s, d.N, d.T, d.D, d.T, weights(dP, &d, h, false),
                             part(qkv, &d, h, 1, false), part(dqkv, &d, h, 0, false),
                             acc);
        if (st == CLG_OK)
            st = clg_rec_product(p, s, d.N, d.T, d.D, d.T, weights(dP, &d, h, true),
                                 part(qkv, &d, h, 0, false),
                                 part(dqkv, &d, h, 1, false), acc);
    }
    return st;
}

/* aux 1 (dP, or tiled's delta) serves the backward alone */
static const clg_op_class att_class = {
    "causal_attention", att_forward, att_backward, att_aux, 0, 1u << 1, 0};

/* The algorithm of a new node: the caller's, or for AUTO the environment's
 * CLGRAD_ATTENTION, else by the size of one layer's weights P [N, heads,
 * T, T]: composed while they are small enough to keep (the fastest on
 * CPUs: clgrad-bench ops, 8 x 256 tokens, 4 heads of 64, PoCL: 38.7 ms
 * fwd+bwd against tiled's 120 ms), recomputed while two such buffers, which
 * every layer shares, stay below CLG_ATTENTION_TILED_BYTES, tiled beyond
 * (memory in T, not T^2). A head wider than the tiled kernels' private rows
 * hold, or weights of 2^31 floats and more (the kernels' int indices), go
 * to the form that serves them. */
#define CLG_ATTENTION_KEPT_BYTES  ((size_t)16 << 20)
#define CLG_ATTENTION_TILED_BYTES ((size_t)256 << 20)

static const char *const algorithm_names[] = {"auto", "composed", "tiled",
                                              "recomputed"};

static bool choose(clg_graph *g, clg_attention_algorithm a, const clg_tensor *qkv,
                   int heads, clg_attention_algorithm *out)
{
    int head_dim = qkv->shape[2] / 3 / heads;
    size_t T = (size_t)qkv->shape[1];
    size_t weights_bytes = (size_t)qkv->shape[0] * (size_t)heads * T * T * 4;
    const char *v = getenv("CLGRAD_ATTENTION");
    if ((unsigned)a > CLG_ATTENTION_RECOMPUTED) {
        clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                       "causal_attention: unknown algorithm %d", (int)a);
        return false;
    }
    if (a == CLG_ATTENTION_AUTO && v && *v) {
        int k = 0;
        while (k <= CLG_ATTENTION_RECOMPUTED && strcmp(v, algorithm_names[k]))
            k++;
        if (k > CLG_ATTENTION_RECOMPUTED) {
            clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                           "CLGRAD_ATTENTION='%s' is not an attention algorithm: use "
                           "composed, recomputed, tiled or auto",
                           v);
            return false;
        }
        a = (clg_attention_algorithm)k;
    }
    if (a == CLG_ATTENTION_AUTO)
        a = weights_bytes <= CLG_ATTENTION_KEPT_BYTES        ? CLG_ATTENTION_COMPOSED
            : 2 * weights_bytes <= CLG_ATTENTION_TILED_BYTES ? CLG_ATTENTION_RECOMPUTED
                                                             : CLG_ATTENTION_TILED;
    if (a == CLG_ATTENTION_RECOMPUTED && weights_bytes / 4 > INT_MAX)
        a = CLG_ATTENTION_TILED;
    if (a == CLG_ATTENTION_TILED && head_dim > CLG_ATTENTION_TILED_MAX_DIM)
        a = CLG_ATTENTION_COMPOSED;
    *out = a;
    return true;
}

clg_tensor *clg_causal_attention(clg_graph *g, clg_tensor *qkv, int heads)
{
    return clg_causal_attention_with(g, qkv, heads, CLG_ATTENTION_AUTO);
}

clg_tensor *clg_causal_attention_with(clg_graph *g, clg_tensor *qkv, int heads,
                                      clg_attention_algorithm algorithm)
{
    if (clg_graph_bad_args(g, "causal_attention", 1, &qkv))
        return NULL;
    char sx[64];
    int C3 = qkv->ndim == 3 ? qkv->shape[2] : 0;
    if (qkv->ndim != 3 || qkv->dtype != CLG_FLOAT32 || C3 % 3 || heads < 1 ||
        (C3 / 3) % heads || !qkv->batched)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "causal_attention: qkv %s must be a batched float32 [N, T, "
            "3C] with C divisible by the %d heads",
            clg_shape_str(qkv, sx, sizeof sx), heads);
    clg_attention_algorithm a;
    if (!choose(g, algorithm, qkv, heads, &a))
        return NULL;
    int shape[3] = {qkv->shape[0], qkv->shape[1], C3 / 3};
    clg_tensor *t = clg_node(g, &att_class, 1, &qkv, 3, shape);
    if (t) {
        t->params.i[0] = heads;
        t->params.i[1] = (int)a;
        t->params.f[0] = 1.0f / sqrtf((float)(C3 / 3 / heads));
    }
    return t;
}
