/* Sequential models: layers appended to a graph, named like nn.Sequential. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "graph/graph_internal.h"
#include "nn/nn_internal.h"
#include "ops/ops_internal.h"

typedef struct layer_rec {
    clg_layer spec;
    char name[48]; /* "3", or "3.body.1" inside a residual block */
    int top;       /* top-level index */
    int depth;     /* 1 inside a residual body */
    clg_tensor *out;
    size_t params;
} layer_rec;

struct clg_model {
    clg_context *ctx;
    clg_graph *g;
    clg_model_opts opts;
    clg_tensor *input, *out, *target, *loss;
    clg_plan *plan;
    layer_rec *layers;
    int nlayers, cap;
    int top; /* next top-level index */
    /* the open residual block, if any */
    int block; /* its record, -1 when none */
    clg_tensor *block_in;
    int block_inner;
    uint64_t rng;
};

CLG_DEFINE_ENUM_NAMES(clg_layer_type, CLG_LAYER_TYPE_LIST, "layer")

CLG_DEFINE_ENUM_NAMES(clg_loss_type, CLG_LOSS_TYPE_LIST, "loss")

clg_status clg_model_create(clg_context *ctx, const clg_model_opts *opts, int ndim,
                            const int *shape, clg_model **out)
{
    if (!ctx || !opts || !shape || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_model_create: NULL argument");
    *out = NULL;
    if (opts->max_batch < 1)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_model_create: batch %d must be >= 1",
                        opts->max_batch);
    if (ndim < 1 || ndim > CLG_MAX_DIMS - 1)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_model_create: samples have %d dims, 1 to %d are supported",
                        ndim, CLG_MAX_DIMS - 1);
    clg_model *m = calloc(1, sizeof *m);
    if (!m)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_model_create");
    m->ctx = ctx;
    m->opts = *opts;
    m->block = -1;
    m->rng = opts->seed * CLG_RNG_GOLDEN + 1;
    clg_status s = clg_graph_create(ctx, &m->g);
    int full[CLG_MAX_DIMS] = {opts->max_batch};
    for (int i = 0; i < ndim; i++)
        full[i + 1] = shape[i];
    if (s == CLG_OK) {
        m->input = clg_input(m->g, "input", opts->input_dtype, ndim + 1, full);
        s = clg_graph_status(m->g);
    }
    if (s != CLG_OK) {
        clg_model_free(m);
        return s;
    }
    m->out = m->input;
    *out = m;
    return CLG_OK;
}

void clg_model_free(clg_model *m)
{
    if (!m)
        return;
    clg_plan_free(m->plan);
    clg_graph_free(m->g);
    free(m->layers);
    free(m);
}

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

