/* Recording: each op family records its launches for a batch into the
 * plan's command lists (forward in training and in evaluation mode,
 * backward), which every run then only enqueues. A last partial batch
 * records again: new ranges over the same buffers. */
#include <stdlib.h>

#include "graph/plan_internal.h"

clg_status clg_rec_kernel_stepped(clg_plan *p, clg_cmdlist *s, const char *family,
                                  const char *options, const char *kernel, size_t n,
                                  const clg_karg *args, int nargs, int step_arg)
{
    return clg_cmd_kernel_1d(s, p->ctx, family, options, kernel, n, args, nargs,
                             step_arg, NULL);
}

clg_status clg_rec_kernel(clg_plan *p, clg_cmdlist *s, const char *family,
                          const char *options, const char *kernel, size_t n,
                          const clg_karg *args, int nargs)
{
    return clg_rec_kernel_stepped(p, s, family, options, kernel, n, args, nargs,
                                  CLG_NO_COUNTER);
}

clg_status clg_rec_kernel_groups(clg_plan *p, clg_cmdlist *s, const char *family,
                                 const char *options, const char *kernel, size_t groups,
                                 size_t want, const clg_karg *args, int nargs)
{
    return clg_cmd_kernel_groups(s, p->ctx, family, options, kernel, groups, want, args,
                                 nargs, CLG_NO_COUNTER, NULL);
}

clg_status clg_rec_gemm(clg_plan *p, clg_cmdlist *s, const clg_gemm_call *call)
{
    return clg_gemm_record(p->ctx, s, call);
}

clg_status clg_rec_fill(clg_plan *p, clg_cmdlist *s, cl_mem mem, size_t bytes,
                        float value)
{
    (void)p;
    return clg_cmd_fill(s, mem, bytes, value);
}

clg_status clg_rec_scratch(clg_plan *p, clg_cmdlist *s, size_t bytes, cl_mem *mem)
{
    return clg_cmd_scratch(s, p->ctx, bytes, mem);
}

clg_status clg_rec_copy(clg_plan *p, clg_cmdlist *s, cl_mem dst, cl_mem src,
                        size_t bytes)
{
    (void)p;
    return clg_cmd_copy(s, dst, src, bytes);
}

void clg_plan_clear_records(clg_plan *p)
{
    clg_cmdlist_clear(&p->fwd_eval); /* their scratch: views of fwd_train's */
    clg_cmdlist_clear(&p->bwd);
    clg_cmdlist_clear(&p->bwd_acc);
    clg_cmdlist_clear(&p->fwd_train);
    p->acc_batch = 0;
}

static void fill_io(clg_plan *p, clg_tensor *t)
{
    clg_grad_io *io = &p->io[t->id];
    clg_buffer *out = clg_grad_storage(p, t);
    io->grad_out = out ? out->mem : NULL;
    for (int k = 0; k < t->nsrc; k++) {
        clg_buffer *b = clg_differentiable(t, k) && p->rg[t->src[k]->id]
                            ? clg_grad_storage(p, t->src[k])
                            : NULL;
        io->grad_src[k] = b ? b->mem : NULL;
    }
}

typedef struct replica_call {
    clg_plan *plan;
    cl_mem mem;
    size_t offset, n;
} replica_call;

static clg_status replica_sum(clg_context *ctx, const void *payload)
{
    const replica_call *r = payload;
    if (!r->plan->replica_sum)
        return clg_fail(CLG_INTERNAL, "a replica sum was recorded without a function");
    float *host = malloc(r->n * sizeof *host);
    if (!host)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "summing over replicas");
    cl_int err = clEnqueueReadBuffer(ctx->queue, r->mem, CL_TRUE, r->offset * 4,
                                     r->n * 4, host, 0, NULL, NULL);
    clg_status s =
        err == CL_SUCCESS
            ? r->plan->replica_sum(r->plan->replica_user, host, r->n)
            : clg_fail_cl(err, "reading %zu floats to sum over replicas", r->n);
    if (s == CLG_OK) {
        err = clEnqueueWriteBuffer(ctx->queue, r->mem, CL_TRUE, r->offset * 4, r->n * 4,
                                   host, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            s = clg_fail_cl(err, "writing back %zu floats summed over replicas", r->n);
    }
    free(host);
    return s;
}

bool clg_plan_syncs_replicas(const clg_plan *p)
{
    return p->replica_sum != NULL;
}

clg_status clg_rec_replica_sum(clg_plan *p, clg_cmdlist *s, cl_mem mem, size_t offset,
                               size_t n)
{
    return clg_cmd_call(s, replica_sum, &(replica_call){p, mem, offset, n},
                        sizeof(replica_call));
}

/* A parameter's gradient is complete: the plan's grad_ready call, if any,
 * at this point of the enqueueing. */
typedef struct ready_call {
    clg_plan *plan;
    int param;
} ready_call;

static clg_status grad_ready(clg_context *ctx, const void *payload)
{
    (void)ctx;
    const ready_call *r = payload;
    if (r->plan->grad_ready)
        r->plan->grad_ready(r->plan->grad_ready_user, r->param);
    return CLG_OK;
}

/* Records the grad_ready calls of the parameters whose gradients are
 * complete after backward entry j (j = -1: before any, those nobody
 * writes). last[i] is the entry that writes parameter i's gradient last. */
static clg_status record_ready(clg_plan *p, clg_cmdlist *list, const int *last, int j)
{
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && i < clg_graph_parameter_count(p->g); i++)
        if (last[i] == j && p->rg[clg_graph_parameter(p->g, i)->id])
            s = clg_cmd_call(list, grad_ready, &(ready_call){p, i}, sizeof(ready_call));
    return s;
}

/* Swaps the backward buffers of segment S's recomputed values in (or back
 * out): recording reads p->value (clg_val). */
