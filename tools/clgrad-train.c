/*
 * clgrad-train — trains a model described in a spec file, shows progress,
 * saves checkpoints, resumes, fine-tunes, evaluates and predicts.
 *
 * Exit status: 0 on success; 1 when training fails (a non-finite loss or
 * gradient, the device out of memory), the last good checkpoint kept; 2 for
 * bad usage, values, files or a spec that does not fit the data.
 */
#include <clgrad.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define USAGE_ERROR             2
#define TRAIN_ERROR             1
#define CLG_SCHEDULE_OPTS_UNSET -1

typedef struct cli {
    const char *spec;
    const char *data, *train_images, *train_labels, *test_images, *test_labels;
    const char *normalize;
    float val_split;
    int epochs, batch;
    long long steps;
    clg_optim_opts optim;
    clg_schedule_opts sched;
    float label_smoothing;
    clg_augment augment;
    int early_stop;
    uint64_t seed;
    bool no_shuffle, quiet;
    const char *device, *log, *plot, *save, *checkpoint_dir, *resume, *init_from;
    const char *evaluate, *predict;
    int freeze, replace_head;
    int classes[64], nclasses, train_samples;
    clg_init init;
    const char *command_line;
} cli;

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: clgrad-train MODEL.spec [options]\n"
        "       clgrad-train --evaluate CHECKPOINT [--data ...]\n"
        "       clgrad-train --predict IMAGES.idx --init-from CHECKPOINT\n"
        "\n"
        "Data\n"
        "  --data fashion-mnist|DIR     Fashion-MNIST from its Debian package, or a "
        "directory\n"
        "                               of MNIST-named IDX files "
        "(train-images-idx3-ubyte[.gz], ...)\n"
        "  --train-images F --train-labels F [--test-images F --test-labels F]\n"
        "  --normalize auto|none|MEAN,STD  auto: statistics of the training split for "
        "byte\n"
        "                               images, none for float32 images (default "
        "auto)\n"
        "  --val-split F                hold out this fraction of the training data\n"
        "  --classes LIST               keep only these classes (5-9 or 0,2,4), "
        "relabelled 0..\n"
        "  --train-samples N            keep the first N training samples of each "
        "class\n"
        "Training\n"
        "  --epochs N (10)  --steps N  --batch-size N (64)  --seed N (0)  "
        "--no-shuffle\n"
        "  --optimizer sgd|adam|adamw|rmsprop|adagrad (adam)  --lr F (1e-3)\n"
        "  --momentum F  --nesterov  --weight-decay F  --l1 F  --betas B1,B2  --eps F\n"
        "  --alpha F  --centered  --no-decay-bias  --clip-norm F  --clip-value F\n"
        "  --schedule step|multistep|exp|cosine|onecycle|plateau  --step-size N  "
        "--gamma F\n"
        "  --milestones A,B,..  --eta-min F  --max-lr F  --patience N  --factor F  "
        "--warmup N\n"
        "  --loss cross_entropy  --label-smoothing F\n"
        "  --augment LIST               "
        "flip[=P],vflip[=P],crop[=PAD],rotate[=DEG],noise[=STD],\n"
        "                               cutout[=SIZE]\n"
        "  --early-stop PATIENCE        stop when validation loss stalls; keep the "
        "best weights\n"
        "  --init kaiming_uniform|kaiming_normal|xavier_uniform|xavier_normal|pytorch\n"
        "  --device SPEC                index, gpu, cpu or name:SUBSTRING\n"
        "Output\n"
        "  --quiet  --log metrics.csv  --plot curves.svg\n"
        "  --save FILE                  safetensors checkpoint at the end\n"
        "  --checkpoint-dir DIR         DIR/last.safetensors and DIR/best.safetensors "
        "each epoch\n"
        "Continuing\n"
        "  --resume FILE                continue a run from its checkpoint (same "
        "flags)\n"
        "  --init-from FILE             load matching weights (a PyTorch state_dict "
        "works)\n"
        "  --freeze N                   freeze layers 0..N-1\n"
        "  --replace-head K             new last linear layer with K outputs\n"
        "  --evaluate FILE              test-set metrics of a checkpoint, no training\n"
        "  --predict FILE               class and probability per image of an IDX "
        "file\n"
        "  -h, --help  -V, --version\n");
}

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clgrad-train: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return USAGE_ERROR;
}

static bool to_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool to_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi))
        return false;
    *out = (float)v;
    return true;
}

static int parse_augment(const char *list, clg_augment *a)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq)
            *eq++ = '\0';
        float v = 0;
        bool ok = true;
        if (!strcmp(item, "flip"))
            ok = eq ? to_float(eq, 0, 1, &a->hflip) : (a->hflip = 0.5f, true);
        else if (!strcmp(item, "vflip"))
            ok = eq ? to_float(eq, 0, 1, &a->vflip) : (a->vflip = 0.5f, true);
        else if (!strcmp(item, "crop"))
            ok = eq ? to_float(eq, 1, 64, &v) && (a->crop_pad = (int)v, true)
                    : (a->crop_pad = 2, true);
        else if (!strcmp(item, "rotate"))
            ok = eq ? to_float(eq, 0, 180, &a->rotate) : (a->rotate = 10, true);
        else if (!strcmp(item, "noise"))
            ok = eq ? to_float(eq, 0, 10, &a->noise) : (a->noise = 0.05f, true);
        else if (!strcmp(item, "cutout"))
            ok = eq ? to_float(eq, 1, 64, &v) && (a->cutout = (int)v, true)
                    : (a->cutout = 8, true);
        else
            return usage_error(
                "--augment: unknown transform '%s' (flip, vflip, crop, rotate, "
                "noise, cutout)",
                item);
        if (!ok)
            return usage_error("--augment: bad value '%s' for %s", eq, item);
    }
    a->probability = 0.5f;
    return -1;
}