/* A GPT-2 block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
static clg_tensor *block(clg_model *m, const char *prefix, clg_tensor *x, int h,
                         size_t *count, clg_status *init)
{
    clg_graph *g = m->g;
    int C = clg_tensor_dim(x, 2);
    char sub[96];
    snprintf(sub, sizeof sub, "%s.ln_1", prefix);
    clg_tensor *y = sub_layer_norm(m, sub, x, 0, true, false, count, init);
    snprintf(sub, sizeof sub, "%s.attn", prefix);
    x = clg_add(g, x, attention(m, sub, y, h, count, init));
    snprintf(sub, sizeof sub, "%s.ln_2", prefix);
    y = sub_layer_norm(m, sub, x, 0, true, false, count, init);
    snprintf(sub, sizeof sub, "%s.mlp", prefix);
    y = clg_gelu_tanh(g, sub_linear(m, sub, "0", y, 4 * C, count, init));
    return clg_add(g, x, sub_linear(m, sub, "2", y, C, count, init));
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

/* Builds one layer on x; parameters named after `prefix`. */
static clg_tensor *build_layer(clg_model *m, const clg_layer *l, const char *prefix,
                               clg_tensor *x, size_t *count, clg_status *init)
{
    clg_graph *g = m->g;
    int nd = clg_tensor_ndim(x), last = clg_tensor_dim(x, nd - 1),
        C = clg_tensor_dim(x, 1);
    clg_init scheme = m->opts.init;
    clg_tensor *w, *b = NULL;
    switch (l->type) {
    case CLG_LAYER_LINEAR:
        w = param(m, prefix, "weight", 2, (int[]){l->out, last}, count);
        if (!l->no_bias)
            b = param(m, prefix, "bias", 1, (int[]){l->out}, count);
        if (w)
            *init = clg_init_weight(w, scheme, last, l->out, &m->rng);
        if (b && *init == CLG_OK)
            *init = clg_init_bias(b, scheme, last, &m->rng);
        return clg_linear(g, x, w, b);
    case CLG_LAYER_CONV2D: {
        int k = l->kernel, fan_in = C * k * k;
        w = param(m, prefix, "weight", 4, (int[]){l->out, C, k, k}, count);
        if (!l->no_bias)
            b = param(m, prefix, "bias", 1, (int[]){l->out}, count);
        if (w)
            *init = clg_init_weight(w, scheme, fan_in, l->out * k * k, &m->rng);
        if (b && *init == CLG_OK)
            *init = clg_init_bias(b, scheme, fan_in, &m->rng);
        int st = l->stride ? l->stride : 1, d = l->dilation ? l->dilation : 1;
        clg_conv2d_opts o = {st, st, l->padding, l->padding, d, d, CLG_CONV_AUTO};
        return clg_conv2d(g, x, w, b, &o);
    }
    case CLG_LAYER_BATCHNORM1D:
    case CLG_LAYER_BATCHNORM2D: {
        int want = l->type == CLG_LAYER_BATCHNORM1D ? 2 : 4;
        if (nd != want) {
            char sx[64];
            clg_graph_fail(g, CLG_SHAPE_MISMATCH, "%s needs a %s input, got %s",
                           clg_layer_type_str(l->type),
                           want == 2 ? "[N,C]" : "[N,C,H,W]",
                           clg_shape_str(x, sx, sizeof sx));
            return NULL;
        }
        w = param(m, prefix, "weight", 1, &C, count);
        b = param(m, prefix, "bias", 1, &C, count);
        clg_tensor *rm = state(m, prefix, "running_mean", C, 0.0f);
        clg_tensor *rv = state(m, prefix, "running_var", C, 1.0f);
        if (w)
            *init = clg_init_fill(w, CLG_RULE_CONSTANT, 1.0, &m->rng);
        return clg_batch_norm(g, x, w, b, rm, rv, l->value,
                              l->eps > 0 ? l->eps : 1e-5f);
    }
    case CLG_LAYER_DROPOUT:
        return clg_dropout(g, x, l->value, m->opts.seed);
    case CLG_LAYER_MAXPOOL2D:
        return clg_max_pool2d(g, x, l->kernel, l->stride, l->padding);
    case CLG_LAYER_AVGPOOL2D:
        return clg_avg_pool2d(g, x, l->kernel, l->stride, l->padding);
    case CLG_LAYER_GLOBALAVGPOOL:
        return clg_global_avg_pool(g, x);
    case CLG_LAYER_FLATTEN:
        return clg_flatten(g, x);
    case CLG_LAYER_RELU:
        return relu_of(m, x);
    case CLG_LAYER_LEAKYRELU:
        return clg_leaky_relu(g, x, l->value);
    case CLG_LAYER_ELU:
        return clg_elu(g, x, l->value);
    case CLG_LAYER_GELU:
        return l->approximate_tanh ? clg_gelu_tanh(g, x) : clg_gelu(g, x);
    case CLG_LAYER_SIGMOID:
        return clg_sigmoid(g, x);
    case CLG_LAYER_TANH:
        return clg_tanh(g, x);
    case CLG_LAYER_SOFTMAX:
        return clg_softmax(g, x);
    case CLG_LAYER_LOGSOFTMAX:
        return clg_log_softmax(g, x);
    case CLG_LAYER_EMBEDDING:
        w = param(m, prefix, "weight", 2, (int[]){l->vocab, l->out}, count);
        if (w) /* PyTorch: N(0, 1) */
            *init = clg_init_fill(w, CLG_RULE_NORMAL,
                                  scheme == CLG_INIT_GPT2 ? 0.02 : 1.0, &m->rng);
        return clg_embedding(g, x, w);
    case CLG_LAYER_LAYERNORM:
    case CLG_LAYER_RMSNORM:
        return sub_layer_norm(m, prefix, x, l->eps, !l->no_bias,
                              l->type == CLG_LAYER_RMSNORM, count, init);
    case CLG_LAYER_TOKPOS:
        return tokpos(m, l, prefix, x, count, init);
    case CLG_LAYER_ATTENTION:
        return fits_width(m, l, x) ? attention(m, prefix, x, l->heads, count, init)
                                   : NULL;
    case CLG_LAYER_BLOCK:
        return fits_width(m, l, x) ? block(m, prefix, x, l->heads, count, init) : NULL;
    case CLG_LAYER_RESIDUAL:
        break;
    }
    clg_graph_fail(g, CLG_INVALID_ARGUMENT, "unknown layer type %d", (int)l->type);
    return NULL;
}

