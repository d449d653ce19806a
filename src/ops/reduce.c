/* Sum, mean and max over an axis; global average pooling; softmax, causal
 * softmax. */
#include <math.h>
#include <stdio.h>

#include "ops/ops_internal.h"

clg_status clg_rec_sum_all(clg_plan *p, clg_cmdlist *s, cl_mem x, size_t n, float scale,
                           cl_mem partial, cl_mem out)
{
    /* Chunks of about 4096 terms, at most CLG_SUM_CHUNKS of them: a function
     * of n alone, so the order of the sum is too. */
    size_t groups = (n + 4095) / 4096;
    if (groups > CLG_SUM_CHUNKS)
        groups = CLG_SUM_CHUNKS;
    if (groups == 0)
        groups = 1;
    size_t chunk = (n + groups - 1) / groups;
    clg_status st = clg_rec_kernel_groups(
        p, s, "reduce", NULL, "sum_partials", groups, clg_reduce_group(chunk),
        CLG_ARGS(KINT(n), KINT(chunk), KMEM(x), KMEM(partial)));
    if (st == CLG_OK)
        st = clg_rec_kernel_groups(
            p, s, "reduce", NULL, "sum_to_scalar", 1, clg_reduce_group(groups),
            CLG_ARGS(KINT(groups), KFLOAT(scale), KMEM(partial), KMEM(out)));
    return st;
}

/* params.i[0] = clg_reduce_kind, params.i[1] = axis (-1: all; -2: the
 * spatial dims of global average pooling). */
static void split(const clg_tensor *t, int batch, size_t *outer, size_t *axis,
                  size_t *inner)
{
    const clg_tensor *x = t->src[0];
    int a = t->params.i[1];
    if (a == -1) {
        *outer = *inner = 1;
        *axis = clg_numel_at(x, batch);
    } else if (a == -2) {
        *outer = clg_dims_product(x, 0, 2, batch);
        *axis = clg_dims_product(x, 2, x->ndim, batch);
        *inner = 1;
    } else {
        *outer = clg_dims_product(x, 0, a, batch);
        *axis = (size_t)clg_dim_at(x, a, batch);
        *inner = clg_dims_product(x, a + 1, x->ndim, batch);
    }
}

/* The longest part of an axis one work-item reduces; a longer axis goes in
 * two launches (cl/reduce.cl's reduce_forward), whatever the device, so
 * that a shape sums in the same order everywhere. 4,096 as the sums over
 * everything (clg_rec_sum_all). */
#define REDUCE_CHUNK 4096

/* aux 0: the chunk sums of a sum or mean over everything, or max's index of
 * each output's maximum (int32). */
static void reduce_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    if (t->params.i[0] == CLG_RED_MAX)
        bytes[0] = clg_tensor_numel(t) * 4;
    else if (t->params.i[1] == -1)
        bytes[0] = CLG_SUM_CHUNKS * 4;
}

static clg_status rec_reduce(clg_plan *p, clg_cmdlist *s, clg_reduce_kind kind,
                             bool from_parts, size_t outer, size_t axis, size_t inner,
                             size_t chunk, float divisor, cl_mem x, cl_mem xat,
                             cl_mem y, cl_mem yat)
{
    char opts[32];
    snprintf(opts, sizeof opts, "-DRED=%d -DPARTS=%d", (int)kind, from_parts);
    size_t n = outer * ((axis + chunk - 1) / chunk) * inner;
    return clg_rec_kernel(p, s, "reduce", opts, "reduce_forward", n,
                          CLG_ARGS(KINT(outer), KINT(axis), KINT(inner), KINT(chunk),
                                   KFLOAT(divisor), KMEM(x), KMEM(xat), KMEM(y),
                                   KMEM(yat)));
}

static clg_status reduce_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 bool training)
{
    (void)training;
    size_t outer, axis, inner;
    split(t, batch, &outer, &axis, &inner);
    clg_reduce_kind kind = t->params.i[0];
    float divisor = kind == CLG_RED_MEAN ? (float)axis : 1.0f;
    if (t->params.i[1] == -1 && kind != CLG_RED_MAX)
        return clg_rec_sum_all(p, s, clg_val(p, t->src[0]), axis, 1.0f / divisor,
                               clg_aux(p, t, 0), clg_val(p, t));
    cl_mem x = clg_val(p, t->src[0]), y = clg_val(p, t);
    /* max's indices; sums pass y where no buffer is read */
    cl_mem at = kind == CLG_RED_MAX ? clg_aux(p, t, 0) : y;
    if (axis <= REDUCE_CHUNK)
        return rec_reduce(p, s, kind, false, outer, axis, inner, axis, divisor, x, at,
                          y, at);
    size_t parts = (axis + REDUCE_CHUNK - 1) / REDUCE_CHUNK, n = outer * parts * inner;
    cl_mem part, part_at = y;
    clg_status st = clg_rec_scratch(p, s, n * 4, &part);
    if (st == CLG_OK && kind == CLG_RED_MAX)
        st = clg_rec_scratch(p, s, n * 4, &part_at);
    if (st == CLG_OK)
        st = rec_reduce(p, s, kind, false, outer, axis, inner, REDUCE_CHUNK, 1.0f, x,
                        part_at, part, part_at);
    if (st == CLG_OK)
        st = rec_reduce(p, s, kind, true, outer, parts, inner, parts, divisor, part,
                        part_at, y, at);
    return st;
}