static int parse_enum(const char *flag, const char *value, const char *const *names,
                      int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (names[i] && !strcmp(value, names[i])) {
            *out = i;
            return -1;
        }
    char list[256] = "";
    for (int i = 0; i < n; i++)
        if (names[i])
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     list[0] ? ", " : "", names[i]);
    return usage_error("%s: unknown value '%s' (%s)", flag, value, list);
}

/* Flags that take a value. */
static const char *const value_flags[] = {
    "--data",        "--train-images", "--train-labels",   "--test-images",
    "--test-labels", "--normalize",    "--device",         "--log",
    "--plot",        "--save",         "--checkpoint-dir", "--resume",
    "--init-from",   "--evaluate",     "--predict",        "--val-split",
    "--epochs",      "--steps",        "--batch-size",     "--seed",
    "--lr",          "--momentum",     "--weight-decay",   "--l1",
    "--eps",         "--alpha",        "--clip-norm",      "--clip-value",
    "--step-size",   "--gamma",        "--eta-min",        "--max-lr",
    "--patience",    "--factor",       "--warmup",         "--label-smoothing",
    "--early-stop",  "--freeze",       "--replace-head",   "--optimizer",
    "--schedule",    "--init",         "--loss",           "--betas",
    "--milestones",  "--augment",      "--classes",        "--train-samples"};

static bool takes_value(const char *flag)
{
    for (size_t i = 0; i < sizeof value_flags / sizeof *value_flags; i++)
        if (!strcmp(flag, value_flags[i]))
            return true;
    return false;
}

/* Parses argv into *c; returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, cli *c)
{
    static const char *optimizers[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    static const char *schedules[] = {"constant", "step",     "multistep", "exp",
                                      "cosine",   "onecycle", "plateau"};
    static const char *inits[] = {"pytorch", "kaiming_uniform", "kaiming_normal",
                                  "xavier_uniform", "xavier_normal"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("clgrad-train %s\n", clg_version());
            return 0;
        }
        if (a[0] != '-') {
            if (c->spec)
                return usage_error("unexpected argument '%s' (one model spec only)", a);
            c->spec = a;
            continue;
        }
        /* Flags without a value. */
        if (!strcmp(a, "--nesterov")) {
            c->optim.nesterov = true;
            continue;
        }
        if (!strcmp(a, "--centered")) {
            c->optim.centered = true;
            continue;
        }
        if (!strcmp(a, "--no-decay-bias")) {
            c->optim.decay_biases = false;
            continue;
        }
        if (!strcmp(a, "--no-shuffle")) {
            c->no_shuffle = true;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            c->quiet = true;
            continue;
        }
        if (!takes_value(a))
            return usage_error("unknown option '%s' (try --help)", a);
        if (i + 1 >= argc)
            return usage_error("%s needs a value (try --help)", a);
        const char *v = argv[++i];
        long long n;
        float f;
        int e, rc = -1;
        /* The flag table: one flag per row. */
        // clang-format off
#define INT(flag, lo, hi, dst)                                                          \
    if (!strcmp(a, flag)) {                                                             \
        if (!to_int(v, lo, hi, &n))                                                     \
            return usage_error("%s: '%s' is not a whole number in [%lld, %lld]", flag, v, \
                               (long long)(lo), (long long)(hi));                       \
        dst = n;                                                                        \
        continue;                                                                       \
    }
#define FLOAT(flag, lo, hi, dst)                                                     \
    if (!strcmp(a, flag)) {                                                          \
        if (!to_float(v, lo, hi, &f))                                                \
            return usage_error("%s: '%s' is not a number in [%g, %g]", flag, v,      \
                               (double)(lo), (double)(hi));                          \
        dst = f;                                                                     \
        continue;                                                                    \
    }
