/*
 * clgrad/runtime.h — OpenCL devices, contexts and device buffers.
 *
 * clgrad sees every OpenCL platform's devices as one flat list, numbered from
 * 0 in platform order and then device order; the numbers match
 * `clgrad-devices`. A context owns one device's OpenCL context, an in-order
 * queue, the compiled kernels and a pool of device buffers.
 *
 *     int dev;
 *     clg_context *ctx;
 *     if (clg_device_select(NULL, &dev) != CLG_OK ||   // CLGRAD_DEVICE or default
 *         clg_context_create(dev, &ctx) != CLG_OK) {
 *         fprintf(stderr, "%s\n", clg_last_error());
 *         return 1;
 *     }
 *     clg_buffer *buf;
 *     float x[4] = {1, 2, 3, 4};
 *     clg_buffer_create(ctx, sizeof x, &buf);
 *     clg_buffer_upload(buf, 0, x, sizeof x);
 *     ...
 *     clg_buffer_free(buf);
 *     clg_context_free(ctx);
 *
 * Environment: CLGRAD_DEVICE picks the default device (see
 * clg_device_select), CLGRAD_PROFILE=1 prints a per-kernel timing table when
 * a context is freed, CLGRAD_KERNEL_DIR=DIR loads kernel sources from DIR
 * instead of the copies built into the library.
 */
#ifndef CLGRAD_RUNTIME_H
#define CLGRAD_RUNTIME_H

#include "api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Devices ------------------------------------------------------------ */

#define CLG_DEVICE_TYPE_LIST(X)                                                        \
    X(CLG_DEVICE_CPU, 1, "cpu")                                                        \
    X(CLG_DEVICE_GPU, 2, "gpu")                                                        \
    X(CLG_DEVICE_ACCELERATOR, 3, "accelerator")                                        \
    X(CLG_DEVICE_OTHER, 4, "other")

typedef enum clg_device_type { CLG_DEVICE_TYPE_LIST(CLG_ENUM_VALUE) } clg_device_type;