static layer_rec *push(clg_model *m)
{
    if (m->nlayers == m->cap) {
        int cap = m->cap ? m->cap * 2 : 16;
        layer_rec *grown = realloc(m->layers, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        m->layers = grown;
        m->cap = cap;
    }
    layer_rec *r = &m->layers[m->nlayers++];
    memset(r, 0, sizeof *r);
    return r;
}

static clg_status check_open(const clg_model *m, const char *what)
{
    if (!m)
        return clg_fail(CLG_INVALID_ARGUMENT, "%s: model is NULL", what);
    if (m->plan)
        return clg_fail(CLG_INVALID_ARGUMENT, "%s: the model is already compiled",
                        what);
    return clg_graph_status(m->g);
}

clg_status clg_model_add(clg_model *m, clg_layer layer)
{
    clg_status s = check_open(m, "clg_model_add");
    if (s != CLG_OK)
        return s;
    layer_rec *r = push(m);
    if (!r)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_model_add");
    r->spec = layer;
    if (m->block >= 0) {
        r->top = m->layers[m->block].top;
        r->depth = 1;
        snprintf(r->name, sizeof r->name, "%d.body.%d", r->top, m->block_inner++);
    } else {
        r->top = m->top++;
        snprintf(r->name, sizeof r->name, "%d", r->top);
    }
    clg_status init = CLG_OK;
    r->out = build_layer(m, &layer, r->name, m->out, &r->params, &init);
    s = clg_graph_status(m->g);
    if (s == CLG_OK)
        s = init;
    if (s != CLG_OK) {
        m->nlayers--;
        return clg_fail_prefix(s, "layer %s (%s)", r->name,
                               clg_layer_type_str(layer.type));
    }
    m->out = r->out;
    return CLG_OK;
}

clg_status clg_model_begin_residual(clg_model *m)
{
    clg_status s = check_open(m, "clg_model_begin_residual");
    if (s == CLG_OK && m->block >= 0)
        s = clg_fail(
            CLG_INVALID_ARGUMENT,
            "clg_model_begin_residual: residual blocks do not nest (block %d is open)",
            m->layers[m->block].top);
    layer_rec *r = s == CLG_OK ? push(m) : NULL;
    if (s == CLG_OK && !r)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_model_begin_residual");
    if (s != CLG_OK)
        return s;
    r->spec = (clg_layer){.type = CLG_LAYER_RESIDUAL};
    r->top = m->top++;
    snprintf(r->name, sizeof r->name, "%d", r->top);
    m->block = m->nlayers - 1;
    m->block_in = m->out;
    m->block_inner = 0;
    return CLG_OK;
}

static bool same_shape(const clg_tensor *a, const clg_tensor *b)
{
    if (clg_tensor_ndim(a) != clg_tensor_ndim(b))
        return false;
    for (int i = 0; i < clg_tensor_ndim(a); i++)
        if (clg_tensor_dim(a, i) != clg_tensor_dim(b, i))
            return false;
    return true;
}

/* A 1x1 convolution (4-d) or linear layer (2-d) from x's shape to y's. */
static clg_tensor *projection(clg_model *m, layer_rec *r, clg_tensor *x, clg_tensor *y)
{
    char sx[64], sy[64];
    int nd = clg_tensor_ndim(x);
    clg_layer l = {.type = nd == 4 ? CLG_LAYER_CONV2D : CLG_LAYER_LINEAR,
                   .out = clg_tensor_dim(y, 1),
                   .kernel = 1,
                   .stride = 1};
    bool fits = nd == clg_tensor_ndim(y) && (nd == 2 || nd == 4);
    if (fits && nd == 4) {
        int sh = clg_tensor_dim(x, 2) / clg_tensor_dim(y, 2);
        l.stride = sh;
        fits = sh >= 1 && clg_tensor_dim(x, 3) / clg_tensor_dim(y, 3) == sh &&
               (clg_tensor_dim(x, 2) - 1) / sh + 1 == clg_tensor_dim(y, 2) &&
               (clg_tensor_dim(x, 3) - 1) / sh + 1 == clg_tensor_dim(y, 3);
    }
    if (!fits) {
        clg_graph_fail(
            m->g, CLG_SHAPE_MISMATCH,
            "residual block %d: no projection takes its input %s to its output %s",
            r->top, clg_shape_str(x, sx, sizeof sx), clg_shape_str(y, sy, sizeof sy));
        return NULL;
    }
    char prefix[48];
    snprintf(prefix, sizeof prefix, "%d.proj", r->top);
    clg_status init = CLG_OK;
    clg_tensor *p = build_layer(m, &l, prefix, x, &r->params, &init);
    if (init != CLG_OK)
        clg_graph_fail(m->g, init, "residual block %d: initialising the projection",
                       r->top);
    return p;
}

clg_status clg_model_end_residual(clg_model *m)
{
    clg_status s = check_open(m, "clg_model_end_residual");
    if (s == CLG_OK && m->block < 0)
        s = clg_fail(CLG_INVALID_ARGUMENT,
                     "clg_model_end_residual: no residual block is open");
    if (s == CLG_OK && m->block_inner == 0)
        s = clg_fail(CLG_INVALID_ARGUMENT, "residual block %d has no layers",
                     m->layers[m->block].top);
    if (s != CLG_OK)
        return s;
    layer_rec *r = &m->layers[m->block];
    clg_tensor *skip = m->block_in;
    if (!same_shape(skip, m->out))
        skip = projection(m, r, skip, m->out);
    clg_tensor *sum = clg_add(m->g, m->out, skip);
    s = clg_graph_status(m->g);
    if (s != CLG_OK)
        return s;
    for (int i = m->block + 1; i < m->nlayers; i++)
        r->params += m->layers[i].params;
    r->out = m->out = sum;
    m->block = -1;
    return CLG_OK;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

/* GPT-2's init: the projections that write into the residual stream, once
 * per attention and per MLP of each block, drawn with 0.02 / sqrt(2 blocks)
 * (the number of blocks known only now). */
static clg_status scale_residual_projections(clg_model *m)
{
    int blocks = 0;
    for (int i = 0; i < m->nlayers; i++)
        blocks += m->layers[i].spec.type == CLG_LAYER_BLOCK;
    float scale = blocks ? 1.0f / sqrtf(2.0f * (float)blocks) : 1.0f;
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && blocks && i < clg_graph_parameter_count(m->g); i++) {
        clg_tensor *p = clg_graph_parameter(m->g, i);
        const char *name = clg_tensor_name(p);
        if (!strstr(name, ".attn.c_proj.weight") && !ends_with(name, ".mlp.2.weight"))
            continue;
        size_t n = clg_tensor_numel(p);
        float *v = malloc(n * sizeof *v);
        if (!v)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "gpt2 init of %s", name);
        s = clg_tensor_download(p, v, n);
        for (size_t k = 0; k < n; k++)
            v[k] *= scale;
        if (s == CLG_OK)
            s = clg_tensor_upload(p, v, n);
        free(v);
    }
    return s;
}

