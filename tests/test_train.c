/* The training loop on small synthetic problems: it learns, stops early and
 * restores the best weights, stops on a non-finite step keeping the last good
 * weights (however late the host looks), tallies loss and accuracy on the
 * device, and reports vanishing gradients and overfitting. */
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

/* Two Gaussian blobs per class in 8 dimensions: easy to separate. */
static clg_dataset *blobs(int n, int classes, uint32_t seed, bool random_labels)
{
    clg_dataset *d;
    assert_ok(clg_dataset_create(n, 1, (int[]){8}, true, &d));
    for (int i = 0; i < n; i++) {
        int c = i % classes;
        d->labels[i] = random_labels
                           ? (int32_t)((uint32_t)(test_random(&seed) * 1e6f + 1e6f) %
                                       (uint32_t)classes)
                           : c;
        for (int k = 0; k < 8; k++)
            d->x[i * 8 + k] = (k == c ? 2.0f : 0.0f) + 0.5f * test_random(&seed);
    }
    d->classes = classes;
    return d;
}

static clg_model *mlp_with(clg_context *ctx, int hidden, int classes, clg_init init,
                           clg_loss_type loss)
{
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = 16, mo.init = init, mo.seed = 3;
    clg_model *m;
    assert_ok(clg_model_create(ctx, &mo, 1, (int[]){8}, &m));
    assert_ok(clg_model_add(m, CLG_LINEAR(hidden)));
    assert_ok(clg_model_add(m, CLG_RELU()));
    assert_ok(clg_model_add(m, CLG_LINEAR(classes)));
    assert_ok(clg_model_compile(m, loss, 0.0f));
    return m;
}

static clg_model *mlp(clg_context *ctx, int hidden, int classes, clg_init init)
{
    return mlp_with(ctx, hidden, classes, init, CLG_LOSS_CROSS_ENTROPY);
}

static clg_optimizer *adam(clg_model *m, float lr)
{
    clg_optim_opts o = CLG_OPTIM_DEFAULTS;
    o.type = CLG_OPTIM_ADAM, o.lr = lr;
    clg_optimizer *opt;
    assert_ok(clg_optim_create(clg_model_plan(m), &o, &opt));
    return opt;
}

static clg_loader *loader(const clg_dataset *d)
{
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = 16, lo.seed = 1;
    clg_loader *l;
    assert_ok(clg_loader_create(d, &lo, &l));
    return l;
}

typedef struct log {
    int epochs, steps;
    float first_loss, last_epoch_loss;
    char warnings[4096];
    float weights_at[8][8]; /* 0.weight[0..7] after each epoch */
    clg_model *m;
    int stop_at_step, stop_at_epoch; /* > 0: the callback returns false there */
    int poison_after;                /* > 0: at this on_step, an inf into 0.weight[0] */
    long long last_step;             /* of the last on_step */
    float last_epoch_accuracy;
    float weights_poisoned[64]; /* 0.weight as it was then, before the inf */
} log_t;

static bool on_step(const clg_step_info *s, void *user)
{
    log_t *l = user;
    if (l->steps++ == 0)
        l->first_loss = s->loss;
    l->last_step = s->step;
    if (l->poison_after && l->steps == l->poison_after) {
        clg_tensor *w = clg_model_tensor(l->m, 0);
        clg_tensor_download(w, l->weights_poisoned, 64);
        float poisoned[64];
        memcpy(poisoned, l->weights_poisoned, sizeof poisoned);
        poisoned[0] = INFINITY;
        clg_tensor_upload(w, poisoned, 64);
    }
    return l->steps != l->stop_at_step;
}

static bool on_epoch(const clg_epoch_info *e, void *user)
{
    log_t *l = user;
    l->last_epoch_loss = e->train_loss;
    l->last_epoch_accuracy = e->train_accuracy;
    if (l->epochs < 8)
        clg_tensor_download(clg_model_tensor(l->m, 0), l->weights_at[l->epochs], 8);
    l->epochs++;
    return l->epochs != l->stop_at_epoch;
}

static void on_warning(const char *msg, void *user)
{
    log_t *l = user;
    size_t used = strlen(l->warnings);
    snprintf(l->warnings + used, sizeof l->warnings - used, "%s\n", msg);
}

