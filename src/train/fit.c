/* The training loop, evaluation and prediction. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "train/train_internal.h"

/* The dataset's samples must have the model's input shape and hold only
 * finite values: a NaN pixel would give a NaN answer, not an error. */
static clg_status check_samples(const clg_model *m, const clg_dataset *d,
                                const char *what)
{
    clg_tensor *in = clg_model_input(m);
    bool same = clg_tensor_ndim(in) - 1 == d->ndim;
    for (int i = 0; same && i < d->ndim; i++)
        same = clg_tensor_dim(in, i + 1) == d->shape[i];
    if (!same) {
        char want[64] = "", got[64] = "";
        for (int i = 1; i < clg_tensor_ndim(in); i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d",
                     i > 1 ? "," : "", clg_tensor_dim(in, i));
        for (int i = 0; i < d->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? "," : "",
                     d->shape[i]);
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "%s: the data's samples are [%s], the model's input is [%s]",
                        what, got, want);
    }
    /* a lazy dataset's decoded pixels are finite by construction */
    size_t total = d->lazy ? 0 : (size_t)d->count * d->sample;
    for (size_t k = 0; k < total; k++)
        if (!isfinite(d->x[k]))
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "%s: sample %zu holds a non-finite value (%g at element "
                            "%zu)",
                            what, k / d->sample, (double)d->x[k], k % d->sample);
    return CLG_OK;
}

/* The model's classes (the last dim of its output), and the labels of one
 * sample: 1 for [N, C] outputs, T for a language model's [N, T, C]. */
static int classes_of(const clg_model *m)
{
    clg_tensor *out = clg_model_output(m);
    return clg_tensor_dim(out, clg_tensor_ndim(out) - 1);
}

/* Whether the model's loss takes one-hot float targets (mse, l1, bce), which
 * clg_fit and clg_evaluate make from the labels, or labels (cross-entropy). */
static bool one_hot(const clg_model *m)
{
    return clg_tensor_dtype(clg_model_target(m)) == CLG_FLOAT32;
}

static int positions(const clg_model *m)
{
    clg_tensor *target = clg_model_target(m);
    size_t n = clg_tensor_numel(target) / (size_t)clg_model_max_batch(m);
    return (int)(one_hot(m) ? n / (size_t)classes_of(m) : n);
}

/* ... and for training and evaluation, labels the model's classes cover. */
clg_status clg_check_data(const clg_model *m, const clg_dataset *d, const char *what)
{
    if (!m || !d || !what)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_check_data: NULL argument");
    clg_tensor *out = clg_model_output(m);
    if (!clg_model_plan(m) || clg_model_target(m) == NULL)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s: the model must be compiled with a loss", what);
    clg_status s = check_samples(m, d, what);
    if (s != CLG_OK)
        return s;
    if (!d->labels)
        return clg_fail(CLG_INVALID_ARGUMENT, "%s: the data has no labels", what);
    if (positions(m) != clg_dataset_label_len(d))
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "%s: the data has %d labels per sample, the model's output "
                        "needs %d",
                        what, clg_dataset_label_len(d), positions(m));
    int classes = clg_tensor_dim(out, clg_tensor_ndim(out) - 1);
    if (d->classes > classes)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "%s: the data has %d classes, the model's output has %d", what,
                        d->classes, classes);
    return CLG_OK;
}

/* Token models take int32 ids; datasets hold them as exact floats. */
static clg_status upload(clg_model *m, const float *x, const int32_t *labels, int count)
{
    clg_tensor *in = clg_model_input(m);
    size_t n = (size_t)count * (clg_tensor_numel(in) / (size_t)clg_model_max_batch(m));
    clg_status s;
    if (clg_tensor_dtype(in) == CLG_INT32) {
        int32_t *ids = malloc(n * sizeof *ids);
        if (!ids)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "uploading token ids");
        for (size_t i = 0; i < n; i++)
            ids[i] = (int32_t)x[i];
        s = clg_tensor_upload(in, ids, n);
        free(ids);
    } else {
        s = clg_tensor_upload(in, x, n);
    }
    size_t labels_n = (size_t)count * (size_t)positions(m);
    if (s != CLG_OK || !one_hot(m))
        return s == CLG_OK ? clg_tensor_upload(clg_model_target(m), labels, labels_n)
                           : s;
    size_t C = (size_t)classes_of(m);
    float *hot = calloc(labels_n * C, sizeof *hot);
    if (!hot)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "making one-hot targets");
    for (size_t i = 0; i < labels_n; i++)
        if (labels[i] >= 0 && (size_t)labels[i] < C)
            hot[i * C + (size_t)labels[i]] = 1.0f;
    s = clg_tensor_upload(clg_model_target(m), hot, labels_n * C);
    free(hot);
    return s;
}

