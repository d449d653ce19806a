/*
 * Private to libclgrad: the graph's nodes, the op interface every op family
 * implements, and the plan that records their kernel launches.
 *
 * Legend for shape comments: N = batch, C = channels, H, W = height, width,
 * K = kernel size, P = output pixels (OH * OW).
 */
#ifndef CLGRAD_GRAPH_INTERNAL_H
#define CLGRAD_GRAPH_INTERNAL_H

#include "clgrad/graph.h"
#include "gemm_internal.h"
#include "runtime_internal.h"

#define CLG_MAX_SRC 5 /* inputs of one op */
#define CLG_MAX_AUX 3 /* private buffers of one op */

typedef enum clg_tensor_kind {
    CLG_KIND_INPUT,
    CLG_KIND_PARAMETER,
    CLG_KIND_STATE,
    CLG_KIND_OP,
} clg_tensor_kind;

typedef struct clg_steps clg_steps;
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
    bool wants_grad; /* inputs: gradient requested */
    int id_limit;    /* int32 inputs: values must lie in [0, id_limit); 0 = any */

    const clg_op_class *op; /* NULL for leaves */
    clg_tensor *src[CLG_MAX_SRC];
    int nsrc;
    clg_op_params params;
    clg_tensor *view_of; /* shares this tensor's storage (reshape) */

    clg_buffer *buffer;      /* leaves: owned by the graph */
    clg_buffer *grad_buffer; /* parameters: owned by the graph */
};

struct clg_graph {
    clg_context *ctx;
    clg_tensor **tensors;
    int count, cap;
    clg_status status; /* first builder failure */
    char error[1024];
};

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
    clg_status (*forward)(clg_plan *p, clg_steps *s, clg_tensor *t, int batch,
                          bool training);
    /* Records the backward launches; NULL: gradients do not flow through. */
    clg_status (*backward)(clg_plan *p, clg_steps *s, clg_tensor *t, int batch,
                           const clg_grad_io *io);
    /* Bytes of private buffer i at the planned batch; NULL: none. Buffers
     * live from the forward to the backward of the node. */
    void (*aux_bytes)(const clg_tensor *t, size_t bytes[CLG_MAX_AUX]);
    /* Only source i with this bit set is differentiable (bit mask); 0 = all. */
    unsigned grad_mask;
};

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

/* ---- Recording steps (plan.c) ------------------------------------------- */

/* One kernel argument: size and address, made with the macros below inside
 * the call that uses them. */
typedef struct clg_karg {
    size_t size;
    const void *value;
} clg_karg;

#define KINT(v)   ((clg_karg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define KFLOAT(v) ((clg_karg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
#define KMEM(m)   ((clg_karg){sizeof(cl_mem), &(cl_mem){(m)}})
#define KULONG(v) ((clg_karg){sizeof(cl_ulong), &(cl_ulong){(cl_ulong)(v)}})

/* Records a 1-d launch of `kernel` (from family `family` built with
 * `options`) over n work-items with the given arguments. */
clg_status clg_rec_kernel(clg_plan *p, clg_steps *s, const char *family,
                          const char *options, const char *kernel, size_t n,
                          const clg_karg *args, int nargs);

/* Same, where argument `step_arg` receives the plan's step counter (a ulong)
 * at each run: dropout masks. */
clg_status clg_rec_kernel_stepped(clg_plan *p, clg_steps *s, const char *family,
                                  const char *options, const char *kernel, size_t n,
                                  const clg_karg *args, int nargs, int step_arg);

clg_status clg_rec_gemm(clg_plan *p, clg_steps *s, const clg_gemm_call *call);
clg_status clg_rec_fill(clg_plan *p, clg_steps *s, cl_mem mem, size_t bytes,
                        float value);
clg_status clg_rec_copy(clg_plan *p, clg_steps *s, cl_mem dst, cl_mem src,
                        size_t bytes);

/* Storage of a node's value, of its gradient, of its private buffer i. */
cl_mem clg_val(const clg_plan *p, const clg_tensor *t);
cl_mem clg_aux(const clg_plan *p, const clg_tensor *t, int i);

#define CLG_ARGS(...)                                                                  \
    (const clg_karg[]){__VA_ARGS__},                                                   \
        (int)(sizeof((const clg_karg[]){__VA_ARGS__}) / sizeof(clg_karg))

#endif
