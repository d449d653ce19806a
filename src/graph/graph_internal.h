/*
 * Private to libclgrad: the graph's tensors and nodes, and where a plan
 * keeps their values. The op interface is graph/op.h; the plan's own
 * structure graph/plan_internal.h.
 *
 * Legend for shape comments: N = batch, C = channels, H, W = height, width,
 * K = kernel size, P = output pixels (OH * OW).
 */
#ifndef CLGRAD_GRAPH_INTERNAL_H
#define CLGRAD_GRAPH_INTERNAL_H

#include "clgrad/graph.h"
#include "runtime/runtime_internal.h"

#define CLG_MAX_SRC 5 /* inputs of one op */
#define CLG_MAX_AUX 3 /* private buffers of one op */

typedef enum clg_tensor_kind {
    CLG_KIND_INPUT,
    CLG_KIND_PARAMETER,
    CLG_KIND_STATE,
    CLG_KIND_OP,
} clg_tensor_kind;

typedef struct clg_op_class clg_op_class;

/* Scalar settings of an op, interpreted by its family. */
typedef struct clg_op_params {
    int i[8];
    float f[4];
    unsigned long long seed;
} clg_op_params;

struct clg_tensor {
    clg_graph *graph;
    int id; /* creation order: sources always have smaller ids */
    char name[64];
    clg_dtype dtype;
    clg_tensor_kind kind;
    int ndim;
    int shape[CLG_MAX_DIMS]; /* at the planned batch */
    bool batched;            /* dim 0 follows the run's batch */
    bool frozen;
    bool wants_grad;     /* inputs: gradient requested */
    int id_limit;        /* int32 inputs: values must lie in [0, id_limit); 0 = any */
    int min_train_batch; /* ops: the least batch a training run may have (batch
                            norm over one value per channel: 2); 0 = any */

    const clg_op_class *op; /* NULL for leaves */
    clg_tensor *src[CLG_MAX_SRC];
    int nsrc;
    clg_op_params params;
    clg_tensor *view_of; /* shares this tensor's storage (reshape) */
    int segment;         /* its recomputation segment (clg_graph_recompute_begin);
                            0: none */

    clg_buffer *buffer;      /* leaves: owned by the graph */
    clg_buffer *grad_buffer; /* parameters: owned by the graph */
};

/* Packed parameters (memory.c) start at multiples of this many floats and
 * are padded with zeros to the next, in their values' buffer and their
 * gradients' alike: a kernel may run over a packed parameter rounded up to
 * it (work-groups of up to 64) without a bounds check. */
#define CLG_ARENA_ALIGN_FLOATS 64

/* The bytes each packed parameter's place is a multiple of on ctx's device:
 * CLG_ARENA_ALIGN_FLOATS floats, or more where views need it. */
size_t clg_arena_align(const clg_context *ctx);

struct clg_graph {
    clg_context *ctx;
    clg_tensor **tensors;
    int count, cap;
    clg_buffer **arenas; /* parameters' packed values and gradients (memory.c) */
    int narenas;
    bool packed; /* the parameters' values are (the first plan packed them) */
    int segment; /* the open recomputation segment, 0: none */
    int nsegments;
    clg_status status; /* first builder failure */
    char error[1024];
};

/* ---- Plans of the library's own (plan.c) --------------------------------- */

/* The outputs are read after evaluation runs only (a model's): an output
 * that is the loss's input may then hold its gradient after a training run
 * (CLG_OP_GRAD_OVER_SRC0), its buffer serving both; clg_plan_read refuses
 * it then, by name. */
#define CLG_PLAN_OUTPUTS_AFTER_EVAL (1u << 0)

/* clg_plan_create with CLG_PLAN_... flags. */
clg_status clg_plan_create_with(clg_graph *g, clg_tensor *loss,
                                clg_tensor *const *outputs, int output_count,
                                unsigned flags, clg_plan **out);

/* ---- Building nodes (graph.c) ------------------------------------------- */

/* A new op node with the given output shape, or NULL (and the graph's status
 * set) if any source is NULL or the graph already failed. */
clg_tensor *clg_node(clg_graph *g, const clg_op_class *op, int nsrc,
                     clg_tensor *const *src, int ndim, const int *shape);

/* Records a builder failure on the graph (first one wins); returns NULL. */
clg_tensor *clg_graph_fail(clg_graph *g, clg_status status, const char *fmt, ...)
    CLG_PRINTF(3, 4);

/* True when any source is NULL or the graph failed: the builder returns NULL.
 * Also checks that sources belong to g. */
bool clg_graph_bad_args(clg_graph *g, const char *op, int nsrc, clg_tensor *const *src);

/* "[8,3,32,32]" */
const char *clg_shape_str(const clg_tensor *t, char *buf, size_t len);

/* Elements per sample (everything after dim 0 of a batched tensor; the whole
 * tensor otherwise) and elements at a given batch. */
size_t clg_tensor_sample_numel(const clg_tensor *t);
size_t clg_numel_at(const clg_tensor *t, int batch);
/* Dimension i at a given batch. */
int clg_dim_at(const clg_tensor *t, int i, int batch);

/* The tensor whose storage t uses (itself unless it is a view). */
clg_tensor *clg_storage_root(clg_tensor *t);

/* ---- Storage (memory.c) ------------------------------------------------- */

/* The device memory of a tensor's value in plan p (its own buffer for a
 * leaf, the shared buffer the memory plan gave an intermediate), and of an
 * op node's private buffer i (NULL if it has none). */
cl_mem clg_val(const clg_plan *p, const clg_tensor *t);
cl_mem clg_aux(const clg_plan *p, const clg_tensor *t, int i);

/* plan.c: the plan's tallies (6 floats, cl/loss.cl's ce_tally), which the
 * cross-entropy that is the plan's loss adds to in training runs; NULL
 * when the plan has no loss. */
cl_mem clg_plan_tally_mem(const clg_plan *p);

#endif
