/* Plans: which nodes run and for what batch, then autograd (autograd.c), the
 * memory plan (memory.c) and the recorded launches (record.c); and the
 * public plan API: run, read, query. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/plan_internal.h"

#define TALLY_FLOATS 6 /* cl/loss.cl: tally_add */

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

void clg_plan_free(clg_plan *p)
{
    if (!p)
        return;
    if (p->ctx)
        clFinish(p->ctx->queue);
    clg_plan_clear_records(p);
    clg_buffer_free(p->tally);
    for (int i = 0; i < p->nowned; i++)
        clg_buffer_free(p->owned[i]);
    free(p->owned);
    free(p->kept), free(p->rg), free(p->fwd_order), free(p->bwd_order), free(p->io);
    free(p->value), free(p->grad), free(p->aux), free(p->zero_grads);
    free(p->inner), free(p->value_bwd), free(p->aliased);
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
    p->inner = calloc(n, sizeof *p->inner);
    p->value_bwd = calloc(n, sizeof *p->value_bwd);
    p->aliased = calloc(n, sizeof *p->aliased);
    /* at most a value, a recomputed value, a gradient and the private
     * buffers per tensor, each in a buffer of its own */
    p->owned = calloc(n * (3 + CLG_MAX_AUX), sizeof *p->owned);
    if (!p->kept || !p->rg || !p->fwd_order || !p->bwd_order || !p->io || !p->value ||
        !p->grad || !p->aux || !p->zero_grads || !p->inner || !p->value_bwd ||
        !p->aliased || !p->owned)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_plan_create");
    return CLG_OK;
}

/* The node that asks the largest least training batch, or NULL. */
static const clg_tensor *least_batch_node(const clg_graph *g)
{
    const clg_tensor *most = NULL;
    for (int i = 0; i < g->count; i++)
        if (g->tensors[i]->min_train_batch > (most ? most->min_train_batch : 1))
            most = g->tensors[i];
    return most;
}

clg_status clg_plan_create(clg_graph *g, clg_tensor *loss, clg_tensor *const *outputs,
                           int output_count, clg_plan **out)
{
    return clg_plan_create_with(g, loss, outputs, output_count, 0, out);
}

clg_status clg_plan_create_with(clg_graph *g, clg_tensor *loss,
                                clg_tensor *const *outputs, int output_count,
                                unsigned flags, clg_plan **out)
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
    p->loss_scale = 1.0f;
    p->outputs_after_eval = flags & CLG_PLAN_OUTPUTS_AFTER_EVAL;
    p->ntensors = g->count;
    p->least_batch = least_batch_node(g);
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
        s = clg_plan_autograd(p, needed);
    if (s == CLG_OK)
        s = clg_plan_assign_memory(p, needed);
    if (s == CLG_OK && loss)
        s = clg_buffer_create(p->ctx, TALLY_FLOATS * 4, &p->tally);
    if (s == CLG_OK && loss)
        s = clg_buffer_fill(p->tally, 0, &(float){0.0f}, 4, TALLY_FLOATS * 4);
    if (s == CLG_OK)
        s = clg_plan_record(p, p->max_batch);
    free(needed);
    if (s != CLG_OK) {
        clg_plan_free(p);
        return s;
    }
    p->last_batch = p->max_batch;
    *out = p;
    return CLG_OK;
}

int clg_graph_min_train_batch(const clg_graph *g)
{
    const clg_tensor *t = g ? least_batch_node(g) : NULL;
    return t ? t->min_train_batch : 1;
}

clg_status clg_plan_run(clg_plan *p, int batch, clg_run_mode mode)
{
    if (!p)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_run: plan is NULL");
    if (batch < 1 || batch > p->max_batch)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_run: batch %d, the plan was built for 1 to %d", batch,
                        p->max_batch);
    if (mode != CLG_RUN_TRAIN && mode != CLG_RUN_EVAL && mode != CLG_RUN_ACCUMULATE)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_run: unknown mode %d",
                        (int)mode);
    clg_status s = CLG_OK;
    if (mode != CLG_RUN_EVAL && !clg_plan_syncs_replicas(p)) {
        const clg_tensor *t = p->least_batch;
        if (t && batch < t->min_train_batch)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "%s '%s' trains on batches of %d or more (over a batch of "
                            "%d it has one value per channel, whose variance is 0: "
                            "PyTorch refuses it too); this batch has %d",
                            t->op->name, t->name, t->min_train_batch,
                            t->min_train_batch - 1, batch);
    }
    if (batch != p->recorded_batch)
        s = clg_plan_record(p, batch); /* a last partial batch */
    bool accumulate = mode == CLG_RUN_ACCUMULATE;
    if (s == CLG_OK && accumulate && p->loss && batch != p->acc_batch)
        s = clg_plan_record_accumulate(p, batch);
    if (s != CLG_OK)
        return s;
    bool train = mode != CLG_RUN_EVAL;
    s = clg_cmdlist_run(p->ctx, train ? &p->fwd_train : &p->fwd_eval, p->step);
    if (s == CLG_OK && train && p->loss)
        s = clg_cmdlist_run(p->ctx, accumulate ? &p->bwd_acc : &p->bwd, p->step);
    if (s == CLG_OK && train)
        p->step++;
    p->last_batch = batch;
    p->last_trained = train && p->loss;
    return s;
}

