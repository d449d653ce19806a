/*
 * Private to the graph layer: the structure of a plan, shared by the files
 * that build it in turn:
 *
 *   plan.c      which nodes run, the batch, the public plan API
 *   autograd.c  requires-grad, the backward order, who writes each gradient
 *   memory.c    lifetimes, and buffers shared by interval colouring
 *   record.c    the forward and backward command lists for a batch
 *
 * Positions: forward node k runs at position k, backward entry j at F + j.
 * Every intermediate lives over an interval of positions; intervals that do
 * not overlap share a buffer.
 */
#ifndef CLGRAD_GRAPH_PLAN_INTERNAL_H
#define CLGRAD_GRAPH_PLAN_INTERNAL_H

#include "graph/op.h"

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
    /* Recomputation (clg_graph_recompute_begin): by id, whether a training
     * run drops the value after the forward and computes it again in
     * backward, and its buffer there (recording backward swaps it in). */
    bool *inner;
    clg_buffer **value_bwd;
    /* By id: the gradient is written over the value (CLG_OP_GRAD_OVER_SRC0),
     * which a training run's backward leaves holding it. */
    bool *aliased;
    bool last_trained;       /* the last run had a backward */
    bool outputs_after_eval; /* CLG_PLAN_OUTPUTS_AFTER_EVAL */
    int *zero_grads;         /* roots whose gradient nobody writes */
    int nzero;
    clg_buffer **owned; /* buffers the plan allocated */
    int nowned;
    clg_cmdlist fwd_train, fwd_eval, bwd;
    clg_cmdlist bwd_acc; /* backward adding to the leaves' gradients: recorded
                            at the first CLG_RUN_ACCUMULATE of a batch */
    int max_batch, recorded_batch, last_batch, acc_batch;
    float loss_scale;             /* d loss seeding the backward pass (1 but to average
                                     accumulated gradients) */
    clg_grad_ready_fn grad_ready; /* called as backward is enqueued */
    void *grad_ready_user;
    int sample_offset;              /* the first sample's index in the batch */
    clg_replica_sum_fn replica_sum; /* synchronised batch norm, or NULL */
    void *replica_user;
    unsigned long long step;
    clg_buffer *tally; /* cross-entropy's figures of training runs, or NULL */
    const clg_tensor *least_batch; /* the node asking the largest least training
                                      batch (batch norm over one value per
                                      channel), or NULL: found once, checked
                                      every training run */
    size_t used_bytes, unshared_bytes;
};

/* autograd.c: does gradient flow through source i of op node t? */
bool clg_differentiable(const clg_tensor *t, int i);

/* autograd.c: fills rg, bwd_order, io[].accumulate and zero_grads for the
 * nodes marked in `needed`; checks that the loss is a scalar. */
clg_status clg_plan_autograd(clg_plan *p, const bool *needed);

/* memory.c: gives every needed intermediate, gradient and private buffer
 * its storage, and leaves' gradients their own buffers. */
clg_status clg_plan_assign_memory(clg_plan *p, const bool *needed);

/* memory.c: where the gradient of t lives (NULL if it has none). */
clg_buffer *clg_grad_storage(const clg_plan *p, const clg_tensor *t);

/* record.c: records the three command lists for `batch` samples. */
clg_status clg_plan_record(clg_plan *p, int batch);
/* record.c: records bwd_acc for `batch` samples. */
clg_status clg_plan_record_accumulate(clg_plan *p, int batch);

/* record.c: releases the recorded command lists. */
void clg_plan_clear_records(clg_plan *p);

#endif