static clg_fit_opts fit_opts(log_t *log, int epochs)
{
    clg_fit_opts o = CLG_FIT_DEFAULTS;
    o.epochs = epochs;
    o.on_step = on_step, o.on_epoch = on_epoch, o.on_warning = on_warning, o.user = log;
    return o;
}

static void test_fit_learns_and_evaluates(void **state)
{
    clg_dataset *train = blobs(256, 4, 1, false), *test = blobs(64, 4, 2, false);
    clg_model *m = mlp(*state, 16, 4, CLG_INIT_PYTORCH);
    clg_optimizer *opt = adam(m, 0.02f);
    clg_loader *l = loader(train);
    log_t log = {.m = m};
    clg_fit_opts o = fit_opts(&log, 5);
    clg_fit_report r;
    assert_ok(clg_fit(m, opt, l, test, &o, &r));
    assert_int_equal(r.epochs, 5);
    assert_int_equal(r.steps, 5 * 16);
    assert_int_equal(log.steps, 80);
    assert_true(log.last_epoch_loss < 0.5f * log.first_loss);
    clg_eval_report e;
    assert_ok(clg_evaluate(m, test, &e));
    assert_true(e.accuracy > 0.9f);
    int total = 0;
    for (int i = 0; i < 16; i++)
        total += e.confusion[i];
    assert_int_equal(total, 64);
    for (int c = 0; c < 4; c++)
        assert_true(e.class_accuracy[c] > 0.7f);
    int32_t pred[64];
    float prob[64];
    assert_ok(clg_predict(m, test, pred, prob));
    int agree = 0;
    for (int i = 0; i < 64; i++) {
        assert_true(prob[i] > 0.25f && prob[i] <= 1.0f);
        agree += pred[i] == test->labels[i];
    }
    assert_int_equal(agree, (int)lroundf(e.accuracy * 64));
    assert_true(strstr(log.warnings, "gradients") == NULL);
    clg_eval_report_free(&e);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train), clg_dataset_free(test);
}

static void test_early_stopping_restores_the_best_weights(void **state)
{
    clg_dataset *train = blobs(64, 4, 1, false), *val = blobs(32, 4, 2, false);
    clg_model *m = mlp(*state, 8, 4, CLG_INIT_PYTORCH);
    clg_optimizer *opt = adam(m, 0.01f);
    clg_loader *l = loader(train);
    log_t log = {.m = m};
    clg_fit_opts o = fit_opts(&log, 10);
    o.early_stop = 2;
    o.min_delta = 1e9f; /* nothing after epoch 1 counts as better */
    clg_fit_report r;
    assert_ok(clg_fit(m, opt, l, val, &o, &r));
    assert_true(r.stopped_early && r.restored_best);
    assert_int_equal(r.epochs, 3);
    assert_int_equal(r.best_epoch, 0);
    float now[8];
    assert_ok(clg_tensor_download(clg_model_tensor(m, 0), now, 8));
    assert_memory_equal(now, log.weights_at[0], sizeof now);
    assert_memory_not_equal(now, log.weights_at[2], sizeof now);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train), clg_dataset_free(val);
}

/* What a poisoned training run left: fit's report and error, on_step's
 * calls, the optimizer's steps. */
typedef struct poisoned {
    clg_fit_report r;
    char error[1024];
    int calls;
    long long optim_steps;
} poisoned;

/* Trains the MLP on 4 batches an epoch, reading the device every
 * `sync_every` steps, and at on_step call `poison_after` turns
 * 0.weight[0] into inf: training must stop (CLG_NOT_FINITE) with the other
 * weights those of that call, every later update skipped on the device. */
static poisoned fit_poisoned(clg_context *ctx, int poison_after, int sync_every)
{
    clg_dataset *train = blobs(64, 4, 1, false);
    clg_model *m = mlp(ctx, 8, 4, CLG_INIT_PYTORCH);
    clg_optimizer *opt = adam(m, 0.01f);
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = 16, lo.shuffle = false;
    clg_loader *l;
    assert_ok(clg_loader_create(train, &lo, &l));
    log_t log = {.m = m, .poison_after = poison_after};
    clg_fit_opts o = fit_opts(&log, 3);
    o.sync_every = sync_every;
    poisoned p;
    assert_int_equal(clg_fit(m, opt, l, NULL, &o, &p.r), CLG_NOT_FINITE);
    snprintf(p.error, sizeof p.error, "%s", clg_last_error());
    p.calls = log.steps;
    p.optim_steps = clg_optim_steps(opt);
    assert_true(isfinite(p.r.last_loss));
    float w[64];
    assert_ok(clg_tensor_download(clg_model_tensor(m, 0), w, 64));
    assert_true(isinf(w[0]));
    assert_memory_equal(w + 1, log.weights_poisoned + 1, 63 * sizeof *w);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train);
    return p;
}

