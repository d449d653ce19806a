/* Max and average pooling. params.i = {kernel, stride, padding}. */
#include <stdio.h>

#include "ops/ops_internal.h"

static void pool_options(const clg_tensor *t, char *buf, size_t len)
{
    const clg_tensor *x = t->src[0];
    snprintf(buf, len, "-DH=%d -DW=%d -DK=%d -DS=%d -DPAD=%d -DOH=%d -DOW=%d",
             x->shape[2], x->shape[3], t->params.i[0], t->params.i[1], t->params.i[2],
             t->shape[2], t->shape[3]);
}

/* aux 0 of max pooling: the argmax of every output, int32. */
static void max_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    bytes[0] = clg_tensor_numel(t) * 4;
}

/* Tiled max pooling a row of windows per work-item on CPUs, a window
 * elsewhere (cl/pool.cl; clg_rows_per_item). */
static bool by_rows(const clg_tensor *t)
{
    return clg_rows_per_item(t->graph->ctx);
}

/* Windows that tile the input exactly take the kernels without bounds checks. */
static bool tiled(const clg_tensor *t)
{
    const clg_tensor *x = t->src[0];
    int k = t->params.i[0];
    return k == t->params.i[1] && t->params.i[2] == 0 && x->shape[2] % k == 0 &&
           x->shape[3] % k == 0;
}

static clg_status max_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                              bool training)
{
    (void)training;
    char opts[160];
    pool_options(t, opts, sizeof opts);
    size_t n = clg_numel_at(t, batch);
    const char *kernel = "max_pool_forward";
    if (tiled(t) && by_rows(t)) {
        kernel = "max_pool_forward_tiled_rows";
        n /= (size_t)t->shape[3];
    } else if (tiled(t)) {
        kernel = "max_pool_forward_tiled";
    }
    return clg_rec_kernel(p, s, "pool", opts, kernel, n,
                          CLG_ARGS(KINT(n), KMEM(clg_val(p, t->src[0])),
                                   KMEM(clg_val(p, t)), KMEM(clg_aux(p, t, 0))));
}

static clg_status max_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                               const clg_grad_io *io)
{
    char opts[160];
    pool_options(t, opts, sizeof opts);
    if (tiled(t)) { /* one work-item per window, or per row of windows */
        size_t n = clg_numel_at(t, batch);
        if (by_rows(t))
            n /= (size_t)t->shape[3];
        return clg_rec_kernel(
            p, s, "pool", opts,
            by_rows(t) ? "max_pool_backward_tiled_rows" : "max_pool_backward_tiled", n,
            CLG_ARGS(KINT(n), KINT(io->accumulate[0]), KMEM(io->grad_out),
                     KMEM(clg_aux(p, t, 0)), KMEM(io->grad_src[0])));
    }
    size_t n = clg_numel_at(t->src[0], batch);
    return clg_rec_kernel(p, s, "pool", opts, "max_pool_backward", n,
                          CLG_ARGS(KINT(n), KINT(io->accumulate[0]), KMEM(io->grad_out),
                                   KMEM(clg_aux(p, t, 0)), KMEM(io->grad_src[0])));
}

static clg_status avg_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                              bool training)
{
    (void)training;
    char opts[160];
    pool_options(t, opts, sizeof opts);
    size_t n = clg_numel_at(t, batch);
    return clg_rec_kernel(
        p, s, "pool", opts, "avg_pool_forward", n,
        CLG_ARGS(KINT(n), KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, t))));
}

static clg_status avg_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                               const clg_grad_io *io)
{
    char opts[160];
    pool_options(t, opts, sizeof opts);
    size_t n = clg_numel_at(t->src[0], batch);
    return clg_rec_kernel(p, s, "pool", opts, "avg_pool_backward", n,
                          CLG_ARGS(KINT(n), KINT(io->accumulate[0]), KMEM(io->grad_out),
                                   KMEM(io->grad_src[0])));
}

static const clg_op_class max_pool_class = {
    "max_pool2d", max_forward, max_backward, max_aux, 0, 0, 0};
static const clg_op_class avg_pool_class = {
    "avg_pool2d", avg_forward, avg_backward, NULL, 0, 0, 0};

static clg_tensor *pool(clg_graph *g, const clg_op_class *op, clg_tensor *x, int kernel,
                        int stride, int padding)
{
    if (clg_graph_bad_args(g, op->name, 1, &x))
        return NULL;
    char sx[64];
    if (x->ndim != 4 || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "%s: input %s is not [N,C,H,W] float32", op->name,
                              clg_shape_str(x, sx, sizeof sx));
    if (stride == 0)
        stride = kernel;
    if (kernel < 1 || stride < 1 || padding < 0 || padding > kernel / 2)
        return clg_graph_fail(
            g, CLG_INVALID_ARGUMENT,
            "%s: kernel %d, stride %d, padding %d: kernel and stride must "
            "be >= 1 and padding in [0, kernel/2]",
            op->name, kernel, stride, padding);
    if (x->shape[2] + 2 * padding < kernel || x->shape[3] + 2 * padding < kernel)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH, "%s: kernel %d is larger than input %s padded by %d",
            op->name, kernel, clg_shape_str(x, sx, sizeof sx), padding);
    int shape[4] = {x->shape[0], x->shape[1],
                    (x->shape[2] + 2 * padding - kernel) / stride + 1,
                    (x->shape[3] + 2 * padding - kernel) / stride + 1};
    clg_tensor *t = clg_node(g, op, 1, &x, 4, shape);
    if (t) {
        t->params.i[0] = kernel;
        t->params.i[1] = stride;
        t->params.i[2] = padding;
    }
    return t;
}

clg_tensor *clg_max_pool2d(clg_graph *g, clg_tensor *x, int kernel, int stride,
                           int padding)
{
    return pool(g, &max_pool_class, x, kernel, stride, padding);
}

clg_tensor *clg_avg_pool2d(clg_graph *g, clg_tensor *x, int kernel, int stride,
                           int padding)
{
    return pool(g, &avg_pool_class, x, kernel, stride, padding);
}
