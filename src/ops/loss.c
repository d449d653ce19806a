/* Losses: src = {prediction, target}; params.i[0] = clg_reduction,
 * params.i[1] = pointwise kind, params.f[0] = label smoothing. The target
 * gets no gradient. */
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

/* Cross-entropy: the classes, the last dim of the logits. */
static int classes(const clg_tensor *t)
{
    return t->src[0]->shape[t->src[0]->ndim - 1];
}

/* Values that the reduction averages over at a batch: cross-entropy's
 * positions (every index but the class), the pointwise losses' elements. */
static size_t loss_count(const clg_tensor *t, int batch)
{
    const clg_tensor *pred = t->src[0];
    return t->params.i[1] ? clg_numel_at(pred, batch)
                          : clg_numel_at(pred, batch) / (size_t)classes(t);
}

static float loss_scale(const clg_tensor *t, int batch)
{
    return t->params.i[0] == CLG_REDUCE_MEAN ? 1.0f / (float)loss_count(t, batch)
                                             : 1.0f;
}

/* aux 0: the per-sample or per-element losses; aux 1: their chunk sums. */
static void loss_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    bytes[0] = loss_count(t, t->src[0]->shape[0]) * 4;
    bytes[1] = CLG_SUM_CHUNKS * 4;
}

static clg_status finish(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch)
{
    return clg_rec_sum_all(p, s, clg_aux(p, t, 0), loss_count(t, batch),
                           loss_scale(t, batch), clg_aux(p, t, 1), clg_val(p, t));
}

static clg_status ce_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                             bool training)
{
    size_t N = loss_count(t, batch);
    clg_status st =
        clg_rec_kernel(p, s, "loss", NULL, "ce_forward", N,
                       CLG_ARGS(KINT(N), KINT(classes(t)), KFLOAT(t->params.f[0]),
                                KMEM(clg_val(p, t->src[0])),
                                KMEM(clg_val(p, t->src[1])), KMEM(clg_aux(p, t, 0))));
    if (st == CLG_OK)
        st = finish(p, s, t, batch);
    /* The plan's loss, in training: its tallies (clg_plan_take_tally). */
    cl_mem tally = clg_plan_tally_mem(p);
    if (st == CLG_OK && training && tally && t == clg_plan_loss_tensor(p))
        st = clg_rec_kernel_groups(p, s, "loss", NULL, "ce_tally", 1, 64,
                                   CLG_ARGS(KINT(N), KINT(classes(t)), KINT(batch),
                                            KMEM(clg_val(p, t->src[0])),
                                            KMEM(clg_val(p, t->src[1])),
                                            KMEM(clg_val(p, t)), KMEM(tally)));
    return st;
}

static clg_status ce_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                              const clg_grad_io *io)
{
    size_t N = loss_count(t, batch);
    return clg_rec_kernel(p, s, "loss", NULL, "ce_backward", N,
                          CLG_ARGS(KINT(N), KINT(classes(t)), KFLOAT(t->params.f[0]),
                                   KFLOAT(loss_scale(t, batch)),
                                   KINT(io->accumulate[0]), KMEM(clg_val(p, t->src[0])),
                                   KMEM(clg_val(p, t->src[1])), KMEM(io->grad_out),
                                   KMEM(io->grad_src[0])));
}

static clg_status pointwise_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                    int batch, bool training)
{
    char opts[16];
    snprintf(opts, sizeof opts, "-DLOSS=%d", t->params.i[1]);
    size_t n = loss_count(t, batch);
    clg_status st =
        clg_rec_kernel(p, s, "loss", opts, "pointwise_forward", n,
                       CLG_ARGS(KINT(n), KMEM(clg_val(p, t->src[0])),
                                KMEM(clg_val(p, t->src[1])), KMEM(clg_aux(p, t, 0))));
    if (st == CLG_OK)
        st = finish(p, s, t, batch);
    /* The plan's loss, in training: its tallies, by rows of the last dim. */
    cl_mem tally = clg_plan_tally_mem(p);
    const clg_tensor *pred = t->src[0];
    int C = pred->shape[pred->ndim - 1];
    size_t rows = n / (size_t)C;
    if (st == CLG_OK && training && tally && t == clg_plan_loss_tensor(p))
        st = clg_rec_kernel_groups(
            p, s, "loss", opts, "pointwise_tally", 1, 64,
            CLG_ARGS(KINT(rows), KINT(C), KINT(batch), KMEM(clg_val(p, t->src[0])),
                     KMEM(clg_val(p, t->src[1])), KMEM(clg_val(p, t)), KMEM(tally)));
    return st;
}

static clg_status pointwise_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                     int batch, const clg_grad_io *io)
{
    char opts[16];
    snprintf(opts, sizeof opts, "-DLOSS=%d", t->params.i[1]);
    size_t n = loss_count(t, batch);
    return clg_rec_kernel(p, s, "loss", opts, "pointwise_backward", n,
                          CLG_ARGS(KINT(n), KFLOAT(loss_scale(t, batch)),
                                   KINT(io->accumulate[0]), KMEM(clg_val(p, t->src[0])),
                                   KMEM(clg_val(p, t->src[1])), KMEM(io->grad_out),
                                   KMEM(io->grad_src[0])));
}

/* The losses' backward may write the prediction's gradient over it: each
 * work-item reads its row or element before writing it. */
