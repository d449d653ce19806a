/* Sequential models: layers appended to a graph, named like nn.Sequential. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "graph/graph_internal.h"
#include "nn/nn_internal.h"
#include "ops/ops_internal.h"

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
    r->out = clg_layer_build(m, &layer, r->name, m->out, &r->params, &init);
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
    clg_tensor *p = clg_layer_build(m, &l, prefix, x, &r->params, &init);
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
    /* the output is read after evaluation runs: its buffer may hold the
     * loss's gradient after training ones */
    return clg_plan_create_with(g, m->loss, &m->out, 1, CLG_PLAN_OUTPUTS_AFTER_EVAL,
                                &m->plan);
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
