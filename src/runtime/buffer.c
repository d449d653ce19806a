/* Device buffers and the pool that recycles them by size class. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

/* Size classes step by a quarter of a power of two (256, 320, 384, 448, 512,
 * 640, ...), so a reused buffer wastes at most 25%. */
static size_t size_class(size_t bytes)
{
    if (bytes <= 256)
        return 256;
    size_t pow2 = 256;
    while (pow2 <= bytes / 2)
        pow2 *= 2;
    size_t step = pow2 / 4;
    return (bytes + step - 1) / step * step;
}

static clg_buffer *take_from_pool(clg_context *ctx, size_t capacity)
{
    for (size_t i = 0; i < ctx->pool_len; i++) {
        clg_buffer *b = ctx->pool[i];
        if (b->capacity == capacity) {
            ctx->pool[i] = ctx->pool[--ctx->pool_len];
            return b;
        }
    }
    return NULL;
}

static void release_pooled_locked(clg_context *ctx)
{
    for (size_t i = 0; i < ctx->pool_len; i++) {
        ctx->stats.device_bytes -= ctx->pool[i]->capacity;
        clReleaseMemObject(ctx->pool[i]->mem);
        free(ctx->pool[i]);
    }
    ctx->pool_len = 0;
    ctx->stats.pooled_buffers = 0;
}

void clg_context_pool_trim(clg_context *ctx)
{
    if (!ctx)
        return;
    pthread_mutex_lock(&ctx->lock);
    release_pooled_locked(ctx);
    pthread_mutex_unlock(&ctx->lock);
}

void clg_pool_free_all(clg_context *ctx)
{
    release_pooled_locked(ctx);
    free(ctx->pool);
    ctx->pool = NULL;
    ctx->pool_cap = 0;
}

void clg_context_pool_stats(const clg_context *ctx, clg_pool_stats *stats)
{
    if (!ctx || !stats)
        return;
    clg_context *c = (clg_context *)ctx;
    pthread_mutex_lock(&c->lock);
    *stats = c->stats;
    pthread_mutex_unlock(&c->lock);
}

/* Drivers allocate lazily; touching one byte makes a failure show up here,
 * where we can name the sizes, rather than in some later kernel launch. */
static cl_int allocate(clg_context *ctx, size_t capacity, cl_mem *out)
{
    cl_int err;
    cl_mem mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, capacity, NULL, &err);
    if (err != CL_SUCCESS)
        return err;
    const cl_uchar zero = 0;
    cl_event done;
    err = clEnqueueFillBuffer(ctx->queue, mem, &zero, 1, 0, 1, 0, NULL, &done);
    if (err == CL_SUCCESS) {
        err = clWaitForEvents(1, &done);
        cl_int exec = CL_COMPLETE;
        clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof exec, &exec,
                       NULL);
        if (err == CL_SUCCESS && exec < 0)
            err = exec;
        clReleaseEvent(done);
    }
    if (err != CL_SUCCESS) {
        clReleaseMemObject(mem);
        return err;
    }
    *out = mem;
    return CL_SUCCESS;
}

static clg_status out_of_memory(clg_context *ctx, size_t bytes, cl_int err)
{
    char want[32], global[32], held[32], max_alloc[32];
    clg_format_bytes(bytes, want, sizeof want);
    clg_format_bytes(ctx->info.global_mem_bytes, global, sizeof global);
    clg_format_bytes(ctx->stats.device_bytes, held, sizeof held);
    clg_format_bytes(ctx->info.max_alloc_bytes, max_alloc, sizeof max_alloc);
    clg_status s = clg_fail_cl(
        err,
        "cannot allocate %s on device %d (%s): the device has %s, clgrad holds "
        "%s of it, largest single allocation %s",
        want, ctx->info.index, ctx->info.name, global, held, max_alloc);
    return s == CLG_OPENCL_ERROR ? CLG_OUT_OF_DEVICE_MEMORY : s;
}

