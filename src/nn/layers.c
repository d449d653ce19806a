/*
 * The layers, one row each (clg_layer_descs): what a spec line takes, the
 * values it starts from, and the nodes it builds. The spec parser
 * (spec.c), the model builder (model.c) and their errors read this table;
 * a new layer is its row and its build function here (and its op, when it
 * needs a new one, in src/ops/).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "graph/graph_internal.h"
#include "nn/nn_internal.h"
#include "ops/ops_internal.h"

/* ---- Pieces the layers share ----------------------------------------------- */

static clg_tensor *param(clg_model *m, const char *prefix, const char *what, int ndim,
                         const int *shape, size_t *count)
{
    char name[160]; /* longer than a tensor keeps: clg_parameter says so */
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    clg_tensor *t = clg_parameter(m->g, name, ndim, shape);
    *count += clg_tensor_numel(t);
    return t;
}

static clg_tensor *state(clg_model *m, const char *prefix, const char *what, int C,
                         float value)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    return clg_state(m->g, name, 1, &C, value);
}

/* A linear layer `prefix.name` from x's last dim to `out`. */
static clg_tensor *sub_linear(clg_model *m, const char *prefix, const char *name,
                              clg_tensor *x, int out, size_t *count, clg_status *init)
{
    char sub[96];
    snprintf(sub, sizeof sub, "%s.%s", prefix, name);
    int in = clg_tensor_dim(x, clg_tensor_ndim(x) - 1);
    clg_tensor *w = param(m, sub, "weight", 2, (int[]){out, in}, count);
    clg_tensor *b = param(m, sub, "bias", 1, (int[]){out}, count);
    if (w && *init == CLG_OK)
        *init = clg_init_weight(w, m->opts.init, in, out, &m->rng);
    if (b && *init == CLG_OK)
        *init = clg_init_bias(b, m->opts.init, in, &m->rng);
    return clg_linear(m->g, x, w, b);
}

/* nn.LayerNorm(C) `prefix` over x's last dim (bias=False without a bias),
 * or nn.RMSNorm(C): weight 1, bias 0. */
static clg_tensor *sub_layer_norm(clg_model *m, const char *prefix, clg_tensor *x,
                                  float eps, bool bias, bool rms, size_t *count,
                                  clg_status *init)
{
    int C = clg_tensor_dim(x, clg_tensor_ndim(x) - 1);
    clg_tensor *w = param(m, prefix, "weight", 1, &C, count);
    clg_tensor *b = bias && !rms ? param(m, prefix, "bias", 1, &C, count) : NULL;
    if (w && *init == CLG_OK)
        *init = clg_init_fill(w, CLG_RULE_CONSTANT, 1.0, &m->rng);
    if (rms) /* PyTorch's eps=None: the dtype's epsilon */
        return clg_rms_norm(m->g, x, w, eps > 0 ? eps : 1.1920929e-07f);
    return clg_layer_norm(m->g, x, w, b, eps > 0 ? eps : 1e-5f);
}

/* x must be [N, T, d]: the width a text layer was given. */
static bool fits_width(clg_model *m, const clg_layer *l, clg_tensor *x)
{
    char sx[64];
    if (clg_tensor_ndim(x) == 3 && clg_tensor_dim(x, 2) == l->out &&
        clg_tensor_dtype(x) == CLG_FLOAT32 && l->heads >= 1 && l->out % l->heads == 0)
        return true;
    clg_graph_fail(m->g, CLG_SHAPE_MISMATCH,
                   "%s %d %d needs an input [N, T, %d] with %d divisible by the %d "
                   "heads, got %s",
                   clg_layer_type_str(l->type), l->out, l->heads, l->out, l->out,
                   l->heads, clg_shape_str(x, sx, sizeof sx));
    return false;
}

/* Causal self-attention of x [N, T, C] with h heads: q, k, v from one
 * linear c_attn [3C, C]; softmax(q k^T / sqrt(C/h)) v per head, the heads
 * side by side again (clg_causal_attention); then c_proj. */
static clg_tensor *attention(clg_model *m, const char *prefix, clg_tensor *x, int h,
                             size_t *count, clg_status *init)
{
    int C = clg_tensor_dim(x, 2);
    clg_tensor *qkv = sub_linear(m, prefix, "c_attn", x, 3 * C, count, init);
    return sub_linear(m, prefix, "c_proj", clg_causal_attention(m->g, qkv, h), C, count,
                      init);
}