/* A weight turned inf after step 2 makes step 3's loss and gradients
 * non-finite: training stops there, and the other weights are those after
 * step 2 (the update of step 3 was skipped on the device). */
static void test_non_finite_step_stops_and_keeps_weights(void **state)
{
    poisoned p = fit_poisoned(*state, 2, 1);
    assert_contains(p.error, "training stopped in epoch 1, batch 3");
    assert_contains(p.error, "last finite loss");
    assert_contains(p.error, "is not finite");
    assert_contains(p.error, "the weights were left as they were");
    assert_int_equal(p.r.steps, 2);
}

/* The same with the host reading the device every 4 steps (4 batches an
 * epoch): poisoned at the first read, after step 4, step 5 goes bad, the
 * device skips it and steps 6 to 8, and the read after step 8 names step
 * 5's batch and finds the weights of after step 4. */
static void test_non_finite_step_found_late_keeps_weights(void **state)
{
    poisoned p = fit_poisoned(*state, 1, 4);
    assert_contains(p.error, "training stopped in epoch 2, batch 1 ");
    assert_contains(p.error, "step 5: the gradient of '0.weight' is not finite");
    assert_int_equal(p.r.steps, 4);
    assert_int_equal(p.optim_steps, 4);
    assert_int_equal(p.calls, 1);
}

/* Training runs tally their loss and accuracy on the device: the sums of
 * what the host computes from the loss and logits it reads, evaluation runs
 * left out; a take starts them again. */
static void test_plan_tallies_training_runs(void **state)
{
    clg_model *m = mlp(*state, 8, 4, CLG_INIT_PYTORCH);
    clg_plan *plan = clg_model_plan(m);
    clg_tally t;
    assert_ok(clg_plan_take_tally(plan, &t));
    uint32_t seed = 9;
    float x[16 * 8], logits[16 * 4], loss[2];
    int32_t y[16];
    int batch[2] = {16, 5};
    for (int run = 0; run < 2; run++) {
        /* Labels that the model's prediction (the host's argmax) gets right
         * at even rows, wrong at odd ones. */
        for (int i = 0; i < 16 * 8; i++)
            x[i] = test_random(&seed);
        assert_ok(clg_tensor_upload(clg_model_input(m), x, (size_t)batch[run] * 8));
        assert_ok(clg_plan_run(plan, batch[run], CLG_RUN_EVAL)); /* not counted */
        assert_ok(
            clg_plan_read(plan, clg_model_output(m), logits, (size_t)batch[run] * 4));
        for (int i = 0; i < batch[run]; i++) {
            int best = 0;
            for (int c = 1; c < 4; c++)
                best = logits[i * 4 + c] > logits[i * 4 + best] ? c : best;
            y[i] = i % 2 ? (best + 1) % 4 : best;
        }
        assert_ok(clg_tensor_upload(clg_model_target(m), y, (size_t)batch[run]));
        assert_ok(clg_plan_run(plan, batch[run], CLG_RUN_TRAIN));
        assert_ok(clg_plan_loss(plan, &loss[run]));
    }
    long long correct = 8 + 3;
    assert_ok(clg_plan_take_tally(plan, &t));
    double want = (double)loss[0] * 16 + (double)loss[1] * 5;
    assert_true(fabs(t.loss_sum - want) <= 1e-6 * want);
    assert_int_equal(t.correct, correct);
    assert_int_equal(t.positions, 21);
    assert_int_equal(t.runs, 2);
    assert_true(t.last_loss == loss[1]);
    assert_ok(clg_plan_take_tally(plan, &t));
    assert_true(t.loss_sum == 0.0 && t.correct == 0 && t.positions == 0);
    assert_int_equal(t.runs, 0);
    assert_true(isnan(t.last_loss));
    clg_model_free(m);

    /* A pointwise loss: a row is right where the output's largest value is
     * where the target's is; the last row's target has its 1 elsewhere. */
    m = mlp_with(*state, 8, 4, CLG_INIT_PYTORCH, CLG_LOSS_MSE);
    plan = clg_model_plan(m);
    float hot[5 * 4] = {0};
    assert_ok(clg_tensor_upload(clg_model_input(m), x, 5 * 8));
    assert_ok(clg_plan_run(plan, 5, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, clg_model_output(m), logits, 5 * 4));
    for (int i = 0; i < 5; i++) {
        int best = 0;
        for (int c = 1; c < 4; c++)
            best = logits[i * 4 + c] > logits[i * 4 + best] ? c : best;
        hot[i * 4 + (i == 4 ? (best + 2) % 4 : best)] = 1.0f;
    }
    assert_ok(clg_tensor_upload(clg_model_target(m), hot, 5 * 4));
    assert_ok(clg_plan_run(plan, 5, CLG_RUN_TRAIN));
    assert_ok(clg_plan_loss(plan, &loss[0]));
    assert_ok(clg_plan_take_tally(plan, &t));
    assert_int_equal(t.correct, 4);
    assert_int_equal(t.positions, 5);
    assert_true(fabs(t.loss_sum - 5.0 * loss[0]) <= 1e-6 * 5 * loss[0]);
    clg_model_free(m);
}