static bool is_memory_error(cl_int err)
{
    return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
           err == CL_INVALID_BUFFER_SIZE || err == CL_OUT_OF_HOST_MEMORY;
}

size_t clg_buffer_held(const clg_buffer *buf)
{
    return buf ? buf->capacity : 0;
}

clg_status clg_buffer_create(clg_context *ctx, size_t bytes, clg_buffer **out)
{
    if (!ctx || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_buffer_create: NULL argument");
    *out = NULL;
    if (bytes == 0)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_buffer_create: a buffer of 0 bytes was requested");
    if (bytes > ctx->info.max_alloc_bytes) {
        char want[32], max_alloc[32];
        return clg_fail(
            CLG_OUT_OF_DEVICE_MEMORY,
            "cannot allocate %s on device %d (%s): its largest "
            "single allocation is %s",
            clg_format_bytes(bytes, want, sizeof want), ctx->info.index, ctx->info.name,
            clg_format_bytes(ctx->info.max_alloc_bytes, max_alloc, sizeof max_alloc));
    }
    size_t capacity = size_class(bytes);
    if (capacity > ctx->info.max_alloc_bytes)
        capacity = bytes;

    pthread_mutex_lock(&ctx->lock);
    clg_buffer *b = take_from_pool(ctx, capacity);
    if (b) {
        ctx->stats.pooled_buffers--;
        ctx->stats.live_buffers++;
        ctx->stats.reuses++;
        pthread_mutex_unlock(&ctx->lock);
        b->size = bytes;
        *out = b;
        return CLG_OK;
    }
    /* Never hold more than the device has (or CLGRAD_MEMORY_LIMIT allows):
     * drivers that over-commit host memory abort the process later instead
     * of failing here. */
    if (ctx->stats.device_bytes + capacity > ctx->memory_budget && ctx->pool_len > 0)
        release_pooled_locked(ctx);
    if (ctx->stats.device_bytes + capacity > ctx->memory_budget) {
        char want[32], held[32], budget[32];
        clg_format_bytes(bytes, want, sizeof want);
        clg_format_bytes(ctx->stats.device_bytes, held, sizeof held);
        clg_format_bytes(ctx->memory_budget, budget, sizeof budget);
        pthread_mutex_unlock(&ctx->lock);
        return clg_fail(CLG_OUT_OF_DEVICE_MEMORY,
                        "cannot allocate %s on device %d (%s): clgrad holds %s of the "
                        "%s it may use%s",
                        want, ctx->info.index, ctx->info.name, held, budget,
                        ctx->memory_budget < ctx->info.global_mem_bytes
                            ? " (CLGRAD_MEMORY_LIMIT)"
                            : "");
    }
    cl_mem mem = NULL;
    cl_int err = allocate(ctx, capacity, &mem);
    if (is_memory_error(err) && ctx->pool_len > 0) {
        release_pooled_locked(ctx); /* give the pool back, then try again */
        err = allocate(ctx, capacity, &mem);
    }
    clg_status s = CLG_OK;
    if (err != CL_SUCCESS)
        s = is_memory_error(err)
                ? out_of_memory(ctx, bytes, err)
                : clg_fail_cl(err, "allocating a buffer on %s", ctx->info.name);
    else if (!(b = calloc(1, sizeof *b))) {
        clReleaseMemObject(mem);
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_buffer_create");
    }
    if (s == CLG_OK) {
        b->ctx = ctx;
        b->mem = mem;
        b->size = bytes;
        b->capacity = capacity;
        ctx->stats.live_buffers++;
        ctx->stats.allocations++;
        ctx->stats.device_bytes += capacity;
        *out = b;
    }
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

static clg_status check_range(const clg_buffer *b, size_t offset, size_t bytes,
                              const char *what);

size_t clg_buffer_view_align(const clg_context *ctx)
{
    cl_uint bits = 0;
    clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits,
                    NULL);
    size_t bytes = bits / 8;
    return bytes > 64 ? bytes : 64;
}

clg_status clg_buffer_view(clg_buffer *parent, size_t offset, size_t bytes,
                           clg_buffer **out)
{
    if (!parent || !out || bytes == 0)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_buffer_view: bad argument");
    *out = NULL;
    clg_status s = check_range(parent, offset, bytes, "clg_buffer_view");
    if (s != CLG_OK)
        return s;
    clg_context *ctx = parent->ctx;
    if (offset % clg_buffer_view_align(ctx) != 0)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_buffer_view: offset %zu is not a multiple of %s's %zu "
                        "bytes",
                        offset, ctx->info.name, clg_buffer_view_align(ctx));
    clg_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_buffer_view");
    cl_buffer_region region = {parent->offset + offset, bytes};
    cl_mem root = parent->parent ? parent->parent->mem : parent->mem;
    cl_int err;
    b->mem = clCreateSubBuffer(root, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                               &region, &err);
    if (err != CL_SUCCESS) {
        free(b);
        return clg_fail_cl(err, "making a view of %zu bytes at %zu of a buffer on %s",
                           bytes, offset, ctx->info.name);
    }
    b->ctx = ctx;
    b->size = bytes;
    b->parent = parent->parent ? parent->parent : parent;
    b->offset = parent->offset + offset;
    *out = b;
    return CLG_OK;
}

