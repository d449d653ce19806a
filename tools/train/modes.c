/* clgrad-train's three modes: train (with resume, fine-tuning and the
 * checkpoint cadence), evaluate a checkpoint, predict with one. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "train.h"

int evaluate_mode(clg_context *ctx, const train_options *o)
{
    clg_model *m = NULL;
    clg_normalization n;
    train_data d = {0};
    char *tokenizer = NULL;
    int rc =
        train_model_from_checkpoint(ctx, o, o->evaluate, o->batch, &m, &n, &tokenizer);
    if (rc < 0)
        rc = train_load_data(o, m, tokenizer, false, &d);
    free(tokenizer);
    if (rc < 0 && !d.test)
        rc = cli_usage_error(TOOL, "--evaluate needs test data: --data, "
                                   "--test-images/--test-labels or --test-text");
    if (rc < 0)
        rc = train_apply_norm(&n, &d);
    if (rc < 0)
        rc = train_report_test(m, d.test, train_is_text(o), o->evaluate);
    clg_model_free(m);
    train_free_data(&d);
    return rc < 0 ? 0 : rc;
}

int predict_mode(clg_context *ctx, const train_options *o)
{
    const char *from = o->init_from ? o->init_from : o->resume;
    if (!from)
        return cli_usage_error(TOOL,
                               "--predict needs the model: --init-from CHECKPOINT");
    clg_model *m = NULL;
    clg_normalization n;
    clg_dataset *images = NULL;
    int32_t *cls = NULL;
    float *prob = NULL;
    char *tokenizer = NULL;
    int rc = train_model_from_checkpoint(ctx, o, from, o->batch, &m, &n, &tokenizer);
    free(tokenizer);
    if (rc < 0 && clg_dataset_from_idx(o->predict, NULL, &images) != CLG_OK)
        rc = cli_fail(TOOL, CLI_USAGE_ERROR);
    if (rc < 0 && clg_normalization_apply(&n, images) != CLG_OK)
        rc = cli_fail(TOOL, CLI_USAGE_ERROR);
    if (rc < 0) {
        cls = malloc((size_t)images->count * sizeof *cls);
        prob = malloc((size_t)images->count * sizeof *prob);
        if (!cls || !prob)
            rc = cli_usage_error(TOOL, "out of memory for %d predictions",
                                 images->count);
    }
    if (rc < 0 && clg_predict(m, images, cls, prob) != CLG_OK)
        rc = train_fail_status(CLG_SHAPE_MISMATCH);
    if (rc < 0) {
        printf("index,class,probability\n");
        for (int i = 0; i < images->count; i++)
            printf("%d,%d,%.6f\n", i, cls[i], (double)prob[i]);
    }
    free(cls), free(prob);
    clg_model_free(m), clg_dataset_free(images);
    return rc < 0 ? 0 : rc;
}

/* ---- Training ------------------------------------------------------------- */

/* Whether paths a and b name one existing file (links followed). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The input files of a run that an output must not overwrite (a checkpoint
 * given to --resume or --init-from may be saved over: it is read whole
 * first), and --data's IDX files. */
static int check_not_an_input(const train_options *o, const char *flag,
                              const char *path)
{
    const char *flags[] = {"the model spec", "--text",         "--test-text",
                           "--train-images", "--train-labels", "--test-images",
                           "--test-labels",  "--evaluate",     "--predict",
                           "--csv",          "--test-csv",     "--images"};
    const char *inputs[] = {o->spec,         o->text,         o->test_text,
                            o->train_images, o->train_labels, o->test_images,
                            o->test_labels,  o->evaluate,     o->predict,
                            o->csv,          o->test_csv,     o->images};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
        if (same_file(path, inputs[i]))
            return cli_usage_error(TOOL, "%s %s is %s %s: an output would replace it",
                                   flag, path, flags[i], inputs[i]);
    static const char *const idx[] = {"train-images-idx3-ubyte",
                                      "train-labels-idx1-ubyte",
                                      "t10k-images-idx3-ubyte",
                                      "t10k-labels-idx1-ubyte",
                                      "data_batch_1.bin",
                                      "data_batch_2.bin",
                                      "data_batch_3.bin",
                                      "data_batch_4.bin",
                                      "data_batch_5.bin",
                                      "test_batch.bin",
                                      "train.bin",
                                      "test.bin"};
    const char *dir = !o->data                            ? NULL
                      : !strncmp(o->data, "cifar10:", 8)  ? o->data + 8
                      : !strncmp(o->data, "cifar100:", 9) ? o->data + 9
                                                          : o->data;
    for (size_t i = 0; dir && i < 2 * sizeof idx / sizeof *idx; i++) {
        char in[4200];
        snprintf(in, sizeof in, "%s/%s%s", dir, idx[i / 2], i % 2 ? ".gz" : "");
        if (same_file(path, in))
            return cli_usage_error(TOOL,
                                   "%s %s is --data's %s: an output would replace it",
                                   flag, path, in);
    }
    return -1;
}