/* The memory report counts what the device holds: a model, its plan and an
 * optimizer take from the device exactly its total, after a training step
 * too; and the largest batch it names fits where one more sample would
 * not. */
static void test_memory_report_is_what_the_device_holds(void **state)
{
    clg_context *ctx = *state;
    const char *specs[2] = {"input 1 6 6\nconv2d 4 3 padding=1\nbatchnorm2d\nrelu\n"
                            "flatten\nlinear 5\n",
                            "input tokens 12\ntokpos 40 16\nblock 16 2\nlayernorm\n"
                            "linear 40 bias=false tie=true\n"};
    for (int k = 0; k < 2; k++) {
        clg_context_pool_trim(ctx);
        clg_pool_stats before, after;
        clg_context_pool_stats(ctx, &before);
        clg_spec *spec;
        assert_ok(clg_spec_parse(specs[k], "memory", &spec));
        clg_model_opts mo = CLG_MODEL_DEFAULTS;
        mo.max_batch = 8;
        clg_model *m;
        assert_ok(clg_model_from_spec(ctx, spec, &mo, &m));
        assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
        clg_optim_opts o = CLG_OPTIM_DEFAULTS;
        o.type = CLG_OPTIM_ADAMW;
        clg_optimizer *opt;
        assert_ok(clg_optim_create(clg_model_plan(m), &o, &opt));
        assert_ok(clg_plan_run(clg_model_plan(m), 8, CLG_RUN_TRAIN));
        assert_ok(clg_optim_step(opt));
        assert_ok(clg_plan_run(clg_model_plan(m), 5, CLG_RUN_ACCUMULATE));
        assert_ok(clg_context_finish(ctx));
        clg_memory_report r;
        assert_ok(clg_plan_memory_report(clg_model_plan(m), &r));
        r.optimizer = clg_optim_memory(opt);
        r.total += r.optimizer;
        clg_context_pool_trim(ctx); /* what runs at batch 5 freed is not held */
        clg_context_pool_stats(ctx, &after);
        if (after.device_bytes - before.device_bytes != r.total)
            fail_msg("model %d: the device holds %llu bytes more, the report says %llu "
                     "(parameters %llu, gradients %llu, optimizer %llu, activations "
                     "%llu, inputs %llu, workspace %llu)",
                     k, (unsigned long long)(after.device_bytes - before.device_bytes),
                     (unsigned long long)r.total, (unsigned long long)r.parameters,
                     (unsigned long long)r.gradients, (unsigned long long)r.optimizer,
                     (unsigned long long)r.activations, (unsigned long long)r.inputs,
                     (unsigned long long)r.workspace);
        assert_true(r.parameters > 0 && r.gradients > 0 &&
                    r.optimizer >= 2 * r.gradients);
        assert_true(r.activations > 0 && r.inputs > 0 && r.batch == 8);
        uint64_t fixed = r.parameters + r.gradients + r.optimizer;
        uint64_t grows = r.activations + r.inputs + r.workspace;
        int largest = clg_memory_largest_batch(&r, fixed + grows * 3);
        assert_int_equal(largest, 24); /* three times the batch of 8 */
        assert_int_equal(clg_memory_largest_batch(&r, fixed), 0);
        clg_optim_free(opt), clg_model_free(m), clg_spec_free(spec);
    }
}

