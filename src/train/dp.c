/* Data parallel training: the ranks' agreement, rank 0's weights, and the
 * gradients of each step summed in buckets while the backward pass goes on
 * (train_internal.h). Every sum is the element-wise rank-order sum of
 * clg_comm_allreduce_sum, so bucketing changes no bit of the result. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "train/train_internal.h"

/* A bucket: optimizer parameters [first, first + count) (taken from the
 * last one backwards, as backward completes them), floats [off, off + n)
 * of the host copy. */
typedef struct bucket {
    int first, count;
    size_t off, n;
    int waiting;              /* parameters not yet complete this step */
    clg_transfer **transfers; /* [count]: their downloads */
} bucket;

struct clg_dp {
    clg_model *m;
    clg_optimizer *opt;
    clg_comm *comm;
    float *flat; /* every optimized gradient, [total] */
    size_t total;
    size_t *off;    /* by optimizer parameter: its floats in flat */
    int *bucket_of; /* by optimizer parameter */
    int *opt_index; /* by graph parameter: its optimizer index, or -1 */
    bucket *b;
    int nb;
    int *order; /* buckets in the order the backward pass completes them */
    int norder;
    bool overlap; /* a communication thread sums while backward runs */
    /* the step in flight */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool running, quit;
    int queue[256], queued, taken, done; /* buckets handed over, taken, summed */
    clg_status status;
    char error[1024];
};

/* ---- Agreement and the first weights ------------------------------------ */

typedef struct signature {
    long long tensors, values; /* the model's parameters and states */
    long long samples, sample, label_len, batches;
} signature;

static clg_status check_ranks(const clg_model *m, clg_loader *l, clg_comm *comm)
{
    const clg_dataset *d = clg_loader_dataset(l);
    signature mine = {clg_model_tensor_count(m),
                      0,
                      d->count,
                      (long long)d->sample,
                      clg_dataset_label_len(d),
                      clg_loader_batches(l)};
    for (int i = 0; i < clg_model_tensor_count(m); i++)
        mine.values += (long long)clg_tensor_numel(clg_model_tensor(m, i));
    int size = clg_comm_size(comm);
    signature *all = malloc((size_t)size * sizeof *all);
    if (!all)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "comparing the ranks");
    clg_status s = clg_comm_allgather(comm, &mine, all, sizeof mine);
    static const char *what[] = {"model tensors",     "model values",
                                 "training samples",  "values per sample",
                                 "labels per sample", "batches per epoch"};
    for (int r = 1; s == CLG_OK && r < size; r++)
        for (int k = 0; k < 6; k++) {
            long long a = ((const long long *)&all[0])[k],
                      b = ((const long long *)&all[r])[k];
            if (a != b) {
                s = clg_fail(
                    CLG_INVALID_ARGUMENT,
                    "data parallel: rank %d has %lld %s, rank 0 has %lld: every "
                    "rank needs the same model and data",
                    r, b, what[k], a);
                break;
            }
        }
    free(all);
    return s;
}

/* Rank 0's parameters and statistics on every rank. */
static clg_status broadcast_weights(const clg_model *m, clg_comm *comm)
{
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        size_t n = clg_tensor_numel(t);
        float *v = malloc(n * sizeof *v);
        if (!v)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "broadcasting %s",
                            clg_tensor_name(t));
        s = clg_comm_rank(comm) == 0 ? clg_tensor_download(t, v, n) : CLG_OK;
        if (s == CLG_OK)
            s = clg_comm_broadcast(comm, v, n * sizeof *v, 0);
        if (s == CLG_OK && clg_comm_rank(comm) != 0)
            s = clg_tensor_upload(t, v, n);
        free(v);
    }
    return s;
}