#define STRING(flag, dst)                                                            \
    if (!strcmp(a, flag)) {                                                          \
        dst = v;                                                                     \
        continue;                                                                    \
    }
        STRING("--data", c->data) STRING("--train-images", c->train_images)
        STRING("--train-labels", c->train_labels) STRING("--test-images", c->test_images)
        STRING("--test-labels", c->test_labels) STRING("--normalize", c->normalize)
        STRING("--device", c->device) STRING("--log", c->log) STRING("--plot", c->plot)
        STRING("--save", c->save) STRING("--checkpoint-dir", c->checkpoint_dir)
        STRING("--resume", c->resume) STRING("--init-from", c->init_from)
        STRING("--evaluate", c->evaluate) STRING("--predict", c->predict)
        FLOAT("--val-split", 0.0001, 0.9999, c->val_split)
        INT("--epochs", 1, 100000, c->epochs) INT("--steps", 1, 1LL << 40, c->steps)
        INT("--batch-size", 1, 65536, c->batch) INT("--seed", 0, (1LL << 62), c->seed)
        FLOAT("--lr", 0, 1e3, c->optim.lr) FLOAT("--momentum", 0, 0.9999, c->optim.momentum)
        FLOAT("--weight-decay", 0, 10, c->optim.weight_decay) FLOAT("--l1", 0, 10, c->optim.l1)
        FLOAT("--eps", 0, 1, c->optim.eps) FLOAT("--alpha", 0, 1, c->optim.alpha)
        FLOAT("--clip-norm", 0, 1e9, c->optim.clip_norm)
        FLOAT("--clip-value", 0, 1e9, c->optim.clip_value)
        INT("--step-size", 1, 100000, c->sched.step_size) FLOAT("--gamma", 1e-9, 1e3, c->sched.gamma)
        FLOAT("--eta-min", 0, 1e3, c->sched.eta_min) FLOAT("--max-lr", 1e-12, 1e3, c->sched.max_lr)
        INT("--patience", 0, 100000, c->sched.patience) FLOAT("--factor", 1e-6, 0.9999, c->sched.factor)
        INT("--warmup", 0, 100000, c->sched.warmup)
        FLOAT("--label-smoothing", 0, 1, c->label_smoothing)
        INT("--early-stop", 1, 100000, c->early_stop) INT("--freeze", 1, 10000, c->freeze)
        INT("--replace-head", 1, 1 << 20, c->replace_head)
        INT("--train-samples", 1, 1 << 30, c->train_samples)
            // clang-format on
            if (!strcmp(a, "--classes"))
        {
            int lo, hi, used = 0;
            c->nclasses = 0;
            if (sscanf(v, "%d-%d%n", &lo, &hi, &used) == 2 && !v[used] && lo >= 0 &&
                hi >= lo && hi - lo < 64) {
                for (int k = lo; k <= hi; k++)
                    c->classes[c->nclasses++] = k;
                continue;
            }
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            char *save = NULL;
            for (char *m = strtok_r(buf, ",", &save); m;
                 m = strtok_r(NULL, ",", &save)) {
                if (c->nclasses == 64 || !to_int(m, 0, 4095, &n))
                    return usage_error(
                        "--classes: '%s' is not A-B or a list of classes", v);
                c->classes[c->nclasses++] = (int)n;
            }
            continue;
        }
        if (!strcmp(a, "--optimizer")) {
            if ((rc = parse_enum(a, v, optimizers, 5, &e)) >= 0)
                return rc;
            c->optim.type = (clg_optim_type)e;
            continue;
        }
        if (!strcmp(a, "--schedule")) {
            if ((rc = parse_enum(a, v, schedules, 7, &e)) >= 0)
                return rc;
            c->sched.type = (clg_schedule_type)e;
            continue;
        }
        if (!strcmp(a, "--init")) {
            if ((rc = parse_enum(a, v, inits, 5, &e)) >= 0)
                return rc;
            c->init = (clg_init)e;
            continue;
        }
        if (!strcmp(a, "--loss")) {
            if (strcmp(v, "cross_entropy") && strcmp(v, "ce"))
                return usage_error("--loss: '%s': clgrad-train trains classifiers with "
                                   "cross_entropy",
                                   v);
            continue;
        }
        if (!strcmp(a, "--betas")) {
            if (sscanf(v, "%f,%f%n", &c->optim.beta1, &c->optim.beta2, &e) != 2 ||
                v[e] ||
                !(c->optim.beta1 >= 0 && c->optim.beta1 < 1 && c->optim.beta2 >= 0 &&
                  c->optim.beta2 < 1))
                return usage_error("--betas: '%s' is not B1,B2 in [0, 1)", v);
            continue;
        }
        if (!strcmp(a, "--milestones")) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            char *save = NULL;
            c->sched.milestone_count = 0;
            for (char *m = strtok_r(buf, ",", &save); m;
                 m = strtok_r(NULL, ",", &save)) {
                if (c->sched.milestone_count == CLG_MAX_MILESTONES ||
                    !to_int(m, 1, 100000, &n))
                    return usage_error("--milestones: '%s' is not a list of epochs", v);
                c->sched.milestones[c->sched.milestone_count++] = (int)n;
            }
            continue;
        }
        if (!strcmp(a, "--augment")) {
            if ((rc = parse_augment(v, &c->augment)) >= 0)
                return rc;
            continue;
        }
        return usage_error("unknown option '%s' (try --help)", a);
    }
    if (!c->spec && !c->evaluate && !c->resume && !c->predict)
        return usage_error("give a model spec file (try --help)");
    if (c->optim.nesterov && c->optim.momentum <= 0)
        return usage_error("--nesterov needs --momentum > 0");
    return -1;
}

/* ---- Data ------------------------------------------------------------------ */

typedef struct data {
    clg_dataset *train, *val, *test;
} data;

static void free_data(data *d)
{
    clg_dataset_free(d->train);
    clg_dataset_free(d->val);
    clg_dataset_free(d->test);
}

/* "fashion-mnist" is the Debian package; anything else a directory of
 * MNIST-named IDX files. */
static clg_status load_from_dir(const char *dir, bool train, clg_dataset **out)
{
    return clg_dataset_fashion_mnist(strcmp(dir, "fashion-mnist") ? dir : NULL, train,
                                     out);
}

static int fail_data(const char *what)
{
    fprintf(stderr, "clgrad-train: %s: %s\n", what, clg_last_error());
    return USAGE_ERROR;
}

