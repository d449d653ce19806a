/* CLGRAD_PROFILE=1: per-kernel launch counts and device time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

/* Events wait here until the next flush; flushing reads their timestamps. */
#define PENDING_MAX 1024

typedef struct pending_event {
    int row;
    cl_event event;
} pending_event;

typedef struct profile_row {
    char name[64];
    uint64_t count;
    double total_ms;
    double max_ms;
} profile_row;

struct clg_profile {
    pthread_mutex_t lock;
    pending_event pending[PENDING_MAX];
    int pending_len;
    profile_row *rows;
    int rows_len, rows_cap;
    uint64_t untimed; /* launches whose event times were unusable */
};

clg_profile *clg_profile_create(void)
{
    clg_profile *p = calloc(1, sizeof *p);
    if (p)
        pthread_mutex_init(&p->lock, NULL);
    return p;
}

static int row_for(clg_profile *p, const char *name)
{
    for (int i = 0; i < p->rows_len; i++)
        if (strcmp(p->rows[i].name, name) == 0)
            return i;
    if (p->rows_len == p->rows_cap) {
        int cap = p->rows_cap ? p->rows_cap * 2 : 32;
        profile_row *grown = realloc(p->rows, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        p->rows = grown;
        p->rows_cap = cap;
    }
    profile_row *r = &p->rows[p->rows_len];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return p->rows_len++;
}

static void flush_locked(clg_profile *p)
{
    for (int i = 0; i < p->pending_len; i++) {
        cl_event e = p->pending[i].event;
        cl_ulong start = 0, end = 0;
        clWaitForEvents(1, &e);
        cl_int a = clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof start,
                                           &start, NULL);
        cl_int b = clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof end,
                                           &end, NULL);
        clReleaseEvent(e);
        profile_row *r = &p->rows[p->pending[i].row];
        /* No launch takes a nanosecond or less: Rusticl (Mesa 22.3) answers
         * every event with the stand-in times 0, 1, 2 and 3 ns. */
        bool timed = a == CL_SUCCESS && b == CL_SUCCESS && end > start + 1;
        p->untimed += !timed;
        double ms = timed ? (double)(end - start) * 1e-6 : 0.0;
        r->count++;
        r->total_ms += ms;
        if (ms > r->max_ms)
            r->max_ms = ms;
    }
    p->pending_len = 0;
}

void clg_profile_record(clg_context *ctx, const char *name, cl_event event)
{
    clg_profile *p = ctx->profile;
    if (!p) {
        clReleaseEvent(event);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (p->pending_len == PENDING_MAX)
        flush_locked(p);
    int row = row_for(p, name);
    if (row < 0)
        clReleaseEvent(event);
    else
        p->pending[p->pending_len++] = (pending_event){row, event};
    pthread_mutex_unlock(&p->lock);
}

void clg_profile_flush(clg_context *ctx)
{
    if (!ctx->profile)
        return;
    pthread_mutex_lock(&ctx->profile->lock);
    flush_locked(ctx->profile);
    pthread_mutex_unlock(&ctx->profile->lock);
}

static int by_total_desc(const void *a, const void *b)
{
    double ta = ((const profile_row *)a)->total_ms;
    double tb = ((const profile_row *)b)->total_ms;
    return (ta < tb) - (ta > tb);
}

void clg_profile_print_and_free(clg_context *ctx)
{
    clg_profile *p = ctx->profile;
    if (!p)
        return;
    flush_locked(p);
    qsort(p->rows, (size_t)p->rows_len, sizeof *p->rows, by_total_desc);
    double all = 0;
    for (int i = 0; i < p->rows_len; i++)
        all += p->rows[i].total_ms;
    fprintf(stderr, "clgrad profile, device %d (%s):\n", ctx->info.index,
            ctx->info.name);
    fprintf(stderr, "  %-32s %10s %12s %12s %12s %6s\n", "kernel", "count", "total ms",
            "mean ms", "max ms", "share");
    for (int i = 0; i < p->rows_len; i++) {
        const profile_row *r = &p->rows[i];
        fprintf(stderr, "  %-32s %10llu %12.3f %12.4f %12.4f %5.1f%%\n", r->name,
                (unsigned long long)r->count, r->total_ms,
                r->count ? r->total_ms / (double)r->count : 0.0, r->max_ms,
                all > 0 ? 100.0 * r->total_ms / all : 0.0);
    }
    fprintf(stderr, "  %-32s %10s %12.3f\n", "all kernels", "", all);
    if (p->untimed)
        fprintf(stderr,
                "  %llu launches came back from the implementation without usable "
                "times (counted, their time taken as 0)\n",
                (unsigned long long)p->untimed);
    pthread_mutex_destroy(&p->lock);
    free(p->rows);
    free(p);
    ctx->profile = NULL;
}