/* A file the run will write: not an input, in a directory that exists and
 * can be written, so that a bad path shows now and not after hours. A
 * checkpoint (`in_place` false) is replaced by a rename, so it must be a
 * regular file or none yet; the log and the plot are written in place, and
 * may also be a character device (/dev/null), never a FIFO or socket, which
 * would block the run. A symbolic link is followed: its target is
 * written. */
static int check_output_file(const train_options *o, const char *flag,
                             const char *given, bool in_place)
{
    char path[4096];
    if (clg_link_target(given, path, sizeof path) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_usage_error(TOOL, "%s %s: is a directory, not a file", flag, path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) &&
        !(in_place && S_ISCHR(st.st_mode)))
        return cli_usage_error(TOOL,
                               "%s %s: exists and is not a regular file (%s): give a "
                               "file's path",
                               flag, given,
                               in_place
                                   ? "a FIFO or socket, which would block the run"
                                   : "a device, FIFO or socket, which a checkpoint "
                                     "would replace");
    int rc = check_not_an_input(o, flag, path);
    if (rc >= 0)
        return rc;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) != 0)
        return cli_usage_error(TOOL, "%s %s: directory %s: %s", flag, path, dir,
                               strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_usage_error(TOOL, "%s %s: %s is not a directory", flag, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_usage_error(TOOL, "%s %s: cannot write in %s: %s", flag, path, dir,
                               strerror(errno));
    return -1;
}

/* Every output path of a training run, before any data is read. */
static int check_outputs(const train_options *o)
{
    int rc = -1;
    struct stat st;
    if (o->save && o->hf_format && stat(o->save, &st) == 0 && !S_ISDIR(st.st_mode))
        rc =
            cli_usage_error(TOOL,
                            "--save %s --format hf: a GPT-2 directory's path, and this "
                            "is a file",
                            o->save);
    else if (o->save && !(o->hf_format && stat(o->save, &st) == 0))
        rc = check_output_file(o, "--save", o->save, false);
    if (rc < 0 && o->log)
        rc = check_output_file(o, "--log", o->log, true);
    if (rc < 0 && o->plot)
        rc = check_output_file(o, "--plot", o->plot, true);
    if (rc < 0 && o->checkpoint_dir) {
        if (stat(o->checkpoint_dir, &st) == 0 && !S_ISDIR(st.st_mode))
            rc = cli_usage_error(TOOL,
                                 "--checkpoint-dir %s: exists and is not a "
                                 "directory",
                                 o->checkpoint_dir);
        else if (stat(o->checkpoint_dir, &st) == 0 &&
                 access(o->checkpoint_dir, W_OK | X_OK) != 0)
            rc = cli_usage_error(TOOL, "--checkpoint-dir %s: cannot write in it: %s",
                                 o->checkpoint_dir, strerror(errno));
        else if (stat(o->checkpoint_dir, &st) != 0)
            rc = check_output_file(o, "--checkpoint-dir", o->checkpoint_dir, false);
    }
    return rc;
}

/* Every training batch, the epoch's last one too, is as large as the model
 * trains on (a batch norm over one value per channel needs 2): said now,
 * not at the end of the first epoch. */
static int check_least_batch(const train_options *o, const clg_model *m, int count)
{
    int least = clg_graph_min_train_batch(clg_model_graph(m));
    int batch = o->batch < count ? o->batch : count, last = count % batch;
    int smallest = last ? last : batch;
    if (smallest >= least)
        return -1;
    return cli_usage_error(
        TOOL,
        "batch norm trains on batches of %d or more, and %d training "
        "samples in batches of %d leave a batch of %d: choose "
        "another --batch-size",
        least, count, o->batch, smallest);
}

/* The spec: the file given, or the text the resumed checkpoint carries. */
static int get_spec(const train_options *o, const clg_checkpoint *ck, clg_spec **spec)
{
    if (o->spec)
        return clg_spec_load(o->spec, spec) == CLG_OK ? -1
                                                      : cli_fail(TOOL, CLI_USAGE_ERROR);
    if (!ck && train_is_gpt2_dir(o->init_from)) { /* config.json makes the model */
        char *text = NULL;
        clg_status s = clg_gpt2_dir_spec(o->init_from, 0, &text);
        if (s == CLG_OK)
            s = clg_spec_parse(text, o->init_from, spec);
        free(text);
        return s == CLG_OK ? -1 : cli_fail(TOOL, CLI_USAGE_ERROR);
    }
    const char *text = ck ? clg_checkpoint_meta(ck, "spec") : NULL;
    if (!text)
        return cli_usage_error(
            TOOL, "the checkpoint carries no model spec: give the spec file too");
    return clg_spec_parse(text, "checkpoint spec", spec) == CLG_OK
               ? -1
               : cli_fail(TOOL, CLI_USAGE_ERROR);
}

static int read_checkpoint(const char *path, clg_checkpoint **ck)
{
    return clg_checkpoint_read(path, ck) == CLG_OK ? -1
                                                   : cli_fail(TOOL, CLI_USAGE_ERROR);
}

/* Whether the model with its optimizer fits at `batch`, and its report. */
static bool fits_at(clg_context *ctx, const train_options *o, clg_spec *spec, int batch,
                    clg_memory_report *r)
{
    clg_model_opts mo = train_model_opts(o);
    mo.max_batch = batch;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_context_pool_trim(ctx);
    bool ok = clg_model_from_spec(ctx, spec, &mo, &m) == CLG_OK &&
              clg_model_compile(m, o->loss, o->label_smoothing) == CLG_OK &&
              clg_optim_create(clg_model_plan(m), &o->optim, &opt) == CLG_OK &&
              clg_plan_memory_report(clg_model_plan(m), r) == CLG_OK;
    if (ok) {
        r->optimizer = clg_optim_memory(opt);
        r->total += r->optimizer;
    }
    clg_optim_free(opt);
    clg_model_free(m);
    clg_context_pool_trim(ctx);
    return ok;
}

/* After the model at --batch-size did not fit the device: what that batch
 * needs (the memory at a batch of one, and what each sample adds) and the
 * largest batch that fits, found by building the model at batches between
 * (the estimate from one sample first). 1 (training failed), as the
 * allocation's error is. */
static int explain_memory(clg_context *ctx, const train_options *o, clg_spec *spec)
{
    char why[1024];
    snprintf(why, sizeof why, "%s", clg_last_error());
    clg_memory_report one, at;
    if (!fits_at(ctx, o, spec, 1, &one)) {
        fprintf(stderr, "clgrad-train: %s (not even a batch of 1 fits)\n", why);
        return TRAIN_ERROR;
    }
    int lo = 1, hi = o->batch,
        guess = clg_memory_largest_batch(&one, clg_context_memory_limit(ctx));
    if (guess > 1 && guess < hi && fits_at(ctx, o, spec, guess, &at))
        lo = guess;
    for (int probes = 0; hi - lo > 1 && probes < 12; probes++) {
        int mid = lo + (hi - lo) / 2;
        if (fits_at(ctx, o, spec, mid, &at))
            lo = mid;
        else
            hi = mid;
    }
    train_print_memory_needed(ctx, &one, o->batch, lo, why);
    return TRAIN_ERROR;
}

/* The spec's model with the head replaced and layers frozen as asked,
 * compiled for training. */
static int build_model(clg_context *ctx, const train_options *o, clg_spec *spec,
                       clg_model **m)
{
    clg_model_opts mo = train_model_opts(o);
    if (o->replace_head && clg_spec_replace_head(spec, o->replace_head) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    clg_status s = clg_model_from_spec(ctx, spec, &mo, m);
    if (s == CLG_OUT_OF_DEVICE_MEMORY && mo.max_batch > 1)
        return explain_memory(ctx, o, spec);
    if (s != CLG_OK) /* a layer that does not fit: 2; the device full: 1 */
        return train_fail_status(s);
    if (o->freeze && clg_model_freeze(*m, o->freeze) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    if (clg_model_compile(*m, o->loss, o->label_smoothing) != CLG_OK) {
        s = clg_graph_status(clg_model_graph(*m));
        if (s != CLG_OUT_OF_DEVICE_MEMORY)
            return train_fail_status(s);
        clg_model_free(*m);
        *m = NULL;
        return explain_memory(ctx, o, spec);
    }
    return -1;
}

static void print_load(const char *path, const clg_load_report *lr, bool quiet)
{
    if (quiet)
        return;
    printf("%s: loaded %d tensors, skipped %d, left %d at initialisation\n", path,
           lr->loaded, lr->skipped, lr->missing);
    if (lr->skipped || lr->missing)
        printf("%s", lr->text);
}

static int make_schedule(const train_options *o, int batches, clg_schedule **out)
{
    *out = NULL;
    clg_schedule_opts so = o->sched;
    if (so.type == CLG_SCHEDULE_CONSTANT && so.warmup == 0)
        return -1;
    if (so.type == CLG_SCHEDULE_COSINE)
        so.t_max = o->epochs;
    if (so.type == CLG_SCHEDULE_ONECYCLE) {
        int k = o->accumulate > 1 ? o->accumulate : 1; /* optimizer steps */
        so.total_steps = o->steps ? (int)o->steps : o->epochs * ((batches + k - 1) / k);
        if (so.max_lr <= 0)
            so.max_lr = o->optim.lr;
    }
    return clg_schedule_create(&so, o->optim.lr, out) == CLG_OK
               ? -1
               : cli_fail(TOOL, CLI_USAGE_ERROR);
}

int train_mode(clg_context *ctx, const train_options *o)
{
    clg_checkpoint *ck = NULL;
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_loader *loader = NULL;
    train_data d = {0};
    clg_normalization n = {0};
    train_run r = {.o = o,
                   .tty = isatty(STDOUT_FILENO),
                   .norm = &n,
                   .best_val_loss = INFINITY,
                   .ckpt_best_val = INFINITY,
                   .ckpt_best_train = INFINITY};
    clg_train_state resumed = {0};
    int rc = check_outputs(o);
    if (rc < 0 && o->comm) /* the same flags and spec on every rank */
        rc = train_compare_ranks(o, 0, false);
    char resume[4200];
    if (o->resume) /* a GPT-2 directory saved by clgrad: its clgrad_state */
        snprintf(resume, sizeof resume,
                 train_is_gpt2_dir(o->resume) ? "%s/clgrad_state.safetensors" : "%s",
                 o->resume);
    if (rc < 0 && o->resume)
        rc = read_checkpoint(resume, &ck);
    if (rc < 0 && ck && clg_checkpoint_train_state(ck, &resumed) != CLG_OK)
        rc = cli_fail(TOOL, CLI_USAGE_ERROR);
    if (rc < 0)
        rc = get_spec(o, ck, &spec);
    if (rc < 0)
        rc = build_model(ctx, o, spec, &m);
    if (rc < 0 && o->hf_format && clg_gpt2_check(m) != CLG_OK) /* before, not after */
        rc = cli_usage_error(TOOL, "--save %s --format hf: %s", o->save,
                             clg_last_error());
    /* A text model keeps the tokenizer of the run it resumes or starts from. */
    clg_checkpoint *from = NULL;
    char *dir_tokenizer = NULL;
    bool from_dir = !ck && train_is_gpt2_dir(o->init_from);
    if (rc < 0 && from_dir &&
        train_gpt2_dir_tokenizer(o->init_from, &dir_tokenizer) != CLG_OK)
        rc = cli_fail(TOOL, CLI_USAGE_ERROR);
    if (rc < 0 && !ck && o->init_from && !from_dir)
        rc = read_checkpoint(o->init_from, &from);
    const char *tokenizer = ck     ? clg_checkpoint_meta(ck, "tokenizer")
                            : from ? clg_checkpoint_meta(from, "tokenizer")
                                   : dir_tokenizer;
    if (rc < 0)
        rc = train_load_data(o, m, tokenizer, true, &d);
    clg_checkpoint_free(from);
    free(dir_tokenizer);
    if (rc < 0 && o->comm)
        rc = train_compare_ranks(o, train_data_hash(d.train), true);
    r.tokenizer = d.tokenizer_text;
    r.context = rc < 0 && train_is_text(o) ? clg_tensor_dim(clg_model_input(m), 1) : 1;
    /* Every set must fit the model before statistics or hours of training:
     * a test set with a class the model lacks fails now, not at the end. */
    clg_status fits = CLG_OK;
    if (rc < 0)
        fits = clg_check_data(m, d.train, d.train_source);
    if (rc < 0 && fits == CLG_OK && d.test)
        fits = clg_check_data(m, d.test, d.test_source);
    if (rc < 0 && fits != CLG_OK)
        rc = train_fail_status(fits);
    if (rc < 0 && !o->comm)
        rc = check_least_batch(o, m, d.train->count);
    if (rc < 0)
        rc = train_choose_norm(o, d.train, &n);
    if (rc < 0 && ck && resumed.normalize &&
        clg_normalization_parse(resumed.normalize, &n) != CLG_OK)
        rc = cli_fail(TOOL, CLI_USAGE_ERROR);
    if (rc < 0)
        rc = train_apply_norm(&n, &d);
    clg_status made =
        rc < 0 ? clg_optim_create(clg_model_plan(m), &o->optim, &opt) : CLG_OK;
    if (made == CLG_OUT_OF_DEVICE_MEMORY && spec) { /* the plan fitted, its state not */
        clg_model_free(m);
        m = NULL;
        rc = explain_memory(ctx, o, spec);
    } else if (made != CLG_OK) {
        rc = cli_fail(TOOL,
                      made == CLG_OUT_OF_DEVICE_MEMORY ? TRAIN_ERROR : CLI_USAGE_ERROR);
    }
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = o->batch, lo.shuffle = !o->no_shuffle, lo.seed = (uint64_t)o->seed;
    lo.augment = o->augment, lo.normalized = n; /* colour jitter undoes it */
    lo.shard = clg_comm_rank(o->comm), lo.shards = clg_comm_size(o->comm);
    lo.shard_weights = o->nweights ? o->weights : NULL;
    /* Synchronised batch norm needs samples on every rank: a last batch
     * too short to give each one is dropped. */
    if (rc < 0 && o->sync_bn && d.train && d.train->count % o->batch &&
        d.train->count % o->batch < lo.shards)
        lo.drop_last = true;
    if (rc < 0 && clg_loader_create(d.train, &lo, &loader) != CLG_OK)
        rc = cli_fail(TOOL, CLI_USAGE_ERROR);
    if (rc < 0)
        rc = make_schedule(o, clg_loader_batches(loader), &r.sched);
    if (rc < 0 && from_dir) {
        if (clg_gpt2_dir_load(o->init_from, m) != CLG_OK)
            rc = cli_fail(TOOL, CLI_USAGE_ERROR);
        else if (!o->quiet)
            printf("loaded every weight of the GPT-2 in %s\n", o->init_from);
    } else if (rc < 0 && o->init_from) {
        clg_checkpoint *init = NULL;
        clg_load_report lr;
        rc = read_checkpoint(o->init_from, &init);
        if (rc < 0 && clg_load(init, m, NULL, &lr) != CLG_OK)
            rc = cli_fail(TOOL, CLI_USAGE_ERROR);
        if (rc < 0)
            print_load(o->init_from, &lr, o->quiet);
        clg_checkpoint_free(init);
    }
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    if (rc < 0 && ck) {
        clg_load_report lr;
        if (clg_load(ck, m, opt, &lr) != CLG_OK)
            rc = cli_fail(TOOL, CLI_USAGE_ERROR);
        else if (lr.missing || lr.optim_missing)
            rc = cli_usage_error(TOOL,
                                 "%s cannot resume this run: %d of the model's tensors "
                                 "and %d of the optimizer's are missing or differ "
                                 "(same spec and flags?):\n%s",
                                 o->resume, lr.missing, lr.optim_missing, lr.text);
        else if (resumed.epoch >= o->epochs)
            rc = cli_usage_error(
                TOOL, "%s already holds %d epochs; ask for more with --epochs",
                o->resume, resumed.epoch);
        fo.first_epoch = resumed.epoch;
        fo.first_step = resumed.step;
        clg_plan_set_step(clg_model_plan(m), resumed.plan_step);
        if (r.sched)
            clg_schedule_set_state(r.sched, resumed.schedule);
        r.best_val_loss = r.ckpt_best_val = resumed.best_val_loss;
        r.steps = resumed.step;
        if (rc < 0 && !o->quiet)
            printf("resuming %s after epoch %d, step %lld\n", o->resume, resumed.epoch,
                   resumed.step);
    }
    if (rc < 0 && o->checkpoint_dir && mkdir(o->checkpoint_dir, 0777) != 0 &&
        errno != EEXIST)
        rc = cli_usage_error(TOOL, "--checkpoint-dir %s: %s", o->checkpoint_dir,
                             strerror(errno));
    if (rc < 0 && o->log) {
        bool append = ck && access(o->log, F_OK) == 0;
        r.log = fopen(o->log, append ? "a" : "w");
        if (!r.log)
            rc = cli_usage_error(TOOL, "--log %s: %s", o->log, strerror(errno));
        else if (!append &&
                 (fprintf(r.log, "epoch,lr,train_loss,train_acc,val_loss,val_acc,"
                                 "seconds,samples_per_s\n") < 0 ||
                  fflush(r.log) != 0))
            rc = cli_usage_error(TOOL, "--log %s: writing failed: %s", o->log,
                                 strerror(errno));
    }
    if (rc < 0 && !o->quiet) {
        clg_model_summary(m, stdout);
        train_print_memory(ctx, m, opt);
    }
    r.model = m, r.opt = opt, r.spec = spec;
    fo.epochs = o->epochs, fo.max_steps = o->steps, fo.early_stop = o->early_stop;
    fo.accumulate = o->accumulate;
    fo.sync_every = o->sync_every;
    fo.comm = o->comm;
    fo.sync_batch_norm = o->sync_bn;
    fo.schedule = r.sched;
    fo.on_step = train_on_step, fo.on_epoch = train_on_epoch,
    fo.on_warning = train_on_warning, fo.user = &r;
    clg_fit_report fr;
    if (rc < 0) {
        clg_status s = clg_fit(m, opt, loader, d.val, &fo, &fr);
        if (r.tty && !o->quiet)
            printf("\r\033[K");
        if (s != CLG_OK) {
            rc = train_fail_status(s);
            if (s == CLG_NOT_FINITE && o->checkpoint_dir && r.saved_epoch)
                fprintf(stderr,
                        TOOL ": the checkpoints in %s hold the last good epoch "
                             "(%d)\n",
                        o->checkpoint_dir, r.saved_epoch);
            else if (s == CLG_NOT_FINITE && o->checkpoint_dir)
                fprintf(stderr,
                        TOOL ": no epoch ended well: %s holds no checkpoint of this "
                             "run\n",
                        o->checkpoint_dir);
        } else if (r.failed_io) {
            rc = TRAIN_ERROR;
        } else if (!o->quiet && fr.stopped_early) {
            printf("stopped early after epoch %d; best validation loss %.4f at epoch "
                   "%d%s\n",
                   fr.epochs, (double)fr.best_val_loss, fr.best_epoch + 1,
                   fr.restored_best ? " (weights restored)" : "");
        }
    }
    if (rc < 0 && o->save)
        rc = train_save_checkpoint(&r, o->save, fr.epochs);
    if (rc < 0 && d.test && o->rank == 0)
        rc = train_report_test(m, d.test, train_is_text(o), NULL);
    if (r.log && fclose(r.log) != 0 && rc < 0) {
        fprintf(stderr, TOOL ": --log %s: writing failed: %s\n", o->log,
                strerror(errno));
        rc = TRAIN_ERROR;
    }
    free(r.history);
    clg_schedule_free(r.sched);
    clg_loader_free(loader), clg_optim_free(opt), clg_model_free(m);
    clg_spec_free(spec), clg_checkpoint_free(ck), train_free_data(&d);
    return rc < 0 ? 0 : rc;
}
