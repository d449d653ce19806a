/*
 * Private to libclgrad: what an op family implements (src/ops/), and how it
 * records its launches into a plan's command lists.
 *
 * An op family is a builder that checks shapes and makes a node
 * (clg_node), and a clg_op_class: forward and backward recorders, the bytes
 * of its private buffers, and which sources are differentiable.
 */
#ifndef CLGRAD_GRAPH_OP_H
#define CLGRAD_GRAPH_OP_H

#include "blas/blas_internal.h"
#include "graph/graph_internal.h"

/* ---- What an op family implements --------------------------------------- */

/* Backward context handed to an op: where its output gradient lives and where
 * each source's gradient goes. grad_src[i] NULL means source i needs none;
 * accumulate[i] says whether to add to it (another op wrote it first) or to
 * overwrite it. */
typedef struct clg_grad_io {
    cl_mem grad_out;
    cl_mem grad_src[CLG_MAX_SRC];
    bool accumulate[CLG_MAX_SRC];
} clg_grad_io;

struct clg_op_class {
    const char *name;
    /* Records the forward launches of node t for `batch` samples. */
    clg_status (*forward)(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                          bool training);
    /* Records the backward launches; NULL: gradients do not flow through. */
    clg_status (*backward)(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                           const clg_grad_io *io);
    /* Bytes of private buffer i at the planned batch; NULL: none. Buffers
     * live from the forward to the backward of the node. */
    void (*aux_bytes)(const clg_tensor *t, size_t bytes[CLG_MAX_AUX]);
    /* Only source i with this bit set is differentiable (bit mask); 0 = all. */
    unsigned grad_mask;
    /* Private buffer i with this bit set is used by the backward alone: it
     * lives through the node's backward, not from its forward, so that
     * nodes share it (bit mask; 0: all live from forward to backward). */
    unsigned backward_aux;
    /* CLG_OP_... bits below. */
    unsigned flags;
};

/* The backward never reads the node's own value (linear, matmul): the
 * value may die with its last reader rather than live to this backward. */
#define CLG_OP_BACKWARD_SKIPS_OUTPUT (1u << 0)
/* The backward may write source 0's gradient over source 0's value, each
 * element read before its gradient is written (the losses, a row or an
 * element per work-item): where no later backward reads that value and
 * this one writes the gradient first, the plan gives the two one buffer
 * (the logits' [N, T, V] once, not twice). */
#define CLG_OP_GRAD_OVER_SRC0 (1u << 1)
/* A training forward updates state of the node's own (batch norm's running
 * statistics): it may not run twice a step, so no recomputation. */
#define CLG_OP_FORWARD_UPDATES_STATE (1u << 2)

/* ---- Recording (record.c) ----------------------------------------------- */

/* Records into s a 1-d launch of `kernel` from family `family` (built with
 * `options`) over n work-items with these arguments (clg_cmd_kernel_1d). */
clg_status clg_rec_kernel(clg_plan *p, clg_cmdlist *s, const char *family,
                          const char *options, const char *kernel, size_t n,
                          const clg_karg *args, int nargs);

/* Same, where argument `step_arg` receives the plan's training step (a
 * ulong) at each run: dropout masks. */
clg_status clg_rec_kernel_stepped(clg_plan *p, clg_cmdlist *s, const char *family,
                                  const char *options, const char *kernel, size_t n,
                                  const clg_karg *args, int nargs, int step_arg);

/* Same, as `groups` work-groups of up to `want` work-items, for kernels that
 * reduce within a work-group (clg_cmd_kernel_groups). */
clg_status clg_rec_kernel_groups(clg_plan *p, clg_cmdlist *s, const char *family,
                                 const char *options, const char *kernel, size_t groups,
                                 size_t want, const clg_karg *args, int nargs);

/* A GEMM on whichever path the context takes (blas decides). */
clg_status clg_rec_gemm(clg_plan *p, clg_cmdlist *s, const clg_gemm_call *call);

clg_status clg_rec_fill(clg_plan *p, clg_cmdlist *s, cl_mem mem, size_t bytes,
                        float value);

/* A device buffer of `bytes` that lives as long as the list s, for its
 * launches' partial results (clg_cmd_scratch). */
clg_status clg_rec_scratch(clg_plan *p, clg_cmdlist *s, size_t bytes, cl_mem *mem);

/* Whether the plan sums over replicas (clg_plan_set_replica_sum), and a
 * recorded sum of floats [offset, offset + n) of mem over them: the work
 * before it finishes, the floats go through the host and come back. */
bool clg_plan_syncs_replicas(const clg_plan *p);
clg_status clg_rec_replica_sum(clg_plan *p, clg_cmdlist *s, cl_mem mem, size_t offset,
                               size_t n);
clg_status clg_rec_copy(clg_plan *p, clg_cmdlist *s, cl_mem dst, cl_mem src,
                        size_t bytes);

#endif