static int load_data(const cli *c, bool need_train, data *d)
{
    clg_status s = CLG_OK;
    if (c->data) {
        if (need_train)
            s = load_from_dir(c->data, true, &d->train);
        if (s == CLG_OK) {
            s = load_from_dir(c->data, false, &d->test);
            if (s == CLG_NOT_FOUND && need_train)
                s = CLG_OK; /* training without a test set */
        }
    } else if (c->train_images || c->test_images) {
        if (need_train && (!c->train_images || !c->train_labels))
            return usage_error("--train-images and --train-labels go together");
        if (need_train)
            s = clg_dataset_from_idx(c->train_images, c->train_labels, &d->train);
        if (s == CLG_OK && c->test_images) {
            if (!c->test_labels)
                return usage_error("--test-images needs --test-labels");
            s = clg_dataset_from_idx(c->test_images, c->test_labels, &d->test);
        }
    } else if (need_train) {
        return usage_error(
            "no data: give --data fashion-mnist, --data DIR or --train-images "
            "and --train-labels");
    }
    if (s != CLG_OK) {
        fprintf(stderr, "clgrad-train: %s\n", clg_last_error());
        return USAGE_ERROR;
    }
    clg_dataset *sets[2] = {d->train, d->test};
    for (int k = 0; k < 2 && c->nclasses; k++)
        if (sets[k] && clg_dataset_select(sets[k], c->classes, c->nclasses,
                                          k == 0 ? c->train_samples : 0) != CLG_OK)
            return fail_data(k == 0 ? "training data" : "test data");
    if (!c->nclasses && c->train_samples && d->train) {
        int all[4096];
        for (int k = 0; k < d->train->classes && k < 4096; k++)
            all[k] = k;
        if (clg_dataset_select(d->train, all, d->train->classes, c->train_samples) !=
            CLG_OK)
            return fail_data("training data");
    }
    if (need_train && c->val_split > 0 &&
        clg_dataset_split(d->train, c->val_split, c->seed, &d->val) != CLG_OK) {
        fprintf(stderr, "clgrad-train: %s\n", clg_last_error());
        return USAGE_ERROR;
    }
    return -1;
}

/* ---- Normalisation ---------------------------------------------------------- */

typedef struct norm {
    int channels; /* 0: none */
    float mean[4], std[4];
} norm;

static int channels_of(const clg_dataset *d)
{
    return d->ndim == 3 ? d->shape[0] : 1;
}

static void norm_str(const norm *n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < n->channels && used < len; c++)
            used += (size_t)snprintf(buf + used, len - used, "%s%.9g",
                                     c   ? ","
                                     : k ? ";"
                                         : "",
                                     (double)(k ? n->std[c] : n->mean[c]));
}

static bool norm_parse(const char *text, norm *n)
{
    memset(n, 0, sizeof *n);
    const char *semi = strchr(text, ';');
    if (!semi)
        return false;
    for (int k = 0; k < 2; k++) {
        const char *p = k ? semi + 1 : text;
        int c = 0;
        while (c < 4) {
            char *end;
            float v = strtof(p, &end);
            if (end == p)
                return false;
            (k ? n->std : n->mean)[c++] = v;
            if (*end != ',')
                break;
            p = end + 1;
        }
        n->channels = c;
    }
    return true;
}

/* --normalize: auto (training statistics, byte images only), none, MEAN,STD. */
static int choose_norm(const cli *c, const clg_dataset *train, norm *n)
{
    memset(n, 0, sizeof *n);
    const char *how = c->normalize ? c->normalize : "auto";
    if (!strcmp(how, "none"))
        return -1;
    int channels = channels_of(train);
    if (channels > 4)
        return usage_error("--normalize: at most 4 channels");
    if (!strcmp(how, "auto")) {
        if (!train->from_bytes)
            return -1;
        n->channels = channels;
        clg_dataset_stats(train, n->mean, n->std, channels);
        return -1;
    }
    float m, s;
    int used;
    if (sscanf(how, "%f,%f%n", &m, &s, &used) != 2 || how[used] || !(s > 0))
        return usage_error("--normalize: '%s' is not auto, none or MEAN,STD (STD > 0)",
                           how);
    n->channels = channels;
    for (int k = 0; k < channels; k++)
        n->mean[k] = m, n->std[k] = s;
    return -1;
}

static int apply_norm(const norm *n, clg_dataset *d)
{
    if (!d || !n->channels)
        return -1;
    if (channels_of(d) != n->channels)
        return usage_error("the data has %d channels, the normalisation %d",
                           channels_of(d), n->channels);
    if (clg_dataset_normalize(d, n->mean, n->std, n->channels) != CLG_OK) {
        fprintf(stderr, "clgrad-train: %s\n", clg_last_error());
        return USAGE_ERROR;
    }
    return -1;
}

/* ---- Progress, log and plot ------------------------------------------------- */

typedef struct run {
    const cli *c;
    bool tty;
    FILE *log;
    clg_epoch_info *history;
    int nhistory, cap;
    clg_model *model;
    clg_optimizer *opt;
    clg_schedule *sched;
    const clg_spec *spec;
    const norm *norm;
    long long steps;
    float best_val_loss;                  /* the fit's best, for the metadata */
    float ckpt_best_val, ckpt_best_train; /* what best.safetensors holds */
    int failed_io;
} run;

static void fmt_time(double s, char *buf, size_t len)
{
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%d:%02d", t / 60, t % 60);
}

