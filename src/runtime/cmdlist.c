/* Command lists: device work recorded once and enqueued at every run. */
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

typedef enum cmd_kind {
    CMD_KERNEL,
    CMD_FILL,
    CMD_COPY,
    CMD_CALL,
    CMD_SCRATCH
} cmd_kind;

struct clg_cmd {
    cmd_kind kind;
    cl_kernel kernel; /* owned */
    cl_uint dims;
    size_t global[3], local[3];
    bool has_local;
    int counter_arg; /* CLG_NO_COUNTER, or the argument that gets the counter */
    cl_mem dst, src;
    size_t bytes;
    float value;
    clg_cmd_fn fn;
    void *payload;       /* owned */
    clg_buffer *scratch; /* owned */
};

static clg_cmd *push(clg_cmdlist *list)
{
    if (list->n == list->cap) {
        int cap = list->cap ? list->cap * 2 : 32;
        clg_cmd *grown = realloc(list->v, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        list->v = grown;
        list->cap = cap;
    }
    clg_cmd *c = &list->v[list->n++];
    memset(c, 0, sizeof *c);
    c->counter_arg = CLG_NO_COUNTER;
    return c;
}

clg_status clg_cmd_kernel(clg_cmdlist *list, cl_kernel kernel, cl_uint dims,
                          const size_t *global, const size_t *local, int counter_arg)
{
    clg_cmd *c = push(list);
    if (!c) {
        clReleaseKernel(kernel);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording a kernel launch");
    }
    c->kind = CMD_KERNEL;
    c->kernel = kernel;
    c->dims = dims;
    for (cl_uint d = 0; d < dims; d++) {
        c->global[d] = global[d];
        c->local[d] = local ? local[d] : 1;
    }
    c->has_local = local != NULL;
    c->counter_arg = counter_arg;
    return CLG_OK;
}

/* A kernel object of the list's own with its arguments set. */
static clg_status own_kernel(clg_context *ctx, const char *family, const char *options,
                             const char *name, const clg_karg *args, int nargs,
                             int counter_arg, cl_kernel *out)
{
    cl_kernel own = NULL;
    clg_status s = clg_kernel_create(ctx, family, options, name, &own);
    for (int i = 0; s == CLG_OK && i < nargs; i++)
        if (i != counter_arg)
            s = clg_kernel_arg(own, (cl_uint)i, args[i].size, args[i].value);
    if (s == CLG_OK)
        *out = own;
    else if (own)
        clReleaseKernel(own);
    return s;
}

clg_status clg_cmd_kernel_1d(clg_cmdlist *list, clg_context *ctx, const char *family,
                             const char *options, const char *name, size_t n,
                             const clg_karg *args, int nargs, int counter_arg,
                             cl_kernel *made)
{
    if (n == 0)
        return CLG_OK;
    cl_kernel own = NULL;
    clg_status s =
        own_kernel(ctx, family, options, name, args, nargs, counter_arg, &own);
    if (s != CLG_OK)
        return s;
    size_t group = clg_kernel_group(ctx, own, 64);
    size_t global = (n + group - 1) / group * group;
    s = clg_cmd_kernel(list, own, 1, &global, &group, counter_arg);
    if (s == CLG_OK && made)
        *made = own;
    return s;
}

clg_status clg_cmd_kernel_groups(clg_cmdlist *list, clg_context *ctx,
                                 const char *family, const char *options,
                                 const char *name, size_t groups, size_t want,
                                 const clg_karg *args, int nargs, int counter_arg,
                                 cl_kernel *made)
{
    if (groups == 0)
        return CLG_OK;
    cl_kernel own = NULL;
    clg_status s =
        own_kernel(ctx, family, options, name, args, nargs, counter_arg, &own);
    if (s != CLG_OK)
        return s;
    /* Work-groups of 16 on CPUs: a work-item there loops over its share,
     * and groups of 64 made the reductions slower on both CPU runtimes
     * (docs/performance.md). */
    size_t cap = ctx->info.type == CLG_DEVICE_CPU ? 16 : 64;
    size_t allowed = clg_kernel_group(ctx, own, want < cap ? want : cap), local = 1;
    while (local * 2 <= allowed)
        local *= 2;
    size_t global = groups * local;
    s = clg_cmd_kernel(list, own, 1, &global, &local, counter_arg);
    if (s == CLG_OK && made)
        *made = own;
    return s;
}

clg_status clg_cmd_fill(clg_cmdlist *list, cl_mem mem, size_t bytes, float value)
{
    clg_cmd *c = push(list);
    if (!c)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording a fill");
    c->kind = CMD_FILL;
    c->dst = mem;
    c->bytes = bytes;
    c->value = value;
    return CLG_OK;
}

clg_status clg_cmd_copy(clg_cmdlist *list, cl_mem dst, cl_mem src, size_t bytes)
{
    if (dst == src || bytes == 0)
        return CLG_OK;
    clg_cmd *c = push(list);
    if (!c)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording a copy");
    c->kind = CMD_COPY;
    c->dst = dst;
    c->src = src;
    c->bytes = bytes;
    return CLG_OK;
}

clg_status clg_cmd_call(clg_cmdlist *list, clg_cmd_fn fn, const void *payload,
                        size_t bytes)
{
    void *copy = malloc(bytes ? bytes : 1);
    clg_cmd *c = copy ? push(list) : NULL;
    if (!c) {
        free(copy);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording a call");
    }
    memcpy(copy, payload, bytes);
    c->kind = CMD_CALL;
    c->fn = fn;
    c->payload = copy;
    return CLG_OK;
}

size_t clg_cmdlist_scratch_bytes(const clg_cmdlist *list)
{
    size_t bytes = 0;
    for (int i = 0; list && i < list->n; i++)
        if (list->v[i].kind == CMD_SCRATCH)
            bytes += clg_buffer_held(list->v[i].scratch);
    return bytes;
}

void clg_cmdlist_borrow(clg_cmdlist *list, const clg_cmdlist *donor, int from)
{
    list->donor = donor;
    list->donor_at = from;
    list->ntaken = 0;
}

void clg_cmdlist_next_op(clg_cmdlist *list)
{
    list->pooled = true;
    list->ntaken = 0;
}

/* The buffer that holds a scratch command's memory: itself, or the one it
 * is a view of. */
static clg_buffer *root_of(const clg_cmd *c)
{
    return c->scratch->parent ? c->scratch->parent : c->scratch;
}

static bool taken(const clg_cmdlist *list, const clg_buffer *b)
{
    for (int i = 0; i < list->ntaken; i++)
        if (list->taken[i] == b)
            return true;
    return false;
}

/* The donor's first scratch buffer from donor_at on that holds `bytes` and
 * that the current op has not taken; donor_at moves past it. */
static clg_buffer *borrowed(clg_cmdlist *list, size_t bytes)
{
    const clg_cmdlist *d = list->donor;
    while (d && list->donor_at < d->n) {
        const clg_cmd *c = &d->v[list->donor_at++];
        if (c->kind == CMD_SCRATCH && root_of(c)->size >= bytes &&
            !taken(list, root_of(c)))
            return root_of(c);
    }
    return NULL;
}

/* For a pooled list: the smallest of its own buffers that holds `bytes`
 * and that the current op has not taken. */
static clg_buffer *pooled(const clg_cmdlist *list, size_t bytes)
{
    clg_buffer *best = NULL;
    for (int i = 0; list->pooled && i < list->n; i++) {
        const clg_cmd *c = &list->v[i];
        if (c->kind == CMD_SCRATCH && !c->scratch->parent &&
            c->scratch->size >= bytes && (!best || c->scratch->size < best->size) &&
            !taken(list, c->scratch))
            best = c->scratch;
    }
    return best;
}

clg_status clg_cmd_scratch(clg_cmdlist *list, clg_context *ctx, size_t bytes,
                           cl_mem *mem)
{
    if (bytes == 0)
        bytes = 4;
    bool room = list->ntaken < CLG_OP_SCRATCH_MAX;
    clg_buffer *from = room ? borrowed(list, bytes) : NULL;
    if (room && !from)
        from = pooled(list, bytes);
    clg_buffer *buf = NULL;
    clg_status s = from ? clg_buffer_view(from, 0, bytes, &buf)
                        : clg_buffer_create(ctx, bytes, &buf);
    if (s != CLG_OK)
        return s;
    clg_cmd *c = push(list);
    if (!c) {
        clg_buffer_free(buf);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "recording scratch space");
    }
    c->kind = CMD_SCRATCH;
    c->scratch = buf;
    if (room)
        list->taken[list->ntaken++] = root_of(c);
    *mem = buf->mem;
    return CLG_OK;
}

