/* Communicators for data parallelism: threads of one process (a barrier and
 * shared buffers), or MPI processes (CLGRAD_HAVE_MPI).
 *
 * Sums are deterministic and the same on every rank: element i is added in
 * rank order, (((x0 + x1) + x2) + ...), by whichever rank owns i's chunk,
 * and every rank receives that one result. Threads and MPI compute the same
 * bits for the same inputs. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/text.h"
#include "clgrad/comm.h"
#include "train/train_internal.h"

#ifdef CLGRAD_HAVE_MPI
#include <mpi.h>
#endif

typedef enum comm_kind { COMM_THREADS, COMM_MPI } comm_kind;

/* What the threads of one job share. */
typedef struct group {
    int size;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int arrived;
    unsigned long generation; /* barriers passed */
    bool failed;
    char why[768];
    const void **slots; /* each rank's buffer in the current collective */
    float *scratch;     /* the sums, [n] */
    size_t scratch_n;
} group;

struct clg_comm {
    comm_kind kind;
    int rank, size, local_rank;
    group *g;
    double seconds;
    bool serialized; /* another thread of the rank may call the collectives */
    double timeout;  /* seconds it waits at one collective (CLGRAD_COMM_TIMEOUT) */
};

/* ---- Threads ------------------------------------------------------------- */

/* CLGRAD_COMM_TIMEOUT: the seconds a rank waits at one collective, 600
 * unset; anything but a number from 0.001 to 10^7 is an error naming it. */
static clg_status comm_timeout(double *seconds)
{
    *seconds = 600.0;
    const char *v = getenv("CLGRAD_COMM_TIMEOUT");
    if (!v || !*v || clg_parse_double(v, 1e-3, 1e7, seconds))
        return CLG_OK;
    return clg_fail(CLG_INVALID_ARGUMENT,
                    "CLGRAD_COMM_TIMEOUT='%s' is not a number of seconds from 0.001 to "
                    "10000000",
                    v);
}