static bool on_step(const clg_step_info *s, void *user)
{
    run *r = user;
    r->steps = s->step;
    if (!r->tty || r->c->quiet)
        return true;
    int width = 24, done = (s->batch + 1) * width / s->batches;
    char bar[32], eta[16];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '=' : i == done ? '>' : ' ';
    bar[width] = '\0';
    double rate = (double)(s->batch + 1) / (s->seconds > 0 ? s->seconds : 1e-9);
    fmt_time((s->batches - s->batch - 1) / rate, eta, sizeof eta);
    printf("\repoch %d [%s] %d/%d %6.0f samples/s ETA %s loss %.4f acc %.4f ",
           s->epoch + 1, bar, s->batch + 1, s->batches, s->samples_per_second, eta,
           (double)s->running_loss, (double)s->running_accuracy);
    fflush(stdout);
    return true;
}

static void on_warning(const char *msg, void *user)
{
    run *r = user;
    if (r->tty && !r->c->quiet)
        printf("\n");
    fprintf(stderr, "clgrad-train: warning: %s\n", msg);
}

static void write_plot(const run *r);
static int save_checkpoint(run *r, const char *path, int epochs);

static bool on_epoch(const clg_epoch_info *e, void *user)
{
    run *r = user;
    if (r->nhistory == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->history = realloc(r->history, (size_t)r->cap * sizeof *r->history);
    }
    r->history[r->nhistory++] = *e;
    if (e->best)
        r->best_val_loss = e->val_loss;
    if (!r->c->quiet) {
        char val[96] = "";
        if (!isnan(e->val_loss))
            snprintf(val, sizeof val, ", val loss %.4f acc %.4f%s", (double)e->val_loss,
                     (double)e->val_accuracy, e->best ? " *" : "");
        printf(
            "%sepoch %d/%d: lr %.3g, loss %.4f, acc %.4f%s, %.1f s, %.0f samples/s\n",
            r->tty ? "\r\033[K" : "", e->epoch + 1, r->c->epochs, (double)e->lr,
            (double)e->train_loss, (double)e->train_accuracy, val, e->seconds,
            e->samples_per_second);
        fflush(stdout);
    }
    if (r->log) {
        fprintf(r->log, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.3f,%.1f\n", e->epoch + 1,
                (double)e->lr, (double)e->train_loss, (double)e->train_accuracy,
                (double)e->val_loss, (double)e->val_accuracy, e->seconds,
                e->samples_per_second);
        fflush(r->log);
    }
    if (r->c->plot)
        write_plot(r);
    if (r->c->checkpoint_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/last.safetensors", r->c->checkpoint_dir);
        if (save_checkpoint(r, path, e->epoch + 1) >= 0)
            r->failed_io = 1;
        float score = isnan(e->val_loss) ? e->train_loss : e->val_loss;
        float *best = isnan(e->val_loss) ? &r->ckpt_best_train : &r->ckpt_best_val;
        if (!r->failed_io && score < *best) {
            *best = score;
            snprintf(path, sizeof path, "%s/best.safetensors", r->c->checkpoint_dir);
            if (save_checkpoint(r, path, e->epoch + 1) >= 0)
                r->failed_io = 1;
        }
        if (r->failed_io)
            return false;
    }
    return true;
}

/* Loss and accuracy per epoch as an SVG line chart a browser shows. */
static void write_plot(const run *r)
{
    FILE *f = fopen(r->c->plot, "w");
    if (!f) {
        fprintf(stderr, "clgrad-train: warning: cannot write %s: %s\n", r->c->plot,
                strerror(errno));
        return;
    }
    const int W = 480, H = 300, L = 50, T = 30, PW = 400, PH = 220;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n",
            2 * W, H);
    const char *titles[2] = {"loss", "accuracy"};
    const char *colors[2] = {"#1f77b4", "#ff7f0e"};
    for (int chart = 0; chart < 2; chart++) {
        int x0 = chart * W + L;
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < r->nhistory; i++) {
            const clg_epoch_info *e = &r->history[i];
            double v[2] = {chart ? e->train_accuracy : e->train_loss,
                           chart ? e->val_accuracy : e->val_loss};
            for (int k = 0; k < 2; k++)
                if (isfinite(v[k]))
                    lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
        }
        if (!(hi > lo))
            lo = isfinite(lo) ? lo - 0.5 : 0, hi = lo + 1;
        fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"14\">%s per epoch</text>\n", x0,
                titles[chart]);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                "stroke=\"#999\"/>\n",
                x0, T, PW, PH);
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n",
                x0 - 4, T + 10, hi, x0 - 4, T + PH, lo);
        fprintf(f,
                "<text x=\"%d\" y=\"%d\">epoch 1</text><text x=\"%d\" y=\"%d\" "
                "text-anchor=\"end\">epoch %d</text>\n",
                x0, T + PH + 16, x0 + PW, T + PH + 16,
                r->nhistory ? r->history[r->nhistory - 1].epoch + 1 : 1);
        for (int k = 0; k < 2; k++) {
            fprintf(
                f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                colors[k]);
            for (int i = 0; i < r->nhistory; i++) {
                const clg_epoch_info *e = &r->history[i];
                double v = k ? (chart ? e->val_accuracy : e->val_loss)
                             : (chart ? e->train_accuracy : e->train_loss);
                if (!isfinite(v))
                    continue;
                double x =
                    x0 + (r->nhistory > 1 ? (double)i / (r->nhistory - 1) : 0.5) * PW;
                double y = T + (hi - v) / (hi - lo) * PH;
                fprintf(f, "%.1f,%.1f ", x, y);
            }
            fprintf(f, "\"/>\n");
            for (int i = 0; i < r->nhistory; i++) { /* a dot per epoch */
                const clg_epoch_info *e = &r->history[i];
                double v = k ? (chart ? e->val_accuracy : e->val_loss)
                             : (chart ? e->train_accuracy : e->train_loss);
                if (isfinite(v))
                    fprintf(
                        f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        x0 + (r->nhistory > 1 ? (double)i / (r->nhistory - 1) : 0.5) *
                                 PW,
                        T + (hi - v) / (hi - lo) * PH, colors[k]);
            }
            bool any = false; /* a legend entry only for a line that exists */
            for (int i = 0; i < r->nhistory; i++)
                any |= isfinite(k ? r->history[i].val_loss : r->history[i].train_loss);
            if (any)
                fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n",
                        x0 + PW / 2 - 70 + 90 * k, T + PH + 16, colors[k],
                        k ? "validation" : "training");
        }
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