clg_status clg_dp_compare_weights(clg_dp *dp, int epoch)
{
    unsigned long long h = CLG_FNV_START;
    clg_status s = CLG_OK;
    const clg_model *m = dp->m;
    for (int i = 0; s == CLG_OK && i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        if (!clg_tensor_is_parameter(t)) /* batch norm statistics: per rank */
            continue;
        size_t n = clg_tensor_numel(t);
        float *v = malloc(n * sizeof *v);
        if (!v)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "comparing the ranks' weights");
        s = clg_tensor_download(t, v, n);
        if (s == CLG_OK)
            h = clg_fnv1a(h, v, n * sizeof *v);
        free(v);
    }
    int size = clg_comm_size(dp->comm);
    unsigned long long *all = malloc((size_t)size * sizeof *all);
    if (s == CLG_OK && !all)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "comparing the ranks' weights");
    if (s == CLG_OK)
        s = clg_comm_allgather(dp->comm, &h, all, sizeof h);
    for (int r = 1; s == CLG_OK && r < size; r++)
        if (all[r] != all[0])
            s = clg_fail(
                CLG_INTERNAL,
                "data parallel: after epoch %d rank %d's weights differ from "
                "rank 0's (checksums %016llx and %016llx): the ranks no longer "
                "train one model",
                epoch + 1, r, all[r], all[0]);
    free(all);
    return s;
}

/* ---- Buckets and the communication thread ------------------------------- */

static void set_error(clg_dp *dp, clg_status s)
{
    if (dp->status == CLG_OK) {
        dp->status = s;
        snprintf(dp->error, sizeof dp->error, "%s", clg_last_error());
    }
}

/* Waits for bucket k's downloads and sums it over the ranks. */
static void sum_bucket(clg_dp *dp, int k)
{
    bucket *b = &dp->b[k];
    clg_status s = CLG_OK;
    for (int i = 0; i < b->count; i++) {
        clg_status w = b->transfers[i] ? clg_transfer_wait(b->transfers[i]) : CLG_OK;
        b->transfers[i] = NULL;
        s = s == CLG_OK ? w : s;
    }
    if (s == CLG_OK)
        s = clg_comm_allreduce_sum(dp->comm, dp->flat + b->off, b->n);
    pthread_mutex_lock(&dp->lock);
    if (s != CLG_OK)
        set_error(dp, s);
    dp->done++;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
}

static void *comm_thread(void *arg)
{
    clg_dp *dp = arg;
    pthread_mutex_lock(&dp->lock);
    for (;;) {
        while (!dp->quit && dp->taken == dp->queued)
            pthread_cond_wait(&dp->cond, &dp->lock);
        if (dp->quit)
            break;
        int k = dp->queue[dp->taken++];
        pthread_mutex_unlock(&dp->lock);
        sum_bucket(dp, k);
        pthread_mutex_lock(&dp->lock);
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

/* Hands bucket k to the thread (or, without one, sums it at once). */
static void hand_over(clg_dp *dp, int k)
{
    if (!dp->overlap) {
        dp->queued++, dp->taken++;
        sum_bucket(dp, k);
        return;
    }
    pthread_mutex_lock(&dp->lock);
    dp->queue[dp->queued++] = k;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
}

/* Optimizer parameter o's gradient is complete: its download starts; a
 * bucket whose downloads have all started is handed over. */
static void opt_ready(clg_dp *dp, int o)
{
    bucket *b = &dp->b[dp->bucket_of[o]];
    clg_tensor *p = clg_optim_param(dp->opt, o);
    clg_status s =
        clg_buffer_download_start(clg_tensor_grad_buffer(p), 0, dp->flat + dp->off[o],
                                  clg_tensor_numel(p) * 4, &b->transfers[o - b->first]);
    if (s != CLG_OK) {
        pthread_mutex_lock(&dp->lock);
        set_error(dp, s);
        pthread_mutex_unlock(&dp->lock);
    }
    if (--b->waiting == 0) {
        if (dp->norder < dp->nb) /* the first step tells the order */
            dp->order[dp->norder++] = (int)(b - dp->b);
        hand_over(dp, (int)(b - dp->b));
    }
}

/* The plan completed graph parameter `param`'s gradient (clg_grad_ready_fn). */
static void grad_ready(void *user, int param)
{
    clg_dp *dp = user;
    if (dp->opt_index[param] >= 0)
        opt_ready(dp, dp->opt_index[param]);
}

/* Buckets of about `bytes`, from the last optimized parameter backwards. */
static clg_status make_buckets(clg_dp *dp, size_t bytes)
{
    int n = clg_optim_param_count(dp->opt);
    dp->b = calloc((size_t)(n ? n : 1), sizeof *dp->b);
    dp->order = calloc((size_t)(n ? n : 1), sizeof *dp->order);
    dp->off = calloc((size_t)(n ? n : 1), sizeof *dp->off);
    dp->bucket_of = calloc((size_t)(n ? n : 1), sizeof *dp->bucket_of);
    if (!dp->b || !dp->order || !dp->off || !dp->bucket_of)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "data parallel buckets");
    for (int i = 0; i < n; i++) {
        dp->off[i] = dp->total;
        dp->total += clg_tensor_numel(clg_optim_param(dp->opt, i));
    }
    for (int i = n - 1; i >= 0;) {
        bucket *b = &dp->b[dp->nb];
        int last = i;
        size_t floats = 0;
        do /* at least one parameter; stop before the size is passed */
            floats += clg_tensor_numel(clg_optim_param(dp->opt, i--));
        while (i >= 0 &&
               (floats + clg_tensor_numel(clg_optim_param(dp->opt, i))) * 4 <= bytes);
        b->first = i + 1;
        b->count = last - i;
        b->off = dp->off[b->first];
        b->n = floats;
        b->transfers = calloc((size_t)b->count, sizeof *b->transfers);
        if (!b->transfers)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "data parallel buckets");
        for (int k = b->first; k < b->first + b->count; k++)
            dp->bucket_of[k] = dp->nb;
        dp->nb++;
    }
    if (dp->nb > (int)(sizeof dp->queue / sizeof *dp->queue))
        return clg_fail(CLG_UNSUPPORTED,
                        "data parallel: %d buckets of gradients, at most %d (make the "
                        "buckets larger)",
                        dp->nb, (int)(sizeof dp->queue / sizeof *dp->queue));
    return CLG_OK;
}

