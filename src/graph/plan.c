/*
 * Plans: which nodes run, autograd's backward order, the memory plan that
 * lets intermediates share buffers, and the recorded launches a run enqueues.
 *
 * Positions: forward node k runs at position k, backward entry j at F + j.
 * Every intermediate lives over an interval of positions; intervals that do
 * not overlap share a buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

typedef enum step_kind { STEP_KERNEL, STEP_GEMM, STEP_FILL, STEP_COPY } step_kind;

typedef struct clg_step {
    step_kind kind;
    cl_kernel kernel; /* owned by the step */
    cl_uint dims;
    size_t global[3], local[3];
    bool has_local;
    int step_arg; /* -1, or the argument that receives the step counter */
    clg_gemm_call gemm;
    cl_mem dst, src;
    size_t bytes;
    float value;
} clg_step;

struct clg_steps {
    clg_step *v;
    int n, cap;
};

typedef struct interval {
    size_t bytes;
    int start, end;
    clg_buffer **target; /* where the chosen buffer goes */
    int slot;
} interval;

struct clg_plan {
    clg_graph *g;
    clg_context *ctx;
    clg_tensor *loss;
    int ntensors;
    bool *kept;     /* by id: readable after a run */
    bool *rg;       /* by id: requires grad */
    int *fwd_order; /* op node ids, ascending */
    int nfwd;
    int *bwd_order; /* op node ids, descending */
    int nbwd;
    clg_grad_io *io;    /* by id */
    clg_buffer **value; /* by id, roots only */
    clg_buffer **grad;  /* by id, roots only */
    clg_buffer **aux;   /* by id * CLG_MAX_AUX + i */
    int *zero_grads;    /* roots whose gradient nobody writes */
    int nzero;
    clg_buffer **owned; /* buffers the plan allocated */
    int nowned;
    clg_steps fwd_train, fwd_eval, bwd;
    int max_batch, recorded_batch, last_batch;
    unsigned long long step;
    size_t used_bytes, unshared_bytes;
};

/* ---- Steps -------------------------------------------------------------- */

static clg_step *push_step(clg_steps *s)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 32;
        clg_step *grown = realloc(s->v, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        s->v = grown;
        s->cap = cap;
    }
    clg_step *st = &s->v[s->n++];
    memset(st, 0, sizeof *st);
    st->step_arg = -1;
    return st;
}

static void free_steps(clg_steps *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->v[i].kernel)
            clReleaseKernel(s->v[i].kernel);
    free(s->v);
    memset(s, 0, sizeof *s);
}

clg_status clg_rec_kernel_stepped(clg_plan *p, clg_steps *s, const char *family,
                                  const char *options, const char *kernel, size_t n,
                                  const clg_karg *args, int nargs, int step_arg)
{
    if (n == 0)
        return CLG_OK;
    cl_kernel own;
    clg_status st = clg_kernel_create(p->ctx, family, options, kernel, &own);
    if (st != CLG_OK)
        return st;
    for (int i = 0; st == CLG_OK && i < nargs; i++)
        if (i != step_arg)
            st = clg_kernel_arg(own, (cl_uint)i, args[i].size, args[i].value);
    clg_step *step = st == CLG_OK ? push_step(s) : NULL;
    if (!step) {
        clReleaseKernel(own);
        return st != CLG_OK ? st
                            : clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording %s", kernel);
    }
    /* Work-groups of 64 where the device and kernel allow; kernels guard the
     * tail of the range. */
    size_t group = clg_kernel_group(p->ctx, own, 64);
    step->kind = STEP_KERNEL;
    step->kernel = own;
    step->dims = 1;
    step->global[0] = (n + group - 1) / group * group;
    step->local[0] = group;
    step->has_local = true;
    step->step_arg = step_arg;
    return CLG_OK;
}

clg_status clg_rec_kernel(clg_plan *p, clg_steps *s, const char *family,
                          const char *options, const char *kernel, size_t n,
                          const clg_karg *args, int nargs)
{
    return clg_rec_kernel_stepped(p, s, family, options, kernel, n, args, nargs, -1);
}