/* clg_fit trains a model compiled with mse or bce on labels as one-hot
 * targets: one SGD step over 16 samples gives the weights that the same
 * step on F.one_hot(labels) floats, uploaded by hand, gives. */
static void test_pointwise_losses_fit_one_hot_labels(void **state)
{
    clg_dataset *d = blobs(16, 4, 7, true);
    clg_loss_type losses[2] = {CLG_LOSS_MSE, CLG_LOSS_BCE_WITH_LOGITS};
    for (int k = 0; k < 2; k++) {
        float w[2][32];
        for (int way = 0; way < 2; way++) {
            clg_model *m = mlp_with(*state, 4, 4, CLG_INIT_PYTORCH, losses[k]);
            clg_optim_opts o = CLG_OPTIM_DEFAULTS;
            o.lr = 0.5f;
            clg_optimizer *opt;
            assert_ok(clg_optim_create(clg_model_plan(m), &o, &opt));
            if (way == 0) {
                clg_loader_opts lo = CLG_LOADER_DEFAULTS;
                lo.batch_size = 16, lo.shuffle = false;
                clg_loader *l;
                assert_ok(clg_loader_create(d, &lo, &l));
                clg_fit_opts fo = CLG_FIT_DEFAULTS;
                fo.epochs = 1;
                clg_fit_report r;
                assert_ok(clg_fit(m, opt, l, NULL, &fo, &r));
                clg_loader_free(l);
            } else {
                float hot[16 * 4] = {0};
                for (int i = 0; i < 16; i++)
                    hot[i * 4 + d->labels[i]] = 1.0f;
                assert_ok(clg_tensor_upload(clg_model_input(m), d->x, 16 * 8));
                assert_ok(clg_tensor_upload(clg_model_target(m), hot, 16 * 4));
                assert_ok(clg_plan_run(clg_model_plan(m), 16, CLG_RUN_TRAIN));
                assert_ok(clg_optim_step(opt));
            }
            assert_ok(clg_tensor_download(clg_model_tensor(m, 0), w[way], 32));
            clg_optim_free(opt), clg_model_free(m);
        }
        for (int i = 0; i < 32; i++)
            if (!(fabsf(w[0][i] - w[1][i]) <= 1e-6f * (1 + fabsf(w[1][i]))))
                fail_msg("%s: 0.weight[%d] %.8g by clg_fit, %.8g by hand",
                         clg_loss_type_str(losses[k]), i, w[0][i], w[1][i]);
    }
    clg_dataset_free(d);
}

/* Reading the device every 3 steps: on_step comes at steps 3 and 4 (the
 * epoch's end) of each epoch, and training is the same, bit for bit, as
 * with a read after every step, epoch losses and accuracies included. */
static void test_sync_every_changes_when_the_host_looks_not_what_it_sees(void **state)
{
    clg_dataset *train = blobs(64, 4, 1, false);
    float w[2][64], loss[2], acc[2];
    int calls[2];
    long long last_step[2];
    for (int k = 0; k < 2; k++) {
        clg_model *m = mlp(*state, 8, 4, CLG_INIT_PYTORCH);
        clg_optimizer *opt = adam(m, 0.01f);
        clg_loader *l = loader(train); /* 4 batches an epoch */
        log_t log = {.m = m};
        clg_fit_opts o = fit_opts(&log, 3);
        o.sync_every = k ? 3 : 1;
        clg_fit_report r;
        assert_ok(clg_fit(m, opt, l, NULL, &o, &r));
        assert_int_equal(r.steps, 12);
        calls[k] = log.steps, last_step[k] = log.last_step;
        loss[k] = log.last_epoch_loss, acc[k] = log.last_epoch_accuracy;
        assert_ok(clg_tensor_download(clg_model_tensor(m, 0), w[k], 64));
        clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    }
    assert_int_equal(calls[0], 12);
    assert_int_equal(calls[1], 6);
    assert_int_equal(last_step[0], 12);
    assert_int_equal(last_step[1], 12);
    assert_memory_equal(w[0], w[1], sizeof w[0]);
    assert_true(loss[0] == loss[1] && acc[0] == acc[1]);
    assert_true(acc[0] > 0.0f && acc[0] <= 1.0f);
    clg_dataset_free(train);
}