static clg_status reduce_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  const clg_grad_io *io)
{
    size_t outer, axis, inner;
    split(t, batch, &outer, &axis, &inner);
    clg_reduce_kind kind = t->params.i[0];
    size_t n = outer * axis * inner; /* a work-item per element of x */
    char opts[32];
    snprintf(opts, sizeof opts, "-DRED=%d -DALL=%d", (int)kind, outer * inner == 1);
    cl_mem at = kind == CLG_RED_MAX ? clg_aux(p, t, 0) : io->grad_out;
    return clg_rec_kernel(
        p, s, "reduce", opts, "reduce_backward", n,
        CLG_ARGS(KINT(n), KINT(axis), KINT(inner), KINT(io->accumulate[0]),
                 KFLOAT(kind == CLG_RED_MEAN ? (float)axis : 1.0f), KMEM(at),
                 KMEM(io->grad_out), KMEM(io->grad_src[0])));
}

static const clg_op_class sum_class = {
    "sum", reduce_forward, reduce_backward, reduce_aux, 0, 0, 0};
static const clg_op_class mean_class = {
    "mean", reduce_forward, reduce_backward, reduce_aux, 0, 0, 0};
static const clg_op_class max_class = {
    "max", reduce_forward, reduce_backward, reduce_aux, 0, 0, 0};
static const clg_op_class gap_class = {
    "global_avg_pool", reduce_forward, reduce_backward, NULL, 0, 0, 0};

static clg_tensor *reduce(clg_graph *g, const clg_op_class *op, clg_reduce_kind kind,
                          clg_tensor *x, int axis)
{
    if (clg_graph_bad_args(g, op->name, 1, &x))
        return NULL;
    char sx[64];
    if (x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "%s: input '%s' is not float32",
                              op->name, x->name);
    if (axis < -1 || axis >= x->ndim)
        return clg_graph_fail(
            g, CLG_INVALID_ARGUMENT,
            "%s: axis %d is out of range for %s (use 0..%d, or -1 for all)", op->name,
            axis, clg_shape_str(x, sx, sizeof sx), x->ndim - 1);
    int shape[CLG_MAX_DIMS] = {1}, ndim = 0;
    for (int i = 0; axis >= 0 && i < x->ndim; i++)
        if (i != axis)
            shape[ndim++] = x->shape[i];
    clg_tensor *t = clg_node(g, op, 1, &x, ndim ? ndim : 1, shape);
    if (t) {
        t->params.i[0] = kind;
        t->params.i[1] = axis;
        t->batched = x->batched && axis > 0;
    }
    return t;
}

clg_tensor *clg_sum(clg_graph *g, clg_tensor *x, int axis)
{
    return reduce(g, &sum_class, CLG_RED_SUM, x, axis);
}
clg_tensor *clg_mean(clg_graph *g, clg_tensor *x, int axis)
{
    return reduce(g, &mean_class, CLG_RED_MEAN, x, axis);
}
clg_tensor *clg_max(clg_graph *g, clg_tensor *x, int axis)
{
    return reduce(g, &max_class, CLG_RED_MAX, x, axis);
}

clg_tensor *clg_global_avg_pool(clg_graph *g, clg_tensor *x)
{
    if (clg_graph_bad_args(g, "global_avg_pool", 1, &x))
        return NULL;
    char sx[64];
    if (x->ndim != 4 || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "global_avg_pool: input %s is not [N,C,H,W] float32",
                              clg_shape_str(x, sx, sizeof sx));
    int shape[4] = {x->shape[0], x->shape[1], 1, 1};
    clg_tensor *t = clg_node(g, &gap_class, 1, &x, 4, shape);
    if (t) {
        t->params.i[0] = CLG_RED_MEAN;
        t->params.i[1] = -2;
    }
    return t;
}

/* ---- Softmax over dim 1: params.i[0] = 1 for log-softmax ---------------- */

static void softmax_split(const clg_tensor *t, int batch, size_t *outer, size_t *C,
                          size_t *inner)
{
    *outer = (size_t)clg_dim_at(t, 0, batch);
    *C = (size_t)t->shape[1];
    *inner = clg_dims_product(t, 2, t->ndim, batch);
}