static int argmax(const float *row, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

/* ---- Evaluation --------------------------------------------------------- */

void clg_eval_report_free(clg_eval_report *r)
{
    if (!r)
        return;
    free(r->class_accuracy);
    free(r->confusion);
    r->class_accuracy = NULL;
    r->confusion = NULL;
}

/* Runs evaluation over d; fills whichever outputs are not NULL. */
static clg_status sweep(clg_model *m, const clg_dataset *d, double *loss_sum,
                        long *correct, int *confusion, int classes, int32_t *pred,
                        float *prob)
{
    clg_plan *plan = clg_model_plan(m);
    int B = clg_model_max_batch(m), C = classes_of(m), P = positions(m);
    float *logits = malloc((size_t)B * P * C * sizeof *logits);
    int32_t *zeros = calloc((size_t)B * P, sizeof *zeros);
    float *x = d->lazy ? malloc((size_t)B * d->sample * sizeof *x) : NULL;
    clg_status s = logits && zeros && (x || !d->lazy)
                       ? CLG_OK
                       : clg_fail(CLG_OUT_OF_HOST_MEMORY, "evaluating");
    *loss_sum = 0;
    for (int first = 0; s == CLG_OK && first < d->count; first += B) {
        int n = d->count - first < B ? d->count - first : B;
        if (x) /* a lazy dataset's batch, decoded now */
            s = clg_dataset_read(d, first, n, x);
        if (s == CLG_OK)
            s = upload(m, x ? x : d->x + (size_t)first * d->sample,
                       d->labels ? d->labels + (size_t)first * P : zeros, n);
        if (s == CLG_OK)
            s = clg_plan_run(plan, n, CLG_RUN_EVAL);
        if (s == CLG_OK)
            s = clg_plan_read(plan, clg_model_output(m), logits, (size_t)n * P * C);
        float loss = 0;
        if (s == CLG_OK && d->labels)
            s = clg_plan_loss(plan, &loss);
        *loss_sum += (double)loss * n;
        for (int i = 0; s == CLG_OK && i < n * P; i++) { /* each position */
            const float *row = logits + (size_t)i * C;
            size_t at = (size_t)first * P + (size_t)i;
            for (int c = 0; c < C && s == CLG_OK; c++)
                if (!isfinite(row[c]))
                    s = clg_fail(CLG_NOT_FINITE,
                                 "the model's output for sample %d is not finite (%g "
                                 "for class %d): its weights hold inf or NaN, or "
                                 "overflow",
                                 first + i / P, (double)row[c], c);
            if (s != CLG_OK)
                break;
            int p = argmax(row, C);
            if (correct)
                *correct += d->labels[at] == p;
            if (confusion && d->labels[at] < classes && p < classes)
                confusion[d->labels[at] * classes + p]++;
            if (pred)
                pred[at] = p;
            if (prob) {
                double z = 0;
                for (int c = 0; c < C; c++)
                    z += exp((double)row[c] - row[p]);
                prob[at] = (float)(1.0 / z);
            }
        }
    }
    free(logits);
    free(zeros);
    free(x);
    return s;
}

clg_status clg_evaluate(clg_model *m, const clg_dataset *d, clg_eval_report *r)
{
    if (!m || !d || !r)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_evaluate: NULL argument");
    memset(r, 0, sizeof *r);
    clg_status s = clg_check_data(m, d, "evaluate");
    if (s != CLG_OK)
        return s;
    int C = classes_of(m);
    bool per_class = C <= CLG_EVAL_MAX_CONFUSION;
    r->count = d->count;
    r->classes = C;
    if (per_class) {
        r->confusion = calloc((size_t)C * C, sizeof *r->confusion);
        r->class_accuracy = malloc((size_t)C * sizeof *r->class_accuracy);
        if (!r->confusion || !r->class_accuracy) {
            clg_eval_report_free(r);
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "evaluate");
        }
    }
    double loss_sum;
    long correct = 0;
    s = sweep(m, d, &loss_sum, &correct, r->confusion, C, NULL, NULL);
    if (s != CLG_OK) {
        clg_eval_report_free(r);
        return s;
    }
    for (int c = 0; per_class && c < C; c++) {
        long row = 0;
        for (int p = 0; p < C; p++)
            row += r->confusion[c * C + p];
        r->class_accuracy[c] = row ? (float)r->confusion[c * C + c] / (float)row : NAN;
    }
    r->loss = d->count ? (float)(loss_sum / d->count) : NAN;
    double labels = (double)d->count * positions(m);
    r->accuracy = d->count ? (float)((double)correct / labels) : NAN;
    return CLG_OK;
}

