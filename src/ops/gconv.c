/* Grouped and depthwise convolution (conv2d with groups > 1) and transposed
 * convolution, by direct kernels (cl/gconv.cl). Both are one convolution
 * seen from either side: conv2d maps its input [N, C, H, W] to [N, OC, OH,
 * OW]; conv_transpose2d with the same weight [OC, C/G, KH, KW] maps [N,
 * OC, OH, OW] back to [N, C, H, W], computing what conv2d's input gradient
 * computes, so its backward is conv2d's forward and the weight gradient is
 * the same sum with the roles of input and output swapped.
 *
 * params.i = {stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
 * groups, transposed}. */
#include <stdio.h>

#include "ops/ops_internal.h"

enum { TRANSPOSED = 7 };

static bool transposed(const clg_tensor *t)
{
    return t->params.i[TRANSPOSED] != 0;
}

/* The convolution's input side (big) and output side (small) of node t. */
static const clg_tensor *conv_in(const clg_tensor *t)
{
    return transposed(t) ? t : t->src[0];
}
static const clg_tensor *conv_out(const clg_tensor *t)
{
    return transposed(t) ? t->src[0] : t;
}

static void options(const clg_tensor *t, bool bias, char *buf, size_t len)
{
    const clg_tensor *x = conv_in(t), *y = conv_out(t), *w = t->src[1];
    const int *q = t->params.i;
    snprintf(buf, len,
             "-DC=%d -DH=%d -DW=%d -DOC=%d -DOH=%d -DOW=%d -DKH=%d -DKW=%d -DSH=%d "
             "-DSW=%d -DPH=%d -DPW=%d -DDH=%d -DDW=%d -DG=%d -DBIAS=%d",
             x->shape[1], x->shape[2], x->shape[3], y->shape[1], y->shape[2],
             y->shape[3], w->shape[2], w->shape[3], q[0], q[1], q[2], q[3], q[4], q[5],
             q[6], bias ? 1 : 0);
}

/* A row of elements per work-item on CPUs, an element elsewhere
 * (clg_rows_per_item): the rows' loops have no conditions inside and
 * vectorise. */
static bool by_rows(const clg_tensor *t)
{
    return clg_rows_per_item(t->graph->ctx);
}

/* One pass of the convolution, written a row or an element per work-item:
 * conv2d's forward, big side to small, dst (=|+=) src * w (+ b); or its
 * input gradient, small to big, dst (=|+=) src *^T w (+ b). */
static clg_status rec_pass(clg_plan *p, clg_cmdlist *s, const clg_tensor *t, size_t N,
                           bool forward, cl_mem src, cl_mem b, bool accumulate,
                           cl_mem dst)
{
    static const char *kernels[2][2] = {{"gconv_input_grad", "gconv_input_grad_rows"},
                                        {"gconv_forward", "gconv_forward_rows"}};
    char opts[256];
    options(t, b != NULL, opts, sizeof opts);
    bool rows = by_rows(t);
    const clg_tensor *written = forward ? conv_out(t) : conv_in(t);
    size_t n = N * clg_dims_product(written, 1, rows ? 3 : 4, 0);
    int acc = accumulate;
    return clg_rec_kernel(p, s, "gconv", opts, kernels[forward][rows], n,
                          CLG_ARGS(KINT(n), KINT(acc), KMEM(src),
                                   KMEM(clg_val(p, t->src[1])), KMEM(b ? b : src),
                                   KMEM(dst)));
}

/* dw (=|+=) the sum over the batch of x (big side) times dy (small side):
 * partial sums over interleaved samples, enough of them to give every
 * core work (weights of a depthwise layer are few), then their sum. */
static clg_status rec_weight_grad(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                                  size_t N, cl_mem x, cl_mem dy, bool accumulate,
                                  cl_mem dw)
{
    char opts[256];
    options(t, false, opts, sizeof opts);
    const clg_tensor *w = t->src[1];
    bool rows = by_rows(t);
    /* rows: a work-item per (part, oc, ci) sums a whole KH x KW window */
    size_t weights = clg_tensor_numel(w), parts = 1;
    size_t items = rows ? weights / ((size_t)w->shape[2] * w->shape[3]) : weights;
    while (parts < N && parts * items < (rows ? 256 : 16384))
        parts *= 2;
    if (parts > N)
        parts = N;
    size_t n = parts * items;
    cl_mem partial;
    clg_status st = clg_rec_scratch(p, s, parts * weights * 4, &partial);
    int nb = (int)N, np = (int)parts, acc = accumulate;
    if (st == CLG_OK)
        st = clg_rec_kernel(
            p, s, "gconv", opts, rows ? "gconv_weight_grad_rows" : "gconv_weight_grad",
            n, CLG_ARGS(KINT(n), KINT(nb), KINT(np), KMEM(x), KMEM(dy), KMEM(partial)));
    if (st == CLG_OK)
        st = clg_rec_kernel(
            p, s, "gconv", opts, "gconv_weight_sum", weights,
            CLG_ARGS(KINT(weights), KINT(np), KINT(acc), KMEM(partial), KMEM(dw)));
    return st;
}

static clg_status gconv_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                bool training)
{
    (void)training;
    size_t N = (size_t)clg_dim_at(t, 0, batch);
    cl_mem x = clg_val(p, t->src[0]), y = clg_val(p, t);
    cl_mem b = t->nsrc == 3 ? clg_val(p, t->src[2]) : NULL;
    return rec_pass(p, s, t, N, !transposed(t), x, b, false, y);
}

