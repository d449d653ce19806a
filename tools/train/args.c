/* clgrad-train's options: one table of flags that parses argv and writes
 * --help (tools/cli.h). */
#include <stdio.h>
#include <string.h>

#include "base/text.h"
#include "train.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: clgrad-train MODEL.spec [options]\n"
                 "       clgrad-train MODEL.spec --text FILE [--tokenizer char] "
                 "[options]\n"
                 "       clgrad-train [MODEL.spec] --evaluate CHECKPOINT [--data ... | "
                 "--test-text FILE]\n"
                 "       clgrad-train --predict IMAGES.idx --init-from CHECKPOINT\n"
                 "       clgrad-train --generate N --init-from CHECKPOINT [--prompt "
                 "TEXT]\n");
}

/* ---- Values with a syntax of their own ------------------------------------ */

/* A comma-separated list of whole numbers in [lo, hi], at most max. */
static bool int_list(const char *v, long long lo, long long hi, int *out, int max,
                     int *count)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    long long n;
    *count = 0;
    for (char *m = strtok_r(buf, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        if (*count == max || !clg_parse_int(m, lo, hi, &n))
            return false;
        out[(*count)++] = (int)n;
    }
    return *count > 0;
}

/* --classes 5-9 or 0,2,4 */
static bool parse_classes(const char *v, void *dst, char *error, size_t len)
{
    train_options *o = dst;
    int lo, hi, used = 0;
    o->nclasses = 0;
    if (sscanf(v, "%d-%d%n", &lo, &hi, &used) == 2 && !v[used] && lo >= 0 && hi >= lo &&
        hi - lo < 64) {
        for (int k = lo; k <= hi; k++)
            o->classes[o->nclasses++] = k;
        return true;
    }
    if (int_list(v, 0, 4095, o->classes, 64, &o->nclasses))
        return true;
    snprintf(error, len, "'%s' is not A-B or a list of classes", v);
    return false;
}

/* --format clgrad|hf */
static bool parse_format(const char *v, void *dst, char *error, size_t len)
{
    train_options *o = dst;
    if (!strcmp(v, "hf") || !strcmp(v, "clgrad")) {
        o->hf_format = !strcmp(v, "hf");
        return true;
    }
    snprintf(error, len, "'%s' is not clgrad or hf", v);
    return false;
}

/* --device-weights 3,1: positive numbers, one per device or rank */
static bool parse_weights(const char *v, void *dst, char *error, size_t len)
{
    train_options *o = dst;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    o->nweights = 0;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        float f;
        if (o->nweights == 64 || !clg_parse_float(w, 1e-6f, 1e6f, &f)) {
            snprintf(error, len, "'%s' is not a list of positive weights", v);
            return false;
        }
        o->weights[o->nweights++] = f;
    }
    return o->nweights > 0;
}