/* Softmax over rows (the last dim) a row per work-item on PoCL's CPU device
 * (cl/reduce.cl's softmax_row_*), which runs the work-group form's loops
 * unvectorised; Intel's runtime vectorises the work-group form, and GPUs
 * want it (docs/performance.md). */
static bool softmax_row_per_item(const clg_tensor *t)
{
    return clg_is_pocl_cpu(t->graph->ctx);
}

static clg_status softmax_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  bool training)
{
    (void)training;
    size_t outer, C, inner;
    softmax_split(t, batch, &outer, &C, &inner);
    char opts[16];
    snprintf(opts, sizeof opts, "-DLOG=%d", t->params.i[0]);
    if (inner == 1 && softmax_row_per_item(t))
        return clg_rec_kernel(p, s, "reduce", opts, "softmax_row_forward", outer,
                              CLG_ARGS(KINT(outer), KINT(C),
                                       KMEM(clg_val(p, t->src[0])),
                                       KMEM(clg_val(p, t))));
    if (inner == 1) /* rows: a work-group each */
        return clg_rec_kernel_groups(
            p, s, "reduce", opts, "softmax_rows_forward", outer, clg_reduce_group(C),
            CLG_ARGS(KINT(C), KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, t))));
    return clg_rec_kernel(p, s, "reduce", opts, "softmax_forward", outer * inner,
                          CLG_ARGS(KINT(outer), KINT(C), KINT(inner),
                                   KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, t))));
}

static clg_status softmax_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                   int batch, const clg_grad_io *io)
{
    size_t outer, C, inner;
    softmax_split(t, batch, &outer, &C, &inner);
    char opts[16];
    snprintf(opts, sizeof opts, "-DLOG=%d", t->params.i[0]);
    if (inner == 1 && softmax_row_per_item(t))
        return clg_rec_kernel(p, s, "reduce", opts, "softmax_row_backward", outer,
                              CLG_ARGS(KINT(outer), KINT(C), KINT(io->accumulate[0]),
                                       KMEM(clg_val(p, t)), KMEM(io->grad_out),
                                       KMEM(io->grad_src[0])));
    if (inner == 1)
        return clg_rec_kernel_groups(
            p, s, "reduce", opts, "softmax_rows_backward", outer, clg_reduce_group(C),
            CLG_ARGS(KINT(C), KINT(io->accumulate[0]), KMEM(clg_val(p, t)),
                     KMEM(io->grad_out), KMEM(io->grad_src[0])));
    return clg_rec_kernel(p, s, "reduce", opts, "softmax_backward", outer * inner,
                          CLG_ARGS(KINT(outer), KINT(C), KINT(inner),
                                   KINT(io->accumulate[0]), KMEM(clg_val(p, t)),
                                   KMEM(io->grad_out), KMEM(io->grad_src[0])));
}

static const clg_op_class softmax_class = {
    "softmax", softmax_forward, softmax_backward, NULL, 0, 0, 0};
static const clg_op_class log_softmax_class = {
    "log_softmax", softmax_forward, softmax_backward, NULL, 0, 0, 0};

static clg_tensor *softmax(clg_graph *g, const clg_op_class *op, clg_tensor *x, int log)
{
    if (clg_graph_bad_args(g, op->name, 1, &x))
        return NULL;
    char sx[64];
    if (x->ndim < 2 || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "%s: input %s needs at least 2 float32 dims ([N, C, ...])", op->name,
            clg_shape_str(x, sx, sizeof sx));
    /* over dim 1 with dims after it, a work-item per (n, i) loops over C
     * three times (rows alone go by work-groups) */
    if (x->ndim > 2 && !clg_loops_fit(g, op->name, "dim 1", 4 * (size_t)x->shape[1]))
        return NULL;
    clg_tensor *t = clg_node(g, op, 1, &x, x->ndim, x->shape);
    if (t)
        t->params.i[0] = log;
    return t;
}

clg_tensor *clg_softmax(clg_graph *g, clg_tensor *x)
{
    return softmax(g, &softmax_class, x, 0);
}
clg_tensor *clg_log_softmax(clg_graph *g, clg_tensor *x)
{
    return softmax(g, &log_softmax_class, x, 1);
}

/* ---- Causal softmax over the last dim: params.f[0] = scale --------------- */

static void causal_split(const clg_tensor *t, int batch, size_t *rows, int *Tq, int *Tk)
{
    *Tq = t->shape[t->ndim - 2];
    *Tk = t->shape[t->ndim - 1];
    *rows = clg_numel_at(t, batch) / (size_t)*Tk;
}

/* Causal softmax a row per work-item on CPUs (clg_rows_per_item), where a
 * work-group per short row costs more in barriers than it gains, a
 * work-group per row elsewhere (docs/performance.md). */