clg_status clg_rec_gemm(clg_plan *p, clg_steps *s, const clg_gemm_call *call)
{
    if (call->M == 0 || call->N == 0 || call->batch == 0)
        return CLG_OK;
    clg_step *step = push_step(s);
    if (!step)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording a gemm");
    if (p->ctx->gemm_path == CLG_GEMM_NATIVE || call->K == 0) {
        step->kind = STEP_KERNEL;
        step->dims = 3;
        step->has_local = true;
        clg_status st = clg_gemm_native_prepare(p->ctx, call, &step->kernel,
                                                step->global, step->local);
        if (st != CLG_OK)
            s->n--;
        return st;
    }
    step->kind = STEP_GEMM;
    step->gemm = *call;
    return CLG_OK;
}

clg_status clg_rec_fill(clg_plan *p, clg_steps *s, cl_mem mem, size_t bytes,
                        float value)
{
    (void)p;
    clg_step *step = push_step(s);
    if (!step)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording a fill");
    step->kind = STEP_FILL;
    step->dst = mem;
    step->bytes = bytes;
    step->value = value;
    return CLG_OK;
}

clg_status clg_rec_copy(clg_plan *p, clg_steps *s, cl_mem dst, cl_mem src, size_t bytes)
{
    (void)p;
    if (dst == src || bytes == 0)
        return CLG_OK;
    clg_step *step = push_step(s);
    if (!step)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording a copy");
    step->kind = STEP_COPY;
    step->dst = dst;
    step->src = src;
    step->bytes = bytes;
    return CLG_OK;
}

static clg_status run_steps(clg_plan *p, const clg_steps *s)
{
    clg_context *ctx = p->ctx;
    for (int i = 0; i < s->n; i++) {
        const clg_step *st = &s->v[i];
        cl_int err = CL_SUCCESS;
        switch (st->kind) {
        case STEP_KERNEL:
            if (st->step_arg >= 0) {
                cl_ulong step = p->step;
                err = clSetKernelArg(st->kernel, (cl_uint)st->step_arg, sizeof step,
                                     &step);
                if (err != CL_SUCCESS)
                    return clg_fail_cl(err, "setting the step of a kernel");
            }
            {
                clg_status cs = clg_launch(ctx, st->kernel, st->dims, st->global,
                                           st->has_local ? st->local : NULL);
                if (cs != CLG_OK)
                    return cs;
            }
            break;
        case STEP_GEMM: {
            clg_status cs = clg_gemm_enqueue(ctx, &st->gemm);
            if (cs != CLG_OK)
                return cs;
            break;
        }
        case STEP_FILL:
            err = clEnqueueFillBuffer(ctx->queue, st->dst, &st->value, sizeof st->value,
                                      0, st->bytes, 0, NULL, NULL);
            break;
        case STEP_COPY:
            err = clEnqueueCopyBuffer(ctx->queue, st->src, st->dst, 0, 0, st->bytes, 0,
                                      NULL, NULL);
            break;
        }
        if (err != CL_SUCCESS)
            return clg_fail_cl(err, "running a plan step on %s", ctx->info.name);
    }
    return CLG_OK;
}

/* ---- Storage ------------------------------------------------------------ */

cl_mem clg_val(const clg_plan *p, const clg_tensor *t)
{
    const clg_tensor *r = clg_storage_root((clg_tensor *)t);
    if (r->buffer)
        return r->buffer->mem;
    return p->value[r->id] ? p->value[r->id]->mem : NULL;
}

cl_mem clg_aux(const clg_plan *p, const clg_tensor *t, int i)
{
    clg_buffer *b = p->aux[t->id * CLG_MAX_AUX + i];
    return b ? b->mem : NULL;
}

static clg_buffer *grad_storage(const clg_plan *p, const clg_tensor *t)
{
    const clg_tensor *r = clg_storage_root((clg_tensor *)t);
    if (r->kind == CLG_KIND_PARAMETER)
        return r->grad_buffer;
    return p->grad[r->id];
}

/* ---- Analysis ----------------------------------------------------------- */