static int save_checkpoint(run *r, const char *path, int epochs)
{
    char normalize[256];
    norm_str(r->norm, normalize, sizeof normalize);
    clg_train_state st = {epochs,
                          r->steps,
                          clg_plan_step(clg_model_plan(r->model)),
                          {0, 0, 0, 0},
                          r->best_val_loss,
                          clg_spec_text(r->spec),
                          r->norm->channels ? normalize : NULL,
                          r->c->command_line};
    if (r->sched)
        clg_schedule_state(r->sched, st.schedule);
    if (clg_save(path, r->model, r->opt, &st) != CLG_OK) {
        fprintf(stderr, "clgrad-train: %s\n", clg_last_error());
        return TRAIN_ERROR;
    }
    return -1;
}

static void print_confusion(const clg_eval_report *e)
{
    printf("confusion matrix (rows: true class, columns: predicted)\n     ");
    for (int p = 0; p < e->classes; p++)
        printf(" %5d", p);
    printf("   accuracy\n");
    for (int t = 0; t < e->classes; t++) {
        printf("%4d ", t);
        for (int p = 0; p < e->classes; p++)
            printf(" %5d", e->confusion[t * e->classes + p]);
        printf("   %.4f\n", (double)e->class_accuracy[t]);
    }
}

static int report_test(clg_model *m, const clg_dataset *test)
{
    clg_eval_report e;
    if (clg_evaluate(m, test, &e) != CLG_OK) {
        fprintf(stderr, "clgrad-train: %s\n", clg_last_error());
        return USAGE_ERROR; /* the test data does not fit the model */
    }
    printf("test: loss %.4f, accuracy %.4f (%d samples)\n", (double)e.loss,
           (double)e.accuracy, e.count);
    print_confusion(&e);
    clg_eval_report_free(&e);
    return -1;
}

/* ---- The modes --------------------------------------------------------------- */

static int fail(int code)
{
    fprintf(stderr, "clgrad-train: %s\n", clg_last_error());
    return code;
}

/* Training failures are 1; a model or data that do not fit are 2. */
static int fail_status(clg_status s)
{
    return fail(s == CLG_SHAPE_MISMATCH || s == CLG_INVALID_ARGUMENT ||
                        s == CLG_BAD_FILE || s == CLG_NOT_FOUND || s == CLG_IO_ERROR
                    ? USAGE_ERROR
                    : TRAIN_ERROR);
}

/* The spec: the file given, or the text a checkpoint carries. */
static int get_spec(const cli *c, const clg_checkpoint *ck, clg_spec **spec)
{
    if (c->spec)
        return clg_spec_load(c->spec, spec) == CLG_OK ? -1 : fail(USAGE_ERROR);
    const char *text = ck ? clg_checkpoint_meta(ck, "spec") : NULL;
    if (!text)
        return usage_error(
            "the checkpoint carries no model spec: give the spec file too");
    return clg_spec_parse(text, "checkpoint spec", spec) == CLG_OK ? -1
                                                                   : fail(USAGE_ERROR);
}

static int read_checkpoint(const char *path, clg_checkpoint **ck)
{
    return clg_checkpoint_read(path, ck) == CLG_OK ? -1 : fail(USAGE_ERROR);
}

