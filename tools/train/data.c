/* clgrad-train's data: where it comes from, which classes and samples are
 * kept, the validation split, and the inputs' normalisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train.h"

/* "fashion-mnist" is the Debian package, cifar10:DIR and cifar100:DIR
 * CIFAR's binary batches; anything else a directory of MNIST-named IDX
 * files. */
static clg_status load_from_dir(const char *dir, bool train, clg_dataset **out)
{
    if (!strncmp(dir, "cifar10:", 8))
        return clg_dataset_cifar(dir + 8, 10, train, out);
    if (!strncmp(dir, "cifar100:", 9))
        return clg_dataset_cifar(dir + 9, 100, train, out);
    return clg_dataset_fashion_mnist(strcmp(dir, "fashion-mnist") ? dir : NULL, train,
                                     out);
}

static int fail_data(const char *what)
{
    fprintf(stderr, TOOL ": %s: %s\n", what, clg_last_error());
    return CLI_USAGE_ERROR;
}

/* --classes and --train-samples */
static int select_classes(const train_options *o, train_data *d)
{
    clg_dataset *sets[2] = {d->train, d->test};
    for (int k = 0; k < 2 && o->nclasses; k++)
        if (sets[k] && clg_dataset_select(sets[k], o->classes, o->nclasses,
                                          k == 0 ? o->train_samples : 0) != CLG_OK)
            return fail_data(k == 0 ? "training data" : "test data");
    if (!o->nclasses && o->train_samples && d->train) {
        int all[4096];
        for (int k = 0; k < d->train->classes && k < 4096; k++)
            all[k] = k;
        if (clg_dataset_select(d->train, all, d->train->classes, o->train_samples) !=
            CLG_OK)
            return fail_data("training data");
    }
    return -1;
}