static bool differentiable(const clg_tensor *t, int i)
{
    return t->op->backward && (t->op->grad_mask == 0 || (t->op->grad_mask >> i) & 1u);
}

static void mark_needed(clg_tensor *t, bool *needed)
{
    if (needed[t->id])
        return;
    needed[t->id] = true;
    for (int i = 0; i < t->nsrc; i++)
        mark_needed(t->src[i], needed);
    if (t->view_of)
        mark_needed(t->view_of, needed);
}

static clg_status find_batch(clg_plan *p, const bool *needed)
{
    p->max_batch = 0;
    const clg_tensor *first = NULL;
    for (int i = 0; i < p->ntensors; i++) {
        const clg_tensor *t = p->g->tensors[i];
        if (!needed[i] || t->kind != CLG_KIND_INPUT)
            continue;
        if (first && t->shape[0] != p->max_batch)
            return clg_fail(
                CLG_SHAPE_MISMATCH,
                "clg_plan_create: inputs '%s' and '%s' have batch %d and %d",
                first->name, t->name, p->max_batch, t->shape[0]);
        first = t;
        p->max_batch = t->shape[0];
    }
    if (!first)
        p->max_batch = 1;
    return CLG_OK;
}

/* Requires-grad, reachability from the loss, backward order, first writers. */
static clg_status plan_autograd(clg_plan *p, const bool *needed)
{
    clg_graph *g = p->g;
    for (int i = 0; i < p->ntensors; i++) {
        clg_tensor *t = g->tensors[i];
        if (!needed[i])
            continue;
        if (t->kind == CLG_KIND_PARAMETER)
            p->rg[i] = !t->frozen;
        else if (t->kind == CLG_KIND_INPUT)
            p->rg[i] = t->wants_grad && t->dtype == CLG_FLOAT32;
        else if (t->view_of)
            p->rg[i] = p->rg[t->view_of->id];
        else if (t->op)
            for (int k = 0; k < t->nsrc; k++)
                p->rg[i] |= differentiable(t, k) && p->rg[t->src[k]->id];
    }
    if (!p->loss)
        return CLG_OK;
    if (clg_tensor_numel(p->loss) != 1 || p->loss->batched)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "clg_plan_create: the loss '%s' must be a [1] scalar",
                        p->loss->name);

    bool *reach = calloc((size_t)p->ntensors, sizeof *reach);
    bool *written = calloc((size_t)p->ntensors, sizeof *written);
    if (!reach || !written) {
        free(reach);
        free(written);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "planning backward");
    }
    reach[p->loss->id] = p->rg[p->loss->id];
    written[p->loss->id] = true; /* seeded with 1 */
    for (int i = p->ntensors - 1; i >= 0; i--) {
        clg_tensor *t = g->tensors[i];
        if (!needed[i] || !reach[i] || !p->rg[i])
            continue;
        if (t->view_of) { /* gradient already lands in the root's storage */
            reach[clg_storage_root(t)->id] = true;
            continue;
        }
        if (!t->op)
            continue;
        p->bwd_order[p->nbwd++] = i;
        for (int k = 0; k < t->nsrc; k++) {
            clg_tensor *src = t->src[k];
            if (!differentiable(t, k) || !p->rg[src->id])
                continue;
            int root = clg_storage_root(src)->id;
            reach[src->id] = reach[root] = true;
            p->io[i].accumulate[k] = written[root];
            written[root] = true;
        }
    }
    /* Parameters (and inputs that asked) that the loss does not reach still
     * get a gradient: zero. */
    for (int i = 0; i < p->ntensors; i++)
        if (needed[i] && p->rg[i] && !g->tensors[i]->op && !g->tensors[i]->view_of &&
            !written[i])
            p->zero_grads[p->nzero++] = i;
    free(reach);
    free(written);
    return CLG_OK;
}

/* ---- Memory plan -------------------------------------------------------- */

