/* Views (reshape, flatten), concatenation along channels, narrow, permute. */
#include <string.h>

#include "ops/ops_internal.h"

/* A view records nothing: it shares its source's storage, and gradients
 * written to it land in the source's gradient. */
static clg_status view_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                               bool training)
{
    (void)p, (void)s, (void)t, (void)batch, (void)training;
    return CLG_OK;
}

static const clg_op_class reshape_class = {"reshape", view_forward, NULL, NULL, 0, 0,
                                           0};

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

static const clg_op_class concat_class = {
    "concat", concat_forward, concat_backward, NULL, 0, 0, 0};

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

/* ---- Narrow: params.i = {axis, start} ------------------------------------ */

/* x as [outer, Cd, inner] around the axis; the output takes Cs channels. */
static void narrow_split(const clg_tensor *t, int batch, size_t *outer, int *Cs,
                         int *Cd, size_t *inner)
{
    const clg_tensor *x = t->src[0];
    int axis = t->params.i[0];
    *outer = clg_dims_product(x, 0, axis, batch);
    *Cs = t->shape[axis];
    *Cd = x->shape[axis];
    *inner = clg_dims_product(x, axis + 1, x->ndim, batch);
}

static clg_status narrow_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 bool training)
{
    (void)training;
    size_t outer, inner, n = clg_numel_at(t, batch);
    int Cs, Cd;
    narrow_split(t, batch, &outer, &Cs, &Cd, &inner);
    /* the slice of a concatenation's gradient is the same gather */
    return clg_rec_kernel(p, s, "shape", NULL, "concat_slice", n,
                          CLG_ARGS(KINT(n), KINT(Cs), KINT(Cd), KINT(t->params.i[1]),
                                   KINT(inner), KINT(0), KMEM(clg_val(p, t->src[0])),
                                   KMEM(clg_val(p, t))));
}

static clg_status narrow_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  const clg_grad_io *io)
{
    size_t outer, inner, n = clg_numel_at(t->src[0], batch);
    int Cs, Cd;
    narrow_split(t, batch, &outer, &Cs, &Cd, &inner);
    return clg_rec_kernel(p, s, "shape", NULL, "narrow_backward", n,
                          CLG_ARGS(KINT(n), KINT(Cs), KINT(Cd), KINT(t->params.i[1]),
                                   KINT(inner), KINT(io->accumulate[0]),
                                   KMEM(io->grad_out), KMEM(io->grad_src[0])));
}

static const clg_op_class narrow_class = {
    "narrow", narrow_forward, narrow_backward, NULL, 0, 0, 0};

clg_tensor *clg_narrow(clg_graph *g, clg_tensor *x, int axis, int start, int length)
{
    if (clg_graph_bad_args(g, "narrow", 1, &x))
        return NULL;
    char sx[64];
    if (x->dtype != CLG_FLOAT32 || axis < (x->batched ? 1 : 0) || axis >= x->ndim)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "narrow: axis %d of %s (float32 only; not the batch)",
                              axis, clg_shape_str(x, sx, sizeof sx));
    if (start < 0 || length < 1 || start > x->shape[axis] - length)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "narrow: [%d, %d) is not inside dim %d of %s", start,
                              start + length, axis, clg_shape_str(x, sx, sizeof sx));
    int shape[CLG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = length;
    clg_tensor *t = clg_node(g, &narrow_class, 1, &x, x->ndim, shape);
    if (t) {
        t->params.i[0] = axis;
        t->params.i[1] = start;
    }
    return t;
}

/* ---- Permute: params.i[0..3] = the permutation --------------------------- */

/* y's dims padded in front to 4, and the strides of x in y's order. */
static void permute_map(const clg_tensor *t, int batch, cl_int4 *dims, cl_int4 *strides)
{
    const clg_tensor *x = t->src[0];
    int nd = x->ndim, pad = 4 - nd, xs[CLG_MAX_DIMS], d[4], s[4];
    int stride = 1;
    for (int k = nd - 1; k >= 0; k--) {
        xs[k] = stride;
        stride *= clg_dim_at(x, k, batch);
    }
    for (int k = 0; k < 4; k++) {
        d[k] = k < pad ? 1 : clg_dim_at(t, k - pad, batch);
        s[k] = k < pad ? 0 : xs[t->params.i[k - pad]];
    }
    *dims = (cl_int4){{d[0], d[1], d[2], d[3]}};
    *strides = (cl_int4){{s[0], s[1], s[2], s[3]}};
}

static clg_status permute_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  bool training)
{
    (void)training;
    cl_int4 dims, strides;
    permute_map(t, batch, &dims, &strides);
    size_t n = clg_numel_at(t, batch);
    return clg_rec_kernel(p, s, "shape", NULL, "permute_gather", n,
                          CLG_ARGS(KINT(n), ((clg_karg){sizeof dims, &dims}),
                                   ((clg_karg){sizeof strides, &strides}),
                                   KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, t))));
}

static clg_status permute_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                   int batch, const clg_grad_io *io)
{
    cl_int4 dims, strides;
    permute_map(t, batch, &dims, &strides);
    size_t n = clg_numel_at(t, batch);
    return clg_rec_kernel(p, s, "shape", NULL, "permute_scatter", n,
                          CLG_ARGS(KINT(n), ((clg_karg){sizeof dims, &dims}),
                                   ((clg_karg){sizeof strides, &strides}),
                                   KINT(io->accumulate[0]), KMEM(io->grad_out),
                                   KMEM(io->grad_src[0])));
}

static const clg_op_class permute_class = {
    "permute", permute_forward, permute_backward, NULL, 0, 0, 0};

clg_tensor *clg_permute(clg_graph *g, clg_tensor *x, const int *perm)
{
    if (clg_graph_bad_args(g, "permute", 1, &x))
        return NULL;
    char sx[64];
    if (!perm || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "permute: %s needs a permutation (float32 only)",
                              clg_shape_str(x, sx, sizeof sx));
    unsigned seen = 0;
    int shape[CLG_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++) {
        if (perm[k] < 0 || perm[k] >= x->ndim || (seen >> perm[k] & 1u))
            return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                                  "permute: entry %d (%d) of the permutation of %s is "
                                  "out of range or repeated",
                                  k, perm[k], clg_shape_str(x, sx, sizeof sx));
        seen |= 1u << perm[k];
        shape[k] = x->shape[perm[k]];
    }
    if (x->batched && perm[0] != 0)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "permute: dim 0 of %s is the batch and must stay first",
                              clg_shape_str(x, sx, sizeof sx));
    clg_tensor *t = clg_node(g, &permute_class, 1, &x, x->ndim, shape);
    if (t)
        for (int k = 0; k < x->ndim; k++)
            t->params.i[k] = perm[k];
    return t;
}