void clg_buffer_free(clg_buffer *b)
{
    if (!b)
        return;
    if (b->parent) { /* a view: never pooled, never counted */
        clReleaseMemObject(b->mem);
        free(b);
        return;
    }
    clg_context *ctx = b->ctx;
    pthread_mutex_lock(&ctx->lock);
    ctx->stats.live_buffers--;
    if (ctx->pool_len == ctx->pool_cap) {
        size_t cap = ctx->pool_cap ? ctx->pool_cap * 2 : 16;
        clg_buffer **grown = realloc(ctx->pool, cap * sizeof *grown);
        if (!grown) { /* cannot pool it: release it */
            ctx->stats.device_bytes -= b->capacity;
            pthread_mutex_unlock(&ctx->lock);
            clReleaseMemObject(b->mem);
            free(b);
            return;
        }
        ctx->pool = grown;
        ctx->pool_cap = cap;
    }
    ctx->pool[ctx->pool_len++] = b;
    ctx->stats.pooled_buffers++;
    pthread_mutex_unlock(&ctx->lock);
}

size_t clg_buffer_size(const clg_buffer *b)
{
    return b ? b->size : 0;
}

static clg_status check_range(const clg_buffer *b, size_t offset, size_t bytes,
                              const char *what)
{
    if (!b)
        return clg_fail(CLG_INVALID_ARGUMENT, "%s: buffer is NULL", what);
    if (offset > b->size || bytes > b->size - offset)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s: range [%zu, %zu) lies outside the buffer of %zu bytes",
                        what, offset, offset + bytes, b->size);
    return CLG_OK;
}

clg_status clg_buffer_upload(clg_buffer *b, size_t offset, const void *src,
                             size_t bytes)
{
    clg_status s = check_range(b, offset, bytes, "clg_buffer_upload");
    if (s != CLG_OK || bytes == 0)
        return s;
    if (!src)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_buffer_upload: src is NULL");
    cl_int err = clEnqueueWriteBuffer(b->ctx->queue, b->mem, CL_TRUE, offset, bytes,
                                      src, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "uploading %zu bytes to %s", bytes, b->ctx->info.name);
    return CLG_OK;
}

clg_status clg_buffer_download(const clg_buffer *b, size_t offset, void *dst,
                               size_t bytes)
{
    clg_status s = check_range(b, offset, bytes, "clg_buffer_download");
    if (s != CLG_OK || bytes == 0)
        return s;
    if (!dst)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_buffer_download: dst is NULL");
    cl_int err = clEnqueueReadBuffer(b->ctx->queue, b->mem, CL_TRUE, offset, bytes, dst,
                                     0, NULL, NULL);
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "downloading %zu bytes from %s", bytes,
                           b->ctx->info.name);
    return CLG_OK;
}