clg_status clg_plan_set_loss_scale(clg_plan *p, float scale)
{
    if (!p || !(scale > 0.0f) || !isfinite(scale))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_set_loss_scale: %g must be positive and finite",
                        p ? (double)scale : 0.0);
    if (scale != p->loss_scale) {
        p->loss_scale = scale;
        p->recorded_batch = 0; /* the seed is recorded: record again */
        clg_plan_clear_records(p);
    }
    return CLG_OK;
}

void clg_plan_set_sample_offset(clg_plan *p, int first)
{
    if (!p || first == p->sample_offset || first < 0)
        return;
    p->sample_offset = first;
    p->recorded_batch = 0; /* dropout records the offset */
    clg_plan_clear_records(p);
}

int clg_plan_sample_offset(const clg_plan *p)
{
    return p ? p->sample_offset : 0;
}

void clg_plan_set_replica_sum(clg_plan *p, clg_replica_sum_fn fn, void *user)
{
    if (!p || (fn == p->replica_sum && user == p->replica_user))
        return;
    p->replica_sum = fn;
    p->replica_user = user;
    p->recorded_batch = 0; /* batch norm records other launches */
    clg_plan_clear_records(p);
}

void clg_plan_on_grad_ready(clg_plan *p, clg_grad_ready_fn fn, void *user)
{
    if (!p)
        return;
    p->grad_ready = fn;
    p->grad_ready_user = user;
}

float clg_plan_loss_scale(const clg_plan *p)
{
    return p ? p->loss_scale : 0.0f;
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
    if (p->aliased[r->id] && p->last_trained)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_read: '%s' holds the loss's gradient after a "
                        "training run (its buffer serves both); read it after an "
                        "evaluation run (CLG_RUN_EVAL)",
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
                        ? clg_grad_storage(p, t)
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

cl_mem clg_plan_tally_mem(const clg_plan *p)
{
    return p && p->tally ? p->tally->mem : NULL;
}

clg_status clg_plan_take_tally(clg_plan *p, clg_tally *t)
{
    if (!p || !t)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_take_tally: NULL argument");
    if (!p->loss)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_plan_take_tally: the plan has no loss");
    union {
        float f[TALLY_FLOATS];
        int32_t i[TALLY_FLOATS];
    } v; /* as cl/loss.cl's tally_add lays them out */
    clg_status s = clg_buffer_download(p->tally, 0, &v, sizeof v);
    if (s == CLG_OK)
        s = clg_buffer_fill(p->tally, 0, &(float){0.0f}, 4, sizeof v);
    if (s != CLG_OK)
        return s;
    *t = (clg_tally){(double)v.f[0] - (double)v.f[1], v.i[2], v.i[3], v.i[5],
                     v.i[5] ? v.f[4] : NAN};
    return CLG_OK;
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

/* The bytes the device holds for buf (none for a view of an arena, which is
 * counted once). */
static uint64_t held(const clg_buffer *b)
{
    return b && !b->parent ? clg_buffer_held(b) : 0;
}

clg_status clg_plan_memory_report(const clg_plan *p, clg_memory_report *r)
{
    if (!p || !r)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_plan_memory_report: NULL argument");
    memset(r, 0, sizeof *r);
    const clg_graph *g = p->g;
    for (int a = 0; a < g->narenas; a++) {
        bool grads = false;
        for (int i = 0; !grads && i < g->count; i++)
            grads = g->tensors[i]->grad_buffer &&
                    g->tensors[i]->grad_buffer->parent == g->arenas[a];
        *(grads ? &r->gradients : &r->parameters) += clg_buffer_held(g->arenas[a]);
    }
    for (int i = 0; i < g->count; i++) {
        const clg_tensor *t = g->tensors[i];
        if (t->kind == CLG_KIND_PARAMETER || t->kind == CLG_KIND_STATE)
            r->parameters += held(t->buffer);
        else if (t->kind == CLG_KIND_INPUT)
            r->inputs += held(t->buffer);
        r->gradients += held(t->grad_buffer);
    }
    for (int k = 0; k < p->nowned; k++)
        r->activations += held(p->owned[k]);
    const clg_cmdlist *lists[4] = {&p->fwd_train, &p->fwd_eval, &p->bwd, &p->bwd_acc};
    for (int k = 0; k < 4; k++)
        r->workspace += clg_cmdlist_scratch_bytes(lists[k]);
    r->workspace += held(p->tally);
    r->total = r->parameters + r->gradients + r->activations + r->inputs + r->workspace;
    r->batch = p->max_batch;
    return CLG_OK;
}

int clg_memory_largest_batch(const clg_memory_report *r, uint64_t limit)
{
    if (!r || r->batch < 1)
        return 0;
    uint64_t fixed = r->parameters + r->gradients + r->optimizer;
    double per = (double)(r->activations + r->inputs + r->workspace) / r->batch;
    if (fixed >= limit)
        return 0;
    double n = per > 0 ? (double)(limit - fixed) / per : 1e9;
    return n >= 1 << 30 ? 1 << 30 : (int)n;
}