clg_status clg_predict(clg_model *m, const clg_dataset *d, int32_t *classes,
                       float *prob)
{
    if (!m || !d || !classes)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_predict: NULL argument");
    clg_status s = check_samples(m, d, "predict");
    if (s != CLG_OK)
        return s;
    double loss;
    return sweep(m, d, &loss, NULL, NULL, 0, classes, prob);
}

/* ---- Snapshots for early stopping --------------------------------------- */

typedef struct snapshot {
    int count;
    float **values;
} snapshot;

static clg_status snapshot_take(const clg_model *m, snapshot *s)
{
    int n = clg_model_tensor_count(m);
    if (!s->values) {
        s->values = calloc((size_t)n, sizeof *s->values);
        s->count = n;
        for (int i = 0; s->values && i < n; i++)
            s->values[i] =
                malloc(clg_tensor_numel(clg_model_tensor(m, i)) * sizeof(float));
    }
    for (int i = 0; i < n; i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        if (!s->values || !s->values[i])
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "keeping the best weights");
        clg_status st = clg_tensor_download(t, s->values[i], clg_tensor_numel(t));
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}

static clg_status snapshot_restore(const clg_model *m, const snapshot *s)
{
    for (int i = 0; i < s->count; i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        clg_status st = clg_tensor_upload(t, s->values[i], clg_tensor_numel(t));
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}

static void snapshot_free(snapshot *s)
{
    for (int i = 0; s->values && i < s->count; i++)
        free(s->values[i]);
    free(s->values);
}

/* ---- Diagnostics -------------------------------------------------------- */

static void warn(const clg_fit_opts *o, const char *fmt, ...) CLG_PRINTF(2, 3);
static void warn(const clg_fit_opts *o, const char *fmt, ...)
{
    if (!o->on_warning)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->on_warning(msg, o->user);
}

/* Mean gradient norm per weight tensor over an epoch: tiny ones (or a
 * spread of many orders of magnitude) mean vanishing gradients, huge ones
 * exploding gradients. */
static void check_gradients(const clg_fit_opts *o, clg_optimizer *opt,
                            const float *sums, long long steps, int epoch)
{
    int n = clg_optim_param_count(opt);
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) {
        if (clg_tensor_ndim(clg_optim_param(opt, i)) < 2)
            continue; /* weights only: biases are often tiny by design */
        double mean = sums[i] / (double)(steps ? steps : 1);
        lo = fmin(lo, mean);
        hi = fmax(hi, mean);
    }
    const char *what = hi > 1e3                       ? "exploding gradients"
                       : lo < 1e-7 * hi || lo < 1e-12 ? "vanishing gradients"
                                                      : NULL;
    if (!what)
        return;
    char list[1536] = "";
    for (int i = 0; i < n; i++) {
        clg_tensor *p = clg_optim_param(opt, i);
        if (clg_tensor_ndim(p) < 2)
            continue;
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s %.3g", used ? ", " : "",
                 clg_tensor_name(p), sums[i] / (double)(steps ? steps : 1));
    }
    warn(o, "epoch %d: %s: mean gradient norm per layer: %s", epoch + 1, what, list);
}

/* ---- The loop ----------------------------------------------------------- */

typedef struct epoch_totals {
    double loss; /* the loss times the samples, summed */
    long long correct, positions, samples;
} epoch_totals;