static clg_status run_one(clg_context *ctx, const clg_cmd *c, cl_ulong counter)
{
    cl_int err = CL_SUCCESS;
    switch (c->kind) {
    case CMD_KERNEL:
        if (c->counter_arg != CLG_NO_COUNTER) {
            clg_status s = clg_kernel_arg(c->kernel, (cl_uint)c->counter_arg,
                                          sizeof counter, &counter);
            if (s != CLG_OK)
                return s;
        }
        return clg_launch(ctx, c->kernel, c->dims, c->global,
                          c->has_local ? c->local : NULL);
    case CMD_CALL:
        return c->fn(ctx, c->payload);
    case CMD_SCRATCH:
        return CLG_OK;
    case CMD_FILL:
        err = clEnqueueFillBuffer(ctx->queue, c->dst, &c->value, sizeof c->value, 0,
                                  c->bytes, 0, NULL, NULL);
        break;
    case CMD_COPY:
        err = clEnqueueCopyBuffer(ctx->queue, c->src, c->dst, 0, 0, c->bytes, 0, NULL,
                                  NULL);
        break;
    }
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "enqueueing a %s on %s",
                           c->kind == CMD_FILL ? "fill" : "copy", ctx->info.name);
    return CLG_OK;
}

clg_status clg_cmdlist_run(clg_context *ctx, const clg_cmdlist *list, cl_ulong counter)
{
    for (int i = 0; i < list->n; i++) {
        clg_status s = run_one(ctx, &list->v[i], counter);
        if (s != CLG_OK)
            return s;
    }
    return CLG_OK;
}

void clg_cmdlist_clear(clg_cmdlist *list)
{
    for (int i = list->n - 1; i >= 0; i--) { /* views before their buffers */
        if (list->v[i].kernel)
            clReleaseKernel(list->v[i].kernel);
        free(list->v[i].payload);
        clg_buffer_free(list->v[i].scratch);
    }
    free(list->v);
    memset(list, 0, sizeof *list);
}
