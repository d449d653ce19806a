/* clgrad-bench scale: data parallel samples/s of the MLP and CNN on 1, 2,
 * ... ranks (a thread and context each), communication per step. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "bench.h"

typedef struct scale_rank {
    clg_comm *comm;
    const clg_dataset *d;
    bool cnn, after; /* after: sum the gradients after backward, not during */
    int device, steps;
    double seconds, comm_seconds; /* of the timed steps */
    clg_status status;
    char error[512];
} scale_rank;

/* One rank: its own context, the model on its shard of batches of 64; one
 * warm-up step, then `steps` timed. */
static void *scale_worker(void *arg)
{
    scale_rank *r = arg;
    clg_context *ctx = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_loader *l = NULL;
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.shard = clg_comm_rank(r->comm), lo.shards = clg_comm_size(r->comm);
    clg_status s = clg_context_create(r->device, &ctx);
    if (s == CLG_OK)
        s = make_trainer(ctx, r->d, r->cnn, &lo, &m, &opt, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1, fo.max_steps = 1, fo.comm = r->comm;
    fo.sum_after_backward = r->after;
    clg_fit_report rep;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &rep);
    else
        clg_comm_abort(r->comm, clg_last_error());
    double start = clg_now_seconds(), comm0 = clg_comm_seconds(r->comm);
    fo.max_steps = 1 + r->steps, fo.first_step = 1;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &rep);
    r->seconds = clg_now_seconds() - start;
    r->comm_seconds = clg_comm_seconds(r->comm) - comm0;
    r->status = s;
    if (s != CLG_OK)
        snprintf(r->error, sizeof r->error, "%s", clg_last_error());
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m), clg_context_free(ctx);
    return NULL;
}

/* Samples/s of n ranks, and rank 0's communication seconds per step. */
static double scale_rate(const clg_dataset *d, bool cnn, bool after, int n, int steps,
                         double *comm_per_step)
{
    int count = 1;
    clg_device_count(&count);
    clg_comm **comms;
    *comm_per_step = 0;
    if (n > 64 || clg_comm_local_create(n, &comms) != CLG_OK)
        return -1;
    scale_rank r[64];
    pthread_t t[64];
    for (int k = 0; k < n; k++) {
        r[k] =
            (scale_rank){comms[k], d, cnn, after, k % count, steps, 0, 0, CLG_OK, ""};
        pthread_create(&t[k], NULL, scale_worker, &r[k]);
    }
    bool ok = true;
    for (int k = 0; k < n; k++) {
        pthread_join(t[k], NULL);
        if (ok && r[k].status != CLG_OK)
            fprintf(stderr, "clgrad-bench: rank %d of %d: %s\n", k, n, r[k].error);
        ok = ok && r[k].status == CLG_OK;
    }
    clg_comm_local_free(comms, n);
    *comm_per_step = r[0].comm_seconds / steps;
    return ok ? (double)steps * 64 / r[0].seconds : -1;
}

int bench_scale(int max_ranks)
{
    clg_dataset *d = bench_data();
    if (!d)
        return fail("loading the data");
    int count = 1;
    clg_device_count(&count);
    printf("clgrad %s data parallel benchmark: batches of 64 split over 1 to %d ranks "
           "(a thread each, on devices 0..%d in turn: %d device%s here), Adam; "
           "communication: rank 0's seconds in collectives (the gradient sum over the "
           "host, the losses)\n\n",
           clg_version(), max_ranks, count - 1, count, count == 1 ? "" : "s");
    printf("%-50s %6s %12s %10s %12s\n", "model", "ranks", "samples/s", "speed-up",
           "comm ms/step");
    int failures = 0;
    for (int cnn = 0; cnn < 2; cnn++) {
        if (flags_set.model && strcmp(flags_set.model, cnn ? "cnn" : "mlp"))
            continue;
        double one = 0;
        /* n ranks; from 2 on, also with the sums after the backward pass */
        for (int n = 1, after = 0; n <= max_ranks;
             after = n > 1 && !after, n += !after) {
            double comm = 0;
            int steps = flags_set.steps ? flags_set.steps : cnn ? 30 : 200;
            double rate = scale_rate(d, cnn, after, n, steps, &comm);
            failures += rate < 0;
            if (n == 1)
                one = rate;
            char label[64];
            snprintf(label, sizeof label, "%s%s",
                     cnn ? "CNN conv32-conv64-fc128, batch norm" : "MLP 784-256-128-10",
                     after ? ", sums after" : "");
            printf("%-50s %6d %12.0f %9.2fx %12.3f\n", label, n, rate,
                   one > 0 ? rate / one : 0, comm * 1e3);
        }
    }
    printf(
        "\nspeed-up: samples/s against one rank; efficiency is speed-up / ranks. "
        "Ranks sharing one device (or one CPU's cores) compete for it. The gradients "
        "are summed in buckets while backward runs; 'sums after': once it is done.\n");
    clg_dataset_free(d);
    return failures ? 1 : 0;
}