static int by_start(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static clg_status own_buffer(clg_plan *p, size_t bytes, clg_buffer **out)
{
    clg_status s = clg_buffer_create(p->ctx, bytes, out);
    if (s != CLG_OK)
        return clg_fail_prefix(s, "planning the graph's %zu intermediates",
                               (size_t)p->nfwd);
    p->owned[p->nowned++] = *out;
    return CLG_OK;
}

/* Greedy interval colouring: a buffer is reused once its last reader ran. */
static clg_status assign_buffers(clg_plan *p, interval *iv, int n)
{
    qsort(iv, (size_t)n, sizeof *iv, by_start);
    size_t *slot_bytes = calloc((size_t)n + 1, sizeof *slot_bytes);
    int *slot_free_at = calloc((size_t)n + 1, sizeof *slot_free_at);
    clg_buffer **slot_buf = calloc((size_t)n + 1, sizeof *slot_buf);
    if (!slot_bytes || !slot_free_at || !slot_buf) {
        free(slot_bytes), free(slot_free_at), free(slot_buf);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "planning memory");
    }
    int nslots = 0;
    for (int i = 0; i < n; i++) {
        int best = -1;
        for (int s = 0; s < nslots; s++) {
            if (slot_free_at[s] >= iv[i].start)
                continue; /* still in use */
            bool fits = slot_bytes[s] >= iv[i].bytes;
            if (best < 0)
                best = s;
            else if (fits && (slot_bytes[best] < iv[i].bytes ||
                              slot_bytes[s] < slot_bytes[best]))
                best = s; /* smallest that fits */
            else if (!fits && slot_bytes[best] < iv[i].bytes &&
                     slot_bytes[s] > slot_bytes[best])
                best = s; /* else the largest, to grow */
        }
        if (best < 0)
            best = nslots++;
        if (slot_bytes[best] < iv[i].bytes)
            slot_bytes[best] = iv[i].bytes;
        slot_free_at[best] = iv[i].end;
        iv[i].slot = best;
        p->unshared_bytes += iv[i].bytes;
    }
    clg_status s = CLG_OK;
    for (int k = 0; s == CLG_OK && k < nslots; k++) {
        s = own_buffer(p, slot_bytes[k], &slot_buf[k]);
        p->used_bytes += slot_bytes[k];
    }
    for (int i = 0; s == CLG_OK && i < n; i++)
        *iv[i].target = slot_buf[iv[i].slot];
    free(slot_bytes), free(slot_free_at), free(slot_buf);
    return s;
}

#define POS_END 0x3fffffff

