/* Graphs, leaves and the bookkeeping every op builder shares. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "graph/op.h"

CLG_DEFINE_ENUM_NAMES(clg_dtype, CLG_DTYPE_LIST, "dtype")
CLG_DEFINE_ENUM_NAMES(clg_reduction, CLG_REDUCTION_LIST, "reduction")
CLG_DEFINE_ENUM_NAMES(clg_run_mode, CLG_RUN_MODE_LIST, "run mode")

clg_status clg_graph_create(clg_context *ctx, clg_graph **out)
{
    if (!ctx || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_graph_create: NULL argument");
    clg_graph *g = calloc(1, sizeof *g);
    if (!g)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_graph_create");
    g->ctx = ctx;
    *out = g;
    return CLG_OK;
}

void clg_graph_free(clg_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->count; i++) {
        clg_buffer_free(g->tensors[i]->buffer);
        clg_buffer_free(g->tensors[i]->grad_buffer);
        free(g->tensors[i]);
    }
    for (int i = 0; i < g->narenas; i++) /* after the views of them */
        clg_buffer_free(g->arenas[i]);
    free(g->arenas);
    free(g->tensors);
    free(g);
}

clg_context *clg_graph_context(const clg_graph *g)
{
    return g ? g->ctx : NULL;
}

clg_status clg_graph_status(const clg_graph *g)
{
    if (!g)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_graph_status: graph is NULL");
    if (g->status != CLG_OK)
        clg_fail(g->status, "%s", g->error);
    return g->status;
}

clg_tensor *clg_graph_fail(clg_graph *g, clg_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g && g->status == CLG_OK) {
        g->status = status;
        snprintf(g->error, sizeof g->error, "%s", msg);
    }
    clg_fail(status, "%s", msg);
    return NULL;
}

const char *clg_shape_str(const clg_tensor *t, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%d", i ? "," : "", t->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

bool clg_graph_bad_args(clg_graph *g, const char *op, int nsrc, clg_tensor *const *src)
{
    if (!g)
        return true;
    if (g->status != CLG_OK)
        return true;
    for (int i = 0; i < nsrc; i++) {
        if (!src[i]) {
            clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                           "%s: input %d is NULL (an earlier op failed or was not "
                           "built)",
                           op, i);
            return true;
        }
        if (src[i]->graph != g) {
            clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                           "%s: input %d ('%s') belongs to another graph", op, i,
                           src[i]->name);
            return true;
        }
    }
    return false;
}

static clg_tensor *new_tensor(clg_graph *g, const char *op, const char *name,
                              clg_dtype dtype, int ndim, const int *shape)
{
    if (!g)
        return NULL;
    if (g->status != CLG_OK)
        return NULL;
    if (ndim < 1 || ndim > CLG_MAX_DIMS || !shape)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "%s '%s': %d dimensions, clgrad tensors have 1 to %d", op,
                              name ? name : "", ndim, CLG_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                                  "%s '%s': dimension %d is %d, must be positive", op,
                                  name ? name : "", i, shape[i]);
        numel *= (size_t)shape[i];
        if (numel > (size_t)1 << 31)
            return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                                  "%s '%s': more than 2^31 elements", op,
                                  name ? name : "");
    }
    if (name && strlen(name) >= sizeof((clg_tensor *)0)->name)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "%s '%.40s...': a name of %zu "
                              "characters (at most %zu)",
                              op, name, strlen(name),
                              sizeof((clg_tensor *)0)->name - 1);
    if (g->count == g->cap) {
        int cap = g->cap ? g->cap * 2 : 64;
        clg_tensor **grown = realloc(g->tensors, (size_t)cap * sizeof *grown);
        if (!grown)
            return clg_graph_fail(g, CLG_OUT_OF_HOST_MEMORY, "%s: growing the graph",
                                  op);
        g->tensors = grown;
        g->cap = cap;
    }
    clg_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return clg_graph_fail(g, CLG_OUT_OF_HOST_MEMORY, "%s: new tensor", op);
    t->graph = g;
    t->id = g->count;
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    if (name && *name)
        snprintf(t->name, sizeof t->name, "%s", name);
    else
        snprintf(t->name, sizeof t->name, "%s%d", op, t->id);
    g->tensors[g->count++] = t;
    return t;
}