/* "cpu", "gpu", "accelerator", "other"; "?" outside the list. */
CLG_API const char *clg_device_type_str(clg_device_type value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_device_type_parse(const char *name, clg_device_type *value);

typedef struct clg_device_info {
    int index; /* position in the flat list */
    int platform_index;
    char name[256];
    char vendor[256];
    char platform_name[256];
    char version[128];    /* "OpenCL 3.0 CUDA" */
    char c_version[128];  /* what the compiler accepts: "OpenCL C 1.2" */
    int c_major, c_minor; /* parsed from c_version */
    char driver_version[128];
    clg_device_type type;
    unsigned compute_units;
    unsigned max_clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    unsigned float_vector_width; /* native: 8 for AVX2, 16 for AVX-512 */
    bool fp16;                   /* cl_khr_fp16 */
    bool fp64;                   /* cl_khr_fp64 or a double fp config */
} clg_device_info;

/* Number of devices over all platforms. CLG_NO_PLATFORM when there is no
 * OpenCL platform at all (no ICD installed); *count is then 0. */
CLG_API clg_status clg_device_count(int *count);

/* Copies the description of device `index` into *info. */
CLG_API clg_status clg_device_info_get(int index, clg_device_info *info);

/* Resolves a device spec to an index:
 *   "3"             the device with that index
 *   "gpu", "cpu"    the first device of that type
 *   "name:SUBSTR"   the first device whose name contains SUBSTR (any case)
 * spec NULL or "" means CLGRAD_DEVICE from the environment, or when that is
 * unset the default: the first GPU, else the first CPU, else device 0.
 * A spec matching nothing is CLG_NO_DEVICE with a message listing the
 * devices that exist; a malformed spec is CLG_INVALID_ARGUMENT. */
CLG_API clg_status clg_device_select(const char *spec, int *index);

/* The default device (first GPU, else first CPU), ignoring CLGRAD_DEVICE. */
CLG_API clg_status clg_device_default(int *index);

/* ---- Contexts ----------------------------------------------------------- */

typedef struct clg_context clg_context;

/* Creates a context and in-order queue on device `index`. Everything made
 * on a context (buffers, graphs, models, optimizers) must be freed before
 * it; free it with clg_context_free. */
CLG_API clg_status clg_context_create(int index, clg_context **ctx);

/* Waits for queued work, prints the profile table if CLGRAD_PROFILE=1, and
 * frees every buffer the pool holds. Accepts NULL. */
CLG_API void clg_context_free(clg_context *ctx);

/* The device the context runs on; owned by the context. */
CLG_API const clg_device_info *clg_context_device(const clg_context *ctx);

/* Blocks until all queued work has finished. */
CLG_API clg_status clg_context_finish(clg_context *ctx);

/* Compiles every built-in kernel family for this device and runs a smoke
 * kernel, checking its answer. CLG_OK means clgrad works on the device. */
CLG_API clg_status clg_context_self_test(clg_context *ctx);

/* ---- Buffers ------------------------------------------------------------ */

typedef struct clg_buffer clg_buffer;

/* Allocates `bytes` of device memory (contents undefined), reusing a pooled
 * buffer of the same size class when there is one. A request the device
 * cannot hold is CLG_OUT_OF_DEVICE_MEMORY naming requested and available
 * sizes. The context must outlive the buffer; free with clg_buffer_free. */
CLG_API clg_status clg_buffer_create(clg_context *ctx, size_t bytes, clg_buffer **buf);

/* Returns the buffer to its context's pool. Accepts NULL. */
CLG_API void clg_buffer_free(clg_buffer *buf);

/* Size asked for at creation, in bytes. */
CLG_API size_t clg_buffer_size(const clg_buffer *buf);

/* Blocking copies between host memory and [offset, offset + bytes). */
CLG_API clg_status clg_buffer_upload(clg_buffer *buf, size_t offset, const void *src,
                                     size_t bytes);
CLG_API clg_status clg_buffer_download(const clg_buffer *buf, size_t offset, void *dst,
                                       size_t bytes);

/* A download that runs while the host goes on: it starts after the work
 * enqueued before it, into dst, which must stay valid until
 * clg_transfer_wait. Waiting frees the transfer (every one must be
 * waited for). */
typedef struct clg_transfer clg_transfer;
CLG_API clg_status clg_buffer_download_start(const clg_buffer *buf, size_t offset,
                                             void *dst, size_t bytes,
                                             clg_transfer **transfer);
CLG_API clg_status clg_transfer_wait(clg_transfer *transfer);

/* Repeats a pattern of 1, 2, 4, 8, 16, 32, 64 or 128 bytes over
 * [offset, offset + bytes); offset and bytes are multiples of pattern_size. */
CLG_API clg_status clg_buffer_fill(clg_buffer *buf, size_t offset, const void *pattern,
                                   size_t pattern_size, size_t bytes);

/* Device-side copy; both buffers belong to the same context. */
CLG_API clg_status clg_buffer_copy(clg_buffer *dst, size_t dst_offset,
                                   const clg_buffer *src, size_t src_offset,
                                   size_t bytes);

typedef struct clg_pool_stats {
    size_t live_buffers;   /* handed out and not yet freed */
    size_t pooled_buffers; /* freed, kept for reuse */
    uint64_t device_bytes; /* held on the device, live + pooled */
    uint64_t reuses;       /* creates served from the pool */
    uint64_t allocations;  /* creates that allocated on the device */
} clg_pool_stats;

CLG_API void clg_context_pool_stats(const clg_context *ctx, clg_pool_stats *stats);

/* The bytes clgrad may hold on the context's device: its global memory, or
 * less under CLGRAD_MEMORY_LIMIT. */
CLG_API uint64_t clg_context_memory_limit(const clg_context *ctx);

/* Releases every pooled (free) buffer back to the device. */
CLG_API void clg_context_pool_trim(clg_context *ctx);

/* Writes a byte count for people ("512 B", "1.5 GiB") into buf; returns buf. */
CLG_API const char *clg_format_bytes(uint64_t bytes, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