static void swap_segment(clg_plan *p, int S)
{
    for (int k = 0; k < p->nfwd; k++) {
        int i = p->fwd_order[k];
        if (p->inner[i] && p->g->tensors[i]->segment == S) {
            clg_buffer *b = p->value[i];
            p->value[i] = p->value_bwd[i];
            p->value_bwd[i] = b;
        }
    }
}

/* Segment S's recomputed values again, in forward order, into their
 * backward buffers (swapped in first; swapped back when backward is
 * recorded). Dropout draws the same masks: the step counter is the same. */
static clg_status record_recompute(clg_plan *p, clg_cmdlist *list, int S, int batch)
{
    swap_segment(p, S);
    clg_status s = CLG_OK;
    for (int k = 0; s == CLG_OK && k < p->nfwd; k++) {
        clg_tensor *t = p->g->tensors[p->fwd_order[k]];
        if (!p->inner[t->id] || t->segment != S)
            continue;
        clg_cmdlist_next_op(list);
        clg_cmdlist_borrow(list, &p->fwd_train, 0);
        s = t->op->forward(p, list, t, batch, true);
        clg_cmdlist_borrow(list, NULL, 0);
        if (s != CLG_OK)
            s = clg_fail_prefix(s, "recomputing %s '%s'", t->op->name, t->name);
    }
    return s;
}

/* The backward pass into `list`; with `into_leaves`, every gradient of a
 * leaf (a parameter, an input that asked) is added to, none overwritten
 * nor zeroed: gradient accumulation over several runs. */
static clg_status record_backward(clg_plan *p, clg_cmdlist *list, int batch,
                                  bool into_leaves)
{
    int nparams = clg_graph_parameter_count(p->g);
    int *last = malloc((size_t)(nparams ? nparams : 1) * sizeof *last);
    bool *redone = calloc((size_t)p->g->nsegments + 1, sizeof *redone);
    if (!last || !redone) {
        free(last), free(redone);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording backward");
    }
    for (int i = 0; i < nparams; i++) {
        last[i] = -1;
        int id = clg_graph_parameter(p->g, i)->id;
        for (int j = 0; j < p->nbwd; j++) {
            const clg_tensor *t = p->g->tensors[p->bwd_order[j]];
            for (int k = 0; k < t->nsrc; k++)
                if (clg_differentiable(t, k) && clg_storage_root(t->src[k])->id == id)
                    last[i] = j;
        }
    }
    clg_status s =
        clg_rec_fill(p, list, clg_grad_storage(p, p->loss)->mem, 4, p->loss_scale);
    for (int z = 0; !into_leaves && s == CLG_OK && z < p->nzero; z++) {
        clg_tensor *t = p->g->tensors[p->zero_grads[z]];
        s = clg_rec_fill(p, list, clg_grad_storage(p, t)->mem,
                         clg_numel_at(t, batch) * 4, 0.0f);
    }
    if (s == CLG_OK)
        s = record_ready(p, list, last, -1);
    for (int j = 0; s == CLG_OK && j < p->nbwd; j++) {
        clg_tensor *t = p->g->tensors[p->bwd_order[j]];
        int S = t->segment;
        if (S && !redone[S]) {
            redone[S] = true;
            s = record_recompute(p, list, S, batch);
            if (s != CLG_OK)
                break;
        }
        fill_io(p, t);
        clg_grad_io io = p->io[t->id];
        for (int k = 0; into_leaves && k < t->nsrc; k++)
            io.accumulate[k] |= !clg_storage_root(t->src[k])->op;
        /* the forward pass's scratch is dead by now: each op's own */
        clg_cmdlist_next_op(list);
        clg_cmdlist_borrow(list, &p->fwd_train, 0);
        s = t->op->backward(p, list, t, batch, &io);
        clg_cmdlist_borrow(list, NULL, 0);
        if (s != CLG_OK)
            s = clg_fail_prefix(s, "backward of %s '%s'", t->op->name, t->name);
        if (s == CLG_OK)
            s = record_ready(p, list, last, j);
    }
    for (int S = 1; S <= p->g->nsegments; S++)
        if (redone[S])
            swap_segment(p, S); /* the forward's buffers back */
    free(last), free(redone);
    return s;
}

clg_status clg_plan_record_accumulate(clg_plan *p, int batch)
{
    clg_cmdlist_clear(&p->bwd_acc);
    clg_status s = record_backward(p, &p->bwd_acc, batch, true);
    p->acc_batch = s == CLG_OK ? batch : 0;
    return s;
}

clg_status clg_plan_record(clg_plan *p, int batch)
{
    clg_plan_clear_records(p);
    clg_status s = CLG_OK;
    for (int k = 0; s == CLG_OK && k < p->nfwd; k++) {
        clg_tensor *t = p->g->tensors[p->fwd_order[k]];
        int from = p->fwd_train.n;
        clg_cmdlist_next_op(&p->fwd_train);
        s = t->op->forward(p, &p->fwd_train, t, batch, true);
        /* The two passes never run at once: evaluation's scratch is the
         * training pass's, where the node asked the same sizes in turn. */
        clg_cmdlist_borrow(&p->fwd_eval, &p->fwd_train, from);
        if (s == CLG_OK)
            s = t->op->forward(p, &p->fwd_eval, t, batch, false);
        clg_cmdlist_borrow(&p->fwd_eval, NULL, 0);
        if (s != CLG_OK)
            s = clg_fail_prefix(s, "%s '%s'", t->op->name, t->name);
    }
    if (s == CLG_OK && p->loss && p->rg[p->loss->id])
        s = record_backward(p, &p->bwd, batch, false);
    p->recorded_batch = s == CLG_OK ? batch : 0;
    return s;
}