/* --betas B1,B2 */
static bool parse_betas(const char *v, void *dst, char *error, size_t len)
{
    clg_optim_opts *q = dst;
    int used = 0;
    double b1, b2;
    if (sscanf(v, "%lf,%lf%n", &b1, &b2, &used) != 2 || v[used] ||
        !(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) {
        snprintf(error, len, "'%s' is not B1,B2 in [0, 1)", v);
        return false;
    }
    q->beta1 = b1, q->beta2 = b2;
    return true;
}

/* --milestones A,B,.. (epochs) */
static bool parse_milestones(const char *v, void *dst, char *error, size_t len)
{
    clg_schedule_opts *so = dst;
    if (int_list(v, 1, 100000, so->milestones, CLG_MAX_MILESTONES,
                 &so->milestone_count))
        return true;
    snprintf(error, len, "'%s' is not a list of epochs", v);
    return false;
}

/* --augment LIST (clg_augment_parse) */
static bool parse_augment(const char *list, void *dst, char *error, size_t len)
{
    if (clg_augment_parse(list, dst) == CLG_OK)
        return true;
    snprintf(error, len, "%s", clg_last_error());
    return false;
}

/* --loss: clgrad-train trains classifiers; mse, l1 and bce (with logits)
 * compare the outputs with one-hot labels */
static bool parse_loss(const char *v, void *dst, char *error, size_t len)
{
    clg_loss_type *loss = dst;
    if (!strcmp(v, "ce")) {
        *loss = CLG_LOSS_CROSS_ENTROPY;
        return true;
    }
    if (clg_loss_type_parse(v, loss) == CLG_OK)
        return true;
    snprintf(error, len, "%s", clg_last_error());
    return false;
}

static clg_status parse_optimizer(const char *v, void *dst)
{
    return clg_optim_type_parse(v, dst);
}
static clg_status parse_schedule(const char *v, void *dst)
{
    return clg_schedule_type_parse(v, dst);
}
static clg_status parse_init(const char *v, void *dst)
{
    return clg_init_parse(v, dst);
}

static const char *const optimizer_names[] = CLI_ENUM_NAMES(CLG_OPTIM_TYPE_LIST);
static const char *const schedule_names[] = CLI_ENUM_NAMES(CLG_SCHEDULE_TYPE_LIST);
static const char *const init_names[] = CLI_ENUM_NAMES(CLG_INIT_LIST);

#define ENUM(table, parser)                                                            \
    .parse_enum = parser, .names = table, .count = (int)(sizeof table / sizeof *table)

/* ---- The table ------------------------------------------------------------ */

int train_parse_args(int argc, char **argv, train_options *o)
{
    clg_optim_opts od = CLG_OPTIM_DEFAULTS;
    clg_schedule_opts sd = CLG_SCHEDULE_DEFAULTS;
    clg_augment ad = CLG_AUGMENT_NONE;
    memset(o, 0, sizeof *o);
    o->optim = od, o->sched = sd, o->augment = ad;
    o->optim.type = CLG_OPTIM_ADAM, o->optim.lr = 1e-3;
    o->sched.max_lr = 0; /* onecycle: the --lr */
    o->epochs = 10, o->batch = 64, o->temperature = 1.0f;
    o->image_memory = 2048;
    clg_optim_opts *q = &o->optim;
    clg_schedule_opts *so = &o->sched;
    const cli_flag flags[] = {
        CLI_GROUP("Data"),
        {"--data", CLI_STRING, &o->data, .value = "fashion-mnist|cifar10:DIR|DIR",
         .help = "Fashion-MNIST from its Debian package, CIFAR-10 or -100's\n"
                 "binary batches (cifar10:DIR, cifar100:DIR), or a directory\n"
                 "of MNIST-named IDX files (train-images-idx3-ubyte[.gz], ...)"},
        {"--train-images", CLI_STRING, &o->train_images, .value = "F",
         .help = "training images (IDX), with --train-labels"},
        {"--train-labels", CLI_STRING, &o->train_labels, .value = "F",
         .help = "their labels (IDX)"},
        {"--test-images", CLI_STRING, &o->test_images, .value = "F|DIR",
         .help = "test images (IDX), with --test-labels; or a folder of\n"
                 "class folders of PNG and JPEG images, as --images"},
        {"--test-labels", CLI_STRING, &o->test_labels, .value = "F",
         .help = "their labels (IDX)"},
        {"--images", CLI_STRING, &o->images, .value = "DIR",
         .help = "training images: a folder with a folder of PNG and JPEG\n"
                 "files per class (names sorted, as torchvision's ImageFolder)"},
        {"--resize", CLI_STRING, &o->resize, .value = "bilinear|crop",
         .help = "images of another size than the model's input: resized\n"
                 "(bilinear, antialias off, as torchvision) or centre-cropped"},
        {"--image-memory", CLI_LONG, &o->image_memory, 0, 1LL << 24, .value = "MB",
         .help = "decoded images kept in memory (default 2048): a larger folder\n"
                 "is decoded as the loader's threads want it (0: no limit)"},
        {"--csv", CLI_STRING, &o->csv, .value = "FILE",
         .help = "training data from a CSV file: numeric feature columns and\n"
                 "a label column (classes as numbers or names)"},
        {"--test-csv", CLI_STRING, &o->test_csv, .value = "FILE",
         .help = "test data from a CSV file, columns as --csv's"},
        {"--label-column", CLI_STRING, &o->label_column, .value = "NAME|INDEX",
         .help = "the CSV's label column, by header name or 0-based index\n"
                 "(default: the last)"},
        {"--normalize", CLI_STRING, &o->normalize, .value = "auto|none|MEAN,STD",
         .help = "auto: statistics of the training split for byte images,\n"
                 "none for float32 images (default auto)"},
        {"--val-split", CLI_FLOAT, &o->val_split, 0.0001, 0.9999, .value = "F",
         .help = "hold out this fraction of the training data"},
        {"--classes", CLI_CUSTOM, o, .value = "LIST", .parse = parse_classes,
         .help = "keep only these classes (5-9 or 0,2,4), relabelled 0.."},
        {"--train-samples", CLI_INT, &o->train_samples, 1, 1 << 30, .value = "N",
         .help = "keep the first N training samples of each class"},
        {"--text", CLI_STRING, &o->text, .value = "FILE|DIR",
         .help = "training text (UTF-8; a directory: its files) for a model\n"
                 "whose input is tokens T: windows of T + 1 tokens"},
        {"--test-text", CLI_STRING, &o->test_text, .value = "FILE|DIR",
         .help = "test text, in all its non-overlapping windows"},
        {"--tokenizer", CLI_STRING, &o->tokenizer, .value = "char|byte|bpe=N|gpt2bpe=N",
         .help = "char: the training text's characters; byte: 256 ids;\n"
                 "bpe=N: bytes and N merges learned on it; gpt2bpe=N: the\n"
                 "same on GPT-2's pieces, and <|endoftext|> (default char)"},
        CLI_GROUP("Training"),
        {"--epochs", CLI_INT, &o->epochs, 1, 100000, .value = "N",
         .help = "passes over the training data"},
        {"--steps", CLI_LONG, &o->steps, 1, 1LL << 40, .value = "N",
         .help = "stop after N optimizer steps"},
        {"--batch-size", CLI_INT, &o->batch, 1, 65536, .value = "N",
         .help = "samples per step"},
        {"--accumulate", CLI_INT, &o->accumulate, 1, 1 << 16, .value = "K",
         .help = "an optimizer step every K batches, on their mean\n"
                 "gradient (gradient accumulation: batches of K x B)"},
        {"--recompute", CLI_SWITCH, &o->recompute,
         .help = "GPT blocks' activations computed again in backward, not\n"
                 "kept: about one block's held, not all, for one more\n"
                 "forward pass (a larger batch or context fits)"},
        {"--sync-every", CLI_INT, &o->sync_every, 1, 1 << 20, .value = "N",
         .help = "read the loss, accuracy and optimizer health from\n"
                 "the device every N steps, not after each (default 1;\n"
                 "a bad step is still found, the weights kept from before it)"},
        {"--seed", CLI_LONG, &o->seed, 0, 1LL << 62, .value = "N",
         .help = "initialisation, shuffling, dropout, augmentation"},
        {"--no-shuffle", CLI_SWITCH, &o->no_shuffle, .help = "batches in file order"},
        {"--optimizer", CLI_ENUM, &q->type, ENUM(optimizer_names, parse_optimizer),
         .help = "update rule, as torch.optim's"},
        {"--lr", CLI_DOUBLE, &q->lr, 0, 1e3, .value = "F", .help = "learning rate"},
        {"--momentum", CLI_DOUBLE, &q->momentum, 0, 0.9999, .value = "F",
         .help = "SGD, RMSprop"},
        {"--nesterov", CLI_SWITCH, &q->nesterov, .help = "Nesterov momentum (SGD)"},
        {"--weight-decay", CLI_DOUBLE, &q->weight_decay, 0, 10, .value = "F",
         .help = "L2 penalty; decoupled for adamw"},
        {"--l1", CLI_DOUBLE, &q->l1, 0, 10, .value = "F", .help = "L1 penalty"},
        {"--no-decay-bias", CLI_SWITCH, &o->no_decay_bias,
         .help = "no weight decay or L1 on biases and norm scales"},
        {"--betas", CLI_CUSTOM, q, .value = "B1,B2", .parse = parse_betas,
         .help = "Adam, AdamW (default 0.9,0.999)"},
        {"--eps", CLI_DOUBLE, &q->eps, 0, 1, .value = "F",
         .help = "Adam, RMSprop, Adagrad (default 1e-8, Adagrad 1e-10)"},
        {"--alpha", CLI_DOUBLE, &q->alpha, 0, 1, .value = "F",
         .help = "RMSprop smoothing"},
        {"--centered", CLI_SWITCH, &q->centered, .help = "centered RMSprop"},
        {"--clip-norm", CLI_DOUBLE, &q->clip_norm, 0, 1e9, .value = "F",
         .help = "scale gradients to this global L2 norm at most"},
        {"--clip-value", CLI_DOUBLE, &q->clip_value, 0, 1e9, .value = "F",
         .help = "clamp each gradient element to [-F, F]"},
        {"--loss", CLI_CUSTOM, &o->loss, .value = "cross_entropy|mse|l1|bce",
         .parse = parse_loss,
         .help = "cross_entropy (default), or mse, l1 or bce (with logits) against "
                 "one-hot labels"},
        {"--label-smoothing", CLI_FLOAT, &o->label_smoothing, 0, 1, .value = "F",
         .help = "as PyTorch's cross-entropy"},
        {"--init", CLI_ENUM, &o->init, ENUM(init_names, parse_init),
         .help = "weight initialisation"},
        {"--device", CLI_STRING, &o->device, .value = "SPEC",
         .help = "index, gpu, cpu or name:SUBSTRING"},
        {"--devices", CLI_STRING, &o->devices, .value = "LIST",
         .help = "data parallel on these devices (0,1 or all): a thread\n"
                 "each, the batch split between them"},
        {"--distributed", CLI_STRING, &o->distributed, .value = "auto|mpi|none",
         .help = "auto: MPI when started by mpirun (default)"},
        {"--sync-bn", CLI_SWITCH, &o->sync_bn,
         .help = "batch norm over every device's samples (SyncBatchNorm)"},
        {"--device-weights", CLI_CUSTOM, o, .value = "W,W,..", .parse = parse_weights,
         .help = "each device's (rank's) share of a batch, for devices\n"
                 "of different speeds (default: equal)"},
        CLI_GROUP("Schedules"),
        {"--schedule", CLI_ENUM, &so->type, ENUM(schedule_names, parse_schedule),
         .help = "learning rate over time, as torch's schedulers"},
        {"--step-size", CLI_INT, &so->step_size, 1, 100000, .value = "N",
         .help = "step: epochs between decays"},
        {"--gamma", CLI_FLOAT, &so->gamma, 1e-9, 1e3, .value = "F",
         .help = "step, multistep, exp: the factor"},
        {"--milestones", CLI_CUSTOM, so, .value = "A,B,..", .parse = parse_milestones,
         .help = "multistep: the epochs"},
        {"--eta-min", CLI_FLOAT, &so->eta_min, 0, 1e3, .value = "F",
         .help = "cosine: the final learning rate"},
        {"--max-lr", CLI_FLOAT, &so->max_lr, 1e-12, 1e3, .value = "F",
         .help = "onecycle (default: --lr)"},
        {"--patience", CLI_INT, &so->patience, 0, 100000, .value = "N",
         .help = "plateau: epochs without improvement"},
        {"--factor", CLI_FLOAT, &so->factor, 1e-6, 0.9999, .value = "F",
         .help = "plateau: the factor"},
        {"--warmup", CLI_INT, &so->warmup, 0, 100000, .value = "N",
         .help = "linear warm-up epochs, combinable"},
        CLI_GROUP("Augmentation and stopping"),
        {"--augment", CLI_CUSTOM, &o->augment, .value = "LIST", .parse = parse_augment,
         .help = "flip[=P],vflip[=P],crop[=PAD],rotate[=DEG],noise[=STD],\n"
                 "cutout[=SIZE] (training only, seeded)"},
        {"--early-stop", CLI_INT, &o->early_stop, 1, 100000, .value = "PATIENCE",
         .help = "stop when validation loss stalls; keep the best weights"},
        CLI_GROUP("Output"),
        {"--quiet", CLI_SWITCH, &o->quiet, .help = "no progress or summary"},
        {"--log", CLI_STRING, &o->log, .value = "FILE.csv",
         .help = "metrics per epoch"},
        {"--plot", CLI_STRING, &o->plot, .value = "FILE.svg",
         .help = "loss and accuracy curves"},
        {"--save", CLI_STRING, &o->save, .value = "FILE|DIR",
         .help = "safetensors checkpoint at the end (with --format hf,\n"
                 "a Hugging Face GPT-2 directory)"},
        {"--format", CLI_CUSTOM, o, .value = "clgrad|hf", .parse = parse_format,
         .help = "what --save writes: clgrad's checkpoint (default), or\n"
                 "hf: config.json, model.safetensors and the tokenizer\n"
                 "as transformers loads them, clgrad_state.safetensors\n"
                 "for --resume DIR"},
        {"--checkpoint-dir", CLI_STRING, &o->checkpoint_dir, .value = "DIR",
         .help = "DIR/last.safetensors and DIR/best.safetensors each epoch"},
        CLI_GROUP("Continuing"),
        {"--resume", CLI_STRING, &o->resume, .value = "FILE",
         .help = "continue a run from its checkpoint (same flags)"},
        {"--init-from", CLI_STRING, &o->init_from, .value = "FILE",
         .help = "load matching weights (a PyTorch state_dict works)"},
        {"--freeze", CLI_INT, &o->freeze, 1, 10000, .value = "N",
         .help = "freeze layers 0..N-1"},
        {"--replace-head", CLI_INT, &o->replace_head, 1, 1 << 20, .value = "K",
         .help = "new last linear layer with K outputs"},
        {"--evaluate", CLI_STRING, &o->evaluate, .value = "FILE",
         .help = "test-set metrics of a checkpoint, no training"},
        {"--predict", CLI_STRING, &o->predict, .value = "FILE",
         .help = "class and probability per image of an IDX file"},
        CLI_GROUP("Generation (text models)"),
        {"--generate", CLI_INT, &o->generate, 1, 1 << 20, .value = "N",
         .help = "print N new tokens of the --init-from model, as text"},
        {"--prompt", CLI_STRING, &o->prompt, .value = "TEXT",
         .help = "the text to continue (default: a newline)"},
        {"--temperature", CLI_FLOAT, &o->temperature, 1e-3, 100, .value = "X",
         .help = "divides the logits (default 1)"},
        {"--top-k", CLI_INT, &o->top_k, 1, 1 << 24, .value = "K",
         .help = "sample among the K likeliest tokens only"},
        CLI_END,
    };
    int rc = cli_parse(TOOL, usage, flags, argc, argv, &o->spec, 1);
    if (rc >= 0)
        return rc;
    q->decay_biases = !o->no_decay_bias;
    if (!o->spec && !o->evaluate && !o->resume && !o->predict && !o->generate &&
        !train_is_gpt2_dir(o->init_from))
        return cli_usage_error(TOOL, "give a model spec file, or a GPT-2 directory as "
                                     "--init-from (try --help)");
    if (o->generate && !o->init_from)
        return cli_usage_error(TOOL,
                               "--generate needs the model: --init-from CHECKPOINT");
    if (!o->generate && (o->prompt || o->top_k))
        return cli_usage_error(TOOL, "--prompt and --top-k go with --generate");
    const char *how = o->distributed ? o->distributed : "auto";
    if (strcmp(how, "auto") && strcmp(how, "mpi") && strcmp(how, "none"))
        return cli_usage_error(TOOL, "--distributed: '%s' is not auto, mpi or none",
                               how);
    if (o->devices && o->device)
        return cli_usage_error(TOOL, "--device and --devices do not mix");
    if (train_is_text(o) && (o->data || o->train_images || o->test_images))
        return cli_usage_error(TOOL, "--text/--test-text and image data do not mix");
    if (o->images && (o->data || o->train_images || train_is_text(o) || o->csv))
        return cli_usage_error(TOOL, "--images and %s do not mix",
                               o->data           ? "--data"
                               : o->train_images ? "--train-images"
                               : o->csv          ? "--csv"
                                                 : "--text");
    if (o->resize && strcmp(o->resize, "bilinear") && strcmp(o->resize, "crop"))
        return cli_usage_error(TOOL, "--resize: '%s' is not bilinear or crop",
                               o->resize);
    bool csv = o->csv || o->test_csv;
    if (csv && (train_is_text(o) || o->data || o->train_images || o->test_images))
        return cli_usage_error(TOOL, "--csv/--test-csv and %s do not mix",
                               train_is_text(o) ? "--text" : "image data");
    if (o->label_column && !csv)
        return cli_usage_error(TOOL, "--label-column names a column of --csv or "
                                     "--test-csv: give one");
    if (o->hf_format && !o->save)
        return cli_usage_error(TOOL,
                               "--format hf says what --save writes: give --save DIR");
    if (o->generate && (o->evaluate || o->predict))
        return cli_usage_error(TOOL, "--generate and --%s do not mix: one at a time",
                               o->evaluate ? "evaluate" : "predict");
    if ((train_is_text(o) || o->generate) && o->nclasses)
        return cli_usage_error(TOOL, "--classes keeps image classes: a text model's "
                                     "classes are its tokens");
    if ((train_is_text(o) || o->generate) && o->normalize &&
        strcmp(o->normalize, "none") != 0)
        return cli_usage_error(TOOL,
                               "--normalize %s: a text model's inputs are token ids, "
                               "which are not normalised",
                               o->normalize);
    if (o->loss != CLG_LOSS_CROSS_ENTROPY && o->label_smoothing > 0)
        return cli_usage_error(TOOL,
                               "--label-smoothing goes with --loss cross_entropy, "
                               "not %s",
                               clg_loss_type_str(o->loss));
    if (o->loss != CLG_LOSS_CROSS_ENTROPY && (train_is_text(o) || o->generate))
        return cli_usage_error(TOOL,
                               "--loss %s: a text model predicts tokens with "
                               "cross_entropy",
                               clg_loss_type_str(o->loss));
    if (q->nesterov && q->momentum <= 0)
        return cli_usage_error(TOOL, "--nesterov needs --momentum > 0");
    return -1;
}