static void test_non_finite_data_is_refused_before_training(void **state)
{
    clg_dataset *train = blobs(64, 4, 1, false);
    train->x[8 * 37 + 3] = NAN;
    clg_model *m = mlp(*state, 8, 4, CLG_INIT_PYTORCH);
    clg_optimizer *opt = adam(m, 0.01f);
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    clg_loader *l;
    assert_ok(clg_loader_create(train, &lo, &l));
    log_t log = {.m = m};
    clg_fit_opts o = fit_opts(&log, 1);
    clg_fit_report r;
    assert_int_equal(clg_fit(m, opt, l, NULL, &o, &r), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(),
                    "training: sample 37 holds a non-finite value (nan at element 3)");
    assert_int_equal(log.steps, 0);
    int32_t cls[64];
    float prob[64];
    assert_int_equal(clg_predict(m, train, cls, prob), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "predict: sample 37 holds a non-finite value");
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train);
}

static void test_vanishing_gradients_are_reported_per_layer(void **state)
{
    clg_dataset *train = blobs(64, 4, 1, false);
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = 16, mo.init = CLG_INIT_XAVIER_UNIFORM;
    clg_model *m;
    assert_ok(clg_model_create(*state, &mo, 1, (int[]){8}, &m));
    for (int i = 0; i < 12; i++) { /* deep, saturating, narrow */
        assert_ok(clg_model_add(m, CLG_LINEAR(8)));
        assert_ok(clg_model_add(m, CLG_SIGMOID()));
    }
    assert_ok(clg_model_add(m, CLG_LINEAR(4)));
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    clg_optimizer *opt = adam(m, 1e-4f);
    clg_loader *l = loader(train);
    log_t log = {.m = m};
    clg_fit_opts o = fit_opts(&log, 1);
    clg_fit_report r;
    assert_ok(clg_fit(m, opt, l, NULL, &o, &r));
    assert_contains(log.warnings,
                    "vanishing gradients: mean gradient norm per layer: 0.weight");
    assert_contains(log.warnings, "24.weight");
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train);
}

static void test_overfitting_is_reported(void **state)
{
    /* Random labels: a wide model memorises them, validation stays at chance. */
    clg_dataset *train = blobs(32, 4, 5, true), *val = blobs(64, 4, 6, true);
    clg_model *m = mlp(*state, 128, 4, CLG_INIT_PYTORCH);
    clg_optimizer *opt = adam(m, 0.02f);
    clg_loader *l = loader(train);
    log_t log = {.m = m};
    clg_fit_opts o = fit_opts(&log, 40);
    clg_fit_report r;
    assert_ok(clg_fit(m, opt, l, val, &o, &r));
    assert_contains(log.warnings, "overfitting: training accuracy");
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train), clg_dataset_free(val);
}

static void test_data_that_does_not_fit_the_model_is_refused(void **state)
{
    clg_dataset *d;
    assert_ok(clg_dataset_create(16, 3, (int[]){3, 2, 2}, true, &d));
    clg_model *m = mlp(*state, 8, 4, CLG_INIT_PYTORCH);
    clg_optimizer *opt = adam(m, 0.01f);
    clg_loader *l = loader(d);
    clg_fit_opts o = CLG_FIT_DEFAULTS;
    clg_fit_report r;
    assert_int_equal(clg_fit(m, opt, l, NULL, &o, &r), CLG_SHAPE_MISMATCH);
    assert_contains(clg_last_error(),
                    "the data's samples are [3,2,2], the model's input is [8]");
    clg_eval_report e;
    assert_int_equal(clg_evaluate(m, d, &e), CLG_SHAPE_MISMATCH);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(d);
}