static bool row_per_item(const clg_plan *p)
{
    return clg_rows_per_item(clg_graph_context(clg_plan_graph(p)));
}

clg_status clg_rec_causal_softmax(clg_plan *p, clg_cmdlist *s, size_t rows, int Tq,
                                  int Tk, float scale, cl_mem x, cl_mem y, cl_mem lse)
{
    /* without lse, y stands in for the argument that nothing writes */
    int keep = lse != NULL;
    cl_mem l = keep ? lse : y;
    if (row_per_item(p))
        return clg_rec_kernel(p, s, "reduce", NULL, "causal_softmax_forward_row", rows,
                              CLG_ARGS(KINT(rows), KINT(Tq), KINT(Tk), KFLOAT(scale),
                                       KMEM(x), KMEM(y), KINT(keep), KMEM(l)));
    /* rows: a work-group each */
    return clg_rec_kernel_groups(p, s, "reduce", NULL, "causal_softmax_forward", rows,
                                 clg_reduce_group((size_t)Tk),
                                 CLG_ARGS(KINT(Tq), KINT(Tk), KFLOAT(scale), KMEM(x),
                                          KMEM(y), KINT(keep), KMEM(l)));
}

clg_status clg_rec_causal_softmax_recompute(clg_plan *p, clg_cmdlist *s, size_t rows,
                                            int Tq, int Tk, float scale, cl_mem x,
                                            cl_mem lse, cl_mem y)
{
    if (row_per_item(p))
        return clg_rec_kernel(p, s, "reduce", NULL, "causal_softmax_recompute_row",
                              rows,
                              CLG_ARGS(KINT(rows), KINT(Tq), KINT(Tk), KFLOAT(scale),
                                       KMEM(x), KMEM(lse), KMEM(y)));
    /* an element per work-item elsewhere */
    size_t n = rows * (size_t)Tk;
    return clg_rec_kernel(p, s, "reduce", NULL, "causal_softmax_recompute", n,
                          CLG_ARGS(KINT(n), KINT(Tq), KINT(Tk), KFLOAT(scale), KMEM(x),
                                   KMEM(lse), KMEM(y)));
}

clg_status clg_rec_causal_softmax_backward(clg_plan *p, clg_cmdlist *s, size_t rows,
                                           int Tq, int Tk, float scale, bool accumulate,
                                           cl_mem y, cl_mem dy, cl_mem dx)
{
    if (row_per_item(p))
        return clg_rec_kernel(p, s, "reduce", NULL, "causal_softmax_backward_row", rows,
                              CLG_ARGS(KINT(rows), KINT(Tq), KINT(Tk), KFLOAT(scale),
                                       KINT(accumulate), KMEM(y), KMEM(dy), KMEM(dx)));
    return clg_rec_kernel_groups(p, s, "reduce", NULL, "causal_softmax_backward", rows,
                                 clg_reduce_group((size_t)Tk),
                                 CLG_ARGS(KINT(Tq), KINT(Tk), KFLOAT(scale),
                                          KINT(accumulate), KMEM(y), KMEM(dy),
                                          KMEM(dx)));
}

static clg_status causal_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 bool training)
{
    (void)training;
    size_t rows;
    int Tq, Tk;
    causal_split(t, batch, &rows, &Tq, &Tk);
    return clg_rec_causal_softmax(p, s, rows, Tq, Tk, t->params.f[0],
                                  clg_val(p, t->src[0]), clg_val(p, t), NULL);
}

static clg_status causal_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  const clg_grad_io *io)
{
    size_t rows;
    int Tq, Tk;
    causal_split(t, batch, &rows, &Tq, &Tk);
    return clg_rec_causal_softmax_backward(p, s, rows, Tq, Tk, t->params.f[0],
                                           io->accumulate[0], clg_val(p, t),
                                           io->grad_out, io->grad_src[0]);
}

static const clg_op_class causal_class = {
    "causal_softmax", causal_forward, causal_backward, NULL, 0, 0, 0};

clg_tensor *clg_causal_softmax(clg_graph *g, clg_tensor *x, float scale)
{
    if (clg_graph_bad_args(g, "causal_softmax", 1, &x))
        return NULL;
    char sx[64];
    int nd = x->ndim;
    if (nd < 2 || x->dtype != CLG_FLOAT32 || x->shape[nd - 1] < x->shape[nd - 2] ||
        (x->batched && nd < 3))
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "causal_softmax: input %s must be float32 [..., queries, "
                              "keys] with keys >= queries",
                              clg_shape_str(x, sx, sizeof sx));
    if (!(scale > 0.0f) || !isfinite(scale))
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "causal_softmax: scale %g must be positive and finite",
                              (double)scale);
    clg_tensor *t = clg_node(g, &causal_class, 1, &x, nd, x->shape);
    if (t)
        t->params.f[0] = scale;
    return t;
}