struct clg_transfer {
    cl_event done;
    size_t bytes;
    const char *device;
};

clg_status clg_buffer_download_start(const clg_buffer *b, size_t offset, void *dst,
                                     size_t bytes, clg_transfer **out)
{
    clg_status s = check_range(b, offset, bytes, "clg_buffer_download_start");
    if (s != CLG_OK)
        return s;
    if (!dst || !out)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_buffer_download_start: NULL argument");
    clg_transfer *t = calloc(1, sizeof *t);
    if (!t)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_buffer_download_start");
    t->bytes = bytes;
    t->device = b->ctx->info.name;
    cl_int err = clEnqueueReadBuffer(b->ctx->queue, b->mem, CL_FALSE, offset, bytes,
                                     dst, 0, NULL, &t->done);
    if (err == CL_SUCCESS)
        err = clFlush(b->ctx->queue); /* start now, not at the next wait */
    if (err != CL_SUCCESS) {
        if (t->done)
            clReleaseEvent(t->done);
        free(t);
        return clg_fail_cl(err, "downloading %zu bytes from %s", bytes,
                           b->ctx->info.name);
    }
    *out = t;
    return CLG_OK;
}

clg_status clg_transfer_wait(clg_transfer *t)
{
    if (!t)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_transfer_wait: NULL transfer");
    cl_int err = clWaitForEvents(1, &t->done);
    cl_int status = CL_COMPLETE;
    if (err == CL_SUCCESS)
        err = clGetEventInfo(t->done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                             &status, NULL);
    clReleaseEvent(t->done);
    size_t bytes = t->bytes;
    const char *device = t->device;
    free(t);
    if (err != CL_SUCCESS || status < 0)
        return clg_fail_cl(err != CL_SUCCESS ? err : status,
                           "downloading %zu bytes from %s", bytes, device);
    return CLG_OK;
}

clg_status clg_buffer_fill(clg_buffer *b, size_t offset, const void *pattern,
                           size_t pattern_size, size_t bytes)
{
    clg_status s = check_range(b, offset, bytes, "clg_buffer_fill");
    if (s != CLG_OK)
        return s;
    bool valid_size = pattern_size > 0 && pattern_size <= 128 &&
                      (pattern_size & (pattern_size - 1)) == 0;
    if (!pattern || !valid_size || offset % pattern_size || bytes % pattern_size)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_buffer_fill: pattern of %zu bytes must be a power of "
                        "two up to 128 dividing offset %zu and size %zu",
                        pattern_size, offset, bytes);
    if (bytes == 0)
        return CLG_OK;
    cl_int err = clEnqueueFillBuffer(b->ctx->queue, b->mem, pattern, pattern_size,
                                     offset, bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "filling %zu bytes on %s", bytes, b->ctx->info.name);
    return CLG_OK;
}

clg_status clg_buffer_copy(clg_buffer *dst, size_t dst_offset, const clg_buffer *src,
                           size_t src_offset, size_t bytes)
{
    clg_status s = check_range(dst, dst_offset, bytes, "clg_buffer_copy (dst)");
    if (s == CLG_OK)
        s = check_range(src, src_offset, bytes, "clg_buffer_copy (src)");
    if (s != CLG_OK)
        return s;
    if (dst->ctx != src->ctx)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_buffer_copy: buffers belong to different contexts");
    if (dst == src && dst_offset < src_offset + bytes &&
        src_offset < dst_offset + bytes)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_buffer_copy: source and destination ranges overlap");
    if (bytes == 0)
        return CLG_OK;
    cl_int err = clEnqueueCopyBuffer(dst->ctx->queue, src->mem, dst->mem, src_offset,
                                     dst_offset, bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "copying %zu bytes on %s", bytes, dst->ctx->info.name);
    return CLG_OK;
}
const char *clg_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}
