/*
 * clgrad/graph.h — tensors, the op graph, autograd and execution plans.
 *
 * Training is define-once, run-many. Build a graph of ops once, make a plan
 * from it, then run the plan every step:
 *
 *     clg_graph *g;
 *     clg_graph_create(ctx, &g);
 *     int xs[] = {64, 784}, ys[] = {64}, ws[] = {10, 784}, bs[] = {10};
 *     clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, xs);  // dim 0: batch
 *     clg_tensor *y = clg_input(g, "y", CLG_INT32, 1, ys);
 *     clg_tensor *w = clg_parameter(g, "0.weight", 2, ws);
 *     clg_tensor *b = clg_parameter(g, "0.bias", 1, bs);
 *     clg_tensor *loss = clg_cross_entropy(g, clg_linear(g, x, w, b), y, 0.0f,
 *                                          CLG_REDUCE_MEAN);
 *     clg_plan *plan;
 *     if (clg_plan_create(g, loss, NULL, 0, &plan) != CLG_OK) ...
 *     // each step: upload the batch, run forward + backward, read the loss
 *     clg_tensor_upload(x, images, batch * 784);   // blocking writes
 *     clg_tensor_upload(y, labels, batch);
 *     clg_plan_run(plan, batch, CLG_RUN_TRAIN);   // enqueued, no wait
 *     clg_plan_loss(plan, &value);                // waits for the step
 *
 * Builders (clg_linear, clg_relu, ...) check shapes and return the new
 * tensor, or NULL when something is wrong: a NULL input makes NULL too, and
 * the graph keeps the first failure, which clg_graph_status() returns and
 * clg_last_error() describes ("conv2d: weight [32,16,3,3] expects 16 input
 * channels, input is [8,3,32,32]"). clg_plan_create() refuses a failed graph,
 * so checking once there is enough.
 *
 * Shapes follow PyTorch: activations NCHW, Linear weight [out, in], Conv2d
 * weight [out, in, kh, kw]. Dimension 0 of an input is the batch; a plan is
 * built for the largest batch and runs any smaller one without rebuilding.
 * The graph owns every tensor, the leaves' device buffers and the parameters'
 * gradients; a plan owns the intermediate activations.
 */
#ifndef CLGRAD_GRAPH_H
#define CLGRAD_GRAPH_H

#include "api.h"

#include <stdbool.h>
#include <stddef.h>

#include "activations.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_MAX_DIMS 4

#define CLG_DTYPE_LIST(X)                                                              \
    X(CLG_FLOAT32, 0, "float32")                                                       \
    X(CLG_INT32, 1, "int32") /* class labels, token ids */

typedef enum clg_dtype { CLG_DTYPE_LIST(CLG_ENUM_VALUE) } clg_dtype;