clg_status clg_model_freeze(clg_model *m, int count)
{
    clg_status s = check_open(m, "clg_model_freeze");
    if (s != CLG_OK)
        return s;
    if (count < 0 || count > m->top)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_model_freeze: %d layers, the model has %d", count, m->top);
    clg_graph *g = m->g;
    for (int i = 0; i < clg_graph_parameter_count(g); i++) {
        clg_tensor *p = clg_graph_parameter(g, i);
        int top = atoi(clg_tensor_name(p)); /* names start with the layer index */
        clg_tensor_set_frozen(p, top < count);
    }
    return CLG_OK;
}

clg_status clg_model_compile(clg_model *m, clg_loss_type loss, float label_smoothing)
{
    clg_status s = check_open(m, "clg_model_compile");
    if (s == CLG_OK && m->block >= 0)
        s = clg_fail(CLG_INVALID_ARGUMENT,
                     "clg_model_compile: residual block %d is still open",
                     m->layers[m->block].top);
    if (s != CLG_OK)
        return s;
    clg_graph *g = m->g;
    int shape[CLG_MAX_DIMS], nd = clg_tensor_ndim(m->out);
    for (int i = 0; i < nd; i++)
        shape[i] = clg_tensor_dim(m->out, i);
    switch (loss) {
    case CLG_LOSS_CROSS_ENTROPY: /* a label for each position but the classes */
        m->target = clg_input(g, "target", CLG_INT32, nd > 1 ? nd - 1 : 1, shape);
        m->loss =
            clg_cross_entropy(g, m->out, m->target, label_smoothing, CLG_REDUCE_MEAN);
        break;
    case CLG_LOSS_MSE:
    case CLG_LOSS_L1:
    case CLG_LOSS_BCE_WITH_LOGITS:
        m->target = clg_input(g, "target", CLG_FLOAT32, nd, shape);
        m->loss = loss == CLG_LOSS_MSE
                      ? clg_mse_loss(g, m->out, m->target, CLG_REDUCE_MEAN)
                  : loss == CLG_LOSS_L1
                      ? clg_l1_loss(g, m->out, m->target, CLG_REDUCE_MEAN)
                      : clg_bce_with_logits(g, m->out, m->target, CLG_REDUCE_MEAN);
        break;
    default:
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_model_compile: unknown loss %d",
                        (int)loss);
    }
    s = clg_graph_status(g);
    if (s != CLG_OK)
        return clg_fail_prefix(s, "compiling the %s loss", clg_loss_type_str(loss));
    if (m->opts.init == CLG_INIT_GPT2 && (s = scale_residual_projections(m)) != CLG_OK)
        return s;
    return clg_plan_create(g, m->loss, &m->out, 1, &m->plan);
}

