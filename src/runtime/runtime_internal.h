/*
 * Private to libclgrad: the OpenCL objects behind the public runtime types,
 * error helpers, the program cache and kernel launches.
 */
#ifndef CLGRAD_RUNTIME_INTERNAL_H
#define CLGRAD_RUNTIME_INTERNAL_H

/* CL_TARGET_OPENCL_VERSION=120 comes from meson: clgrad needs OpenCL 1.2. */
#include <CL/cl.h>
#include <pthread.h>

#include "clgrad/ops.h"
#include "clgrad/runtime.h"

#define CLG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* ---- Errors (error.c) --------------------------------------------------- */

/* Records the sentence for clg_last_error() and returns `status`. */
clg_status clg_fail(clg_status status, const char *fmt, ...) CLG_PRINTF(2, 3);

/* Puts "PREFIX: " before the current last error, for context added on the
 * way up ("CLGRAD_KERNEL_DIR=x: cannot open ..."). */
clg_status clg_fail_prefix(clg_status status, const char *fmt, ...) CLG_PRINTF(2, 3);

/* Same, for a failed OpenCL call: appends ": CL_NAME (code)" and maps memory
 * errors to CLG_OUT_OF_DEVICE_MEMORY, the rest to CLG_OPENCL_ERROR. */
clg_status clg_fail_cl(cl_int err, const char *fmt, ...) CLG_PRINTF(2, 3);

/* "CL_INVALID_VALUE" for -30; "CL_UNKNOWN_ERROR" for codes we do not know. */
const char *clg_cl_error_name(cl_int err);

/* ---- Files (file.c) ------------------------------------------------------ */

/* Reads all of `path` (at most `limit` bytes) into a malloc'd buffer with a
 * NUL after the *len bytes. Errors name the file. */
clg_status clg_read_file(const char *path, size_t limit, char **data, size_t *len);

/* ---- Devices (device.c) ------------------------------------------------- */

/* The OpenCL handles of device `index`; the list must have been enumerated
 * (clg_device_count succeeded). */
clg_status clg_device_handles(int index, cl_platform_id *platform,
                              cl_device_id *device);

/* ---- Contexts, programs, buffers ---------------------------------------- */

typedef struct clg_program_entry clg_program_entry;
typedef struct clg_kernel_entry clg_kernel_entry;
typedef struct clg_profile clg_profile;

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

    clg_profile *profile;    /* NULL unless CLGRAD_PROFILE=1 */
    clg_gemm_path gemm_path; /* never CLG_GEMM_AUTO */
};

struct clg_buffer {
    clg_context *ctx;
    cl_mem mem;
    size_t size;     /* bytes asked for */
    size_t capacity; /* bytes allocated: the size class */
};

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

/* Builds `source` as a program labelled `label`, cached by (label, options).
 * On a compile error: CLG_BUILD_FAILED with the device name and build log. */
clg_status clg_program_build(clg_context *ctx, const char *label, const char *source,
                             const char *options, cl_program *program);

/* The source of kernel family `family`: read from $CLGRAD_KERNEL_DIR/FAMILY.cl
 * when that is set, else the copy compiled into the library. Caller frees. */
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

/* Frees the caches and pool of a context (context.c calls it on free). */
void clg_program_cache_free(clg_context *ctx);
void clg_pool_free_all(clg_context *ctx);

#endif