static void test_max_steps_and_callbacks_stop_training(void **state)
{
    clg_dataset *train = blobs(64, 4, 1, false);
    clg_model *m = mlp(*state, 8, 4, CLG_INIT_PYTORCH);
    clg_optimizer *opt = adam(m, 0.01f);
    clg_loader *l = loader(train); /* 4 batches an epoch */
    log_t log = {.m = m};
    clg_fit_opts o = fit_opts(&log, 5);
    o.max_steps = 6;
    clg_fit_report r;
    assert_ok(clg_fit(m, opt, l, NULL, &o, &r));
    assert_int_equal(r.steps, 6);
    assert_int_equal(clg_optim_steps(opt), 6);

    /* on_step returning false stops after that step, in the second epoch. */
    log = (log_t){.m = m, .stop_at_step = 7};
    o.max_steps = 0;
    assert_ok(clg_fit(m, opt, l, NULL, &o, &r));
    assert_int_equal(r.steps, 7);
    assert_int_equal(log.steps, 7);
    assert_int_equal(clg_optim_steps(opt), 6 + 7);
    assert_int_equal(r.epochs, 2);

    /* on_epoch returning false stops after that epoch, its steps whole. */
    log = (log_t){.m = m, .stop_at_epoch = 2};
    assert_ok(clg_fit(m, opt, l, NULL, &o, &r));
    assert_int_equal(r.epochs, 2);
    assert_int_equal(log.epochs, 2);
    assert_int_equal(r.steps, 2 * 4);
    assert_int_equal(log.steps, 2 * 4);
    assert_int_equal(clg_optim_steps(opt), 6 + 7 + 8);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train);
}

/* Weights after one epoch of SGD over 48 samples in file order: batches of
 * `batch`, an update every `accumulate` of them. */
static void sgd_epoch(clg_context *ctx, const clg_dataset *d, int batch, int accumulate,
                      float *w, long long *steps)
{
    clg_model *m = mlp(ctx, 6, 3, CLG_INIT_PYTORCH);
    clg_optim_opts o = CLG_OPTIM_DEFAULTS;
    o.lr = 0.5, o.momentum = 0.9;
    clg_optimizer *opt;
    assert_ok(clg_optim_create(clg_model_plan(m), &o, &opt));
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = batch, lo.shuffle = false;
    clg_loader *l;
    assert_ok(clg_loader_create(d, &lo, &l));
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1, fo.accumulate = accumulate;
    clg_fit_report r;
    assert_ok(clg_fit(m, opt, l, NULL, &fo, &r));
    *steps = r.steps;
    assert_ok(clg_tensor_download(clg_model_tensor(m, 0), w, 48));
    assert_float_equal(clg_plan_loss_scale(clg_model_plan(m)), 1.0f, 0.0f);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
}

/* Batches of 4 accumulated 4 at a time step as batches of 16 do, and the
 * short last group (48 = 2 x 16 + 16 as 4 + 4 + 4 + 4 ... of 5) averages
 * over the batches it has. */
static void test_gradient_accumulation_equals_the_larger_batch(void **state)
{
    clg_dataset *d = blobs(48, 3, 5, false);
    float big[48], small[48];
    long long steps_big, steps_small;
    sgd_epoch(*state, d, 16, 1, big, &steps_big);
    sgd_epoch(*state, d, 4, 4, small, &steps_small);
    assert_int_equal(steps_big, 3);
    assert_int_equal(steps_small, 3);
    for (int i = 0; i < 48; i++)
        if (!(fabsf(big[i] - small[i]) <= 1e-5f * (1 + fabsf(big[i]))))
            fail_msg(
                "0.weight[%d]: %.8g with batches of 16, %.8g with 4 x 4 accumulated", i,
                big[i], small[i]);
    /* 12 batches of 4 in groups of 5: 5, 5, then a group of 2 */
    float five[48];
    long long steps_five;
    sgd_epoch(*state, d, 4, 5, five, &steps_five);
    assert_int_equal(steps_five, 3);
    clg_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_learns_and_evaluates),
        cmocka_unit_test(test_early_stopping_restores_the_best_weights),
        cmocka_unit_test(test_non_finite_step_stops_and_keeps_weights),
        cmocka_unit_test(test_non_finite_step_found_late_keeps_weights),
        cmocka_unit_test(test_plan_tallies_training_runs),
        cmocka_unit_test(test_pointwise_losses_fit_one_hot_labels),
        cmocka_unit_test(test_memory_report_is_what_the_device_holds),
        cmocka_unit_test(test_sync_every_changes_when_the_host_looks_not_what_it_sees),
        cmocka_unit_test(test_non_finite_data_is_refused_before_training),
        cmocka_unit_test(test_vanishing_gradients_are_reported_per_layer),
        cmocka_unit_test(test_overfitting_is_reported),
        cmocka_unit_test(test_data_that_does_not_fit_the_model_is_refused),
        cmocka_unit_test(test_max_steps_and_callbacks_stop_training),
        cmocka_unit_test(test_gradient_accumulation_equals_the_larger_batch),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