/* A GPT-2 block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); a recomputation
 * segment of its own where the model asks. */
static clg_tensor *block(clg_model *m, const char *prefix, clg_tensor *x, int h,
                         size_t *count, clg_status *init)
{
    clg_graph *g = m->g;
    int C = clg_tensor_dim(x, 2);
    char sub[96];
    if (m->opts.recompute && clg_graph_recompute_begin(g) != CLG_OK)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "%s: %s", prefix,
                              clg_last_error());
    snprintf(sub, sizeof sub, "%s.ln_1", prefix);
    clg_tensor *y = sub_layer_norm(m, sub, x, 0, true, false, count, init);
    snprintf(sub, sizeof sub, "%s.attn", prefix);
    x = clg_add(g, x, attention(m, sub, y, h, count, init));
    snprintf(sub, sizeof sub, "%s.ln_2", prefix);
    y = sub_layer_norm(m, sub, x, 0, true, false, count, init);
    snprintf(sub, sizeof sub, "%s.mlp", prefix);
    y = clg_gelu_tanh(g, sub_linear(m, sub, "0", y, 4 * C, count, init));
    clg_tensor *out = clg_add(g, x, sub_linear(m, sub, "2", y, C, count, init));
    if (m->opts.recompute)
        clg_graph_recompute_end(g);
    return out;
}

