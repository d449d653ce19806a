/*
 * Private to libclgrad: the OpenCL objects behind the public runtime types,
 * OpenCL errors, the program cache, kernel launches, command lists, and the
 * per-context state of the layers above.
 */
#ifndef CLGRAD_RUNTIME_INTERNAL_H
#define CLGRAD_RUNTIME_INTERNAL_H

/* CL_TARGET_OPENCL_VERSION=120 comes from meson: clgrad needs OpenCL 1.2. */
#include <CL/cl.h>
#include <pthread.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "clgrad/runtime.h"

/* ---- OpenCL errors (cl_error.c) ----------------------------------------- */

/* clg_fail for a failed OpenCL call: appends ": CL_NAME (code)" and maps
 * memory errors to CLG_OUT_OF_DEVICE_MEMORY, the rest to CLG_OPENCL_ERROR. */
clg_status clg_fail_cl(cl_int err, const char *fmt, ...) CLG_PRINTF(2, 3);

/* "CL_INVALID_VALUE" for -30; "CL_UNKNOWN_ERROR" for codes we do not know. */
const char *clg_cl_error_name(cl_int err);

/* ---- Devices (device.c) ------------------------------------------------- */

/* The OpenCL handles of device `index`; the list must have been enumerated
 * (clg_device_count succeeded). */
clg_status clg_device_handles(int index, cl_platform_id *platform,
                              cl_device_id *device);

/* ---- Contexts, programs, buffers ---------------------------------------- */

typedef struct clg_program_entry clg_program_entry;
typedef struct clg_kernel_entry clg_kernel_entry;
typedef struct clg_profile clg_profile;

/* State a layer above runtime keeps per context (blas: the GEMM path). The
 * descriptors are listed in src/library.c; every context creates each
 * layer's state when it is created, in that order, and destroys it when it
 * is freed, so a bad setting (CLGRAD_GEMM=x) fails clg_context_create. */
typedef struct clg_context_layer {
    const char *name;
    clg_status (*create)(clg_context *ctx, void **state);
    void (*destroy)(void *state);
} clg_context_layer;

extern const clg_context_layer *const clg_context_layers[];
extern const int clg_context_layer_count;

#define CLG_MAX_CONTEXT_LAYERS 4

/* The kernel forms a device takes, where ops and GEMM have more than one
 * (each op's file says what differs and what was measured). Chosen from the
 * device when its context is created; CLGRAD_KERNELS=NAME (the names of
 * clg_kernel_class_str) or clg_context_force_kernels takes another, so
 * that the suite runs every form on any one device: all are correct
 * everywhere, only their speed differs, but for llvmpipe's, which a device
 * without its loop limit runs correctly too. */
#define CLG_KERNEL_CLASS_LIST(X)                                                       \
    X(CLG_KERNELS_GPU, 0, "gpu")           /* an element per work-item, group trees */ \
    X(CLG_KERNELS_CPU, 1, "cpu")           /* a row per work-item */                   \
    X(CLG_KERNELS_POCL_CPU, 2, "pocl")     /* rows; blocked sums, GEMM rows first */   \
    X(CLG_KERNELS_INTEL_CPU, 3, "intel")   /* rows; reductions in masked passes */     \
    X(CLG_KERNELS_LLVMPIPE, 4, "llvmpipe") /* elements; loops split at the limit */

typedef enum clg_kernel_class {
#define CLG_KERNEL_CLASS_ENUM(name, value, text) name = value,
    CLG_KERNEL_CLASS_LIST(CLG_KERNEL_CLASS_ENUM)
#undef CLG_KERNEL_CLASS_ENUM
} clg_kernel_class;

#define CLG_KERNEL_CLASS_COUNT 5

const char *clg_kernel_class_str(clg_kernel_class value);
clg_status clg_kernel_class_parse(const char *name, clg_kernel_class *value);

/* The class a device of `info` takes by itself: PoCL's and Intel's CPU
 * devices theirs, Mesa's llvmpipe its own, other CPUs rows, the rest GPU. */
clg_kernel_class clg_kernel_class_of(const clg_device_info *info);