/* One batch (this rank's shard of it) forward and backward: the first of a
 * group of accumulated batches replaces the gradients, the others add to
 * them; the last of the group (`update`) sums the ranks' gradients and
 * steps the optimizer. The backward pass is seeded with this shard's share
 * of the batch over the group's batches, so the sums are the gradient of
 * the mean loss over everything the step saw. Nothing is read back: the
 * plan tallies the loss and accuracy on the device (clg_plan_take_tally). */
typedef struct step_ctx {
    clg_comm *comm; /* NULL: one rank */
    clg_dp *dp;     /* its data parallel state */
    int group;      /* batches accumulated into this step */
    bool sync_bn;   /* batch norm over every rank's samples */
} step_ctx;

static clg_status train_step(clg_model *m, clg_optimizer *opt, const step_ctx *sc,
                             const clg_batch *b, bool first, bool update)
{
    clg_plan *plan = clg_model_plan(m);
    clg_status s = CLG_OK;
    if (update && sc->dp)
        clg_dp_begin(sc->dp); /* the sums start as backward completes gradients */
    if (b->count > 0) {
        float share = (float)b->count / (float)(b->total > 0 ? b->total : b->count);
        s = clg_plan_set_loss_scale(plan, share / (float)sc->group);
        clg_plan_set_sample_offset(plan, b->first); /* dropout: the batch's masks */
        if (s == CLG_OK)
            s = upload(m, b->x, b->labels, b->count);
        if (s == CLG_OK)
            s = clg_plan_run(plan, b->count,
                             first ? CLG_RUN_TRAIN : CLG_RUN_ACCUMULATE);
    } else if (sc->sync_bn) {
        s = clg_fail(CLG_INVALID_ARGUMENT,
                     "synchronised batch norm: rank %d has no samples of batch %d (of "
                     "%d): drop the short last batch",
                     clg_comm_rank(sc->comm), b->index + 1, b->total);
    } else if (first && sc->dp) {
        s = clg_dp_zero(sc->dp);
    }
    if (update && sc->dp) {
        /* A rank that failed tells the others first: its remaining sums
         * then fail at once on every rank, never pairing with a different
         * collective of another rank (a batch norm's sum, say). The downloads
         * in flight are waited for all the same. */
        if (s != CLG_OK) { /* this rank's own reason stays its error */
            char why[1024];
            snprintf(why, sizeof why, "%s", clg_last_error());
            clg_comm_abort(sc->comm, why);
            clg_dp_finish(sc->dp, b->count > 0);
            return clg_fail(s, "%s", why);
        }
        s = clg_dp_finish(sc->dp, b->count > 0);
    }
    if (s == CLG_OK && update)
        s = clg_optim_step(opt);
    return s;
}

/* What the host reads when it looks: the plan's tallies since it last did,
 * every rank's summed; `count` is this rank's samples in the last batch,
 * `total` the whole batch's. */
static clg_status read_tally(clg_model *m, clg_comm *comm, int count, int total,
                             epoch_totals *tot, float *last_loss)
{
    clg_tally t;
    clg_status s = clg_plan_take_tally(clg_model_plan(m), &t);
    if (s != CLG_OK)
        return s;
    if (comm) { /* the whole batch's, every rank's shard */
        float sums[4] = {(float)t.loss_sum, (float)t.correct, (float)t.positions,
                         t.runs && count > 0 ? t.last_loss * (float)count : 0.0f};
        if ((s = clg_comm_allreduce_sum(comm, sums, 4)) != CLG_OK)
            return s;
        t.loss_sum = sums[0], t.correct = (long long)sums[1];
        t.positions = (long long)sums[2];
        t.last_loss = sums[3] / (float)(total > 0 ? total : 1);
    }
    tot->loss += t.loss_sum;
    tot->correct += t.correct;
    tot->positions += t.positions;
    tot->samples = tot->positions / positions(m);
    *last_loss = t.last_loss;
    return CLG_OK;
}

/* After clg_optim_check found a bad step (and went back to the step before
 * it): the fit's step count goes back likewise, and the error names the
 * bad step's batch. */