static clg_tensor *new_leaf(clg_graph *g, const char *what, const char *name,
                            clg_dtype dtype, clg_tensor_kind kind, int ndim,
                            const int *shape, float fill)
{
    clg_tensor *t = new_tensor(g, what, name, dtype, ndim, shape);
    if (!t)
        return NULL;
    t->kind = kind;
    t->batched = kind == CLG_KIND_INPUT;
    size_t bytes = clg_tensor_numel(t) * 4;
    clg_status s = clg_buffer_create(g->ctx, bytes, &t->buffer);
    if (s == CLG_OK)
        s = clg_buffer_fill(t->buffer, 0, &fill, sizeof fill, bytes);
    if (s != CLG_OK)
        return clg_graph_fail(g, s, "%s '%s': %s", what, t->name, clg_last_error());
    return t;
}

clg_tensor *clg_input(clg_graph *g, const char *name, clg_dtype dtype, int ndim,
                      const int *shape)
{
    if (g && dtype != CLG_FLOAT32 && dtype != CLG_INT32)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "input '%s': unknown dtype %d",
                              name ? name : "", (int)dtype);
    return new_leaf(g, "input", name, dtype, CLG_KIND_INPUT, ndim, shape, 0.0f);
}

clg_tensor *clg_parameter(clg_graph *g, const char *name, int ndim, const int *shape)
{
    return new_leaf(g, "parameter", name, CLG_FLOAT32, CLG_KIND_PARAMETER, ndim, shape,
                    0.0f);
}

clg_tensor *clg_state(clg_graph *g, const char *name, int ndim, const int *shape,
                      float value)
{
    return new_leaf(g, "state", name, CLG_FLOAT32, CLG_KIND_STATE, ndim, shape, value);
}

clg_tensor *clg_node(clg_graph *g, const clg_op_class *op, int nsrc,
                     clg_tensor *const *src, int ndim, const int *shape)
{
    clg_tensor *t = new_tensor(g, op->name, NULL, CLG_FLOAT32, ndim, shape);
    if (!t)
        return NULL;
    t->kind = CLG_KIND_OP;
    t->op = op;
    t->nsrc = nsrc;
    t->segment = g->segment;
    for (int i = 0; i < nsrc; i++) {
        t->src[i] = src[i];
        t->batched |= src[i]->batched;
    }
    return t;
}

clg_status clg_graph_recompute_begin(clg_graph *g)
{
    if (!g)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_graph_recompute_begin: NULL graph");
    if (g->segment)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_graph_recompute_begin: segment %d is still open "
                        "(segments do not nest)",
                        g->segment);
    g->segment = ++g->nsegments;
    return CLG_OK;
}

clg_status clg_graph_recompute_end(clg_graph *g)
{
    if (!g || !g->segment)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_graph_recompute_end: no segment is open");
    g->segment = 0;
    return CLG_OK;
}

/* ---- Accessors ---------------------------------------------------------- */

const char *clg_tensor_name(const clg_tensor *t)
{
    return t ? t->name : "";
}
clg_dtype clg_tensor_dtype(const clg_tensor *t)
{
    return t ? t->dtype : CLG_FLOAT32;
}
int clg_tensor_ndim(const clg_tensor *t)
{
    return t ? t->ndim : 0;
}

int clg_tensor_dim(const clg_tensor *t, int i)
{
    return t && i >= 0 && i < t->ndim ? t->shape[i] : 0;
}