/* Makes ctx's kernels those of `kernels` from now on (tests, and kernel
 * work on one device). Only before ctx has built a program: its programs
 * are built for its class. */
clg_status clg_context_force_kernels(clg_context *ctx, clg_kernel_class kernels);

struct clg_context {
    clg_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    pthread_mutex_t lock; /* guards the caches and the pool */

    clg_program_entry *programs; /* linked list, newest first */
    clg_kernel_entry *kernels;

    clg_buffer **pool; /* free buffers kept for reuse */
    size_t pool_len, pool_cap;
    clg_pool_stats stats;
    uint64_t memory_budget; /* what clgrad may hold: global memory, or less by
                               CLGRAD_MEMORY_LIMIT */

    clg_kernel_class kernel_class; /* the kernel forms taken (clg_kernel_class_of) */
    int program_cache;    /* CLGRAD_PROGRAM_CACHE: 1 on, 0 off, -1 unset (program.c) */
    clg_profile *profile; /* NULL unless CLGRAD_PROFILE=1 */
    void *layer_state[CLG_MAX_CONTEXT_LAYERS]; /* by clg_context_layers index */
};

/* Whether ctx takes PoCL's CPU device's forms: its compiler vectorises
 * across work-items only kernels without vector types, calls or inner
 * loops, and it runs a launch's work-groups in order, so some kernels and
 * some GEMM splits take a form for it (ops' and blas' choices). */
static inline bool clg_is_pocl_cpu(const clg_context *ctx)
{
    return ctx->kernel_class == CLG_KERNELS_POCL_CPU;
}

/* How many loop iterations one work-item may run in all, or 0 where there
 * is no limit. Mesa's llvmpipe (Rusticl's CPU device; Mesa 22.3) ends a
 * work-item's loops, silently, once they have run 65,535 iterations
 * together (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, shared by every loop of
 * a shader): a sum over more terms than that comes out short, with no
 * error. Ops whose work-items loop over a dimension the user sizes split
 * the loop where this is not 0 (see each), or refuse the shape by name. */
static inline size_t clg_loop_limit(const clg_context *ctx)
{
    return ctx->kernel_class == CLG_KERNELS_LLVMPIPE ? 65535 : 0;
}

/* The state `layer` made for this context (NULL if it made none). */
void *clg_context_layer_state(const clg_context *ctx, const clg_context_layer *layer);

struct clg_buffer {
    clg_context *ctx;
    cl_mem mem;
    size_t size;        /* bytes asked for */
    size_t capacity;    /* bytes allocated: the size class; 0 for a view */
    clg_buffer *parent; /* a view's buffer (clg_buffer_view), else NULL */
    size_t offset;      /* a view's first byte in its parent */
};

/* A buffer that is bytes [offset, offset + bytes) of `parent` (an OpenCL
 * sub-buffer): kernels and transfers through either see the same memory.
 * offset must be a multiple of clg_buffer_view_align. Freeing a view
 * releases only the view; the parent must outlive it. */
clg_status clg_buffer_view(clg_buffer *parent, size_t offset, size_t bytes,
                           clg_buffer **out);

/* The alignment in bytes of a view's offset on ctx's device (its
 * CL_DEVICE_MEM_BASE_ADDR_ALIGN, at least 64). */
size_t clg_buffer_view_align(const clg_context *ctx);

/* Builds (or finds in the cache) the program for kernel family `family`
 * (cl/FAMILY.cl) with extra build `options` ("-DTILE=16"; may be NULL) and
 * returns kernel `name` from it, cached. The kernel belongs to the context;
 * the caller must not release it. Kernels are shared: a caller that sets
 * arguments must launch before another caller uses the same kernel. */
clg_status clg_kernel_get(clg_context *ctx, const char *family, const char *options,
                          const char *name, cl_kernel *kernel);

/* Like clg_kernel_get, but a new kernel object of the caller's own (release
 * it), whose arguments no one else touches: plans and optimizers set them
 * once. */
clg_status clg_kernel_create(clg_context *ctx, const char *family, const char *options,
                             const char *name, cl_kernel *kernel);

/* The work-group size to launch `kernel` with: `want`, or less where the
 * kernel or the device allows less. */
