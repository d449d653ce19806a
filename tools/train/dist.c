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

/* ---- What the ranks compare -------------------------------------------- */

enum { LINE = 1024 };

/* Set when the ranks found they disagree: every rank then exits 2 on its
 * own, and no rank needs to abort the others. */
static volatile bool ranks_disagree;

typedef struct rank_view {
    char flags[LINE];        /* the command line without --device(s) */
    unsigned long long spec; /* FNV-1a of the spec file */
    unsigned long long data; /* of the training data, once loaded */
} rank_view;

static void describe(const train_options *o, rank_view *v)
{
    memset(v, 0, sizeof *v);
    /* argv without the device choice, which may differ per rank */
    const char *line = o->command_line ? o->command_line : "";
    size_t used = 0;
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", line);
    char *save = NULL;
    bool skip = false;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (skip) {
            skip = false;
            continue;
        }
        if (!strcmp(w, "--device") || !strcmp(w, "--devices")) {
            skip = true;
            continue;
        }
        used += (size_t)snprintf(v->flags + used, used < LINE ? LINE - used : 0, "%s%s",
                                 used ? " " : "", w);
        if (used >= LINE)
            break;
    }
    v->spec = CLG_FNV_START;
    FILE *f = o->spec ? fopen(o->spec, "rb") : NULL;
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        v->spec = clg_fnv1a(v->spec, buf, n);
    if (f)
        fclose(f);
}

unsigned long long train_data_hash(const clg_dataset *d)
{
    unsigned long long h = CLG_FNV_START;
    if (!d)
        return h;
    h = clg_fnv1a(h, &d->count, sizeof d->count);
    h = clg_fnv1a(h, d->x, (size_t)d->count * d->sample * sizeof *d->x);
    if (d->labels)
        h = clg_fnv1a(h, d->labels,
                      (size_t)d->count * (size_t)clg_dataset_label_len(d) *
                          sizeof *d->labels);
    return h;
}

/* Every rank's view against rank 0's: -1 when they agree, else 2 after a
 * line naming the rank and the difference. `data` compares the data hash
 * only (after loading); otherwise flags and spec. */
int train_compare_ranks(const train_options *o, unsigned long long data_hash, bool data)
{
    clg_comm *comm = o->comm;
    int size = clg_comm_size(comm);
    if (size < 2)
        return -1;
    rank_view mine, *all = malloc((size_t)size * sizeof *all);
    if (!all)
        return cli_usage_error(TOOL, "out of memory comparing the ranks");
    describe(o, &mine);
    mine.data = data_hash;
    if (clg_comm_allgather(comm, &mine, all, sizeof mine) != CLG_OK) {
        free(all);
        return cli_fail(TOOL, TRAIN_ERROR);
    }
    int rc = -1;
    for (int r = 1; rc < 0 && r < size; r++) {
        if (data && all[r].data != all[0].data)
            rc = cli_usage_error(
                TOOL,
                "rank %d's training data differs from rank 0's (another "
                "file, or another version of it): every rank needs the "
                "same data",
                r);
        else if (!data && strcmp(all[r].flags, all[0].flags))
            rc = cli_usage_error(TOOL,
                                 "rank %d was started with other flags than rank 0:\n"
                                 "  rank 0: %s\n  rank %d: %s",
                                 r, all[0].flags, r, all[r].flags);
        else if (!data && all[r].spec != all[0].spec)
            rc = cli_usage_error(TOOL,
                                 "rank %d's model spec %s differs from rank 0's: every "
                                 "rank needs the same spec",
                                 r, o->spec ? o->spec : "");
    }
    free(all);
    if (rc >= 0)
        ranks_disagree = true;
    return rc;
}

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
    if (rc != 0 && !ranks_disagree)
        clg_comm_abort(comm, "it stopped with an error (above)");
    clg_comm_free(comm);
    return rc;
}