static clg_status bad_step(clg_status s, clg_optimizer *opt, long long enqueued,
                           const int *batch_at, int ring, int epoch, float last_loss,
                           clg_fit_report *r)
{
    long long bad = clg_optim_steps(opt) + 1;
    r->steps -= enqueued - (bad - 1);
    return clg_fail_prefix(s,
                           "training stopped in epoch %d, batch %d (last finite loss "
                           "%g)",
                           epoch + 1, batch_at[bad % ring] + 1, (double)last_loss);
}

/* Whether any rank's callback asked to stop: every rank stops with it. */
static clg_status any_rank_stops(clg_comm *comm, bool *stop)
{
    float any = *stop ? 1.0f : 0.0f;
    clg_status s = clg_comm_allreduce_sum(comm, &any, 1);
    *stop = any > 0.0f;
    return s;
}

clg_status clg_fit(clg_model *m, clg_optimizer *opt, clg_loader *train,
                   const clg_dataset *val, const clg_fit_opts *o, clg_fit_report *r)
{
    if (!m || !opt || !train || !o || !r)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_fit: NULL argument");
    memset(r, 0, sizeof *r);
    r->best_epoch = -1;
    r->best_val_loss = INFINITY;
    r->steps = o->first_step;
    r->last_loss = NAN;
    clg_comm *comm = o->comm && clg_comm_size(o->comm) > 1 ? o->comm : NULL;
    clg_status s = clg_check_data(m, clg_loader_dataset(train), "training");
    if (s == CLG_OK && val)
        s = clg_check_data(m, val, "validation");
    step_ctx sc = {comm, NULL, 1, comm && o->sync_batch_norm};
    if (s == CLG_OK && comm)
        s = clg_dp_create(m, opt, train, comm, o,
                          o->first_step == 0 && o->first_epoch == 0, &sc.dp);
    if (s != CLG_OK) {
        clg_comm_abort(comm, clg_last_error());
        return s;
    }
    int nparams = clg_optim_param_count(opt), K = o->accumulate > 1 ? o->accumulate : 1;
    int S = o->sync_every > 1 ? o->sync_every : 1;
    int *batch_at = malloc((size_t)S * sizeof *batch_at); /* by optimizer step % S */
    float *norm_sums = malloc((size_t)(nparams ? nparams : 1) * sizeof *norm_sums);
    if (!batch_at || !norm_sums) {
        free(batch_at), free(norm_sums);
        clg_dp_free(sc.dp);
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_fit");
        clg_comm_abort(comm, clg_last_error());
        return s;
    }
    /* The tallies and norm sums count from here, whatever ran before. */
    clg_tally before;
    s = clg_plan_take_tally(clg_model_plan(m), &before);
    if (s == CLG_OK)
        s = clg_optim_take_grad_norm_sums(opt, norm_sums, nparams);
    float base_lr = clg_optim_lr(opt);
    snapshot best = {0, NULL};
    int since_best = 0;
    bool warned_overfit = false, stop = false;
    for (int epoch = o->first_epoch; s == CLG_OK && !stop && epoch < o->epochs;
         epoch++) {
        double start = clg_now_seconds();
        epoch_totals tot = {0, 0, 0, 0};
        long long epoch_steps = 0;
        int unread = 0; /* steps since the host last read the device */
        s = clg_loader_start_epoch(train, epoch);
        const clg_batch *b = NULL;
        int group = 1;
        while (s == CLG_OK && (s = clg_loader_next(train, &b)) == CLG_OK && b) {
            /* Accumulation: groups of K batches, the gradient of their mean
             * loss (the last group of an epoch may be shorter). */
            int at = b->index % K;
            if (at == 0) {
                group = clg_loader_batches(train) - b->index;
                group = group < K ? group : K;
            }
            sc.group = group;
            bool update = at == group - 1;
            float lr =
                o->schedule ? clg_schedule_lr(o->schedule, epoch, r->steps) : base_lr;
            clg_optim_set_lr(opt, lr);
            s = train_step(m, opt, &sc, b, at == 0, update);
            if (s != CLG_OK || !update)
                continue;
            r->steps++;
            epoch_steps++;
            long long enqueued = clg_optim_steps(opt);
            batch_at[enqueued % S] = b->index;
            /* The host reads the device every S steps, at the epoch's end
             * and at the last step; the device runs on between. */
            bool last = b->index == clg_loader_batches(train) - 1 ||
                        (o->max_steps > 0 && r->steps >= o->max_steps);
            if (++unread < S && !last)
                continue;
            unread = 0;
            float loss;
            s = read_tally(m, comm, b->count, b->total, &tot, &loss);
            if (s == CLG_OK && (s = clg_optim_check(opt)) != CLG_OK) {
                s = bad_step(s, opt, enqueued, batch_at, S, epoch, r->last_loss, r);
                break;
            }
            if (s != CLG_OK)
                break;
            r->last_loss = loss;
            double elapsed = clg_now_seconds() - start;
            clg_step_info si = {epoch,
                                b->index,
                                clg_loader_batches(train),
                                r->steps,
                                loss,
                                (float)(tot.loss / (double)tot.samples),
                                (float)((double)tot.correct / (double)tot.positions),
                                lr,
                                elapsed > 0 ? (double)tot.samples / elapsed : 0,
                                elapsed};
            if (o->on_step && !o->on_step(&si, o->user))
                stop = true;
            if (comm && (s = any_rank_stops(comm, &stop)) != CLG_OK)
                break;
            if (o->max_steps > 0 && r->steps >= o->max_steps)
                stop = true;
            if (stop)
                break;
        }
        if (s == CLG_OK) /* the epoch's, for check_gradients */
            s = clg_optim_take_grad_norm_sums(opt, norm_sums, nparams);
        if (s != CLG_OK)
            break;
        double seconds = clg_now_seconds() - start;
        clg_epoch_info ei = {
            epoch,
            clg_optim_lr(opt),
            tot.samples ? (float)(tot.loss / (double)tot.samples) : NAN,
            tot.positions ? (float)((double)tot.correct / (double)tot.positions) : NAN,
            NAN,
            NAN,
            seconds,
            seconds > 0 ? (double)tot.samples / seconds : 0,
            false};
        if (val) {
            clg_eval_report vr;
            s = clg_evaluate(m, val, &vr);
            if (s != CLG_OK)
                break;
            ei.val_loss = vr.loss;
            ei.val_accuracy = vr.accuracy;
            clg_eval_report_free(&vr);
            clg_schedule_observe(o->schedule, ei.val_loss);
            if (ei.val_loss < r->best_val_loss - o->min_delta) {
                r->best_val_loss = ei.val_loss;
                r->best_epoch = epoch;
                ei.best = true;
                since_best = 0;
                if (o->early_stop > 0 && o->restore_best)
                    s = snapshot_take(m, &best);
            } else {
                since_best++;
            }
            if (!warned_overfit && o->overfit_gap > 0 &&
                ei.train_accuracy - ei.val_accuracy > o->overfit_gap &&
                since_best >= 2) {
                warn(o,
                     "epoch %d: overfitting: training accuracy %.3f, validation %.3f, "
                     "and the "
                     "validation loss has not improved for %d epochs (try dropout, "
                     "weight "
                     "decay, augmentation or early stopping)",
                     epoch + 1, (double)ei.train_accuracy, (double)ei.val_accuracy,
                     since_best);
                warned_overfit = true;
            }
        }
        if (s == CLG_OK && comm && (s = clg_dp_compare_weights(sc.dp, epoch)) != CLG_OK)
            break;
        check_gradients(o, opt, norm_sums, epoch_steps, epoch);
        r->epochs = epoch + 1;
        if (o->on_epoch && !o->on_epoch(&ei, o->user))
            stop = true;
        if (comm && (s = any_rank_stops(comm, &stop)) != CLG_OK)
            break;
        if (val && o->early_stop > 0 && since_best >= o->early_stop) {
            r->stopped_early = true;
            stop = true;
        }
    }
    if (s == CLG_OK && r->stopped_early && o->restore_best && best.values) {
        s = snapshot_restore(m, &best);
        r->restored_best = s == CLG_OK;
    }
    snapshot_free(&best);
    free(batch_at), free(norm_sums);
    clg_dp_free(sc.dp);
    if (s == CLG_OK)
        s = clg_plan_set_loss_scale(clg_model_plan(m), 1.0f);
    clg_plan_set_sample_offset(clg_model_plan(m), 0);
    if (s != CLG_OK && s != CLG_RANK_FAILED)
        clg_comm_abort(comm, clg_last_error());
    return s;
}