static clg_status plan_memory(clg_plan *p, const bool *needed)
{
    clg_graph *g = p->g;
    int n = p->ntensors;
    int *fwd_pos = malloc((size_t)n * sizeof *fwd_pos);
    int *bwd_pos = malloc((size_t)n * sizeof *bwd_pos);
    int *value_end = malloc((size_t)n * sizeof *value_end);
    int *grad_start = malloc((size_t)n * sizeof *grad_start);
    interval *iv = calloc((size_t)n * (2 + CLG_MAX_AUX), sizeof *iv);
    if (!fwd_pos || !bwd_pos || !value_end || !grad_start || !iv) {
        free(fwd_pos), free(bwd_pos), free(value_end), free(grad_start), free(iv);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "planning memory");
    }
    for (int i = 0; i < n; i++)
        fwd_pos[i] = bwd_pos[i] = value_end[i] = grad_start[i] = -1;
    for (int k = 0; k < p->nfwd; k++)
        fwd_pos[p->fwd_order[k]] = value_end[p->fwd_order[k]] = k;
    for (int j = 0; j < p->nbwd; j++)
        bwd_pos[p->bwd_order[j]] = p->nfwd + j;

    /* A value lives until its last forward reader, and through the backward
     * of itself and of its readers (backward kernels read their inputs). */
    for (int k = 0; k < p->nfwd; k++) {
        clg_tensor *t = g->tensors[p->fwd_order[k]];
        int last = bwd_pos[t->id] > k ? bwd_pos[t->id] : k;
        for (int s = 0; s < t->nsrc; s++) {
            int r = clg_storage_root(t->src[s])->id;
            if (value_end[r] < last)
                value_end[r] = last;
        }
        int r = clg_storage_root(t)->id;
        if (value_end[r] < last)
            value_end[r] = last;
    }
    for (int i = 0; i < n; i++)
        if (p->kept[i])
            value_end[clg_storage_root(g->tensors[i])->id] = POS_END;
    /* A gradient lives from its first writer to its own node's backward. */
    for (int j = 0; j < p->nbwd; j++) {
        clg_tensor *t = g->tensors[p->bwd_order[j]];
        for (int s = 0; s < t->nsrc; s++) {
            int r = clg_storage_root(t->src[s])->id;
            if (p->rg[t->src[s]->id] && differentiable(t, s) && grad_start[r] < 0)
                grad_start[r] = p->nfwd + j;
        }
    }
    if (p->loss)
        grad_start[p->loss->id] = p->nfwd - 1;

    int count = 0;
    clg_status st = CLG_OK;
    for (int i = 0; st == CLG_OK && i < n; i++) {
        clg_tensor *t = g->tensors[i];
        if (!needed[i] || t->view_of)
            continue;
        size_t bytes = clg_tensor_numel(t) * 4;
        if (t->op)
            iv[count++] = (interval){bytes, fwd_pos[i], value_end[i], &p->value[i], 0};
        if (t->op && grad_start[i] >= 0)
            iv[count++] = (interval){bytes, grad_start[i],
                                     bwd_pos[i] >= 0 ? bwd_pos[i] : grad_start[i],
                                     &p->grad[i], 0};
        if (t->op && t->op->aux_bytes) {
            size_t aux[CLG_MAX_AUX] = {0};
            t->op->aux_bytes(t, aux);
            for (int a = 0; a < CLG_MAX_AUX; a++)
                if (aux[a])
                    iv[count++] = (interval){aux[a], fwd_pos[i],
                                             bwd_pos[i] >= 0 ? bwd_pos[i] : fwd_pos[i],
                                             &p->aux[i * CLG_MAX_AUX + a], 0};
        }
        /* Leaves' gradients are not shared: the optimizer reads them. */
        if (!t->op && p->loss && p->rg[i]) {
            if (t->kind == CLG_KIND_PARAMETER && !t->grad_buffer)
                st = clg_buffer_create(p->ctx, bytes, &t->grad_buffer);
            else if (t->kind == CLG_KIND_INPUT)
                st = own_buffer(p, bytes, &p->grad[i]);
        }
    }
    if (st == CLG_OK)
        st = assign_buffers(p, iv, count);
    free(fwd_pos), free(bwd_pos), free(value_end), free(grad_start), free(iv);
    return st;
}

/* ---- Recording ---------------------------------------------------------- */

static void fill_io(clg_plan *p, clg_tensor *t)
{
    clg_grad_io *io = &p->io[t->id];
    clg_buffer *out = grad_storage(p, t);
    io->grad_out = out ? out->mem : NULL;
    for (int k = 0; k < t->nsrc; k++) {
        clg_buffer *b = differentiable(t, k) && p->rg[t->src[k]->id]
                            ? grad_storage(p, t->src[k])
                            : NULL;
        io->grad_src[k] = b ? b->mem : NULL;
    }
}

static clg_status record(clg_plan *p, int batch)
{
    free_steps(&p->fwd_train);
    free_steps(&p->fwd_eval);
    free_steps(&p->bwd);
    clg_status s = CLG_OK;
    for (int k = 0; s == CLG_OK && k < p->nfwd; k++) {
        clg_tensor *t = p->g->tensors[p->fwd_order[k]];
        s = t->op->forward(p, &p->fwd_train, t, batch, true);
        if (s == CLG_OK)
            s = t->op->forward(p, &p->fwd_eval, t, batch, false);
        if (s != CLG_OK)
            s = clg_fail_prefix(s, "%s '%s'", t->op->name, t->name);
    }
    if (p->loss && p->rg[p->loss->id]) {
        s = s != CLG_OK
                ? s
                : clg_rec_fill(p, &p->bwd, grad_storage(p, p->loss)->mem, 4, 1.0f);
        for (int z = 0; s == CLG_OK && z < p->nzero; z++) {
            clg_tensor *t = p->g->tensors[p->zero_grads[z]];
            s = clg_rec_fill(p, &p->bwd, grad_storage(p, t)->mem,
                             clg_numel_at(t, batch) * 4, 0.0f);
        }
        for (int j = 0; s == CLG_OK && j < p->nbwd; j++) {
            clg_tensor *t = p->g->tensors[p->bwd_order[j]];
            fill_io(p, t);
            s = t->op->backward(p, &p->bwd, t, batch, &p->io[t->id]);
            if (s != CLG_OK)
                s = clg_fail_prefix(s, "backward of %s '%s'", t->op->name, t->name);
        }
    }
    p->recorded_batch = s == CLG_OK ? batch : 0;
    return s;
}