/* ---- Queries ------------------------------------------------------------ */

clg_graph *clg_model_graph(const clg_model *m)
{
    return m ? m->g : NULL;
}
clg_plan *clg_model_plan(const clg_model *m)
{
    return m ? m->plan : NULL;
}
clg_tensor *clg_model_input(const clg_model *m)
{
    return m ? m->input : NULL;
}
clg_tensor *clg_model_output(const clg_model *m)
{
    return m ? m->out : NULL;
}
clg_tensor *clg_model_target(const clg_model *m)
{
    return m ? m->target : NULL;
}
clg_tensor *clg_model_loss(const clg_model *m)
{
    return m ? m->loss : NULL;
}
clg_context *clg_model_context(const clg_model *m)
{
    return m ? m->ctx : NULL;
}
int clg_model_max_batch(const clg_model *m)
{
    return m ? m->opts.max_batch : 0;
}
int clg_model_layer_count(const clg_model *m)
{
    return m ? m->top : 0;
}

const clg_layer *clg_model_layer(const clg_model *m, int index)
{
    for (int i = 0; m && i < m->nlayers; i++)
        if (m->layers[i].depth == 0 && m->layers[i].top == index)
            return &m->layers[i].spec;
    return NULL;
}

size_t clg_model_parameter_numel(const clg_model *m, bool trainable_only)
{
    size_t n = 0;
    for (int i = 0; m && i < clg_graph_parameter_count(m->g); i++) {
        clg_tensor *p = clg_graph_parameter(m->g, i);
        if (!trainable_only || !clg_tensor_frozen(p))
            n += clg_tensor_numel(p);
    }
    return n;
}

int clg_model_tensor_count(const clg_model *m)
{
    int n = 0;
    for (int i = 0; m && i < m->g->count; i++)
        n += m->g->tensors[i]->kind == CLG_KIND_PARAMETER ||
             m->g->tensors[i]->kind == CLG_KIND_STATE;
    return n;
}

clg_tensor *clg_model_tensor(const clg_model *m, int index)
{
    for (int i = 0; m && i < m->g->count; i++) {
        clg_tensor *t = m->g->tensors[i];
        if ((t->kind == CLG_KIND_PARAMETER || t->kind == CLG_KIND_STATE) &&
            index-- == 0)
            return t;
    }
    return NULL;
}

static void shape_n(const clg_tensor *t, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[N");
    for (int i = 1; i < clg_tensor_ndim(t) && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, ",%d", clg_tensor_dim(t, i));
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

clg_status clg_model_summary(const clg_model *m, FILE *out)
{
    if (!m || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_model_summary: NULL argument");
    char shape[64];
    shape_n(m->input, shape, sizeof shape);
    fprintf(out, "%-24s %-22s %12s\n", "Layer (type)", "Output shape", "Param #");
    fprintf(out, "%-24s %-22s %12s\n", "input", shape, "");
    for (int i = 0; i < m->nlayers; i++) {
        const layer_rec *r = &m->layers[i];
        char label[64];
        snprintf(label, sizeof label, "%s%s %s", r->depth ? "  " : "", r->name,
                 clg_layer_type_str(r->spec.type));
        if (r->out)
            shape_n(r->out, shape, sizeof shape);
        else
            snprintf(shape, sizeof shape, "(open)");
        fprintf(out, "%-24s %-22s %12zu\n", label, shape, r->params);
    }
    size_t total = clg_model_parameter_numel(m, false);
    size_t trainable = clg_model_parameter_numel(m, true);
    fprintf(out, "Total params: %zu (trainable %zu, frozen %zu)\n", total, trainable,
            total - trainable);
    return CLG_OK;
}
