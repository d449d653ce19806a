/* Activations, scaling, broadcasting add/sub/mul, per-channel bias. */
#include <stdio.h>

#include "base/text.h"
#include "ops/ops_internal.h"

size_t clg_dims_product(const clg_tensor *t, int from, int to, int batch)
{
    size_t n = 1;
    for (int i = from; i < to; i++)
        n *= (size_t)clg_dim_at(t, i, batch);
    return n;
}

/* ---- Activations: params.i[0] = CLG_ACT_*, params.f[0] = slope/alpha/factor -- */

static clg_status unary_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                bool training)
{
    (void)training;
    char opts[32];
    snprintf(opts, sizeof opts, "-DACT=%d", t->params.i[0]);
    size_t n = clg_numel_at(t, batch);
    return clg_rec_kernel(p, s, "elementwise", opts, "unary_forward", n,
                          CLG_ARGS(KINT(n), KFLOAT(t->params.f[0]),
                                   KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, t))));
}

static clg_status unary_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 const clg_grad_io *io)
{
    char opts[32];
    snprintf(opts, sizeof opts, "-DACT=%d", t->params.i[0]);
    size_t n = clg_numel_at(t, batch);
    return clg_rec_kernel(p, s, "elementwise", opts, "unary_backward", n,
                          CLG_ARGS(KINT(n), KFLOAT(t->params.f[0]),
                                   KINT(io->accumulate[0]), KMEM(clg_val(p, t->src[0])),
                                   KMEM(clg_val(p, t)), KMEM(io->grad_out),
                                   KMEM(io->grad_src[0])));
}

/* One op row per activation, named as its builder: activations.h. */
#define ACT_CLASS(Y, ID, fn, ...)                                                      \
    static const clg_op_class fn##_class = {                                           \
        #fn, unary_forward, unary_backward, NULL, 0, 0, 0};
#define ACT_FORM_CLASS(Y, ID, fn, code, nargs) ACT_CLASS(Y, ID, fn)
CLG_ACTIVATION_LIST(ACT_CLASS, ~)
CLG_ACTIVATION_FORM_LIST(ACT_FORM_CLASS, ~)

static const clg_op_class *act_class(clg_activation act)
{
    switch (act) {
#define ACT_CASE(Y, ID, fn, ...)                                                       \
    case CLG_ACT_##ID:                                                                 \
        return &fn##_class;
#define ACT_FORM_CASE(Y, ID, fn, code, nargs) ACT_CASE(Y, ID, fn)
        CLG_ACTIVATION_LIST(ACT_CASE, ~)
        CLG_ACTIVATION_FORM_LIST(ACT_FORM_CASE, ~)
    }
    return NULL;
}

const char *clg_activation_str(clg_activation act)
{
    const clg_op_class *c = act_class(act);
    return c ? c->name : "?";
}

clg_status clg_activation_parse(const char *name, clg_activation *act)
{
    static const clg_activation all[] = {
#define ACT_VALUE(Y, ID, ...)                  CLG_ACT_##ID,
#define ACT_FORM_VALUE(Y, ID, fn, code, nargs) CLG_ACT_##ID,
        CLG_ACTIVATION_LIST(ACT_VALUE, ~) CLG_ACTIVATION_FORM_LIST(ACT_FORM_VALUE, ~)};
    const char *names[CLG_COUNT_OF(all)];
    for (size_t i = 0; i < CLG_COUNT_OF(all); i++)
        names[i] = clg_activation_str(all[i]);
    int index;
    clg_status s =
        clg_enum_parse("activation", name, names, (int)CLG_COUNT_OF(all), &index);
    if (s == CLG_OK && act)
        *act = all[index];
    return s;
}

clg_tensor *clg_activate(clg_graph *g, clg_tensor *x, clg_activation act, float a)
{
    const clg_op_class *op = act_class(act);
    if (!op)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "activate: no activation %d",
                              (int)act);
    if (clg_graph_bad_args(g, op->name, 1, &x))
        return NULL;
    if (x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "%s: input '%s' is not float32",
                              op->name, x->name);
    clg_tensor *t = clg_node(g, op, 1, &x, x->ndim, x->shape);
    if (t) {
        t->params.i[0] = (int)act;
        t->params.f[0] = a;
    }
    return t;
}

