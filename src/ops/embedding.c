/* Embedding: src = {ids, weight}; gradients flow to the weight only. */
#include "ops/ops_internal.h"

static clg_status embedding_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                    int batch, bool training)
{
    (void)training;
    const clg_tensor *w = t->src[1];
    size_t n = clg_numel_at(t, batch);
    /* On CPUs a row per id (cl/embedding.cl): an element per work-item
     * divides by D twice each (docs/performance.md) */
    if (clg_rows_per_item(t->graph->ctx)) {
        size_t count = clg_numel_at(t->src[0], batch);
        return clg_rec_kernel(p, s, "embedding", NULL, "embedding_forward_rows", count,
                              CLG_ARGS(KINT(count), KINT(w->shape[1]),
                                       KINT(w->shape[0]), KMEM(clg_val(p, t->src[0])),
                                       KMEM(clg_val(p, w)), KMEM(clg_val(p, t))));
    }
    return clg_rec_kernel(p, s, "embedding", NULL, "embedding_forward", n,
                          CLG_ARGS(KINT(n), KINT(w->shape[1]), KINT(w->shape[0]),
                                   KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, w)),
                                   KMEM(clg_val(p, t))));
}

static clg_status embedding_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                     int batch, const clg_grad_io *io)
{
    const clg_tensor *w = t->src[1];
    size_t count = clg_numel_at(t->src[0], batch);
    if (clg_loop_limit(t->graph->ctx)) { /* llvmpipe: cl/embedding.cl says why */
        size_t n = clg_tensor_numel(w);
        return clg_rec_kernel(p, s, "embedding", NULL, "embedding_backward_elements", n,
                              CLG_ARGS(KINT(n), KINT(w->shape[1]), KINT(count),
                                       KINT(io->accumulate[1]),
                                       KMEM(clg_val(p, t->src[0])), KMEM(io->grad_out),
                                       KMEM(io->grad_src[1])));
    }
    return clg_rec_kernel(
        p, s, "embedding", NULL, "embedding_backward", (size_t)w->shape[0],
        CLG_ARGS(KINT(w->shape[0]), KINT(w->shape[1]), KINT(count),
                 KINT(io->accumulate[1]), KMEM(clg_val(p, t->src[0])),
                 KMEM(io->grad_out), KMEM(io->grad_src[1]), KMEM(clg_aux(p, t, 0))));
}

/* aux 0: the compensation of the weight gradient's sums, [V, D]. */
static void embedding_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    bytes[0] = clg_tensor_numel(t->src[1]) * 4;
}

/* aux 0 serves the backward alone */
static const clg_op_class embedding_class = {"embedding",
                                             embedding_forward,
                                             embedding_backward,
                                             embedding_aux,
                                             1u << 1,
                                             1u << 0,
                                             0};

clg_tensor *clg_embedding(clg_graph *g, clg_tensor *ids, clg_tensor *weight)
{
    clg_tensor *src[2] = {ids, weight};
    if (clg_graph_bad_args(g, "embedding", 2, src))
        return NULL;
    char si[64], sw[64];
    if (ids->dtype != CLG_INT32 || ids->ndim > 3 || ids->kind != CLG_KIND_INPUT)
        return clg_graph_fail(
            g, CLG_INVALID_ARGUMENT,
            "embedding: ids %s must be an int32 input of at most 3 dims",
            clg_shape_str(ids, si, sizeof si));
    if (weight->ndim != 2 || weight->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "embedding: weight %s must be [vocabulary, dim] float32",
                              clg_shape_str(weight, sw, sizeof sw));
    if (ids->id_limit && ids->id_limit != weight->shape[0])
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "embedding: ids '%s' already index %d rows, weight %s has %d", ids->name,
            ids->id_limit, clg_shape_str(weight, sw, sizeof sw), weight->shape[0]);
    int shape[CLG_MAX_DIMS];
    for (int i = 0; i < ids->ndim; i++)
        shape[i] = ids->shape[i];
    shape[ids->ndim] = weight->shape[1];
    /* the weight's gradient: a work-item per element loops over the ids */
    if (!clg_loops_fit(g, "embedding", "the ids", clg_tensor_numel(ids)))
        return NULL;
    clg_tensor *t = clg_node(g, &embedding_class, 2, src, ids->ndim + 1, shape);
    if (t)
        ids->id_limit = weight->shape[0];
    return t;
}