size_t clg_kernel_group(const clg_context *ctx, cl_kernel kernel, size_t want);

/* Local memory the kernels use at most: CLG_GROUP_MAX floats (cl/sum.h). */
#define CLG_KERNEL_LOCAL_BYTES 256

/* What clgrad needs of a device, checked before any kernel is built: OpenCL
 * 1.2, an online compiler, CLG_KERNEL_LOCAL_BYTES of local memory. Returns
 * CLG_UNSUPPORTED with a sentence starting "needs ..." for the first missing. */
clg_status clg_device_requirements(const clg_device_info *info, bool compiler);

/* Builds `source` as a program labelled `label`, cached by (label, options);
 * its #include "NAME.h" lines take clgrad's kernel headers (cl/NAME.h).
 * On a compile error: CLG_BUILD_FAILED with the device name and build log. */
clg_status clg_program_build(clg_context *ctx, const char *label, const char *source,
                             const char *options, cl_program *program);

/* The source of kernel family `family`: read from $CLGRAD_KERNEL_DIR/FAMILY.cl
 * when that is set, else the copy compiled into the library, with each
 * #include "NAME.h" replaced by that header from the same place. Caller
 * frees. */
clg_status clg_kernel_source(const char *family, char **source);

/* Names of the kernel families built into the library (cl/FAMILY.cl). */
size_t clg_kernel_family_count(void);
const char *clg_kernel_family_name(size_t i);

/* Enqueues `kernel` over a 1-, 2- or 3-d range. `local` may be NULL. The
 * global size is rounded up to a multiple of local; kernels guard their
 * bounds. With profiling on, the launch is timed under the kernel's name. */
clg_status clg_launch(clg_context *ctx, cl_kernel kernel, cl_uint dims,
                      const size_t *global, const size_t *local);

/* Sets argument `i` of `kernel`, naming the kernel on failure. */
clg_status clg_kernel_arg(cl_kernel kernel, cl_uint i, size_t size, const void *value);

/* Records the event of a command for the profile table (takes ownership). */
void clg_profile_record(clg_context *ctx, const char *name, cl_event event);
clg_profile *clg_profile_create(void);
void clg_profile_flush(clg_context *ctx);
void clg_profile_print_and_free(clg_context *ctx);

/* The cl_mem of a buffer, for kernel arguments. */
static inline cl_mem clg_buffer_mem(const clg_buffer *buf)
{
    return buf->mem;
}

/* ---- Command lists (cmdlist.c) ------------------------------------------ */

/* A recorded sequence of device work, enqueued again and again: kernel
 * launches whose arguments were set when recorded, fills, copies, and calls
 * into a library that enqueues work itself (CLBlast). A plan records its
 * forward and backward passes into lists, the optimizer its update; a run
 * then only enqueues. A list owns its kernel objects and call payloads. */

typedef clg_status (*clg_cmd_fn)(clg_context *ctx, const void *payload);

typedef struct clg_cmd clg_cmd;
/* Scratch buffers one op may ask of a pooled list (clg_cmdlist_next_op);
 * an op that asks more gets buffers of its own for the rest. */
#define CLG_OP_SCRATCH_MAX 32
typedef struct clg_cmdlist {
    clg_cmd *v;
    int n, cap;
    /* While set (clg_cmdlist_borrow), scratch comes from the donor's
     * scratch buffers from command donor_at on, in order, as views. */
    const struct clg_cmdlist *donor;
    int donor_at;
    /* Once clg_cmdlist_next_op was called: scratch may be a view of the
     * list's own earlier buffers, but none that the current op took. */
    bool pooled;
    int ntaken;
    const struct clg_buffer *taken[CLG_OP_SCRATCH_MAX];
} clg_cmdlist;

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
#define CLG_ARGS(...)                                                                  \
    (const clg_karg[]){__VA_ARGS__},                                                   \
        (int)(sizeof((const clg_karg[]){__VA_ARGS__}) / sizeof(clg_karg))

/* No counter argument: see clg_cmd_kernel. */
#define CLG_NO_COUNTER (-1)