/* The model's input as an image folder's samples: C (1 or 3) x H x W. */
static int image_opts(const train_options *o, const clg_model *m, clg_image_opts *io)
{
    const clg_tensor *in = clg_model_input(m);
    if (clg_tensor_ndim(in) != 4 ||
        (clg_tensor_dim(in, 1) != 1 && clg_tensor_dim(in, 1) != 3))
        return cli_usage_error(TOOL, "image folders need a model whose input is 1 or 3 "
                                     "channels of H x W (input C H W)");
    io->channels = clg_tensor_dim(in, 1);
    io->height = clg_tensor_dim(in, 2), io->width = clg_tensor_dim(in, 3);
    io->resize = !o->resize                       ? CLG_RESIZE_NONE
                 : !strcmp(o->resize, "bilinear") ? CLG_RESIZE_BILINEAR
                                                  : CLG_RESIZE_CROP;
    io->memory_limit = (size_t)o->image_memory << 20;
    io->threads = 0;
    return -1;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int train_load_data(const train_options *o, const clg_model *m,
                    const char *tokenizer_text, bool need_train, train_data *d)
{
    if (train_is_text(o))
        return train_load_text(o, m, tokenizer_text, need_train, d);
    clg_status s = CLG_OK;
    const char *dir = o->data && strcmp(o->data, "fashion-mnist")
                          ? o->data
                          : "/usr/share/datasets/"
                            "fashion-mnist";
    snprintf(d->train_source, sizeof d->train_source, "training data (%s)",
             o->data           ? dir
             : o->train_images ? o->train_images
             : o->csv          ? o->csv
             : o->images       ? o->images
                               : "?");
    snprintf(d->test_source, sizeof d->test_source, "test data (%s)",
             o->data          ? dir
             : o->test_images ? o->test_images
             : o->test_csv    ? o->test_csv
                              : "?");
    if (o->images || is_dir(o->test_images)) {
        clg_image_opts io;
        int rc = image_opts(o, m, &io);
        if (rc >= 0)
            return rc;
        if (need_train && !o->images)
            return cli_usage_error(TOOL,
                                   "--test-images %s is a folder: give --images "
                                   "to train on",
                                   o->test_images);
        if (o->test_labels && is_dir(o->test_images))
            return cli_usage_error(TOOL, "--test-labels goes with IDX test images, not "
                                         "a folder");
        if (need_train)
            s = clg_dataset_from_image_folder(o->images, &io, &d->train);
        if (s == CLG_OK && o->test_images)
            s = clg_dataset_from_image_folder(o->test_images, &io, &d->test);
    } else if (o->data) {
        if (need_train)
            s = load_from_dir(o->data, true, &d->train);
        if (s == CLG_OK) {
            s = load_from_dir(o->data, false, &d->test);
            if (s == CLG_NOT_FOUND && need_train)
                s = CLG_OK; /* training without a test set */
        }
    } else if (o->train_images || o->test_images) {
        if (need_train && (!o->train_images || !o->train_labels))
            return cli_usage_error(TOOL,
                                   "--train-images and --train-labels go together");
        if (need_train)
            s = clg_dataset_from_idx(o->train_images, o->train_labels, &d->train);
        if (s == CLG_OK && o->test_images) {
            if (!o->test_labels)
                return cli_usage_error(TOOL, "--test-images needs --test-labels");
            s = clg_dataset_from_idx(o->test_images, o->test_labels, &d->test);
        }
    } else if (o->csv || o->test_csv) {
        clg_csv_opts co = CLG_CSV_DEFAULTS;
        const char *col = o->label_column;
        if (col && *col && strspn(col, "0123456789") == strlen(col))
            co.label_index = atoi(col);
        else if (col)
            co.label_name = col;
        if (need_train && !o->csv)
            return cli_usage_error(TOOL, "--test-csv needs --csv to train on");
        if (need_train)
            s = clg_dataset_from_csv(o->csv, &co, &d->train);
        if (s == CLG_OK && o->test_csv)
            s = clg_dataset_from_csv(o->test_csv, &co, &d->test);
    } else if (need_train) {
        return cli_usage_error(TOOL, "no data: give --data fashion-mnist, --data DIR, "
                                     "--train-images and --train-labels, or --csv");
    }
    if (s != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    int rc = select_classes(o, d);
    if (rc >= 0)
        return rc;
    if (need_train && o->val_split > 0 &&
        clg_dataset_split(d->train, o->val_split, (uint64_t)o->seed, &d->val) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    return -1;
}

int train_choose_norm(const train_options *o, const clg_dataset *train,
                      clg_normalization *n)
{
    memset(n, 0, sizeof *n);
    const char *how = o->normalize ? o->normalize : "auto";
    if (!strcmp(how, "none"))
        return -1;
    if (!strcmp(how, "auto")) {
        if (train->from_bytes && clg_normalization_of(train, n) != CLG_OK)
            return cli_fail(TOOL, CLI_USAGE_ERROR);
        return -1;
    }
    int channels = train->ndim == 3 ? train->shape[0] : 1;
    if (strchr(how, ';')) { /* per channel, as checkpoints write it */
        if (clg_normalization_parse(how, n) != CLG_OK)
            return cli_usage_error(TOOL, "--normalize: %s", clg_last_error());
        if (n->channels != channels)
            return cli_usage_error(
                TOOL, "--normalize: '%s' gives %d channels, the data has %d", how,
                n->channels, channels);
        return -1;
    }
    float m, s;
    int used;
    if (sscanf(how, "%f,%f%n", &m, &s, &used) != 2 || how[used] || !isfinite(m) ||
        !isfinite(s) || !(s > 0))
        return cli_usage_error(
            TOOL,
            "--normalize: '%s' is not auto, none, MEAN,STD (a finite MEAN, a finite "
            "STD > 0) or M1,M2,..;S1,S2,.. (a mean and a std per channel)",
            how);
    n->channels = channels;
    if (n->channels > CLG_NORM_MAX_CHANNELS)
        return cli_usage_error(TOOL,
                               "--normalize: the data has %d channels, at most %d "
                               "are supported",
                               n->channels, CLG_NORM_MAX_CHANNELS);
    for (int k = 0; k < n->channels; k++)
        n->mean[k] = m, n->std[k] = s;
    return -1;
}

int train_apply_norm(const clg_normalization *n, train_data *d)
{
    clg_dataset *sets[3] = {d->train, d->val, d->test};
    for (int k = 0; k < 3; k++)
        if (sets[k] && clg_normalization_apply(n, sets[k]) != CLG_OK)
            return cli_fail(TOOL, CLI_USAGE_ERROR);
    return -1;
}
