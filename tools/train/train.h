/*
 * clgrad-train's pieces: the options (args.c), the data and its
 * normalisation (data.c), text and generation (text.c), checkpoints
 * (checkpoint.c), progress, log, plot and test report (output.c), the
 * three modes: train, evaluate, predict (modes.c), and several devices or
 * ranks (ranks.c, dist.c); common.c below them all.
 *
 * Exit status: 0 on success; 1 when training fails (a non-finite loss or
 * gradient, the device out of memory), the last good checkpoint kept; 2 for
 * bad usage, values, files or a spec that does not fit the data. Functions
 * here return -1 to go on, or the exit status to end with.
 */
#ifndef CLGRAD_TOOLS_TRAIN_H
#define CLGRAD_TOOLS_TRAIN_H

#include <clgrad.h>

#include "cli.h"

#define TOOL        "clgrad-train"
#define TRAIN_ERROR 1

typedef struct train_options {
    const char *spec;
    const char *data, *train_images, *train_labels, *test_images, *test_labels;
    const char *csv, *test_csv, *label_column; /* CSV data */
    const char *images, *resize;               /* image folders */
    long long image_memory;                    /* MiB of decoded images kept */
    const char *normalize;
    float val_split;
    int epochs, batch, accumulate, sync_every;
    bool recompute; /* GPT blocks recomputed in backward */
    long long steps, seed;
    clg_optim_opts optim;
    bool no_decay_bias;
    clg_schedule_opts sched;
    clg_loss_type loss;
    float label_smoothing;
    clg_augment augment;
    int early_stop;
    bool no_shuffle, quiet;
    const char *device, *log, *plot, *save, *checkpoint_dir, *resume, *init_from;
    bool hf_format; /* --format hf: --save writes a Hugging Face GPT-2 directory */
    const char *evaluate, *predict;
    const char *text, *test_text, *tokenizer; /* language models */
    int generate, top_k;
    const char *prompt;
    float temperature;
    int freeze, replace_head;
    int classes[64], nclasses, train_samples;
    clg_init init;
    const char *command_line;
    /* data parallelism */
    const char *devices;     /* --devices LIST */
    const char *distributed; /* --distributed auto|mpi|none */
    clg_comm *comm;          /* this rank's, or NULL */
    int rank;
    bool sync_bn;       /* --sync-bn */
    double weights[64]; /* --device-weights: each rank's share of a batch */
    int nweights;
} train_options;

/* common.c: clg_last_error() on stderr; training failures are 1, a model or
 * data that do not fit are 2. */
int train_fail_status(clg_status s);
/* Whether path is a Hugging Face GPT-2 directory (one with config.json). */
bool train_is_gpt2_dir(const char *path);
bool train_is_text(const train_options *o);

/* args.c: the defaults, then argv over them. */
int train_parse_args(int argc, char **argv, train_options *o);

/* data.c */
typedef struct train_data {
    clg_dataset *train, *val, *test;
    char train_source[1100], test_source[1100]; /* for errors */
    clg_tokenizer *tokenizer;                   /* text data */
    char *tokenizer_text;                       /* its file text, for checkpoints */
} train_data;

/* The images or, with --text/--test-text, the token windows of the model's
 * context (text.c); a text model's tokenizer comes from `tokenizer_text`
 * (a checkpoint's) when not NULL. */
int train_load_data(const train_options *o, const clg_model *m,
                    const char *tokenizer_text, bool need_train, train_data *d);
/* text.c */
int train_load_text(const train_options *o, const clg_model *m,
                    const char *tokenizer_text, bool need_train, train_data *d);
int generate_mode(clg_context *ctx, const train_options *o);
void train_free_data(train_data *d);
/* --normalize: auto (training statistics of byte images), none, MEAN,STD. */
int train_choose_norm(const train_options *o, const clg_dataset *train,
                      clg_normalization *n);
/* Applies n to each dataset that is there. */
int train_apply_norm(const clg_normalization *n, train_data *d);

/* output.c: what a training run shows and writes as it goes. */
typedef struct train_run {
    const train_options *o;
    bool tty;
    FILE *log;
    clg_epoch_info *history;
    int nhistory, cap;
    clg_model *model;
    clg_optimizer *opt;
    clg_schedule *sched;
    const clg_spec *spec;
    const clg_normalization *norm;
    long long steps;
    float best_val_loss;                  /* the fit's best, for the metadata */
    const char *tokenizer;                /* text models: the tokenizer's text */
    int context;                          /* text models: tokens per window */
    float ckpt_best_val, ckpt_best_train; /* what best.safetensors holds */
    bool failed_io;
    int saved_epoch; /* the last epoch --checkpoint-dir holds (0: none yet) */
} train_run;

bool train_on_step(const clg_step_info *s, void *user);
bool train_on_epoch(const clg_epoch_info *e, void *user);
void train_on_warning(const char *message, void *user);
/* output.c: the device memory the model, its plan and optimizer hold, by
 * kind, and the largest batch that fits; and, on stderr, what a batch
 * needs that did not fit, from the report of the model at a batch of one
 * (optimizer included), the largest that does and `why`, the allocation's
 * error. */
void train_print_memory(clg_context *ctx, const clg_model *m, const clg_optimizer *opt);
void train_print_memory_needed(clg_context *ctx, const clg_memory_report *one,
                               int batch, int largest, const char *why);

/* The test loss, accuracy and confusion matrix of m on test. */
int train_report_test(clg_model *m, const clg_dataset *test, bool text,
                      const char *source); /* the checkpoint, or NULL */

/* checkpoint.c */
int train_save_checkpoint(train_run *r, const char *path, int epochs);
clg_model_opts train_model_opts(const train_options *o);
/* The tokenizer text of a Hugging Face GPT-2 directory (malloc'd). */
clg_status train_gpt2_dir_tokenizer(const char *dir, char **text);
int train_mode(clg_context *ctx, const train_options *o);
int evaluate_mode(clg_context *ctx, const train_options *o);
int predict_mode(clg_context *ctx, const train_options *o);
/* checkpoint.c: the model of a checkpoint (its spec, or --spec's), for `batch` samples,
 * compiled; its normalisation (n may be NULL) and tokenizer text (malloc'd,
 * NULL when it carries none). */
int train_model_from_checkpoint(clg_context *ctx, const train_options *o,
                                const char *path, int batch, clg_model **m,
                                clg_normalization *n, char **tokenizer);

/* dist.c: training on several devices (threads) or ranks (MPI). */
int train_on_devices(const train_options *o, const char *list);
int train_with_mpi(const train_options *o);
/* ranks.c: every rank's flags and spec (data false), or data hash (data true), against
 * rank 0's: -1 when they agree, else 2 after naming the difference. */
int train_compare_ranks(const train_options *o, unsigned long long data_hash,
                        bool data);
unsigned long long train_data_hash(const clg_dataset *d);
/* Whether a comparison found the ranks disagree (each then exits 2). */
bool train_ranks_disagree(void);

#endif