/* "float32", "int32". */
CLG_API const char *clg_dtype_str(clg_dtype value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_dtype_parse(const char *name, clg_dtype *value);

#define CLG_REDUCTION_LIST(X)                                                          \
    X(CLG_REDUCE_MEAN, 0, "mean")                                                      \
    X(CLG_REDUCE_SUM, 1, "sum")

typedef enum clg_reduction { CLG_REDUCTION_LIST(CLG_ENUM_VALUE) } clg_reduction;

/* "mean", "sum". */
CLG_API const char *clg_reduction_str(clg_reduction value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_reduction_parse(const char *name, clg_reduction *value);

typedef struct clg_graph clg_graph;
typedef struct clg_tensor clg_tensor;
typedef struct clg_plan clg_plan;

/* ---- Graphs and leaves -------------------------------------------------- */

/* An empty graph on ctx, which must outlive it. The graph owns every tensor
 * built on it; free it after the plans made from it. */
CLG_API clg_status clg_graph_create(clg_context *ctx, clg_graph **graph);
CLG_API void clg_graph_free(clg_graph *graph); /* accepts NULL */
CLG_API clg_context *clg_graph_context(const clg_graph *graph);

/* CLG_OK, or the first failure of a builder on this graph. */
CLG_API clg_status clg_graph_status(const clg_graph *graph);

/* Data fed each step. shape[0] is the largest batch the graph will run. */
CLG_API clg_tensor *clg_input(clg_graph *g, const char *name, clg_dtype dtype, int ndim,
                              const int *shape);

/* A trainable float tensor, zero-filled; upload its initial values. */
CLG_API clg_tensor *clg_parameter(clg_graph *g, const char *name, int ndim,
                                  const int *shape);

/* A persistent float tensor that is not trained (batch norm running
 * statistics), filled with `value`. */
CLG_API clg_tensor *clg_state(clg_graph *g, const char *name, int ndim,
                              const int *shape, float value);

/* ---- Tensors ------------------------------------------------------------ */

CLG_API const char *clg_tensor_name(const clg_tensor *t);
CLG_API clg_dtype clg_tensor_dtype(const clg_tensor *t);
CLG_API int clg_tensor_ndim(const clg_tensor *t);
CLG_API int clg_tensor_dim(const clg_tensor *t,
                           int i); /* planned size; 0 if out of range */
CLG_API size_t clg_tensor_numel(const clg_tensor *t); /* at the planned batch */
CLG_API bool clg_tensor_is_parameter(const clg_tensor *t);

/* Copies `count` elements into a leaf (input, parameter, state) from host
 * memory, a blocking write (on the context's in-order queue it also waits
 * for the work before it); for an input, count is batch x the per-sample
 * size. Integer
 * inputs used as labels or token ids are range-checked here, so a bad label
 * is an error naming its position, not an out-of-bounds read on the device. */
CLG_API clg_status clg_tensor_upload(clg_tensor *t, const void *data, size_t count);

/* Copies a leaf's first `count` elements to host memory. */
CLG_API clg_status clg_tensor_download(const clg_tensor *t, void *data, size_t count);

/* A frozen parameter gets no gradient (transfer learning). */
CLG_API void clg_tensor_set_frozen(clg_tensor *t, bool frozen);
CLG_API bool clg_tensor_frozen(const clg_tensor *t);

/* Asks for the gradient of an input too (gradient checks, saliency). */
CLG_API void clg_tensor_set_requires_grad(clg_tensor *t, bool wanted);

/* Device storage of a leaf and of a parameter's gradient (NULL before a
 * training plan exists). Owned by the graph; for optimizers. */
CLG_API clg_buffer *clg_tensor_buffer(const clg_tensor *t);
CLG_API clg_buffer *clg_tensor_grad_buffer(const clg_tensor *t);

/* The first tensor with this name, or NULL. */
CLG_API clg_tensor *clg_graph_find(const clg_graph *g, const char *name);

/* Number of parameter tensors in the graph, and the i-th of them, in
 * creation order. */
CLG_API int clg_graph_parameter_count(const clg_graph *g);
CLG_API clg_tensor *clg_graph_parameter(const clg_graph *g, int i);

/* Activation recomputation: the nodes made between these two calls form a
 * segment. A plan that trains keeps, of a segment's values, only those that
 * nodes outside it read (and outputs); it computes the others again in
 * backward, just before the segment's first backward launch, into buffers
 * that later segments reuse: one segment's activations held at a time, not
 * every segment's, for one more forward pass of the segments. Gradients are
 * the same, bit for bit. Segments do not nest; their forward must give the
 * same values twice (dropout does, by its counter; a training batch norm,
 * whose running statistics would move twice, is refused by the plan). */
CLG_API clg_status clg_graph_recompute_begin(clg_graph *g);
CLG_API clg_status clg_graph_recompute_end(clg_graph *g);

/* ---- Ops ---------------------------------------------------------------- */

/* y = x W^T + b. x [N, in], W [out, in], b [out] or NULL -> [N, out]. */
CLG_API clg_tensor *clg_linear(clg_graph *g, clg_tensor *x, clg_tensor *w,
                               clg_tensor *b);

/* How a convolution computes. AUTO: Winograd's F(2x2, 3x3) for 3x3
 * windows at stride 1, undilated, padded by at most 2, with 64 or more
 * input and output channels, on CPU devices (where such layers' training
 * steps measured 0.49-1.0x im2col's time), im2col + GEMM otherwise; the
 * environment's CLGRAD_CONV=im2col|winograd overrides it. WINOGRAD where
 * it does not apply is im2col. Either way the weight gradient is im2col's
 * GEMM. */
typedef enum clg_conv_algorithm {
    CLG_CONV_AUTO,
    CLG_CONV_IM2COL,
    CLG_CONV_WINOGRAD,
} clg_conv_algorithm;

typedef struct clg_conv2d_opts {
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dilation_h, dilation_w;
    clg_conv_algorithm algorithm;
    int groups; /* 0 or 1: one group */
} clg_conv2d_opts;
#define CLG_CONV2D_DEFAULTS                                                            \
    {                                                                                  \
        .stride_h = 1, .stride_w = 1, .pad_h = 0, .pad_w = 0, .dilation_h = 1,         \
        .dilation_w = 1, .algorithm = CLG_CONV_AUTO, .groups = 1                       \
    }

/* x [N, C, H, W], w [OC, C/groups, KH, KW], b [OC] or NULL -> [N, OC, OH,
 * OW]; opts NULL means stride 1, no padding, no dilation, one group, the
 * algorithm AUTO. With groups G > 1 (nn.Conv2d's groups; G = C = OC is a
 * depthwise convolution) output channel o sees the input channels of its
 * group, o / (OC/G), and a direct kernel computes it (the algorithm does
 * not apply). */
CLG_API clg_tensor *clg_conv2d(clg_graph *g, clg_tensor *x, clg_tensor *w,
                               clg_tensor *b, const clg_conv2d_opts *opts);

typedef struct clg_conv_transpose2d_opts {
    int stride_h, stride_w;
    int pad_h, pad_w;
    int output_pad_h, output_pad_w; /* smaller than the stride or the dilation */
    int dilation_h, dilation_w;
    int groups; /* 0 or 1: one group */
} clg_conv_transpose2d_opts;
#define CLG_CONV_TRANSPOSE2D_DEFAULTS                                                  \
    {                                                                                  \
        .stride_h = 1, .stride_w = 1, .pad_h = 0, .pad_w = 0, .output_pad_h = 0,       \
        .output_pad_w = 0, .dilation_h = 1, .dilation_w = 1, .groups = 1               \
    }

/* nn.ConvTranspose2d: x [N, C, H, W], w [C, OC/groups, KH, KW], b [OC] or
 * NULL -> [N, OC, (H - 1) stride - 2 pad + dilation (KH - 1) + output_pad +
 * 1, ...]: the gradient of conv2d with that weight, taken as a layer (what
 * upsampling decoders and GAN generators use). opts NULL: stride 1, no
 * padding, one group. */
CLG_API clg_tensor *clg_conv_transpose2d(clg_graph *g, clg_tensor *x, clg_tensor *w,
                                         clg_tensor *b,
                                         const clg_conv_transpose2d_opts *opts);

/* Pools over [N, C, H, W]; stride 0 means stride = kernel. Max pooling pads
 * with -inf, average pooling with zeros that count (count_include_pad). */
CLG_API clg_tensor *clg_max_pool2d(clg_graph *g, clg_tensor *x, int kernel, int stride,
                                   int padding);
CLG_API clg_tensor *clg_avg_pool2d(clg_graph *g, clg_tensor *x, int kernel, int stride,
                                   int padding);
/* [N, C, H, W] -> [N, C, 1, 1], the mean over each channel's H x W. */
CLG_API clg_tensor *clg_global_avg_pool(clg_graph *g, clg_tensor *x);
/* nn.AdaptiveAvgPool2d((out_h, out_w)): [N, C, H, W] -> [N, C, out_h,
 * out_w], output (i, j) the mean of rows [i H / out_h, ceil((i + 1) H /
 * out_h)) and the same columns; out_h <= H, out_w <= W. */
CLG_API clg_tensor *clg_adaptive_avg_pool2d(clg_graph *g, clg_tensor *x, int out_h,
                                            int out_w);
/* nn.Upsample(scale_factor=(scale_h, scale_w), mode="nearest" or, when
 * bilinear, "bilinear" with align_corners=False): [N, C, H, W] -> [N, C,
 * scale_h H, scale_w W], whole factors from 1 to 64. */
CLG_API clg_tensor *clg_upsample(clg_graph *g, clg_tensor *x, int scale_h, int scale_w,
                                 bool bilinear);

/* Batch norm over dim 1 of [N, C] or [N, C, H, W]. gamma, beta [C] or both
 * NULL (no affine); running_mean, running_var [C] states, updated in training
 * runs with PyTorch's momentum (new = (1 - m) old + m batch) and the unbiased
 * batch variance; evaluation runs normalise with them. */
CLG_API clg_tensor *clg_batch_norm(clg_graph *g, clg_tensor *x, clg_tensor *gamma,
                                   clg_tensor *beta, clg_tensor *running_mean,
                                   clg_tensor *running_var, float momentum, float eps);
/* The least batch a training run of g's plans may have: 2 where a batch
 * norm sees one value per channel in a sample ([N, C], or 1 x 1 planes),
 * whose variance over a batch of 1 is 0 (clg_plan_run refuses it, naming
 * the layer, as PyTorch does); else 1. */
CLG_API int clg_graph_min_train_batch(const clg_graph *g);

/* Layer norm over the last dim of x [..., C], as nn.LayerNorm(C): biased
 * variance, gamma, beta [C]; both NULL: no affine; beta NULL: no shift
 * (nn.LayerNorm(C, bias=False)). */
CLG_API clg_tensor *clg_layer_norm(clg_graph *g, clg_tensor *x, clg_tensor *gamma,
                                   clg_tensor *beta, float eps);
/* RMS norm over the last dim, as nn.RMSNorm(C): x / sqrt(mean(x^2) + eps)
 * times gamma [C] (or NULL). */
CLG_API clg_tensor *clg_rms_norm(clg_graph *g, clg_tensor *x, clg_tensor *gamma,
                                 float eps);

/* Inverted dropout with probability p in training runs, identity in
 * evaluation. Masks come from Philox 4x32-10 keyed by (seed, step, element). */
CLG_API clg_tensor *clg_dropout(clg_graph *g, clg_tensor *x, float p,
                                unsigned long long seed);

/* Element-wise activations, one per row of activations.h:
 *
 *   clg_relu(g, x)              clg_sigmoid(g, x)
 *   clg_leaky_relu(g, x, slope) clg_tanh(g, x)
 *   clg_elu(g, x, alpha)        clg_gelu(g, x)        exact, with erf
 *   clg_silu(g, x)              x sigmoid(x)
 *   clg_hardswish(g, x)         x relu6(x + 3) / 6
 *   clg_hardsigmoid(g, x)       relu6(x + 3) / 6
 *   clg_gelu_tanh(g, x)         GELU(approximate="tanh"): 0.5 x (1 + tanh(
 *                               sqrt(2/pi) (x + 0.044715 x^3)))
 *   clg_scale(g, x, a)          a x
 *
 * and clg_activate(g, x, act, a) for any of them by value. */
typedef enum clg_activation {
#define CLG_ACT_ENUM_(Y, ID, fn, name, code, ...)  CLG_ACT_##ID = code,
#define CLG_ACT_FORM_ENUM_(Y, ID, fn, code, nargs) CLG_ACT_##ID = code,
    CLG_ACTIVATION_LIST(CLG_ACT_ENUM_, ~)
        CLG_ACTIVATION_FORM_LIST(CLG_ACT_FORM_ENUM_, ~)
} clg_activation;

#define CLG_ACT_DECLARE_0_(fn)                                                         \
    CLG_API clg_tensor *clg_##fn(clg_graph *g, clg_tensor *x);
#define CLG_ACT_DECLARE_1_(fn)                                                         \
    CLG_API clg_tensor *clg_##fn(clg_graph *g, clg_tensor *x, float a);
#define CLG_ACT_DECLARE_(Y, ID, fn, name, code, layer, nargs, ...)                     \
    CLG_ACT_DECLARE_##nargs##_(fn)
#define CLG_ACT_FORM_DECLARE_(Y, ID, fn, code, nargs) CLG_ACT_DECLARE_##nargs##_(fn)
CLG_ACTIVATION_LIST(CLG_ACT_DECLARE_, ~)
CLG_ACTIVATION_FORM_LIST(CLG_ACT_FORM_DECLARE_, ~)

CLG_API clg_tensor *clg_activate(clg_graph *g, clg_tensor *x, clg_activation act,
                                 float a);
/* "relu", "leaky_relu", ...: the op's name (the builder's without clg_). */
CLG_API const char *clg_activation_str(clg_activation act);
/* The activation whose op is named `name`, or CLG_INVALID_ARGUMENT listing
 * the names. */
CLG_API clg_status clg_activation_parse(const char *name, clg_activation *act);

/* Softmax and log-softmax over dim 1 ([N, C] or [N, C, ...]). */
CLG_API clg_tensor *clg_softmax(clg_graph *g, clg_tensor *x);
CLG_API clg_tensor *clg_log_softmax(clg_graph *g, clg_tensor *x);

/* softmax(scale x) over the last dim of x [..., Tq, Tk] (Tk >= Tq), where
 * query i sees keys j <= i + Tk - Tq and the others get 0: the attention
 * weights of causal self-attention (PyTorch: (scale x).masked_fill(mask,
 * -inf).softmax(-1)). */
CLG_API clg_tensor *clg_causal_softmax(clg_graph *g, clg_tensor *x, float scale);

/* Matrix products over the leading dims: a [..., M, K] (trans_a: [..., K,
 * M]) times b [..., K, N] (trans_b: [..., N, K]) -> [..., M, N]; the leading
 * dims of a and b are equal (no broadcasting). q k^T is
 * clg_matmul(g, q, k, false, true). */
CLG_API clg_tensor *clg_matmul(clg_graph *g, clg_tensor *a, clg_tensor *b, bool trans_a,
                               bool trans_b);

/* Causal multi-head self-attention: qkv [N, T, 3C] holds q, k, v side by
 * side (nn.Linear(C, 3C)'s output; head h of each is columns h C/heads ..),
 * y [N, T, C] = softmax(q k^T / sqrt(C/heads), causal) v per head, heads
 * side by side again. The same numbers as composing clg_narrow, clg_reshape,
 * clg_permute, clg_matmul and clg_causal_softmax, without their copies. */
CLG_API clg_tensor *clg_causal_attention(clg_graph *g, clg_tensor *qkv, int heads);

/* How causal attention computes. COMPOSED: per-head GEMMs and a causal
 * softmax over [N, heads, T, T] weights kept for backward. RECOMPUTED: the
 * same GEMMs, but only each row's log-sum-exp kept; backward makes the
 * weights again from it (one more Q K^T per head), so that the [N, heads,
 * T, T] buffers are scratch that every layer shares. TILED: as
 * FlashAttention, an online softmax over tiles of keys per query row, only
 * each row's log-sum-exp kept, backward recomputing the scores: memory in
 * T, not T^2 (heads of at most CLG_ATTENTION_TILED_MAX_DIM; wider ones are
 * composed). AUTO: the environment's CLGRAD_ATTENTION=composed|recomputed|
 * tiled, else composed while a layer's weights take at most 16 MiB,
 * recomputed while two such buffers take at most 256 MiB (GPT-2's 12 heads
 * at T 1,024 up to batch 2), tiled beyond. */
typedef enum clg_attention_algorithm {
    CLG_ATTENTION_AUTO,
    CLG_ATTENTION_COMPOSED,
    CLG_ATTENTION_TILED,
    CLG_ATTENTION_RECOMPUTED,
} clg_attention_algorithm;
#define CLG_ATTENTION_TILED_MAX_DIM 256

/* clg_causal_attention by a given algorithm (AUTO: as it chooses). */
CLG_API clg_tensor *clg_causal_attention_with(clg_graph *g, clg_tensor *qkv, int heads,
                                              clg_attention_algorithm algorithm);

/* a + b, a - b, a * b. b has a's shape, or broadcasts to it: its dimensions,
 * aligned to a's last ones, equal a's or are 1 (a bias [C, 1, 1] over
 * [N, C, H, W]). The result has a's shape. Residual connections are
 * clg_add(g, block_out, x). */
CLG_API clg_tensor *clg_add(clg_graph *g, clg_tensor *a, clg_tensor *b);
CLG_API clg_tensor *clg_sub(clg_graph *g, clg_tensor *a, clg_tensor *b);
CLG_API clg_tensor *clg_mul(clg_graph *g, clg_tensor *a, clg_tensor *b);

/* Concatenates along dim 1 (channels); all other dimensions must agree. */
CLG_API clg_tensor *clg_concat(clg_graph *g, int count, clg_tensor *const *tensors);

/* Views without a copy. Reshape keeps dim 0 (the batch) of batched tensors;
 * flatten makes [N, everything else]. */
CLG_API clg_tensor *clg_reshape(clg_graph *g, clg_tensor *x, int ndim,
                                const int *shape);
CLG_API clg_tensor *clg_flatten(clg_graph *g, clg_tensor *x);

/* Copies: x.narrow(axis, start, length), the elements start .. start +
 * length - 1 of one dim (not the batch); x.permute(perm) for up to 4 dims,
 * the batch (dim 0) staying first. Gradients flow back through both. */
CLG_API clg_tensor *clg_narrow(clg_graph *g, clg_tensor *x, int axis, int start,
                               int length);
CLG_API clg_tensor *clg_permute(clg_graph *g, clg_tensor *x, const int *perm);

/* ids [N, T] int32 (or [N]), weight [V, D] -> [N, T, D] (or [N, D]). */
CLG_API clg_tensor *clg_embedding(clg_graph *g, clg_tensor *ids, clg_tensor *weight);

/* Sum, mean or max over one axis (the axis is removed), or over every
 * element when axis is -1 (a [1] scalar). */
CLG_API clg_tensor *clg_sum(clg_graph *g, clg_tensor *x, int axis);
CLG_API clg_tensor *clg_mean(clg_graph *g, clg_tensor *x, int axis);
CLG_API clg_tensor *clg_max(clg_graph *g, clg_tensor *x, int axis);

/* Losses, each a [1] scalar. Cross-entropy takes logits [N, C] and int32
 * labels [N] in [0, C), or logits [N, T, C] and labels [N, T] (the classes
 * are always the last dim; the mean is over every position, as PyTorch's
 * F.cross_entropy(logits.view(-1, C), labels.view(-1))), with optional
 * label smoothing as in PyTorch. */
CLG_API clg_tensor *clg_cross_entropy(clg_graph *g, clg_tensor *logits,
                                      clg_tensor *labels, float label_smoothing,
                                      clg_reduction reduction);
CLG_API clg_tensor *clg_mse_loss(clg_graph *g, clg_tensor *pred, clg_tensor *target,
                                 clg_reduction reduction);
CLG_API clg_tensor *clg_l1_loss(clg_graph *g, clg_tensor *pred, clg_tensor *target,
                                clg_reduction reduction);
CLG_API clg_tensor *clg_bce_with_logits(clg_graph *g, clg_tensor *logits,
                                        clg_tensor *target, clg_reduction reduction);

/* ---- Plans -------------------------------------------------------------- */

#define CLG_RUN_MODE_LIST(X)                                                           \
    X(CLG_RUN_TRAIN, 0, "train") /* forward in training mode, then backward */         \
    X(CLG_RUN_EVAL, 1, "eval")   /* forward in evaluation mode only, no backward */    \
    X(CLG_RUN_ACCUMULATE, 2, "accumulate") /* as train, the gradients of parameters    \
                                              added to, not replaced: gradient         \
                                              accumulation over several runs */

typedef enum clg_run_mode { CLG_RUN_MODE_LIST(CLG_ENUM_VALUE) } clg_run_mode;

/* "train", "eval". */
CLG_API const char *clg_run_mode_str(clg_run_mode value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_run_mode_parse(const char *name, clg_run_mode *value);

/* Plans the graph: the ops that lead to `loss` and to each of `outputs`,
 * and, when loss is not NULL, the backward pass that gives every unfrozen
 * parameter its gradient. Intermediates share buffers whose lifetimes do not
 * overlap; `outputs` (and the loss) stay readable after a run. Every kernel
 * is compiled and every buffer allocated here. The plan uses the graph's
 * tensors: the graph must outlive it. */
CLG_API clg_status clg_plan_create(clg_graph *g, clg_tensor *loss,
                                   clg_tensor *const *outputs, int output_count,
                                   clg_plan **plan);
CLG_API void clg_plan_free(clg_plan *plan); /* accepts NULL */

/* Enqueues one step for `batch` samples (1 .. the planned batch); it does
 * not wait for the device. A run at the batch of the last run enqueues what
 * was recorded and allocates nothing; a run at another batch (the last,
 * partial batch of an epoch) first records the launches again over the
 * same buffers, which makes new kernel objects but compiles nothing. With
 * the CLBlast GEMM path, CLBlast may allocate scratch memory of its own. */
CLG_API clg_status clg_plan_run(clg_plan *plan, int batch, clg_run_mode mode);

/* The backward pass starts from d loss = scale (default 1). Gradient
 * accumulation over K runs sets 1/K, so that the sum of their gradients is
 * the gradient of the mean loss, as one run of K times the batch gives. A
 * new value records the launches again (no compiling). */
CLG_API clg_status clg_plan_set_loss_scale(clg_plan *plan, float scale);
CLG_API float clg_plan_loss_scale(const clg_plan *plan);

/* Called while a run enqueues its backward pass, right after the launches
 * that complete the gradient of parameter `param` (its index among
 * clg_graph_parameter's): the gradient is final once the work enqueued so
 * far is done, while the rest of the backward pass goes on. Data parallel
 * training starts summing gradients there. Every unfrozen parameter's
 * call comes once per training run, in the same order every run. NULL
 * fn: no calls. */
typedef void (*clg_grad_ready_fn)(void *user, int param);
CLG_API void clg_plan_on_grad_ready(clg_plan *plan, clg_grad_ready_fn fn, void *user);

/* The sums batch norm needs over every replica of a data parallel job:
 * fn(user, data, n) replaces data[0..n) by its sum over the replicas, the
 * same on each. With one set, training runs normalise by the statistics of
 * the whole batch and update the running statistics with them (PyTorch's
 * SyncBatchNorm); NULL (the default): each replica by its own. Every
 * replica must run (no empty shard). A change records the launches again. */
typedef clg_status (*clg_replica_sum_fn)(void *user, float *data, size_t n);
CLG_API void clg_plan_set_replica_sum(clg_plan *plan, clg_replica_sum_fn fn,
                                      void *user);

/* The index, within a whole batch, of the first sample the next runs get
 * (0 by default): a data parallel shard's, so that dropout masks are the
 * ones the whole batch would draw for those samples. A change records the
 * launches again. */
CLG_API void clg_plan_set_sample_offset(clg_plan *plan, int first);
CLG_API int clg_plan_sample_offset(const clg_plan *plan);

/* Reads the loss of the last run (waits for it). */
CLG_API clg_status clg_plan_loss(clg_plan *plan, float *loss);

/* What training runs (CLG_RUN_TRAIN, CLG_RUN_ACCUMULATE) of a plan add up on
 * the device, so that a training loop reads its figures when it wants them,
 * not after every run (a pointwise loss's positions are the rows of its last
 * dim, right where the output's and the target's largest values agree): */
typedef struct clg_tally {
    double loss_sum;     /* each run's loss times its batch, summed */
    long long correct;   /* positions whose largest logit (the first of
                            equal ones) is the label */
    long long positions; /* positions seen: samples times positions each */
    int runs;
    float last_loss; /* the last run's (NAN: no run) */
} clg_tally;

/* Reads the tallies of the training runs since the last take (or since the
 * plan was made) and starts them again from zero; waits for the device.
 * Counts are 32-bit on the device: take them at least every 2^31
 * positions. */
CLG_API clg_status clg_plan_take_tally(clg_plan *plan, clg_tally *tally);

/* Reads `count` elements of a loss, output or leaf, or of the gradient of a
 * parameter (or input that asked for one), as of the last run. */
CLG_API clg_status clg_plan_read(clg_plan *plan, const clg_tensor *t, void *data,
                                 size_t count);
CLG_API clg_status clg_plan_read_grad(clg_plan *plan, const clg_tensor *t, float *data,
                                      size_t count);

/* The graph and loss the plan was made from; the batch it was built for. */
CLG_API clg_graph *clg_plan_graph(const clg_plan *plan);
CLG_API clg_tensor *clg_plan_loss_tensor(const clg_plan *plan);
CLG_API int clg_plan_max_batch(const clg_plan *plan);

/* Training steps run so far; dropout masks depend on it. Settable to resume. */
CLG_API unsigned long long clg_plan_step(const clg_plan *plan);
CLG_API void clg_plan_set_step(clg_plan *plan, unsigned long long step);

/* What the device holds for a plan and its graph, by kind (bytes as
 * allocated, size classes included): */
typedef struct clg_memory_report {
    uint64_t parameters;  /* the parameters' values and states (batch norm's
                             running statistics) */
    uint64_t gradients;   /* the parameters' gradients */
    uint64_t optimizer;   /* an optimizer's state (clg_optim_memory; 0 here) */
    uint64_t activations; /* intermediates: values, their gradients and ops'
                             private buffers, sharing memory by lifetime */
    uint64_t inputs;      /* the input and target buffers */
    uint64_t workspace;   /* the recorded launches' scratch, the tallies */
    uint64_t total;       /* their sum */
    int batch;            /* the plan's largest batch */
} clg_memory_report;

/* The plan's report (optimizer 0). Activations, inputs and workspace grow
 * with the batch, the rest does not. */
CLG_API clg_status clg_plan_memory_report(const clg_plan *plan, clg_memory_report *r);

/* The largest batch whose memory would fit `limit` bytes, taking what grows
 * with the batch as proportional to it (0: not even one sample). */
CLG_API int clg_memory_largest_batch(const clg_memory_report *r, uint64_t limit);

/* Bytes of device memory the plan's intermediates take, and what they would
 * take without buffer reuse. */
CLG_API void clg_plan_memory(const clg_plan *plan, size_t *used_bytes,
                             size_t *unshared_bytes);

#ifdef __cplusplus
}
#endif

#endif
