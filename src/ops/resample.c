/* Upsampling by whole factors and adaptive average pooling over [N, C, H,
 * W] (cl/resample.cl). params.i = {scale_h, scale_w, bilinear} for
 * upsampling; adaptive pooling's output size is its shape. */
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

static void resample_options(const clg_tensor *t, char *buf, size_t len)
{
    const clg_tensor *x = t->src[0];
    snprintf(buf, len, "-DH=%d -DW=%d -DOH=%d -DOW=%d -DSH=%d -DSW=%d", x->shape[2],
             x->shape[3], t->shape[2], t->shape[3], t->params.i[0], t->params.i[1]);
}

/* The kernel `<name>_forward` over the outputs, or `<name>_backward` over
 * the inputs. */
static const char *kernel_name(const clg_tensor *t, bool forward)
{
    if (!strcmp(t->op->name, "adaptive_avg_pool2d"))
        return forward ? "adaptive_avg_pool_forward" : "adaptive_avg_pool_backward";
    if (t->params.i[2])
        return forward ? "upsample_bilinear_forward" : "upsample_bilinear_backward";
    return forward ? "upsample_nearest_forward" : "upsample_nearest_backward";
}

static clg_status resample_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                   int batch, bool training)
{
    (void)training;
    char opts[128];
    resample_options(t, opts, sizeof opts);
    size_t n = clg_numel_at(t, batch);
    return clg_rec_kernel(
        p, s, "resample", opts, kernel_name(t, true), n,
        CLG_ARGS(KINT(n), KMEM(clg_val(p, t->src[0])), KMEM(clg_val(p, t))));
}

static clg_status resample_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                    int batch, const clg_grad_io *io)
{
    char opts[128];
    resample_options(t, opts, sizeof opts);
    size_t n = clg_numel_at(t->src[0], batch);
    int acc = io->accumulate[0];
    return clg_rec_kernel(
        p, s, "resample", opts, kernel_name(t, false), n,
        CLG_ARGS(KINT(n), KINT(acc), KMEM(io->grad_out), KMEM(io->grad_src[0])));
}

static const clg_op_class upsample_class = {
    "upsample", resample_forward, resample_backward, NULL, 0, 0, 0};
static const clg_op_class adaptive_class = {
    "adaptive_avg_pool2d", resample_forward, resample_backward, NULL, 0, 0, 0};

static bool planes(clg_graph *g, const char *op, const clg_tensor *x)
{
    char sx[64];
    if (x->ndim == 4 && x->dtype == CLG_FLOAT32)
        return true;
    clg_graph_fail(g, CLG_SHAPE_MISMATCH, "%s: input %s is not [N,C,H,W] float32", op,
                   clg_shape_str(x, sx, sizeof sx));
    return false;
}

clg_tensor *clg_upsample(clg_graph *g, clg_tensor *x, int scale_h, int scale_w,
                         bool bilinear)
{
    if (clg_graph_bad_args(g, "upsample", 1, &x) || !planes(g, "upsample", x))
        return NULL;
    if (scale_h < 1 || scale_w < 1 || scale_h > 64 || scale_w > 64)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "upsample: scale factors %d x %d must be whole numbers "
                              "from 1 to 64",
                              scale_h, scale_w);
    long long oh = (long long)x->shape[2] * scale_h,
              ow = (long long)x->shape[3] * scale_w;
    if (oh > (1 << 24) || ow > (1 << 24))
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "upsample: %lld x %lld planes are larger than clgrad's "
                              "16777216 a dimension",
                              oh, ow);
    int shape[4] = {x->shape[0], x->shape[1], (int)oh, (int)ow};
    clg_tensor *t = clg_node(g, &upsample_class, 1, &x, 4, shape);
    if (t) {
        t->params.i[0] = scale_h;
        t->params.i[1] = scale_w;
        t->params.i[2] = bilinear;
    }
    return t;
}

clg_tensor *clg_adaptive_avg_pool2d(clg_graph *g, clg_tensor *x, int out_h, int out_w)
{
    if (clg_graph_bad_args(g, "adaptive_avg_pool2d", 1, &x) ||
        !planes(g, "adaptive_avg_pool2d", x))
        return NULL;
    char sx[64];
    if (out_h < 1 || out_w < 1 || out_h > x->shape[2] || out_w > x->shape[3])
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "adaptive_avg_pool2d: output %d x %d must be from 1 x 1 "
                              "to the input's planes, %s",
                              out_h, out_w, clg_shape_str(x, sx, sizeof sx));
    int shape[4] = {x->shape[0], x->shape[1], out_h, out_w};
    clg_tensor *t = clg_node(g, &adaptive_class, 1, &x, 4, shape);
    if (t)
        t->params.i[0] = t->params.i[1] = 1;
    return t;
}