clg_status clg_comm_local_create(int size, clg_comm ***out)
{
    if (!out || size < 1 || size > 1024)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_comm_local_create: %d ranks", size);
    *out = NULL;
    group *g = calloc(1, sizeof *g);
    clg_comm **ranks = calloc((size_t)size, sizeof *ranks);
    if (g)
        g->slots = calloc((size_t)size, sizeof *g->slots);
    bool ok = g && ranks && g->slots;
    for (int r = 0; ok && r < size; r++)
        ok = (ranks[r] = calloc(1, sizeof **ranks)) != NULL;
    if (!ok) {
        for (int r = 0; ranks && r < size; r++)
            free(ranks[r]);
        free(ranks);
        if (g)
            free(g->slots);
        free(g);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_comm_local_create");
    }
    g->size = size;
    double timeout;
    clg_status s = comm_timeout(&timeout);
    if (s != CLG_OK) {
        for (int r = 0; r < size; r++)
            free(ranks[r]);
        free(ranks), free(g->slots), free(g);
        return s;
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    for (int r = 0; r < size; r++)
        *ranks[r] = (clg_comm){COMM_THREADS, r, size, r, g, 0.0, true, timeout};
    *out = ranks;
    return CLG_OK;
}

void clg_comm_local_free(clg_comm **ranks, int size)
{
    if (!ranks)
        return;
    group *g = size > 0 && ranks[0] ? ranks[0]->g : NULL;
    for (int r = 0; r < size; r++)
        free(ranks[r]);
    free(ranks);
    if (!g)
        return;
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
    free(g->slots);
    free(g->scratch);
    free(g);
}

static clg_status failed(const group *g)
{
    return clg_fail(CLG_RANK_FAILED, "%s", g->why);
}

/* Every rank arrives before any leaves; a failed rank (or one that waited
 * longer than the timeout) fails them all. Called with the lock held. */
static clg_status barrier(clg_comm *c)
{
    group *g = c->g;
    if (g->failed)
        return failed(g);
    unsigned long gen = g->generation;
    if (++g->arrived == g->size) {
        g->arrived = 0;
        g->generation++;
        pthread_cond_broadcast(&g->cond);
        return CLG_OK;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double whole = floor(c->timeout); /* at most 10^7: time_t holds it */
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((c->timeout - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (gen == g->generation && !g->failed) {
        if (pthread_cond_timedwait(&g->cond, &g->lock, &until) == ETIMEDOUT &&
            gen == g->generation && !g->failed) {
            g->failed = true;
            snprintf(g->why, sizeof g->why,
                     "rank %d waited %g s for the other ranks at a collective "
                     "(CLGRAD_COMM_TIMEOUT): one of them is stuck",
                     c->rank, c->timeout);
            pthread_cond_broadcast(&g->cond);
        }
    }
    return gen == g->generation ? failed(g) : CLG_OK;
}

/* Runs a collective with the group's lock: deposit `mine`, barrier, then
 * `work` (unlocked, every rank in parallel), barrier. */
typedef void (*phase_fn)(clg_comm *c, void *arg);

static clg_status collective(clg_comm *c, const void *mine, phase_fn work, void *arg,
                             size_t scratch_n)
{
    group *g = c->g;
    double start = clg_now_seconds();
    pthread_mutex_lock(&g->lock);
    clg_status s = CLG_OK;
    /* The previous collective ended with a barrier: nobody reads scratch. */
    if (c->rank == 0 && scratch_n > g->scratch_n) {
        float *grown = realloc(g->scratch, scratch_n * sizeof *grown);
        if (grown) {
            g->scratch = grown;
            g->scratch_n = scratch_n;
        } else {
            g->failed = true;
            snprintf(g->why, sizeof g->why, "rank 0: out of memory for %zu floats",
                     scratch_n);
            pthread_cond_broadcast(&g->cond);
        }
    }
    g->slots[c->rank] = mine;
    s = barrier(c);
    pthread_mutex_unlock(&g->lock);
    if (s == CLG_OK && work)
        work(c, arg);
    pthread_mutex_lock(&g->lock);
    if (s == CLG_OK)
        s = barrier(c);
    pthread_mutex_unlock(&g->lock);
    c->seconds += clg_now_seconds() - start;
    return s;
}

typedef struct sum_job {
    float *data;
    size_t n;
    int phase; /* 0: sum my chunk into scratch; 1: copy scratch to data */
} sum_job;

static void sum_work(clg_comm *c, void *arg)
{
    sum_job *j = arg;
    group *g = c->g;
    if (j->phase == 1) {
        memcpy(j->data, g->scratch, j->n * sizeof *j->data);
        return;
    }
    size_t lo = j->n * (size_t)c->rank / (size_t)c->size,
           hi = j->n * (size_t)(c->rank + 1) / (size_t)c->size;
    for (size_t i = lo; i < hi; i++) {
        float s = ((const float *)g->slots[0])[i];
        for (int r = 1; r < c->size; r++)
            s += ((const float *)g->slots[r])[i];
        g->scratch[i] = s;
    }
}

typedef struct copy_job {
    void *dst;
    size_t bytes;
    int root; /* broadcast: root's slot; allgather: -1, every slot */
} copy_job;

static void copy_work(clg_comm *c, void *arg)
{
    copy_job *j = arg;
    group *g = c->g;
    if (j->root >= 0) {
        if (c->rank != j->root)
            memcpy(j->dst, g->slots[j->root], j->bytes);
        return;
    }
    for (int r = 0; r < c->size; r++)
        memcpy((char *)j->dst + (size_t)r * j->bytes, g->slots[r], j->bytes);
}

/* ---- MPI ----------------------------------------------------------------- */

bool clg_comm_mpi_built(void)
{
#ifdef CLGRAD_HAVE_MPI
    return true;
#else
    return false;
#endif
}

bool clg_comm_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static int env_int(const char *name, int fallback)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

clg_status clg_comm_mpi_create(clg_comm **out)
{
    if (!out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_comm_mpi_create: NULL argument");
    *out = NULL;
#ifdef CLGRAD_HAVE_MPI
    int provided, inited = 0;
    MPI_Initialized(&inited);
    /* SERIALIZED: the gradient sums run on a thread of their own */
    if (!inited &&
        MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return clg_fail(CLG_INTERNAL, "MPI_Init_thread failed");
    if (inited)
        MPI_Query_thread(&provided);
    double timeout;
    clg_status s = comm_timeout(&timeout);
    if (s != CLG_OK)
        return s;
    clg_comm *c = calloc(1, sizeof *c);
    if (!c)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_comm_mpi_create");
    c->kind = COMM_MPI;
    c->timeout = timeout;
    c->serialized = provided >= MPI_THREAD_SERIALIZED;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->local_rank =
        env_int("OMPI_COMM_WORLD_LOCAL_RANK",
                env_int("MPI_LOCALRANKID", env_int("PMI_LOCAL_RANK", c->rank)));
    *out = c;
    return CLG_OK;
#else
    (void)env_int;
    return clg_fail(CLG_UNSUPPORTED,
                    "this clgrad was built without MPI: install libopenmpi-dev "
                    "(Debian) and build again (meson setup -Dmpi=enabled)");
#endif
}

void clg_comm_free(clg_comm *c)
{
    if (!c || c->kind != COMM_MPI)
        return;
#ifdef CLGRAD_HAVE_MPI
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Finalize();
#endif
    free(c);
}

#ifdef CLGRAD_HAVE_MPI
/* Waits for a started collective, at most the timeout: a rank that stops
 * answering (stopped, swapping, a hung device) would otherwise hold every
 * other rank in it forever, Open MPI polling at full speed. Past the
 * timeout the job is ended (MPI_Abort), naming this rank and what it
 * waited for. Polls at once, then every 0.1 to 1 ms, which a step's
 * gradient sums do not notice. */
static int mpi_wait(clg_comm *c, MPI_Request *req, const char *what)
{
    double start = clg_now_seconds();
    long pause_ns = 100000;
    for (int polls = 0;; polls++) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        if (clg_now_seconds() - start > c->timeout) {
            fprintf(stderr,
                    "clgrad: rank %d of %d waited %g s for the other ranks at %s "
                    "(CLGRAD_COMM_TIMEOUT): one of them stopped answering; ending the "
                    "job\n",
                    c->rank, c->size, c->timeout, what);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, 1);
            return MPI_ERR_OTHER;
        }
        if (polls > 1000) {
            struct timespec pause = {0, pause_ns};
            nanosleep(&pause, NULL);
            pause_ns = pause_ns < 1000000 ? pause_ns * 2 : pause_ns;
        }
    }
}

/* Rank r's chunk of n: [n r / size, n (r + 1) / size). */
static int chunk(size_t n, int r, int size, int *offset)
{
    size_t lo = n * (size_t)r / (size_t)size, hi = n * (size_t)(r + 1) / (size_t)size;
    *offset = (int)lo;
    return (int)(hi - lo);
}

/* Reduce-scatter by all-to-all (each rank receives every rank's copy of its
 * chunk and adds them in rank order), then all-gather of the sums: the
 * arithmetic of the threads' version. */
static clg_status mpi_allreduce(clg_comm *c, float *data, size_t n)
{
    if (n > (size_t)1 << 30)
        return clg_fail(CLG_UNSUPPORTED, "allreduce of %zu floats: at most 2^30", n);
    int size = c->size, mine_off, mine = chunk(n, c->rank, size, &mine_off);
    int *counts = malloc(4 * (size_t)size * sizeof *counts);
    float *parts = malloc(((size_t)mine * size + 1) * sizeof *parts);
    if (!counts || !parts) {
        free(counts), free(parts);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "allreduce of %zu floats", n);
    }
    int *send_n = counts, *send_off = counts + size, *recv_n = counts + 2 * size,
        *recv_off = counts + 3 * size;
    for (int r = 0; r < size; r++) {
        send_n[r] = chunk(n, r, size, &send_off[r]);
        recv_n[r] = mine;
        recv_off[r] = r * mine;
    }
    MPI_Request req;
    int rc = MPI_Ialltoallv(data, send_n, send_off, MPI_FLOAT, parts, recv_n, recv_off,
                            MPI_FLOAT, MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS)
        rc = mpi_wait(c, &req, "a gradient sum");
    for (int i = 0; rc == MPI_SUCCESS && i < mine; i++) {
        float s = parts[i];
        for (int r = 1; r < size; r++)
            s += parts[(size_t)r * mine + i];
        data[mine_off + i] = s;
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, data, send_n, send_off,
                             MPI_FLOAT, MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS)
        rc = mpi_wait(c, &req, "a gradient sum");
    free(counts), free(parts);
    return rc == MPI_SUCCESS
               ? CLG_OK
               : clg_fail(CLG_RANK_FAILED, "MPI allreduce failed (%d)", rc);
}
#endif

/* ---- The collectives ----------------------------------------------------- */

int clg_comm_rank(const clg_comm *c)
{
    return c ? c->rank : 0;
}
int clg_comm_size(const clg_comm *c)
{
    return c ? c->size : 1;
}
int clg_comm_local_rank(const clg_comm *c)
{
    return c ? c->local_rank : 0;
}
const char *clg_comm_kind(const clg_comm *c)
{
    return c && c->kind == COMM_MPI ? "MPI" : "threads";
}
double clg_comm_seconds(const clg_comm *c)
{
    return c ? c->seconds : 0.0;
}

bool clg_comm_thread_safe(const clg_comm *c)
{
    return c && c->serialized;
}

clg_status clg_comm_allreduce_sum(clg_comm *c, float *data, size_t n)
{
    if (!c || (!data && n))
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_comm_allreduce_sum: NULL argument");
    if (c->size == 1 || n == 0)
        return CLG_OK;
#ifdef CLGRAD_HAVE_MPI
    if (c->kind == COMM_MPI) {
        double start = clg_now_seconds();
        clg_status s = mpi_allreduce(c, data, n);
        c->seconds += clg_now_seconds() - start;
        return s;
    }
#endif
    sum_job j = {data, n, 0};
    clg_status s = collective(c, data, sum_work, &j, n);
    j.phase = 1;
    return s == CLG_OK ? collective(c, data, sum_work, &j, 0) : s;
}

clg_status clg_comm_broadcast(clg_comm *c, void *data, size_t bytes, int root)
{
    if (!c || (!data && bytes) || root < 0 || root >= (c ? c->size : 1))
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_comm_broadcast: bad arguments");
    if (c->size == 1 || bytes == 0)
        return CLG_OK;
#ifdef CLGRAD_HAVE_MPI
    if (c->kind == COMM_MPI) {
        double start = clg_now_seconds();
        int rc = MPI_SUCCESS;
        for (size_t done = 0; rc == MPI_SUCCESS && done < bytes;) {
            int part = bytes - done > (size_t)1 << 30 ? 1 << 30 : (int)(bytes - done);
            MPI_Request req;
            rc = MPI_Ibcast((char *)data + done, part, MPI_BYTE, root, MPI_COMM_WORLD,
                            &req);
            if (rc == MPI_SUCCESS)
                rc = mpi_wait(c, &req, "a broadcast");
            done += (size_t)part;
        }
        c->seconds += clg_now_seconds() - start;
        return rc == MPI_SUCCESS ? CLG_OK
                                 : clg_fail(CLG_RANK_FAILED, "MPI broadcast failed");
    }
#endif
    copy_job j = {data, bytes, root};
    return collective(c, data, copy_work, &j, 0);
}

clg_status clg_comm_allgather(clg_comm *c, const void *mine, void *all, size_t bytes)
{
    if (!c || !mine || !all || bytes > (size_t)1 << 30)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_comm_allgather: bad arguments");
    if (c->size == 1) {
        memcpy(all, mine, bytes);
        return CLG_OK;
    }
#ifdef CLGRAD_HAVE_MPI
    if (c->kind == COMM_MPI) {
        double start = clg_now_seconds();
        MPI_Request req;
        int rc = MPI_Iallgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE,
                                MPI_COMM_WORLD, &req);
        if (rc == MPI_SUCCESS)
            rc = mpi_wait(c, &req, "an exchange of the ranks' states");
        c->seconds += clg_now_seconds() - start;
        return rc == MPI_SUCCESS ? CLG_OK
                                 : clg_fail(CLG_RANK_FAILED, "MPI allgather failed");
    }
#endif
    copy_job j = {all, bytes, -1};
    return collective(c, mine, copy_work, &j, 0);
}

void clg_comm_abort(clg_comm *c, const char *why)
{
    if (!c || c->size == 1)
        return;
#ifdef CLGRAD_HAVE_MPI
    if (c->kind == COMM_MPI) {
        fprintf(stderr, "clgrad: rank %d of %d failed: %s\n", c->rank, c->size,
                why ? why : "");
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
        return;
    }
#endif
    group *g = c->g;
    pthread_mutex_lock(&g->lock);
    if (!g->failed) {
        g->failed = true;
        snprintf(g->why, sizeof g->why, "rank %d failed: %s", c->rank, why ? why : "");
    }
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}