/* Appends a launch of `kernel` (the list takes it over) over `dims`
 * dimensions; `local` may be NULL. Argument `counter_arg`, unless it is
 * CLG_NO_COUNTER, receives the run's counter (a ulong) at every run:
 * dropout masks follow the training step this way. */
clg_status clg_cmd_kernel(clg_cmdlist *list, cl_kernel kernel, cl_uint dims,
                          const size_t *global, const size_t *local, int counter_arg);

/* Appends a 1-d launch of kernel `name` of family `family` (built with
 * `options`) over n work-items, in work-groups of up to 64 (the range is
 * rounded up: kernels guard their tails), with these arguments. A kernel
 * object of the list's own is made, so its arguments stay as set; the
 * created kernel is returned through `made` when that is not NULL, for a
 * caller that changes an argument between runs. n = 0 appends nothing. */
clg_status clg_cmd_kernel_1d(clg_cmdlist *list, clg_context *ctx, const char *family,
                             const char *options, const char *name, size_t n,
                             const clg_karg *args, int nargs, int counter_arg,
                             cl_kernel *made);

/* Appends a launch of `groups` work-groups over a 1-d range, for kernels
 * that reduce within a work-group (cl/sum.h): each group has L
 * work-items, L the largest power of two at most `want` (and at most 64)
 * that the kernel and device allow. Otherwise as clg_cmd_kernel_1d. */
clg_status clg_cmd_kernel_groups(clg_cmdlist *list, clg_context *ctx,
                                 const char *family, const char *options,
                                 const char *name, size_t groups, size_t want,
                                 const clg_karg *args, int nargs, int counter_arg,
                                 cl_kernel *made);

/* A device buffer of `bytes` that lives as long as the list: scratch space
 * for its commands (nothing runs for it). */
/* Lets `list` take its scratch as views of the scratch buffers `donor`
 * recorded from command `from` on: each request the first large enough
 * after the last one taken, so that the requests of one op (recorded
 * between two calls) never share a buffer. For lists that never run at
 * once: a plan's forward passes and backward, on one in-order queue, whose
 * scratch is each op's own and dead after it. NULL stops it. Clear the
 * list before its donor. */
void clg_cmdlist_borrow(clg_cmdlist *list, const clg_cmdlist *donor, int from);

/* The commands recorded from here on are the next op's: for a list whose
 * ops run one after another on one in-order queue, each op's scratch dead
 * after it (a plan's passes). Its scratch requests may then be views of
 * the buffers that the list's earlier ops took, never of one that this op
 * took, so the list holds about its largest op's scratch, not the sum. */
void clg_cmdlist_next_op(clg_cmdlist *list);

/* Bytes the device holds for the list's scratch buffers (their capacity). */
size_t clg_cmdlist_scratch_bytes(const clg_cmdlist *list);

/* Bytes the device holds for buf: its capacity, 0 for a view. */
size_t clg_buffer_held(const clg_buffer *buf);

clg_status clg_cmd_scratch(clg_cmdlist *list, clg_context *ctx, size_t bytes,
                           cl_mem *mem);

/* Appends a fill of [0, bytes) of `mem` with a float, and a copy of
 * [0, bytes) from src to dst (nothing when dst == src or bytes == 0). */
clg_status clg_cmd_fill(clg_cmdlist *list, cl_mem mem, size_t bytes, float value);
clg_status clg_cmd_copy(clg_cmdlist *list, cl_mem dst, cl_mem src, size_t bytes);

/* Appends a call of fn(ctx, payload) at every run, with a copy of the
 * `bytes` of payload the list keeps. */
clg_status clg_cmd_call(clg_cmdlist *list, clg_cmd_fn fn, const void *payload,
                        size_t bytes);

/* Enqueues every command in order; `counter` goes to the counter arguments. */
clg_status clg_cmdlist_run(clg_context *ctx, const clg_cmdlist *list, cl_ulong counter);

/* Releases the commands (kernels, payloads); the list is empty and reusable. */
void clg_cmdlist_clear(clg_cmdlist *list);

/* Frees the caches and pool of a context (context.c calls it on free). */
void clg_program_cache_free(clg_context *ctx);
void clg_pool_free_all(clg_context *ctx);

#endif
