/* clgrad-train on several devices: a thread per device in this process
 * (--devices, or a list in CLGRAD_DEVICE), or one process per rank under
 * mpirun (MPI found in the environment, or --distributed mpi). Every rank
 * runs train_mode on its shard of each batch; rank 0 alone prints, logs,
 * plots and writes checkpoints. Before anything is read, the ranks compare
 * their flags and specs, and after loading, their data (a hash each), and
 * all exit 2 naming the first difference. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "train.h"

/* ---- Threads: a rank per device ------------------------------------------ */

typedef struct rank_job {
    train_options o;
    int device;
    int rc;
} rank_job;

static void *run_rank(void *arg)
{
    rank_job *j = arg;
    clg_context *ctx;
    clg_status s = clg_context_create(j->device, &ctx);
    if (s != CLG_OK) {
        j->rc = train_fail_status(s);
        clg_comm_abort(j->o.comm, clg_last_error());
        return NULL;
    }
    j->rc = train_mode(ctx, &j->o);
    if (j->rc != 0)
        clg_comm_abort(j->o.comm, "it stopped with an error (above)");
    clg_context_free(ctx);
    return NULL;
}

/* Rank r's options: only rank 0 shows and writes anything. */
static train_options rank_options(const train_options *o, clg_comm *comm, int rank)
{
    train_options r = *o;
    r.comm = comm;
    r.rank = rank;
    if (rank != 0) {
        r.quiet = true;
        r.save = r.log = r.plot = r.checkpoint_dir = NULL;
    }
    return r;
}

/* "0,1", "all" or one spec per comma (each as --device takes it). */
static int parse_devices(const char *list, int *devices, int max, int *count)
{
    *count = 0;
    int available = 0;
    if (clg_device_count(&available) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    if (!strcmp(list, "all")) {
        for (int i = 0; i < available && i < max; i++)
            devices[(*count)++] = i;
        return -1;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (*count == max)
            return cli_usage_error(TOOL, "--devices: at most %d devices", max);
        if (clg_device_select(w, &devices[*count]) != CLG_OK)
            return cli_fail(TOOL, CLI_USAGE_ERROR);
        (*count)++;
    }
    if (*count == 0)
        return cli_usage_error(TOOL, "--devices: '%s' names no device", list);
    return -1;
}

int train_on_devices(const train_options *o, const char *list)
{
    enum { MAX = 64 };
    int devices[MAX], n;
    int rc = parse_devices(list, devices, MAX, &n);
    if (rc >= 0)
        return rc;
    if (o->nweights && o->nweights != n)
        return cli_usage_error(TOOL, "--device-weights: %d weights for %d devices",
                               o->nweights, n);
    clg_comm **comms;
    clg_status made = clg_comm_local_create(n, &comms);
    if (made != CLG_OK)
        return train_fail_status(made);
    rank_job *jobs = calloc((size_t)n, sizeof *jobs);
    pthread_t *threads = calloc((size_t)n, sizeof *threads);
    if (!jobs || !threads) {
        free(jobs), free(threads);
        clg_comm_local_free(comms, n);
        return cli_usage_error(TOOL, "out of memory for %d ranks", n);
    }
    if (!o->quiet) {
        printf("data parallel: %d ranks as threads, on devices", n);
        for (int r = 0; r < n; r++)
            printf(" %d", devices[r]);
        printf("\n");
    }
    int started = 0;
    for (int r = 0; r < n; r++) {
        jobs[r] = (rank_job){rank_options(o, comms[r], r), devices[r], 0};
        if (pthread_create(&threads[r], NULL, run_rank, &jobs[r]) != 0) {
            clg_comm_abort(comms[r], "its thread could not start");
            break;
        }
        started++;
    }
    rc = started == n ? 0 : TRAIN_ERROR;
    for (int r = 0; r < started; r++) {
        pthread_join(threads[r], NULL);
        if (jobs[r].rc > rc)
            rc = jobs[r].rc; /* usage (2) outranks failure (1) */
    }
    free(jobs), free(threads);
    clg_comm_local_free(comms, n);
    return rc;
}

/* ---- MPI: this process is one rank --------------------------------------- */

int train_with_mpi(const train_options *o)
{
    clg_comm *comm;
    if (clg_comm_mpi_create(&comm) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    int rank = clg_comm_rank(comm), count = 0, dev = 0;
    if (o->nweights && o->nweights != clg_comm_size(comm)) { /* every rank alike */
        int rc = cli_usage_error(TOOL, "--device-weights: %d weights for %d ranks",
                                 o->nweights, clg_comm_size(comm));
        clg_comm_free(comm);
        return rc;
    }
    clg_status s = clg_device_count(&count);
    /* A rank per device of its machine, by local rank, unless told. */
    if (s == CLG_OK && o->device)
        s = clg_device_select(o->device, &dev);
    else if (s == CLG_OK)
        dev = count > 0 ? clg_comm_local_rank(comm) % count : 0;
    char why[600];
    if (s != CLG_OK) {
        snprintf(why, sizeof why, "rank %d: %s", rank, clg_last_error());
        fprintf(stderr, TOOL ": %s\n", why);
        clg_comm_abort(comm, why); /* ends the job */
        clg_comm_free(comm);
        return CLI_USAGE_ERROR;
    }
    train_options r = rank_options(o, comm, rank);
    if (!r.quiet)
        printf("data parallel: %d ranks with MPI; rank 0 on device %d\n",
               clg_comm_size(comm), dev);
    clg_context *ctx;
    s = clg_context_create(dev, &ctx);
    int rc;
    if (s != CLG_OK) {
        rc = train_fail_status(s);
        snprintf(why, sizeof why, "rank %d, device %d: %s", rank, dev,
                 clg_last_error());
        clg_comm_abort(comm, why);
    } else {
        rc = train_mode(ctx, &r);
        clg_context_free(ctx);
    }
    /* A rank that fails alone would leave the others waiting: abort the job
     * (exit status 1) unless every rank stops the same way. */
    if (rc != 0 && !train_ranks_disagree())
        clg_comm_abort(comm, "it stopped with an error (above)");
    clg_comm_free(comm);
    return rc;
}
