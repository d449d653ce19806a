/*
 * clgrad/train.h — the training loop: epochs, validation, early stopping,
 * evaluation, and diagnostics for the classic ways training fails.
 *
 *     clg_fit_opts fo = CLG_FIT_DEFAULTS;        // 10 epochs
 *     fo.early_stop = 3;                         // patience, on validation loss
 *     clg_fit_report report;
 *     clg_fit(model, optimizer, loader, val, &fo, &report);
 *     clg_eval_report test_report;
 *     clg_evaluate(model, test, &test_report);   // loss, accuracy, confusion
 *
 * The loop is for classification models (datasets with labels) compiled
 * with cross-entropy, or with mse, l1 or bce, whose targets it makes from
 * the labels, one-hot (1 for the class, 0 elsewhere, as
 * F.one_hot(labels, C).float()). A step whose loss or gradients are not finite stops
 * training with CLG_NOT_FINITE and a sentence naming the step, the parameter
 * and the last finite loss; the weights are the last good ones.
 */
#ifndef CLGRAD_TRAIN_H
#define CLGRAD_TRAIN_H

#include "api.h"

#include "comm.h"
#include "data.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_step_info {
    int epoch, batch, batches;
    long long step;     /* optimizer steps so far, this one included */
    float loss;         /* of this batch */
    float running_loss; /* mean over the epoch so far */
    float running_accuracy;
    float lr;
    double samples_per_second;
    double seconds; /* since the epoch began */
} clg_step_info;

typedef struct clg_epoch_info {
    int epoch;
    float lr;
    float train_loss, train_accuracy;
    float val_loss, val_accuracy; /* NAN without validation data */
    double seconds, samples_per_second;
    bool best; /* the best validation loss so far */
} clg_epoch_info;

typedef struct clg_fit_opts {
    int epochs;
    long long max_steps; /* > 0: stop after this many optimizer steps */
    int first_epoch;     /* to resume: epochs already done */
    int early_stop;      /* > 0: stop after this many epochs without a
                            validation loss better by min_delta */
    float min_delta;
    bool restore_best;      /* with early stopping: end on the best weights */
    clg_schedule *schedule; /* NULL: constant learning rate */
    float overfit_gap;      /* warn when train - validation accuracy exceeds it */
    /* Called after every step (every sync_every steps) and every epoch;
     * return false to stop. */
    bool (*on_step)(const clg_step_info *info, void *user);
    bool (*on_epoch)(const clg_epoch_info *info, void *user);
    /* Called with each diagnostic sentence (gradients, overfitting). */
    void (*on_warning)(const char *message, void *user);
    void *user;
    long long first_step; /* to resume: optimizer steps already done */
    int accumulate;       /* > 1: an optimizer step every `accumulate` batches, on the
                             gradient of their mean loss (gradient accumulation) */
    /* Data parallelism (clgrad/comm.h): this rank's communicator, its loader
     * yielding this rank's shard of each batch; NULL: one process, one
     * device. Every rank starts from rank 0's weights and steps on the
     * gradient of the whole batch; losses and accuracies are the whole
     * batch's on every rank; validation runs on every rank alike. The
     * gradients are summed in buckets of about bucket_bytes (0: 25 MB),
     * the last layers' first, by a second thread while the backward pass
     * computes the earlier layers; sum_after_backward sums them all once
     * the backward pass is done instead (the same numbers, bit for bit). */
    clg_comm *comm;
    size_t bucket_bytes;
    bool sum_after_backward;
    /* With comm: batch norm normalises by the statistics of the whole batch,
     * every rank's (PyTorch's SyncBatchNorm); the gradient sums then wait
     * for the backward pass, and every rank needs samples in every batch
     * (clg_loader_opts.drop_last keeps a short last batch from leaving one
     * without). Default: each rank's own statistics, as PyTorch's DDP. */
    bool sync_batch_norm;
    /* The host reads the loss, the accuracy and the optimizer's health from
     * the device every this many optimizer steps, at the end of an epoch and
     * at the last step, and calls on_step then; between, the device runs on
     * without waiting for the host. 1 (or 0): after every step; with comm,
     * every rank alike. A step whose loss or gradients are not finite is
     * found at the next read, the weights still those before it
     * (clg_optim_check). */
    int sync_every;
} clg_fit_opts;

#define CLG_FIT_DEFAULTS                                                               \
    {                                                                                  \
        .epochs = 10, .max_steps = 0, .first_epoch = 0, .early_stop = 0,               \
        .min_delta = 0.0f, .restore_best = true, .schedule = NULL,                     \
        .overfit_gap = 0.15f, .on_step = NULL, .on_epoch = NULL, .on_warning = NULL,   \
        .user = NULL, .first_step = 0, .accumulate = 1, .comm = NULL,                  \
        .bucket_bytes = 0, .sum_after_backward = false, .sync_batch_norm = false,      \
        .sync_every = 1                                                                \
    }

typedef struct clg_fit_report {
    int epochs; /* epochs completed */
    long long steps;
    int best_epoch; /* by validation loss, -1 without validation */
    float best_val_loss;
    bool stopped_early;
    bool restored_best;
    float last_loss; /* the last finite training loss */
} clg_fit_report;

/* Checks that `data` fits `model` (compiled): samples of
 * the model's input shape holding only finite values, labels within its
 * classes. Errors start with `what` ("test data (t10k-images.gz)"), name the
 * shapes or the first bad sample. clg_fit and clg_evaluate check so; call it
 * to refuse a test set before hours of training, not after. */
CLG_API clg_status clg_check_data(const clg_model *model, const clg_dataset *data,
                                  const char *what);

/* Trains `model` (compiled) with `optim` on the loader's
 * batches, evaluating `val` (may be NULL) after each epoch. */
CLG_API clg_status clg_fit(clg_model *model, clg_optimizer *optim, clg_loader *train,
                           const clg_dataset *val, const clg_fit_opts *opts,
                           clg_fit_report *report);

/* Above this many classes (a language model's vocabulary) the report has no
 * confusion matrix nor per-class accuracy. */
#define CLG_EVAL_MAX_CONFUSION 1024

typedef struct clg_eval_report {
    int count; /* samples */
    int classes;
    float loss;            /* mean loss (per label: per token of a window) */
    float accuracy;        /* of every label (every next token of a window) */
    float *class_accuracy; /* [classes]; NAN for a class with no samples; or NULL */
    int *confusion;        /* [classes * classes], row = true class, column = predicted;
                              or NULL */
} clg_eval_report;

/* Evaluation mode over the whole dataset, in batches of the model's size. */
CLG_API clg_status clg_evaluate(clg_model *model, const clg_dataset *data,
                                clg_eval_report *report);
CLG_API void clg_eval_report_free(clg_eval_report *report);

/* Predicted class and its softmax probability for each label of each sample
 * (count * label_len of them). */
CLG_API clg_status clg_predict(clg_model *model, const clg_dataset *data,
                               int32_t *classes, float *probabilities);

#ifdef __cplusplus
}
#endif

#endif
