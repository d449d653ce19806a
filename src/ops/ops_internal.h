/* Pieces the op families share. */
#ifndef CLGRAD_OPS_INTERNAL_H
#define CLGRAD_OPS_INTERNAL_H

#include "cl/codes.h"
#include "graph/op.h"

/* Whether the kernels with two layouts take a row of elements per
 * work-item, as CPU implementations run fastest (one index computation per
 * row, a loop the compiler vectorises), rather than an element per
 * work-item, as GPUs do (neighbouring work-items on neighbouring floats).
 * The suite runs both: oclgrind's simulator is a GPU. Mesa's llvmpipe, a
 * CPU device that runs work-items in SIMD lanes as a GPU does, takes the
 * elements: its loops are limited (clg_loop_limit), and a row of 65,536
 * (a 256 x 256 image's plane) would end short. */
static inline bool clg_rows_per_item(const clg_context *ctx)
{
    return ctx->kernel_class == CLG_KERNELS_CPU ||
           ctx->kernel_class == CLG_KERNELS_POCL_CPU ||
           ctx->kernel_class == CLG_KERNELS_INTEL_CPU;
}

/* Whether one work-item's loops of about `iterations` run whole on g's
 * device (clg_loop_limit); where they would not, fails g naming op and
 * what is too long, so that the shape is refused when it is built rather
 * than summed short, silently, when it runs. */
static inline bool clg_loops_fit(clg_graph *g, const char *op, const char *what,
                                 size_t iterations)
{
    size_t limit = clg_loop_limit(g->ctx);
    if (limit == 0 || iterations <= limit)
        return true;
    clg_graph_fail(g, CLG_UNSUPPORTED,
                   "%s: a work-item would loop about %zu times over %s, and %s ends "
                   "a work-item's loops after %zu (Mesa's loop limit), which would "
                   "give wrong results without an error: use a smaller shape or "
                   "another OpenCL device",
                   op, iterations, what, g->ctx->info.name, limit);
    return false;
}

/* Makes batch norm node t apply a ReLU to its output in the same kernels,
 * forward and backward: t becomes relu(batch_norm(...)). The caller must
 * know that nothing reads t's output but the ReLU it replaces (a model's
 * BatchNorm layer followed by a ReLU layer). Returns t, or NULL (nothing
 * changed) when t is not a batch norm node or already has its ReLU. */
clg_tensor *clg_batch_norm_fuse_relu(clg_tensor *t);

/* A node of grouped convolution (conv2d with q[6] = groups > 1) or of
 * transposed convolution (gconv.c): q = {stride_h, stride_w, pad_h, pad_w,
 * dilation_h, dilation_w, groups}, its shapes already checked. */
clg_tensor *clg_gconv_node(clg_graph *g, clg_tensor *x, clg_tensor *w, clg_tensor *b,
                           const int q[7], bool transposed, const int shape[4]);

/* y[o, c, i] += bias[c] over [outer, C, inner]. */
clg_status clg_rec_channel_bias(clg_plan *p, clg_cmdlist *s, cl_mem y, cl_mem bias,
                                size_t outer, int C, size_t inner);

/* db[c] (=|+=) sum over o, i of dy[o, c, i]. */
clg_status clg_rec_channel_sum(clg_plan *p, clg_cmdlist *s, cl_mem dy, cl_mem db,
                               size_t outer, int C, size_t inner, bool accumulate);

/* A reduction's kind: CLG_RED_SUM, CLG_RED_MEAN or CLG_RED_MAX (cl/codes.h). */
typedef int clg_reduce_kind;

/* Causal softmax of x [rows, Tk] (rows over [..., Tq], scaled) into y, and
 * its backward; either may run in place (x == y, dy == dx). lse, unless
 * NULL, gets each row's log-sum-exp of its scaled scores, from which
 * ..._recompute makes y again (rows * Tk below 2^31; in place too). */
clg_status clg_rec_causal_softmax(clg_plan *p, clg_cmdlist *s, size_t rows, int Tq,
                                  int Tk, float scale, cl_mem x, cl_mem y, cl_mem lse);
clg_status clg_rec_causal_softmax_recompute(clg_plan *p, clg_cmdlist *s, size_t rows,
                                            int Tq, int Tk, float scale, cl_mem x,
                                            cl_mem lse, cl_mem y);
clg_status clg_rec_causal_softmax_backward(clg_plan *p, clg_cmdlist *s, size_t rows,
                                           int Tq, int Tk, float scale, bool accumulate,
                                           cl_mem y, cl_mem dy, cl_mem dx);

/* out[0] = scale * sum of x[0..n): compensated sums of chunks into
 * `partial` (up to CLG_SUM_CHUNKS floats), one work-group each, then their
 * sum; deterministic, parallel, and accurate however large n is. */
#define CLG_SUM_CHUNKS 256
clg_status clg_rec_sum_all(clg_plan *p, clg_cmdlist *s, cl_mem x, size_t n, float scale,
                           cl_mem partial, cl_mem out);

/* The work-group size for reductions whose work-items share `count` terms
 * of each plane: the power of two at or above it, at most 64. */
size_t clg_reduce_group(size_t count);

/* One operand of a batched matrix product: in each of the batch's blocks of
 * `stride` floats, the matrix at `off`, its rows `ld` floats apart, read
 * transposed when `trans` (matmul.c). */
typedef struct clg_operand {
    cl_mem mem;
    size_t off, ld, stride;
    bool trans;
} clg_operand;

/* Z = X Y (m x n, inner dimension k) in each of `batch` blocks; added to Z
 * when `accumulate`. Strided operands read heads of a wider row in place. */
clg_status clg_rec_product(clg_plan *p, clg_cmdlist *s, size_t batch, size_t m,
                           size_t n, size_t k, clg_operand X, clg_operand Y,
                           clg_operand Z, bool accumulate);

/* Product of dims [from, to) of t at a batch. */
size_t clg_dims_product(const clg_tensor *t, int from, int to, int batch);

#endif