/* ---- Public ------------------------------------------------------------- */

void clg_plan_free(clg_plan *p)
{
    if (!p)
        return;
    if (p->ctx)
        clFinish(p->ctx->queue);
    free_steps(&p->fwd_train);
    free_steps(&p->fwd_eval);
    free_steps(&p->bwd);
    for (int i = 0; i < p->nowned; i++)
        clg_buffer_free(p->owned[i]);
    free(p->owned);
    free(p->kept), free(p->rg), free(p->fwd_order), free(p->bwd_order), free(p->io);
    free(p->value), free(p->grad), free(p->aux), free(p->zero_grads);
    free(p);
}

static clg_status alloc_tables(clg_plan *p)
{
    size_t n = (size_t)p->ntensors;
    p->kept = calloc(n, sizeof *p->kept);
    p->rg = calloc(n, sizeof *p->rg);
    p->fwd_order = calloc(n, sizeof *p->fwd_order);
    p->bwd_order = calloc(n, sizeof *p->bwd_order);
    p->io = calloc(n, sizeof *p->io);
    p->value = calloc(n, sizeof *p->value);
    p->grad = calloc(n, sizeof *p->grad);
    p->aux = calloc(n * CLG_MAX_AUX, sizeof *p->aux);
    p->zero_grads = calloc(n, sizeof *p->zero_grads);
    p->owned = calloc(n * (3 + CLG_MAX_AUX), sizeof *p->owned);
    if (!p->kept || !p->rg || !p->fwd_order || !p->bwd_order || !p->io || !p->value ||
        !p->grad || !p->aux || !p->zero_grads || !p->owned)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_plan_create");
    return CLG_OK;
}

clg_status clg_plan_create(clg_graph *g, clg_tensor *loss, clg_tensor *const *outputs,
                           int output_count, clg_plan **out)
{
    if (!g || !out || output_count < 0 || (output_count > 0 && !outputs))
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_create: bad argument");
    *out = NULL;
    clg_status s = clg_graph_status(g);
    if (s != CLG_OK)
        return clg_fail_prefix(s, "clg_plan_create: the graph failed to build");
    if (!loss && output_count == 0)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_create: give a loss or at least one output");
    for (int i = 0; i < output_count; i++)
        if (!outputs[i] || outputs[i]->graph != g)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "clg_plan_create: output %d is NULL or from another graph",
                            i);
    if (loss && loss->graph != g)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_create: the loss belongs to another graph");

    clg_plan *p = calloc(1, sizeof *p);
    if (!p)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_plan_create");
    p->g = g;
    p->ctx = g->ctx;
    p->loss = loss;
    p->ntensors = g->count;
    bool *needed = calloc((size_t)g->count, sizeof *needed);
    s = needed ? alloc_tables(p) : clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_plan_create");
    if (s == CLG_OK) {
        if (loss) {
            mark_needed(loss, needed);
            p->kept[loss->id] = true;
        }
        for (int i = 0; i < output_count; i++) {
            mark_needed(outputs[i], needed);
            p->kept[outputs[i]->id] = true;
        }
        for (int i = 0; i < g->count; i++)
            if (needed[i] && g->tensors[i]->op && !g->tensors[i]->view_of)
                p->fwd_order[p->nfwd++] = i;
        s = find_batch(p, needed);
    }
    if (s == CLG_OK)
        s = plan_autograd(p, needed);
    if (s == CLG_OK)
        s = plan_memory(p, needed);
    if (s == CLG_OK)
        s = record(p, p->max_batch);
    free(needed);
    if (s != CLG_OK) {
        clg_plan_free(p);
        return s;
    }
    p->last_batch = p->max_batch;
    *out = p;
    return CLG_OK;
}