size_t clg_tensor_numel(const clg_tensor *t)
{
    if (!t)
        return 0;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

size_t clg_tensor_sample_numel(const clg_tensor *t)
{
    return t->batched ? clg_tensor_numel(t) / (size_t)t->shape[0] : clg_tensor_numel(t);
}

size_t clg_numel_at(const clg_tensor *t, int batch)
{
    return t->batched ? clg_tensor_sample_numel(t) * (size_t)batch
                      : clg_tensor_numel(t);
}

int clg_dim_at(const clg_tensor *t, int i, int batch)
{
    return i == 0 && t->batched ? batch : t->shape[i];
}

bool clg_tensor_is_parameter(const clg_tensor *t)
{
    return t && t->kind == CLG_KIND_PARAMETER;
}

clg_tensor *clg_storage_root(clg_tensor *t)
{
    while (t->view_of)
        t = t->view_of;
    return t;
}

void clg_tensor_set_frozen(clg_tensor *t, bool frozen)
{
    if (t)
        t->frozen = frozen;
}

bool clg_tensor_frozen(const clg_tensor *t)
{
    return t && t->frozen;
}

void clg_tensor_set_requires_grad(clg_tensor *t, bool wanted)
{
    if (t)
        t->wants_grad = wanted;
}

clg_buffer *clg_tensor_buffer(const clg_tensor *t)
{
    return t ? t->buffer : NULL;
}
clg_buffer *clg_tensor_grad_buffer(const clg_tensor *t)
{
    return t ? t->grad_buffer : NULL;
}

int clg_graph_parameter_count(const clg_graph *g)
{
    int n = 0;
    for (int i = 0; g && i < g->count; i++)
        n += g->tensors[i]->kind == CLG_KIND_PARAMETER;
    return n;
}

clg_tensor *clg_graph_parameter(const clg_graph *g, int index)
{
    for (int i = 0; g && i < g->count; i++)
        if (g->tensors[i]->kind == CLG_KIND_PARAMETER && index-- == 0)
            return g->tensors[i];
    return NULL;
}

clg_tensor *clg_graph_find(const clg_graph *g, const char *name)
{
    for (int i = 0; g && name && i < g->count; i++)
        if (!strcmp(g->tensors[i]->name, name))
            return g->tensors[i];
    return NULL;
}

/* ---- Leaf data ---------------------------------------------------------- */

static clg_status check_leaf(const clg_tensor *t, size_t count, const void *data,
                             const char *what)
{
    if (!t || !data)
        return clg_fail(CLG_INVALID_ARGUMENT, "%s: NULL argument", what);
    if (!t->buffer)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s: '%s' is an op result; read it through its plan", what,
                        t->name);
    size_t max = clg_tensor_numel(t), per = clg_tensor_sample_numel(t);
    if (count > max)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "%s: %zu elements for '%s', which holds %zu", what, count,
                        t->name, max);
    if (t->batched && count % per != 0)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "%s: %zu elements for '%s' is not a whole number of samples "
                        "of %zu",
                        what, count, t->name, per);
    return CLG_OK;
}

clg_status clg_tensor_upload(clg_tensor *t, const void *data, size_t count)
{
    clg_status s = check_leaf(t, count, data, "clg_tensor_upload");
    if (s != CLG_OK)
        return s;
    if (t->dtype == CLG_INT32 && t->id_limit > 0) {
        const int32_t *ids = data;
        for (size_t i = 0; i < count; i++)
            if (ids[i] < 0 || ids[i] >= t->id_limit)
                return clg_fail(CLG_INVALID_ARGUMENT,
                                "clg_tensor_upload: '%s'[%zu] is %d, must lie in "
                                "[0, %d)",
                                t->name, i, (int)ids[i], t->id_limit);
    }
    return clg_buffer_upload(t->buffer, 0, data, count * 4);
}

clg_status clg_tensor_download(const clg_tensor *t, void *data, size_t count)
{
    clg_status s = check_leaf(t, count, data, "clg_tensor_download");
    if (s != CLG_OK)
        return s;
    return clg_buffer_download(t->buffer, 0, data, count * 4);
}