static clg_status gconv_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                 const clg_grad_io *io)
{
    size_t N = (size_t)clg_dim_at(t, 0, batch);
    cl_mem x = clg_val(p, t->src[0]), dy = io->grad_out, dx = io->grad_src[0];
    clg_status st = CLG_OK;
    if (dx)
        st = rec_pass(p, s, t, N, transposed(t), dy, NULL, io->accumulate[0], dx);
    if (st == CLG_OK && io->grad_src[1])
        st = transposed(t) ? rec_weight_grad(p, s, t, N, dy, x, io->accumulate[1],
                                             io->grad_src[1])
                           : rec_weight_grad(p, s, t, N, x, dy, io->accumulate[1],
                                             io->grad_src[1]);
    if (st == CLG_OK && t->nsrc == 3 && io->grad_src[2])
        st = clg_rec_channel_sum(p, s, dy, io->grad_src[2], N, t->shape[1],
                                 clg_dims_product(t, 2, 4, 0), io->accumulate[2]);
    return st;
}

static const clg_op_class gconv_class = {
    "conv2d_grouped", gconv_forward, gconv_backward, NULL, 0, 0, 0};
static const clg_op_class tconv_class = {
    "conv_transpose2d", gconv_forward, gconv_backward, NULL, 0, 0, 0};

clg_tensor *clg_gconv_node(clg_graph *g, clg_tensor *x, clg_tensor *w, clg_tensor *b,
                           const int q[7], bool is_transposed, const int shape[4])
{
    clg_tensor *src[3] = {x, w, b};
    clg_tensor *t = clg_node(g, is_transposed ? &tconv_class : &gconv_class, b ? 3 : 2,
                             src, 4, shape);
    if (t) {
        for (int i = 0; i < 7; i++)
            t->params.i[i] = q[i];
        t->params.i[TRANSPOSED] = is_transposed;
    }
    return t;
}

clg_tensor *clg_conv_transpose2d(clg_graph *g, clg_tensor *x, clg_tensor *w,
                                 clg_tensor *b, const clg_conv_transpose2d_opts *opts)
{
    clg_conv_transpose2d_opts o = CLG_CONV_TRANSPOSE2D_DEFAULTS;
    if (opts)
        o = *opts;
    clg_tensor *src[3] = {x, w, b};
    if (clg_graph_bad_args(g, "conv_transpose2d", b ? 3 : 2, src))
        return NULL;
    char sx[64], sw[64], sb[64];
    int groups = o.groups ? o.groups : 1;
    if (x->ndim != 4 || w->ndim != 4 || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "conv_transpose2d: input %s and weight %s must both be "
                              "4-d float32 ([N,C,H,W] and [C,OC/groups,KH,KW])",
                              clg_shape_str(x, sx, sizeof sx),
                              clg_shape_str(w, sw, sizeof sw));
    if (groups < 1 || w->shape[0] != x->shape[1] || x->shape[1] % groups)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "conv_transpose2d: weight %s expects %d input channels "
                              "in %d groups, input is %s",
                              clg_shape_str(w, sw, sizeof sw), w->shape[0], groups,
                              clg_shape_str(x, sx, sizeof sx));
    int oc = w->shape[1] * groups;
    if (b && (b->ndim != 1 || b->shape[0] != oc))
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "conv_transpose2d: bias %s does not match weight %s "
                              "in %d groups (expects [%d])",
                              clg_shape_str(b, sb, sizeof sb),
                              clg_shape_str(w, sw, sizeof sw), groups, oc);
    if (o.stride_h < 1 || o.stride_w < 1 || o.dilation_h < 1 || o.dilation_w < 1 ||
        o.pad_h < 0 || o.pad_w < 0 || o.output_pad_h < 0 || o.output_pad_w < 0 ||
        (o.output_pad_h >= o.stride_h && o.output_pad_h >= o.dilation_h) ||
        (o.output_pad_w >= o.stride_w && o.output_pad_w >= o.dilation_w))
        return clg_graph_fail(
            g, CLG_INVALID_ARGUMENT,
            "conv_transpose2d: stride (%d,%d) and dilation (%d,%d) must be >= 1, "
            "padding (%d,%d) >= 0 and output padding (%d,%d) >= 0 and smaller than "
            "the stride or the dilation",
            o.stride_h, o.stride_w, o.dilation_h, o.dilation_w, o.pad_h, o.pad_w,
            o.output_pad_h, o.output_pad_w);
    int oh = (x->shape[2] - 1) * o.stride_h - 2 * o.pad_h +
             o.dilation_h * (w->shape[2] - 1) + o.output_pad_h + 1;
    int ow = (x->shape[3] - 1) * o.stride_w - 2 * o.pad_w +
             o.dilation_w * (w->shape[3] - 1) + o.output_pad_w + 1;
    if (oh < 1 || ow < 1)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "conv_transpose2d: input %s with kernel %dx%d, stride "
                              "(%d,%d) and padding (%d,%d) gives an empty %dx%d output",
                              clg_shape_str(x, sx, sizeof sx), w->shape[2], w->shape[3],
                              o.stride_h, o.stride_w, o.pad_h, o.pad_w, oh, ow);
    size_t n = (size_t)x->shape[0], p = (size_t)oh * ow;
    if (b &&
        !clg_loops_fit(g, "conv_transpose2d", "an output channel (the bias's gradient)",
                       2 * (n * p / 64 + n)))
        return NULL;
    int q[7] = {o.stride_h,   o.stride_w,   o.pad_h, o.pad_w,
                o.dilation_h, o.dilation_w, groups};
    int shape[4] = {x->shape[0], oc, oh, ow};
    return clg_gconv_node(g, x, w, b, q, true, shape);
}