clg_status clg_plan_run(clg_plan *p, int batch, clg_run_mode mode)
{
    if (!p)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_run: plan is NULL");
    if (batch < 1 || batch > p->max_batch)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_run: batch %d, the plan was built for 1 to %d", batch,
                        p->max_batch);
    if (mode != CLG_RUN_TRAIN && mode != CLG_RUN_EVAL)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_run: unknown mode %d",
                        (int)mode);
    clg_status s = CLG_OK;
    if (batch != p->recorded_batch)
        s = record(p, batch); /* a last partial batch: new ranges, same buffers */
    if (s != CLG_OK)
        return s;
    bool train = mode == CLG_RUN_TRAIN;
    s = run_steps(p, train ? &p->fwd_train : &p->fwd_eval);
    if (s == CLG_OK && train && p->loss)
        s = run_steps(p, &p->bwd);
    if (s == CLG_OK && train)
        p->step++;
    p->last_batch = batch;
    return s;
}

clg_status clg_plan_read(clg_plan *p, const clg_tensor *t, void *data, size_t count)
{
    if (!p || !t || !data)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_read: NULL argument");
    if (t->graph != p->g || t->id >= p->ntensors)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_read: '%s' is not in this plan",
                        t->name);
    const clg_tensor *r = clg_storage_root((clg_tensor *)t);
    if (t->op && !p->kept[t->id])
        return clg_fail(
            CLG_INVALID_ARGUMENT,
            "clg_plan_read: '%s' is an intermediate whose buffer is reused; "
            "pass it as an output to clg_plan_create",
            t->name);
    size_t have = clg_numel_at(t, p->last_batch);
    if (count > have)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "clg_plan_read: %zu elements of '%s', which has %zu", count,
                        t->name, have);
    cl_mem mem = clg_val(p, r);
    cl_int err = clEnqueueReadBuffer(p->ctx->queue, mem, CL_TRUE, 0, count * 4, data, 0,
                                     NULL, NULL);
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "reading '%s'", t->name);
    return CLG_OK;
}

clg_status clg_plan_read_grad(clg_plan *p, const clg_tensor *t, float *data,
                              size_t count)
{
    if (!p || !t || !data)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_read_grad: NULL argument");
    clg_buffer *b = t->graph == p->g && !t->op && t->id < p->ntensors && p->rg[t->id]
                        ? grad_storage(p, t)
                        : NULL;
    if (!b)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_read_grad: '%s' has no gradient in this plan (only "
                        "unfrozen parameters and inputs that asked for one do)",
                        t->name);
    size_t have = clg_numel_at(t, p->last_batch);
    if (count > have)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "clg_plan_read_grad: %zu elements of '%s', which has %zu",
                        count, t->name, have);
    return clg_buffer_download(b, 0, data, count * 4);
}

clg_status clg_plan_loss(clg_plan *p, float *loss)
{
    if (!p || !loss || !p->loss)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_loss: the plan has no loss");
    return clg_plan_read(p, p->loss, loss, 1);
}

clg_graph *clg_plan_graph(const clg_plan *p)
{
    return p ? p->g : NULL;
}
clg_tensor *clg_plan_loss_tensor(const clg_plan *p)
{
    return p ? p->loss : NULL;
}
int clg_plan_max_batch(const clg_plan *p)
{
    return p ? p->max_batch : 0;
}

unsigned long long clg_plan_step(const clg_plan *p)
{
    return p ? p->step : 0;
}
void clg_plan_set_step(clg_plan *p, unsigned long long step)
{
    if (p)
        p->step = step;
}

void clg_plan_memory(const clg_plan *p, size_t *used, size_t *unshared)
{
    if (used)
        *used = p ? p->used_bytes : 0;
    if (unshared)
        *unshared = p ? p->unshared_bytes : 0;
}