/* The builders: clg_relu(g, x), clg_leaky_relu(g, x, slope), ... */
#define ACT_DEFINE_0(ID, fn)                                                           \
    clg_tensor *clg_##fn(clg_graph *g, clg_tensor *x)                                  \
    {                                                                                  \
        return clg_activate(g, x, CLG_ACT_##ID, 0.0f);                                 \
    }
#define ACT_DEFINE_1(ID, fn)                                                           \
    clg_tensor *clg_##fn(clg_graph *g, clg_tensor *x, float a)                         \
    {                                                                                  \
        return clg_activate(g, x, CLG_ACT_##ID, a);                                    \
    }
#define ACT_DEFINE(Y, ID, fn, name, code, layer, nargs, ...) ACT_DEFINE_##nargs(ID, fn)
#define ACT_FORM_DEFINE(Y, ID, fn, code, nargs)              ACT_DEFINE_##nargs(ID, fn)
CLG_ACTIVATION_LIST(ACT_DEFINE, ~)
CLG_ACTIVATION_FORM_LIST(ACT_FORM_DEFINE, ~)

/* ---- Binary ops with broadcasting: params.i[0] = CLG_BIN_* ------------------ */

typedef struct bshape {
    int a[4];   /* a's dims, padded in front to 4-d */
    int b[4];   /* b's dims, aligned to a's last ones */
    cl_int4 bs; /* b's strides, 0 where it broadcasts */
    bool same;  /* b has a's shape: element i meets element i */
} bshape;

static void broadcast_shape(const clg_tensor *t, int batch, bshape *bsh)
{
    const clg_tensor *a = t->src[0], *b = t->src[1];
    int pa = 4 - a->ndim, pb = 4 - b->ndim;
    for (int k = 0; k < 4; k++) {
        bsh->a[k] = k < pa ? 1 : clg_dim_at(a, k - pa, batch);
        bsh->b[k] = k < pb ? 1 : clg_dim_at(b, k - pb, batch);
    }
    int stride = 1;
    int strides[4];
    for (int k = 3; k >= 0; k--) {
        strides[k] = bsh->b[k] == 1 && bsh->a[k] != 1 ? 0 : stride;
        stride *= bsh->b[k];
    }
    bsh->bs = (cl_int4){{strides[0], strides[1], strides[2], strides[3]}};
    bsh->same = true;
    for (int k = 0; k < 4; k++)
        bsh->same = bsh->same && bsh->a[k] == bsh->b[k];
}

/* Same shapes (a residual connection) skip the broadcast's index
 * arithmetic, four integer divisions per element (docs/performance.md), and
 * the gradient of b is then dy itself rather than a sum over nothing. */
static void binary_options(const clg_tensor *t, const bshape *b, char *buf, size_t len)
{
    snprintf(buf, len, "-DBINOP=%d -DSAME=%d", t->params.i[0], b->same);
}

static clg_status binary_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 bool training)
{
    (void)training;
    bshape b;
    broadcast_shape(t, batch, &b);
    char opts[32];
    binary_options(t, &b, opts, sizeof opts);
    size_t n = clg_numel_at(t, batch);
    return clg_rec_kernel(p, s, "elementwise", opts, "binary_forward", n,
                          CLG_ARGS(KINT(n), KINT(b.a[1]), KINT(b.a[2]), KINT(b.a[3]),
                                   ((clg_karg){sizeof(cl_int4), &b.bs}),
                                   KMEM(clg_val(p, t->src[0])),
                                   KMEM(clg_val(p, t->src[1])), KMEM(clg_val(p, t))));
}

static clg_status binary_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  const clg_grad_io *io)
{
    bshape b;
    broadcast_shape(t, batch, &b);
    char opts[32];
    binary_options(t, &b, opts, sizeof opts);
    size_t n = clg_numel_at(t, batch), nb = clg_numel_at(t->src[1], batch);
    clg_status st = CLG_OK;
    if (io->grad_src[0])
        st = clg_rec_kernel(p, s, "elementwise", opts, "binary_backward_a", n,
                            CLG_ARGS(KINT(n), KINT(b.a[1]), KINT(b.a[2]), KINT(b.a[3]),
                                     ((clg_karg){sizeof(cl_int4), &b.bs}),
                                     KINT(io->accumulate[0]), KMEM(io->grad_out),
                                     KMEM(clg_val(p, t->src[1])),
                                     KMEM(io->grad_src[0])));
    cl_int4 e = {{b.b[0], b.b[1], b.b[2], b.b[3]}};
    if (st == CLG_OK && io->grad_src[1])
        st = clg_rec_kernel(p, s, "elementwise", opts, "binary_backward_b", nb,
                            CLG_ARGS(KINT(nb), KINT(b.a[0]), KINT(b.a[1]), KINT(b.a[2]),
                                     KINT(b.a[3]), ((clg_karg){sizeof(cl_int4), &e}),
                                     KINT(io->accumulate[1]), KMEM(io->grad_out),
                                     KMEM(clg_val(p, t->src[0])),
                                     KMEM(io->grad_src[1])));
    return st;
}

static const clg_op_class add_class = {
    "add", binary_forward, binary_backward, NULL, 0, 0, 0};
static const clg_op_class sub_class = {
    "sub", binary_forward, binary_backward, NULL, 0, 0, 0};
static const clg_op_class mul_class = {
    "mul", binary_forward, binary_backward, NULL, 0, 0, 0};