/* clg_replica_sum_fn over the ranks: synchronised batch norm. */
static clg_status replica_sum(void *user, float *data, size_t n)
{
    return clg_comm_allreduce_sum(user, data, n);
}

clg_status clg_dp_create(clg_model *m, clg_optimizer *opt, clg_loader *l,
                         clg_comm *comm, const clg_fit_opts *o, bool fresh,
                         clg_dp **out)
{
    *out = NULL;
    clg_dp *dp = calloc(1, sizeof *dp);
    if (!dp)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "data parallel state");
    dp->m = m, dp->opt = opt, dp->comm = comm;
    pthread_mutex_init(&dp->lock, NULL);
    pthread_cond_init(&dp->cond, NULL);
    clg_graph *g = clg_model_graph(m);
    int nparams = clg_graph_parameter_count(g);
    dp->opt_index = malloc((size_t)(nparams ? nparams : 1) * sizeof *dp->opt_index);
    clg_status s = dp->opt_index
                       ? CLG_OK
                       : clg_fail(CLG_OUT_OF_HOST_MEMORY, "data parallel state");
    for (int i = 0; s == CLG_OK && i < nparams; i++) {
        dp->opt_index[i] = -1;
        for (int k = 0; k < clg_optim_param_count(opt); k++)
            if (clg_optim_param(opt, k) == clg_graph_parameter(g, i))
                dp->opt_index[i] = k;
    }
    size_t bytes = o->bucket_bytes ? o->bucket_bytes : (size_t)25 << 20;
    if (s == CLG_OK)
        s = make_buckets(dp, o->sum_after_backward ? (size_t)-1 : bytes);
    if (s == CLG_OK &&
        !(dp->flat = malloc((dp->total ? dp->total : 1) * sizeof(float))))
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "data parallel gradients");
    if (s == CLG_OK)
        s = check_ranks(m, l, comm);
    if (s == CLG_OK && fresh)
        s = broadcast_weights(m, comm);
    /* Synchronised batch norm sums from this thread while backward is
     * enqueued: the gradient sums then wait for its end, collectives never
     * crossing between the two threads. */
    if (s == CLG_OK && o->sync_batch_norm)
        clg_plan_set_replica_sum(clg_model_plan(m), replica_sum, comm);
    dp->overlap = s == CLG_OK && !o->sum_after_backward && !o->sync_batch_norm &&
                  clg_comm_thread_safe(comm);
    if (dp->overlap && pthread_create(&dp->thread, NULL, comm_thread, dp) == 0)
        dp->running = true;
    else
        dp->overlap = false;
    if (s != CLG_OK) {
        clg_dp_free(dp);
        return s;
    }
    *out = dp;
    return CLG_OK;
}

