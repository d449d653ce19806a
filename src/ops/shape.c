/* Views (reshape, flatten) and concatenation along channels. */
#include "ops/ops_internal.h"

/* A view records nothing: it shares its source's storage, and gradients
 * written to it land in the source's gradient. */
static clg_status view_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                               bool training)
{
    (void)p, (void)s, (void)t, (void)batch, (void)training;
    return CLG_OK;
}

static const clg_op_class reshape_class = {"reshape", view_forward, NULL, NULL, 0};

clg_tensor *clg_reshape(clg_graph *g, clg_tensor *x, int ndim, const int *shape)
{
    if (clg_graph_bad_args(g, "reshape", 1, &x))
        return NULL;
    char sx[64];
    if (ndim < 1 || ndim > CLG_MAX_DIMS || !shape)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "reshape: %d dimensions (1 to %d)", ndim, CLG_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i] > 0 ? (size_t)shape[i] : 0;
    if (numel != clg_tensor_numel(x) || (x->batched && shape[0] != x->shape[0]))
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "reshape: %s cannot become a %d-d shape of %zu elements%s",
            clg_shape_str(x, sx, sizeof sx), ndim, numel,
            x->batched ? " with the same batch (dim 0)" : "");
    clg_tensor *t = clg_node(g, &reshape_class, 1, &x, ndim, shape);
    if (t) {
        t->view_of = x;
        t->dtype = x->dtype;
    }
    return t;
}

clg_tensor *clg_flatten(clg_graph *g, clg_tensor *x)
{
    if (clg_graph_bad_args(g, "flatten", 1, &x))
        return NULL;
    int shape[2] = {x->shape[0], 1};
    for (int i = 1; i < x->ndim; i++)
        shape[1] *= x->shape[i];
    return clg_reshape(g, x, 2, shape);
}

static void split(const clg_tensor *src, int batch, size_t *outer, size_t *inner)
{
    *outer = (size_t)clg_dim_at(src, 0, batch);
    *inner = clg_dims_product(src, 2, src->ndim, batch);
}

static clg_status concat_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 bool training)
{
    (void)training;
    clg_status st = CLG_OK;
    int offset = 0;
    for (int k = 0; st == CLG_OK && k < t->nsrc; k++) {
        const clg_tensor *src = t->src[k];
        size_t outer, inner, n = clg_numel_at(src, batch);
        split(src, batch, &outer, &inner);
        st = clg_rec_kernel(p, s, "shape", NULL, "concat_copy", n,
                            CLG_ARGS(KINT(n), KINT(src->shape[1]), KINT(t->shape[1]),
                                     KINT(offset), KINT(inner), KMEM(clg_val(p, src)),
                                     KMEM(clg_val(p, t))));
        offset += src->shape[1];
    }
    return st;
}

static clg_status concat_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  const clg_grad_io *io)
{
    clg_status st = CLG_OK;
    int offset = 0;
    for (int k = 0; st == CLG_OK && k < t->nsrc; k++) {
        const clg_tensor *src = t->src[k];
        size_t outer, inner, n = clg_numel_at(src, batch);
        split(src, batch, &outer, &inner);
        if (io->grad_src[k])
            st = clg_rec_kernel(p, s, "shape", NULL, "concat_slice", n,
                                CLG_ARGS(KINT(n), KINT(src->shape[1]),
                                         KINT(t->shape[1]), KINT(offset), KINT(inner),
                                         KINT(io->accumulate[k]), KMEM(io->grad_out),
                                         KMEM(io->grad_src[k])));
        offset += src->shape[1];
    }
    return st;
}

static const clg_op_class concat_class = {"concat", concat_forward, concat_backward,
                                          NULL, 0};

clg_tensor *clg_concat(clg_graph *g, int count, clg_tensor *const *tensors)
{
    if (count < 1 || count > CLG_MAX_SRC || !tensors)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "concat: %d tensors (1 to %d at a time)", count,
                              CLG_MAX_SRC);
    if (clg_graph_bad_args(g, "concat", count, tensors))
        return NULL;
    const clg_tensor *first = tensors[0];
    char sa[64], sb[64];
    int shape[CLG_MAX_DIMS];
    for (int i = 0; i < first->ndim; i++)
        shape[i] = first->shape[i];
    for (int k = 0; k < count; k++) {
        const clg_tensor *x = tensors[k];
        bool fits = x->ndim == first->ndim && x->ndim >= 2 && x->dtype == CLG_FLOAT32 &&
                    x->batched == first->batched;
        for (int i = 0; fits && i < x->ndim; i++)
            fits = i == 1 || x->shape[i] == first->shape[i];
        if (!fits)
            return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                                  "concat: %s and %s differ outside dim 1 (or are not "
                                  "float32 with at least 2 dims)",
                                  clg_shape_str(first, sa, sizeof sa),
                                  clg_shape_str(x, sb, sizeof sb));
        if (k > 0)
            shape[1] += x->shape[1];
    }
    return clg_node(g, &concat_class, count, tensors, first->ndim, shape);
}