/* wte(ids) + wpe(positions) of ids [N, T]. */
static clg_tensor *tokpos(clg_model *m, const clg_layer *l, const char *prefix,
                          clg_tensor *x, size_t *count, clg_status *init)
{
    char sx[64], sub[96];
    if (clg_tensor_ndim(x) != 2 || clg_tensor_dtype(x) != CLG_INT32) {
        clg_graph_fail(m->g, CLG_SHAPE_MISMATCH,
                       "tokpos needs token ids [N, T] (input tokens T), got %s",
                       clg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int T = clg_tensor_dim(x, 1);
    double sd = m->opts.init == CLG_INIT_GPT2 ? 0.02 : 1.0; /* PyTorch: N(0, 1) */
    snprintf(sub, sizeof sub, "%s.wte", prefix);
    clg_tensor *wte = param(m, sub, "weight", 2, (int[]){l->vocab, l->out}, count);
    snprintf(sub, sizeof sub, "%s.wpe", prefix);
    clg_tensor *wpe = param(m, sub, "weight", 2, (int[]){T, l->out}, count);
    if (wte && *init == CLG_OK)
        *init = clg_init_fill(wte, CLG_RULE_NORMAL, sd, &m->rng);
    if (wpe && *init == CLG_OK)
        *init = clg_init_fill(wpe, CLG_RULE_NORMAL, sd, &m->rng);
    return clg_add(m->g, clg_embedding(m->g, x, wte), wpe);
}

/* Whether any node of g reads x (as a source, or as a view of it). */
static bool read_by_any(const clg_graph *g, const clg_tensor *x)
{
    for (int i = 0; i < g->count; i++) {
        const clg_tensor *t = g->tensors[i];
        if (t->view_of == x)
            return true;
        for (int s = 0; s < t->nsrc; s++)
            if (t->src[s] == x)
                return true;
    }
    return false;
}

/* relu(x). Where x is a batch norm's output that nothing else reads (the
 * layer before's, not a residual block's input), the batch norm applies the
 * ReLU in its own kernels instead (clg_batch_norm_fuse_relu): the same
 * values, one pass over the activations fewer forward and backward. */
static clg_tensor *relu_of(clg_model *m, clg_tensor *x)
{
    clg_tensor *fused = NULL;
    if (x != m->block_in && !read_by_any(m->g, x))
        fused = clg_batch_norm_fuse_relu(x);
    return fused ? fused : clg_relu(m->g, x);
}

/* ---- Each layer's nodes ------------------------------------------------------- */

#define BUILD(name)                                                                    \
    static clg_tensor *name(clg_model *m, const clg_layer *l, const char *prefix,      \
                            clg_tensor *x, size_t *count, clg_status *init)

/* The weight of the model's first tokpos or embedding layer, which a tied
 * linear layer [out, in] shares; NULL (the graph's error set) when there is
 * none or its shape is not [out, in]. */
static clg_tensor *tied_weight(clg_model *m, int out, int in)
{
    const layer_rec *e = NULL;
    for (int i = 0; i < m->nlayers && !e; i++)
        if (m->layers[i].spec.type == CLG_LAYER_TOKPOS ||
            m->layers[i].spec.type == CLG_LAYER_EMBEDDING)
            e = &m->layers[i];
    char name[96];
    if (e)
        snprintf(name, sizeof name, "%s.%s", e->name,
                 e->spec.type == CLG_LAYER_TOKPOS ? "wte.weight" : "weight");
    clg_tensor *w = e ? clg_graph_find(m->g, name) : NULL;
    if (!w)
        return clg_graph_fail(m->g, CLG_INVALID_ARGUMENT,
                              "linear tie=true shares the weight of the model's token "
                              "embedding, and it has none (tokpos or embedding first)");
    if (clg_tensor_dim(w, 0) != out || clg_tensor_dim(w, 1) != in)
        return clg_graph_fail(m->g, CLG_SHAPE_MISMATCH,
                              "linear %d tie=true over a width of %d needs the token "
                              "embedding %s as [%d, %d]; it is [%d, %d]",
                              out, in, name, out, in, clg_tensor_dim(w, 0),
                              clg_tensor_dim(w, 1));
    return w;
}

BUILD(linear)
{
    int last = clg_tensor_dim(x, clg_tensor_ndim(x) - 1);
    clg_tensor *w = l->tie
                        ? tied_weight(m, l->out, last)
                        : param(m, prefix, "weight", 2, (int[]){l->out, last}, count),
               *b = NULL;
    if (!l->no_bias)
        b = param(m, prefix, "bias", 1, (int[]){l->out}, count);
    if (w && !l->tie)
        *init = clg_init_weight(w, m->opts.init, last, l->out, &m->rng);
    if (b && *init == CLG_OK)
        *init = clg_init_bias(b, m->opts.init, last, &m->rng);
    return clg_linear(m->g, x, w, b);
}

/* A convolution's weight [rows, cols, k, k] and bias [bias_len], initialised
 * as nn.Conv2d and nn.ConvTranspose2d do: fan_in = weight.size(1) k k. */
static clg_tensor *conv_params(clg_model *m, const clg_layer *l, const char *prefix,
                               int rows, int cols, int bias_len, clg_tensor **b,
                               size_t *count, clg_status *init)
{
    int k = l->kernel, fan_in = cols * k * k;
    clg_tensor *w = param(m, prefix, "weight", 4, (int[]){rows, cols, k, k}, count);
    *b = NULL;
    if (!l->no_bias)
        *b = param(m, prefix, "bias", 1, (int[]){bias_len}, count);
    if (w)
        *init = clg_init_weight(w, m->opts.init, fan_in, rows * k * k, &m->rng);
    if (*b && *init == CLG_OK)
        *init = clg_init_bias(*b, m->opts.init, fan_in, &m->rng);
    return w;
}

/* Whether the groups divide both channel counts; fails the graph naming
 * them when not. */
static bool groups_fit(clg_model *m, const clg_layer *l, int C)
{
    int G = l->groups ? l->groups : 1;
    if (C % G == 0 && l->out % G == 0)
        return true;
    clg_graph_fail(m->g, CLG_SHAPE_MISMATCH,
                   "%s %d groups=%d: the groups must divide the %d input and %d output "
                   "channels",
                   clg_layer_type_str(l->type), l->out, G, C, l->out);
    return false;
}

BUILD(conv2d)
{
    int C = clg_tensor_dim(x, 1), G = l->groups ? l->groups : 1;
    if (!groups_fit(m, l, C))
        return NULL;
    clg_tensor *b,
        *w = conv_params(m, l, prefix, l->out, C / G, l->out, &b, count, init);
    int st = l->stride ? l->stride : 1, d = l->dilation ? l->dilation : 1;
    clg_conv2d_opts o = {st, st, l->padding, l->padding, d, d, CLG_CONV_AUTO, G};
    return clg_conv2d(m->g, x, w, b, &o);
}

BUILD(convtranspose2d)
{
    int C = clg_tensor_dim(x, 1), G = l->groups ? l->groups : 1;
    if (!groups_fit(m, l, C))
        return NULL;
    clg_tensor *b,
        *w = conv_params(m, l, prefix, C, l->out / G, l->out, &b, count, init);
    int st = l->stride ? l->stride : 1, d = l->dilation ? l->dilation : 1;
    int op = l->output_padding;
    clg_conv_transpose2d_opts o = {st, st, l->padding, l->padding, op, op, d, d, G};
    return clg_conv_transpose2d(m->g, x, w, b, &o);
}

BUILD(batchnorm)
{
    int nd = clg_tensor_ndim(x), C = clg_tensor_dim(x, 1);
    int want = l->type == CLG_LAYER_BATCHNORM1D ? 2 : 4;
    if (nd != want) {
        char sx[64];
        clg_graph_fail(m->g, CLG_SHAPE_MISMATCH, "%s needs a %s input, got %s",
                       clg_layer_type_str(l->type), want == 2 ? "[N,C]" : "[N,C,H,W]",
                       clg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    clg_tensor *w = param(m, prefix, "weight", 1, &C, count);
    clg_tensor *b = param(m, prefix, "bias", 1, &C, count);
    clg_tensor *rm = state(m, prefix, "running_mean", C, 0.0f);
    clg_tensor *rv = state(m, prefix, "running_var", C, 1.0f);
    if (w)
        *init = clg_init_fill(w, CLG_RULE_CONSTANT, 1.0, &m->rng);
    return clg_batch_norm(m->g, x, w, b, rm, rv, l->value, l->eps > 0 ? l->eps : 1e-5f);
}

BUILD(dropout)
{
    (void)prefix, (void)count, (void)init;
    return clg_dropout(m->g, x, l->value, m->opts.seed);
}

BUILD(pool)
{
    (void)prefix, (void)count, (void)init;
    return l->type == CLG_LAYER_MAXPOOL2D
               ? clg_max_pool2d(m->g, x, l->kernel, l->stride, l->padding)
               : clg_avg_pool2d(m->g, x, l->kernel, l->stride, l->padding);
}

/* The layers that are one op of x alone, by type. */
BUILD(unary)
{
    (void)prefix, (void)count, (void)init;
    clg_graph *g = m->g;
    switch (l->type) {
    case CLG_LAYER_GLOBALAVGPOOL:
        return clg_global_avg_pool(g, x);
    case CLG_LAYER_ADAPTIVEAVGPOOL2D:
        return clg_adaptive_avg_pool2d(g, x, l->out, l->out_w ? l->out_w : l->out);
    case CLG_LAYER_UPSAMPLE:
        return clg_upsample(g, x, l->scale, l->scale, l->bilinear);
    case CLG_LAYER_FLATTEN:
        return clg_flatten(g, x);
    case CLG_LAYER_SOFTMAX:
        return clg_softmax(g, x);
    case CLG_LAYER_LOGSOFTMAX:
        return clg_log_softmax(g, x);
    default:
        return clg_graph_fail(g, CLG_INTERNAL, "%s is not a one-op layer",
                              clg_layer_type_str(l->type));
    }
}

/* The activations, one layer per row of activations.h. */
static clg_activation activation_of(clg_layer_type type)
{
    switch (type) {
#define ACT_OF_LAYER(Y, ID, ...)                                                       \
    case CLG_LAYER_##ID:                                                               \
        return CLG_ACT_##ID;
        CLG_ACTIVATION_LIST(ACT_OF_LAYER, ~)
    default:
        return (clg_activation)0;
    }
}

BUILD(activation)
{
    (void)prefix, (void)count, (void)init;
    clg_activation act = activation_of(l->type);
    if (act == CLG_ACT_RELU)
        return relu_of(m, x);
    if (act == CLG_ACT_GELU && l->approximate_tanh)
        act = CLG_ACT_GELU_TANH;
    return clg_activate(m->g, x, act, l->value);
}

BUILD(embedding)
{
    clg_tensor *w = param(m, prefix, "weight", 2, (int[]){l->vocab, l->out}, count);
    if (w) /* PyTorch: N(0, 1) */
        *init = clg_init_fill(w, CLG_RULE_NORMAL,
                              m->opts.init == CLG_INIT_GPT2 ? 0.02 : 1.0, &m->rng);
    return clg_embedding(m->g, x, w);
}

BUILD(norm)
{
    return sub_layer_norm(m, prefix, x, l->eps, !l->no_bias,
                          l->type == CLG_LAYER_RMSNORM, count, init);
}

BUILD(tokpos_layer)
{
    return tokpos(m, l, prefix, x, count, init);
}

BUILD(attention_layer)
{
    return fits_width(m, l, x) ? attention(m, prefix, x, l->heads, count, init) : NULL;
}

BUILD(block_layer)
{
    return fits_width(m, l, x) ? block(m, prefix, x, l->heads, count, init) : NULL;
}

/* ---- The table ------------------------------------------------------------------ */

#define SIZE(name, field, lo)                                                          \
    {                                                                                  \
        name, offsetof(clg_layer, field), CLG_FIELD_SIZE, lo, 1 << 24                  \
    }
#define FLOAT(name, field, lo, hi)                                                     \
    {                                                                                  \
        name, offsetof(clg_layer, field), CLG_FIELD_FLOAT, lo, hi                      \
    }
#define BIAS                                                                           \
    {                                                                                  \
        "bias", offsetof(clg_layer, no_bias), CLG_FIELD_NO_BIAS, 0, 1                  \
    }
#define EPS FLOAT("eps", eps, 1e-12, 1.0)

const clg_layer_desc clg_layer_descs[] = {
    {CLG_LAYER_LINEAR,
     1,
     1,
     {SIZE("out_features", out, 1)},
     {BIAS, {"tie", offsetof(clg_layer, tie), CLG_FIELD_BOOL, 0, 1}},
     {0},
     linear},
    {CLG_LAYER_CONV2D,
     2,
     2,
     {SIZE("out_channels", out, 1), SIZE("kernel", kernel, 1)},
     {SIZE("stride", stride, 1), SIZE("padding", padding, 0),
      SIZE("dilation", dilation, 1), SIZE("groups", groups, 1), BIAS},
     {.stride = 1},
     conv2d},
    {CLG_LAYER_CONVTRANSPOSE2D,
     2,
     2,
     {SIZE("out_channels", out, 1), SIZE("kernel", kernel, 1)},
     {SIZE("stride", stride, 1), SIZE("padding", padding, 0),
      SIZE("output_padding", output_padding, 0), SIZE("dilation", dilation, 1),
      SIZE("groups", groups, 1), BIAS},
     {.stride = 1},
     convtranspose2d},
    {CLG_LAYER_BATCHNORM1D,
     0,
     0,
     {{0}},
     {FLOAT("momentum", value, 0, 1), EPS},
     {.value = 0.1f},
     batchnorm},
    {CLG_LAYER_BATCHNORM2D,
     0,
     0,
     {{0}},
     {FLOAT("momentum", value, 0, 1), EPS},
     {.value = 0.1f},
     batchnorm},
    {CLG_LAYER_DROPOUT,
     0,
     1,
     {FLOAT("p", value, 0, 1)},
     {{0}},
     {.value = 0.5f},
     dropout},
    {CLG_LAYER_MAXPOOL2D,
     1,
     1,
     {SIZE("kernel", kernel, 1)},
     {SIZE("stride", stride, 1), SIZE("padding", padding, 0)},
     {0},
     pool},
    {CLG_LAYER_AVGPOOL2D,
     1,
     1,
     {SIZE("kernel", kernel, 1)},
     {SIZE("stride", stride, 1), SIZE("padding", padding, 0)},
     {0},
     pool},
    {CLG_LAYER_GLOBALAVGPOOL, 0, 0, {{0}}, {{0}}, {0}, unary},
    {CLG_LAYER_ADAPTIVEAVGPOOL2D,
     1,
     2,
     {SIZE("output_height", out, 1), SIZE("output_width", out_w, 1)},
     {{0}},
     {0},
     unary},
    {CLG_LAYER_UPSAMPLE,
     1,
     1,
     {SIZE("scale_factor", scale, 1)},
     {{"mode", offsetof(clg_layer, bilinear), CLG_FIELD_BILINEAR, 0, 1}},
     {0},
     unary},
    {CLG_LAYER_FLATTEN, 0, 0, {{0}}, {{0}}, {0}, unary},
#define ACT_ROW(Y, ID, fn, name, code, layer, nargs, arg, def, option)                 \
    {CLG_LAYER_##ID,                                                                   \
     0,                                                                                \
     nargs,                                                                            \
     {FLOAT(arg, value, -1e6, 1e6)},                                                   \
     {{option, offsetof(clg_layer, approximate_tanh), CLG_FIELD_TANH, 0, 1}},          \
     {.value = def},                                                                   \
     activation},
    CLG_ACTIVATION_LIST(ACT_ROW, ~){CLG_LAYER_SOFTMAX, 0, 0, {{0}}, {{0}}, {0}, unary},
    {CLG_LAYER_LOGSOFTMAX, 0, 0, {{0}}, {{0}}, {0}, unary},
    {CLG_LAYER_EMBEDDING,
     2,
     2,
     {SIZE("vocabulary", vocab, 1), SIZE("dim", out, 1)},
     {{0}},
     {0},
     embedding},
    {CLG_LAYER_LAYERNORM, 0, 0, {{0}}, {EPS, BIAS}, {0}, norm},
    {CLG_LAYER_RMSNORM, 0, 0, {{0}}, {EPS}, {0}, norm},
    {CLG_LAYER_TOKPOS,
     2,
     2,
     {SIZE("vocabulary", vocab, 1), SIZE("dim", out, 1)},
     {{0}},
     {0},
     tokpos_layer},
    {CLG_LAYER_ATTENTION,
     2,
     2,
     {SIZE("dim", out, 1), SIZE("heads", heads, 1)},
     {{0}},
     {0},
     attention_layer},
    {CLG_LAYER_BLOCK,
     2,
     2,
     {SIZE("dim", out, 1), SIZE("heads", heads, 1)},
     {{0}},
     {0},
     block_layer},
};

const int clg_layer_desc_count =
    (int)(sizeof clg_layer_descs / sizeof *clg_layer_descs);

const clg_layer_desc *clg_layer_desc_of(clg_layer_type type)
{
    for (int i = 0; i < clg_layer_desc_count; i++)
        if (clg_layer_descs[i].type == type)
            return &clg_layer_descs[i];
    return NULL;
}

bool clg_layer_field_set(const clg_layer_field *f, const char *word, clg_layer *l)
{
    char *at = (char *)l + f->offset;
    long long n;
    float v;
    bool b;
    switch (f->kind) {
    case CLG_FIELD_SIZE:
        if (!clg_parse_int(word, (long long)f->lo, (long long)f->hi, &n))
            return false;
        *(int *)at = (int)n;
        return true;
    case CLG_FIELD_FLOAT:
        if (!clg_parse_float(word, f->lo, f->hi, &v))
            return false;
        *(float *)at = v;
        return true;
    case CLG_FIELD_NO_BIAS:
    case CLG_FIELD_BOOL:
        if (!clg_parse_bool(word, &b))
            return false;
        *(bool *)at = f->kind == CLG_FIELD_BOOL ? b : !b;
        return true;
    case CLG_FIELD_TANH:
        if (strcmp(word, "tanh") != 0 && strcmp(word, "none") != 0)
            return false;
        *(bool *)at = !strcmp(word, "tanh");
        return true;
    case CLG_FIELD_BILINEAR:
        if (strcmp(word, "bilinear") != 0 && strcmp(word, "nearest") != 0)
            return false;
        *(bool *)at = !strcmp(word, "bilinear");
        return true;
    }
    return false;
}

const char *clg_layer_field_range(const clg_layer_field *f, char *buf, size_t len)
{
    switch (f->kind) {
    case CLG_FIELD_SIZE:
        snprintf(buf, len, "a whole number from %.0f to %.0f", f->lo, f->hi);
        break;
    case CLG_FIELD_FLOAT:
        snprintf(buf, len, "a number from %g to %g", f->lo, f->hi);
        break;
    case CLG_FIELD_NO_BIAS:
    case CLG_FIELD_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case CLG_FIELD_TANH:
        snprintf(buf, len, "tanh or none");
        break;
    case CLG_FIELD_BILINEAR:
        snprintf(buf, len, "nearest or bilinear");
        break;
    }
    return buf;
}

clg_tensor *clg_layer_build(clg_model *m, const clg_layer *l, const char *prefix,
                            clg_tensor *x, size_t *count, clg_status *init)
{
    const clg_layer_desc *d = clg_layer_desc_of(l->type);
    if (!d)
        return clg_graph_fail(m->g, CLG_INVALID_ARGUMENT, "unknown layer type %d",
                              (int)l->type);
    return d->build(m, l, prefix, x, count, init);
}