static const clg_op_class ce_class = {
    "cross_entropy", ce_forward, ce_backward,          loss_aux,
    1u << 0,         0,          CLG_OP_GRAD_OVER_SRC0};
static const clg_op_class mse_class = {
    "mse_loss", pointwise_forward,    pointwise_backward, loss_aux, 1u << 0,
    0,          CLG_OP_GRAD_OVER_SRC0};
static const clg_op_class l1_class = {
    "l1_loss", pointwise_forward,    pointwise_backward, loss_aux, 1u << 0,
    0,         CLG_OP_GRAD_OVER_SRC0};
static const clg_op_class bce_class = {
    "bce_with_logits",    pointwise_forward, pointwise_backward, loss_aux, 1u << 0, 0,
    CLG_OP_GRAD_OVER_SRC0};

static clg_tensor *scalar_node(clg_graph *g, const clg_op_class *op, clg_tensor **src,
                               clg_reduction reduction)
{
    if (reduction != CLG_REDUCE_MEAN && reduction != CLG_REDUCE_SUM)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "%s: unknown reduction %d",
                              op->name, (int)reduction);
    int one = 1;
    clg_tensor *t = clg_node(g, op, 2, src, 1, &one);
    if (t) {
        t->batched = false;
        t->params.i[0] = reduction;
    }
    return t;
}

clg_tensor *clg_cross_entropy(clg_graph *g, clg_tensor *logits, clg_tensor *labels,
                              float label_smoothing, clg_reduction reduction)
{
    clg_tensor *src[2] = {logits, labels};
    if (clg_graph_bad_args(g, "cross_entropy", 2, src))
        return NULL;
    char sl[64], sy[64];
    int nd = logits->ndim, C = nd >= 2 ? logits->shape[nd - 1] : 0;
    if (nd < 2 || logits->dtype != CLG_FLOAT32)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "cross_entropy: logits %s must be [N, ..., classes] float32",
            clg_shape_str(logits, sl, sizeof sl));
    bool fits = labels->dtype == CLG_INT32 && labels->ndim == nd - 1 &&
                labels->kind == CLG_KIND_INPUT;
    for (int i = 0; fits && i < nd - 1; i++)
        fits = labels->shape[i] == logits->shape[i];
    if (!fits) {
        char want[64];
        clg_shape_str(logits, want, sizeof want);
        char *last = strrchr(want, ','); /* the logits' shape less its classes */
        if (last)
            memcpy(last, "]", 2);
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "cross_entropy: labels %s must be an int32 input %s to "
                              "match logits %s",
                              clg_shape_str(labels, sy, sizeof sy), want,
                              clg_shape_str(logits, sl, sizeof sl));
    }
    if (labels->id_limit && labels->id_limit != C)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "cross_entropy: labels '%s' already serve %d classes, logits "
            "%s have %d",
            labels->name, labels->id_limit, clg_shape_str(logits, sl, sizeof sl), C);
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "cross_entropy: label smoothing %g must lie in [0, 1]",
                              (double)label_smoothing);
    /* a work-item per row loops over the classes; the tally's 64 work-items
     * over every row's classes */
    size_t rows = clg_tensor_numel(logits) / (size_t)C;
    if (!clg_loops_fit(g, "cross_entropy", "the classes",
                       (size_t)C * (rows > 64 ? (rows + 63) / 64 : 1)))
        return NULL;
    clg_tensor *t = scalar_node(g, &ce_class, src, reduction);
    if (t) {
        t->params.f[0] = label_smoothing;
        labels->id_limit = C;
    }
    return t;
}

static clg_tensor *pointwise(clg_graph *g, const clg_op_class *op, int kind,
                             clg_tensor *pred, clg_tensor *target,
                             clg_reduction reduction)
{
    clg_tensor *src[2] = {pred, target};
    if (clg_graph_bad_args(g, op->name, 2, src))
        return NULL;
    char sp[64], st[64];
    bool same = pred->ndim == target->ndim && pred->batched == target->batched &&
                pred->dtype == CLG_FLOAT32 && target->dtype == CLG_FLOAT32;
    for (int i = 0; same && i < pred->ndim; i++)
        same = pred->shape[i] == target->shape[i];
    if (!same)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "%s: prediction %s and target %s must have one shape "
                              "(float32, both batched or neither)",
                              op->name, clg_shape_str(pred, sp, sizeof sp),
                              clg_shape_str(target, st, sizeof st));
    clg_tensor *t = scalar_node(g, op, src, reduction);
    if (t)
        t->params.i[1] = kind;
    return t;
}

clg_tensor *clg_mse_loss(clg_graph *g, clg_tensor *pred, clg_tensor *target,
                         clg_reduction reduction)
{
    return pointwise(g, &mse_class, CLG_POINTWISE_MSE, pred, target, reduction);
}
clg_tensor *clg_l1_loss(clg_graph *g, clg_tensor *pred, clg_tensor *target,
                        clg_reduction reduction)
{
    return pointwise(g, &l1_class, CLG_POINTWISE_L1, pred, target, reduction);
}
clg_tensor *clg_bce_with_logits(clg_graph *g, clg_tensor *logits, clg_tensor *target,
                                clg_reduction reduction)
{
    return pointwise(g, &bce_class, CLG_POINTWISE_BCE, logits, target, reduction);
}