static int build_model(clg_context *ctx, const cli *c, clg_spec *spec, clg_model **m)
{
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = c->batch, mo.init = c->init, mo.seed = c->seed;
    if (c->replace_head && clg_spec_replace_head(spec, c->replace_head) != CLG_OK)
        return fail(USAGE_ERROR);
    if (clg_model_from_spec(ctx, spec, &mo, m) != CLG_OK)
        return fail(USAGE_ERROR);
    if (c->freeze && clg_model_freeze(*m, c->freeze) != CLG_OK)
        return fail(USAGE_ERROR);
    if (clg_model_compile(*m, CLG_LOSS_CROSS_ENTROPY, c->label_smoothing) != CLG_OK)
        return fail_status(clg_graph_status(clg_model_graph(*m)));
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

static int evaluate_mode(clg_context *ctx, const cli *c)
{
    clg_checkpoint *ck = NULL;
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    data d = {0};
    norm n = {0};
    int rc = read_checkpoint(c->evaluate, &ck);
    if (rc < 0)
        rc = get_spec(c, ck, &spec);
    if (rc < 0)
        rc = load_data(c, false, &d);
    if (rc < 0 && !d.test)
        rc = usage_error(
            "--evaluate needs test data: --data or --test-images/--test-labels");
    const char *nm = ck ? clg_checkpoint_meta(ck, "normalize") : NULL;
    if (rc < 0 && nm && !norm_parse(nm, &n))
        rc = usage_error("%s: bad normalize metadata '%s'", c->evaluate, nm);
    if (rc < 0)
        rc = apply_norm(&n, d.test);
    if (rc < 0)
        rc = build_model(ctx, c, spec, &m);
    clg_load_report lr;
    if (rc < 0 && clg_load(ck, m, NULL, &lr) != CLG_OK)
        rc = fail(USAGE_ERROR);
    if (rc < 0)
        print_load(c->evaluate, &lr, c->quiet);
    if (rc < 0)
        rc = report_test(m, d.test);
    clg_model_free(m), clg_spec_free(spec), clg_checkpoint_free(ck), free_data(&d);
    return rc < 0 ? 0 : rc;
}

static int predict_mode(clg_context *ctx, const cli *c)
{
    const char *from = c->init_from ? c->init_from : c->resume;
    if (!from)
        return usage_error("--predict needs the model: --init-from CHECKPOINT");
    clg_checkpoint *ck = NULL;
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_dataset *images = NULL;
    norm n = {0};
    int rc = read_checkpoint(from, &ck);
    if (rc < 0)
        rc = get_spec(c, ck, &spec);
    if (rc < 0 && clg_dataset_from_idx(c->predict, NULL, &images) != CLG_OK)
        rc = fail(USAGE_ERROR);
    const char *nm = ck ? clg_checkpoint_meta(ck, "normalize") : NULL;
    if (rc < 0 && nm && !norm_parse(nm, &n))
        rc = usage_error("%s: bad normalize metadata '%s'", from, nm);
    if (rc < 0)
        rc = apply_norm(&n, images);
    if (rc < 0)
        rc = build_model(ctx, c, spec, &m);
    clg_load_report lr;
    if (rc < 0 && clg_load(ck, m, NULL, &lr) != CLG_OK)
        rc = fail(USAGE_ERROR);
    int32_t *cls = rc < 0 ? malloc((size_t)images->count * sizeof *cls) : NULL;
    float *prob = rc < 0 ? malloc((size_t)images->count * sizeof *prob) : NULL;
    if (rc < 0 && (!cls || !prob))
        rc = usage_error("out of memory for %d predictions", images->count);
    if (rc < 0 && clg_predict(m, images, cls, prob) != CLG_OK)
        rc = fail_status(CLG_SHAPE_MISMATCH);
    if (rc < 0) {
        printf("index,class,probability\n");
        for (int i = 0; i < images->count; i++)
            printf("%d,%d,%.6f\n", i, cls[i], (double)prob[i]);
    }
    free(cls), free(prob);
    clg_model_free(m), clg_spec_free(spec), clg_checkpoint_free(ck),
        clg_dataset_free(images);
    return rc < 0 ? 0 : rc;
}

static int make_schedule(const cli *c, int batches, clg_schedule **out)
{
    *out = NULL;
    clg_schedule_opts so = c->sched;
    if (so.type == CLG_SCHEDULE_CONSTANT && so.warmup == 0)
        return -1;
    if (so.type == CLG_SCHEDULE_COSINE && so.t_max == CLG_SCHEDULE_OPTS_UNSET)
        so.t_max = c->epochs;
    if (so.type == CLG_SCHEDULE_ONECYCLE) {
        so.total_steps = c->steps ? (int)c->steps : c->epochs * batches;
        if (so.max_lr <= 0)
            so.max_lr = c->optim.lr;
    }
    return clg_schedule_create(&so, c->optim.lr, out) == CLG_OK ? -1
                                                                : fail(USAGE_ERROR);
}

static int train_mode(clg_context *ctx, const cli *c)
{
    clg_checkpoint *ck = NULL;
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_loader *loader = NULL;
    data d = {0};
    norm n = {0};
    run r = {.c = c,
             .tty = isatty(STDOUT_FILENO),
             .norm = &n,
             .best_val_loss = INFINITY,
             .ckpt_best_val = INFINITY,
             .ckpt_best_train = INFINITY};
    clg_train_state resumed = {0};
    int rc = c->resume ? read_checkpoint(c->resume, &ck) : -1;
    if (rc < 0 && ck && clg_checkpoint_train_state(ck, &resumed) != CLG_OK)
        rc = fail(USAGE_ERROR);
    if (rc < 0)
        rc = get_spec(c, ck, &spec);
    if (rc < 0)
        rc = load_data(c, true, &d);
    if (rc < 0)
        rc = choose_norm(c, d.train, &n);
    if (rc < 0 && ck && resumed.normalize && !norm_parse(resumed.normalize, &n))
        rc = usage_error("%s: bad normalize metadata", c->resume);
    if (rc < 0)
        rc = apply_norm(&n, d.train);
    if (rc < 0)
        rc = apply_norm(&n, d.val);
    if (rc < 0)
        rc = apply_norm(&n, d.test);
    if (rc < 0)
        rc = build_model(ctx, c, spec, &m);
    if (rc < 0 && clg_optim_create(clg_model_plan(m), &c->optim, &opt) != CLG_OK)
        rc = fail(USAGE_ERROR);
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = c->batch, lo.shuffle = !c->no_shuffle, lo.seed = c->seed;
    lo.augment = c->augment;
    if (rc < 0 && clg_loader_create(d.train, &lo, &loader) != CLG_OK)
        rc = fail(USAGE_ERROR);
    if (rc < 0)
        rc = make_schedule(c, clg_loader_batches(loader), &r.sched);
    if (rc < 0 && c->init_from) {
        clg_checkpoint *init = NULL;
        clg_load_report lr;
        rc = read_checkpoint(c->init_from, &init);
        if (rc < 0 && clg_load(init, m, NULL, &lr) != CLG_OK)
            rc = fail(USAGE_ERROR);
        if (rc < 0)
            print_load(c->init_from, &lr, c->quiet);
        clg_checkpoint_free(init);
    }
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    if (rc < 0 && ck) {
        clg_load_report lr;
        if (clg_load(ck, m, opt, &lr) != CLG_OK)
            rc = fail(USAGE_ERROR);
        else if (resumed.epoch >= c->epochs)
            rc = usage_error("%s already holds %d epochs; ask for more with --epochs",
                             c->resume, resumed.epoch);
        fo.first_epoch = resumed.epoch;
        fo.first_step = resumed.step;
        clg_plan_set_step(clg_model_plan(m), resumed.plan_step);
        if (r.sched)
            clg_schedule_set_state(r.sched, resumed.schedule);
        r.best_val_loss = r.ckpt_best_val = resumed.best_val_loss;
        r.steps = resumed.step;
        if (rc < 0 && !c->quiet)
            printf("resuming %s after epoch %d, step %lld\n", c->resume, resumed.epoch,
                   resumed.step);
    }
    if (rc < 0 && c->checkpoint_dir && mkdir(c->checkpoint_dir, 0777) != 0 &&
        errno != EEXIST)
        rc = usage_error("--checkpoint-dir %s: %s", c->checkpoint_dir, strerror(errno));
    if (rc < 0 && c->log) {
        bool append = ck && access(c->log, F_OK) == 0;
        r.log = fopen(c->log, append ? "a" : "w");
        if (!r.log)
            rc = usage_error("--log %s: %s", c->log, strerror(errno));
        else if (!append)
            fprintf(r.log, "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds,"
                           "samples_per_s\n");
    }
    if (rc < 0 && !c->quiet)
        clg_model_summary(m, stdout);
    r.model = m, r.opt = opt, r.spec = spec;
    fo.epochs = c->epochs, fo.max_steps = c->steps, fo.early_stop = c->early_stop;
    fo.schedule = r.sched;
    fo.on_step = on_step, fo.on_epoch = on_epoch, fo.on_warning = on_warning,
    fo.user = &r;
    clg_fit_report fr;
    if (rc < 0) {
        clg_status s = clg_fit(m, opt, loader, d.val, &fo, &fr);
        if (r.tty && !c->quiet)
            printf("\r\033[K");
        if (s != CLG_OK) {
            rc = fail_status(s);
            if (s == CLG_NOT_FINITE && c->checkpoint_dir)
                fprintf(stderr,
                        "clgrad-train: the checkpoints in %s hold the last good "
                        "epoch\n",
                        c->checkpoint_dir);
        } else if (r.failed_io) {
            rc = TRAIN_ERROR;
        } else if (!c->quiet && fr.stopped_early) {
            printf("stopped early after epoch %d; best validation loss %.4f at epoch "
                   "%d%s\n",
                   fr.epochs, (double)fr.best_val_loss, fr.best_epoch + 1,
                   fr.restored_best ? " (weights restored)" : "");
        }
    }
    if (rc < 0 && c->save)
        rc = save_checkpoint(&r, c->save, fr.epochs);
    if (rc < 0 && d.test)
        rc = report_test(m, d.test);
    if (r.log)
        fclose(r.log);
    free(r.history);
    clg_schedule_free(r.sched);
    clg_loader_free(loader), clg_optim_free(opt), clg_model_free(m);
    clg_spec_free(spec), clg_checkpoint_free(ck), free_data(&d);
    return rc < 0 ? 0 : rc;
}

int main(int argc, char **argv)
{
    cli c = {0};
    clg_optim_opts od = CLG_OPTIM_DEFAULTS;
    clg_schedule_opts sd = CLG_SCHEDULE_DEFAULTS;
    clg_augment ad = CLG_AUGMENT_NONE;
    c.optim = od, c.sched = sd, c.augment = ad;
    c.optim.type = CLG_OPTIM_ADAM, c.optim.lr = 1e-3f;
    c.sched.t_max = CLG_SCHEDULE_OPTS_UNSET, c.sched.max_lr = 0;
    c.epochs = 10, c.batch = 64;
    char line[2048] = "clgrad-train";
    for (int i = 1; i < argc; i++)
        snprintf(line + strlen(line), sizeof line - strlen(line), " %s", argv[i]);
    c.command_line = line;
    int rc = parse_args(argc, argv, &c);
    if (rc >= 0)
        return rc;
    int dev;
    if (clg_device_select(c.device, &dev) != CLG_OK)
        return fail(USAGE_ERROR);
    clg_context *ctx;
    if (clg_context_create(dev, &ctx) != CLG_OK)
        return fail(TRAIN_ERROR);
    rc = c.evaluate  ? evaluate_mode(ctx, &c)
         : c.predict ? predict_mode(ctx, &c)
                     : train_mode(ctx, &c);
    clg_context_free(ctx);
    return rc;
}