static clg_tensor *binary(clg_graph *g, const clg_op_class *op, clg_tensor *a,
                          clg_tensor *b, int binop)
{
    clg_tensor *src[2] = {a, b};
    if (clg_graph_bad_args(g, op->name, 2, src))
        return NULL;
    char sa[64], sb[64];
    if (a->dtype != CLG_FLOAT32 || b->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "%s: inputs must be float32",
                              op->name);
    bool fits =
        b->ndim <= a->ndim && (!b->batched || (a->batched && b->ndim == a->ndim));
    for (int k = 1; fits && k <= b->ndim; k++) {
        int da = a->shape[a->ndim - k], db = b->shape[b->ndim - k];
        fits = db == da || db == 1;
    }
    if (!fits)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "%s: b %s does not broadcast to a %s (b's dims, aligned to "
            "a's last ones, must equal a's or be 1)",
            op->name, clg_shape_str(b, sb, sizeof sb), clg_shape_str(a, sa, sizeof sa));
    /* b's gradient: a work-item per element of b sums a's elements it
     * broadcast to, in nested loops */
    size_t spread = clg_tensor_numel(a) / clg_tensor_numel(b);
    if (!clg_loops_fit(g, op->name, "b's broadcast (its gradient's sum)",
                       spread + spread / 8))
        return NULL;
    clg_tensor *t = clg_node(g, op, 2, src, a->ndim, a->shape);
    if (t) {
        t->params.i[0] = binop;
        t->batched = a->batched;
    }
    return t;
}

clg_tensor *clg_add(clg_graph *g, clg_tensor *a, clg_tensor *b)
{
    return binary(g, &add_class, a, b, CLG_BIN_ADD);
}
clg_tensor *clg_sub(clg_graph *g, clg_tensor *a, clg_tensor *b)
{
    return binary(g, &sub_class, a, b, CLG_BIN_SUB);
}
clg_tensor *clg_mul(clg_graph *g, clg_tensor *a, clg_tensor *b)
{
    return binary(g, &mul_class, a, b, CLG_BIN_MUL);
}

/* ---- Per-channel bias --------------------------------------------------- */

clg_status clg_rec_channel_bias(clg_plan *p, clg_cmdlist *s, cl_mem y, cl_mem bias,
                                size_t outer, int C, size_t inner)
{
    size_t n = outer * (size_t)C * inner;
    return clg_rec_kernel(p, s, "elementwise", NULL, "channel_bias_add", n,
                          CLG_ARGS(KINT(n), KINT(C), KINT(inner), KMEM(y), KMEM(bias)));
}

size_t clg_reduce_group(size_t count)
{
    size_t L = 1;
    while (L < count && L < 64)
        L *= 2;
    return L;
}

/* Columns longer than this are summed in parts of this many rows, then the
 * parts' sums (cl/elementwise.cl's channel_sum_columns), whatever the
 * device, so that a shape sums in the same order everywhere: no work-item
 * loops over more rows (Mesa's llvmpipe ends loops after 65,535
 * iterations: runtime_internal.h's clg_loop_limit), and a bias of a few
 * columns under many rows still spreads over many work-items. */
#define COLUMN_PART_ROWS 4096

static clg_status rec_columns(clg_plan *p, clg_cmdlist *s, cl_mem dy, cl_mem db,
                              size_t outer, int C, size_t rows, bool accumulate)
{
    size_t parts = (outer + rows - 1) / rows;
    return clg_rec_kernel(p, s, "elementwise", NULL, "channel_sum_columns",
                          parts * (((size_t)C + 3) / 4),
                          CLG_ARGS(KINT(outer), KINT(C), KINT(rows), KINT(accumulate),
                                   KMEM(dy), KMEM(db)));
}

static clg_status column_sums(clg_plan *p, clg_cmdlist *s, cl_mem dy, cl_mem db,
                              size_t outer, int C, bool accumulate)
{
    if (outer <= COLUMN_PART_ROWS)
        return rec_columns(p, s, dy, db, outer, C, outer, accumulate);
    size_t parts = (outer + COLUMN_PART_ROWS - 1) / COLUMN_PART_ROWS;
    cl_mem part;
    clg_status st = clg_rec_scratch(p, s, parts * (size_t)C * 4, &part);
    if (st == CLG_OK)
        st = rec_columns(p, s, dy, part, outer, C, COLUMN_PART_ROWS, false);
    if (st == CLG_OK)
        st = rec_columns(p, s, part, db, parts, C, parts, accumulate);
    return st;
}

clg_status clg_rec_channel_sum(clg_plan *p, clg_cmdlist *s, cl_mem dy, cl_mem db,
                               size_t outer, int C, size_t inner, bool accumulate)
{
    if (inner == 1) /* columns of [outer, C]: 4 a work-item, reads side by side */
        return column_sums(p, s, dy, db, outer, C, accumulate);
    return clg_rec_kernel_groups(p, s, "elementwise", NULL, "channel_sum", (size_t)C,
                                 clg_reduce_group(inner),
                                 CLG_ARGS(KINT(outer), KINT(C), KINT(inner),
                                          KINT(accumulate), KMEM(dy), KMEM(db)));
}