void clg_dp_free(clg_dp *dp)
{
    if (!dp)
        return;
    if (dp->running) {
        pthread_mutex_lock(&dp->lock);
        dp->quit = true;
        pthread_cond_broadcast(&dp->cond);
        pthread_mutex_unlock(&dp->lock);
        pthread_join(dp->thread, NULL);
    }
    clg_plan_on_grad_ready(clg_model_plan(dp->m), NULL, NULL);
    clg_plan_set_replica_sum(clg_model_plan(dp->m), NULL, NULL);
    for (int k = 0; k < dp->nb; k++) {
        for (int i = 0; dp->b[k].transfers && i < dp->b[k].count; i++)
            if (dp->b[k].transfers[i])
                clg_transfer_wait(dp->b[k].transfers[i]);
        free(dp->b[k].transfers);
    }
    pthread_mutex_destroy(&dp->lock);
    pthread_cond_destroy(&dp->cond);
    free(dp->b), free(dp->order), free(dp->off), free(dp->bucket_of),
        free(dp->opt_index);
    free(dp->flat);
    free(dp);
}

void clg_dp_begin(clg_dp *dp)
{
    pthread_mutex_lock(&dp->lock);
    dp->queued = dp->taken = dp->done = 0;
    dp->status = CLG_OK;
    pthread_mutex_unlock(&dp->lock);
    for (int k = 0; k < dp->nb; k++)
        dp->b[k].waiting = dp->b[k].count;
    clg_plan_on_grad_ready(clg_model_plan(dp->m), grad_ready, dp);
}

clg_status clg_dp_zero(clg_dp *dp)
{
    const float zero = 0.0f;
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && i < clg_optim_param_count(dp->opt); i++) {
        clg_buffer *g = clg_tensor_grad_buffer(clg_optim_param(dp->opt, i));
        s = clg_buffer_fill(g, 0, &zero, sizeof zero, clg_buffer_size(g));
    }
    return s;
}

clg_status clg_dp_finish(clg_dp *dp, bool ran)
{
    clg_plan_on_grad_ready(clg_model_plan(dp->m), NULL, NULL);
    if (!ran) /* an empty shard: every gradient is ready (zero) now; hand the
                 buckets over in the order of the ranks that ran */
        for (int j = 0; j < dp->nb; j++) {
            int k = j < dp->norder ? dp->order[j] : j;
            for (int o = dp->b[k].first; o < dp->b[k].first + dp->b[k].count; o++)
                opt_ready(dp, o);
        }
    pthread_mutex_lock(&dp->lock);
    while (dp->done < dp->nb && (dp->overlap || dp->done < dp->queued))
        pthread_cond_wait(&dp->cond, &dp->lock);
    clg_status s = dp->status;
    int done = dp->done;
    pthread_mutex_unlock(&dp->lock);
    if (s != CLG_OK)
        return clg_fail(s, "%s", dp->error);
    if (done < dp->nb)
        return clg_fail(CLG_INTERNAL,
                        "data parallel: %d of %d buckets of gradients were never "
                        "complete",
                        dp->nb - done, dp->nb);
    for (int i = 0; s == CLG_OK && i < clg_optim_param_count(dp->opt); i++) {
        clg_tensor *p = clg_optim_param(dp->opt, i);
        s = clg_buffer_upload(clg_tensor_grad_buffer(p), 0, dp->flat + dp->off[i],
                              clg_tensor_numel(p) * 4);
    }
    return s;
}
