/* Datasets in host memory: IDX images and labels, Fashion-MNIST, splits and
 * normalisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "clgrad/data.h"
#include "data/lazy.h"

clg_status clg_dataset_create(int count, int ndim, const int *shape, bool labelled,
                              clg_dataset **out)
{
    if (!shape || !out || count < 0 || ndim < 1 || ndim > 3)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_dataset_create: %d samples of %d dims (1 to 3)", count,
                        ndim);
    *out = NULL;
    size_t sample = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "clg_dataset_create: dimension %d is %d", i, shape[i]);
        sample *= (size_t)shape[i];
    }
    clg_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_dataset_create");
    d->count = count;
    d->ndim = ndim;
    memcpy(d->shape, shape, (size_t)ndim * sizeof *shape);
    d->sample = sample;
    d->x = malloc((count ? (size_t)count : 1) * sample * sizeof *d->x);
    d->labels = labelled ? calloc(count ? (size_t)count : 1, sizeof *d->labels) : NULL;
    if (!d->x || (labelled && !d->labels)) {
        clg_dataset_free(d);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY,
                        "clg_dataset_create: %d samples of %zu floats", count, sample);
    }
    *out = d;
    return CLG_OK;
}

int clg_dataset_label_len(const clg_dataset *d)
{
    return d && d->label_len > 1 ? d->label_len : 1;
}

void clg_dataset_free(clg_dataset *d)
{
    if (!d)
        return;
    clg_lazy_free(d->lazy);
    free(d->x);
    free(d->labels);
    for (int i = 0; d->class_names && i < d->classes; i++)
        free(d->class_names[i]);
    free(d->class_names);
    free(d);
}

clg_status clg_dataset_read(const clg_dataset *d, int first, int count, float *out)
{
    if (!d || !out || first < 0 || count < 0 || first > d->count - count)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_dataset_read: samples %d .. %d of %d", first,
                        first + count - 1, d ? d->count : 0);
    if (!d->lazy) {
        memcpy(out, d->x + (size_t)first * d->sample,
               (size_t)count * d->sample * sizeof *out);
        return CLG_OK;
    }
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && i < count; i++)
        s = clg_lazy_read(d->lazy, first + i, out + (size_t)i * d->sample);
    return s;
}

/* Makes d's lazy view the samples keep[0 .. count) of it, in that order. */
static clg_status lazy_keep(clg_dataset *d, const int *keep, int count)
{
    clg_lazy *v = clg_lazy_view(d->lazy, keep, count);
    if (!v)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "a view of a lazy dataset");
    clg_lazy_free(d->lazy);
    d->lazy = v;
    return CLG_OK;
}

static clg_status images_to_floats(const char *path, const clg_idx *img, clg_dataset *d)
{
    const unsigned char *u8 = img->data;
    const float *f32 = img->data;
    for (size_t i = 0; i < img->count; i++) {
        if (img->type == CLG_IDX_U8)
            d->x[i] = (float)u8[i] / 255.0f;
        else if (img->type == CLG_IDX_F32)
            d->x[i] = f32[i];
        else
            return clg_fail(
                CLG_BAD_FILE,
                "%s: images must be unsigned bytes (0x08) or float32 (0x0d), "
                "not type 0x%02x",
                path, img->type);
    }
    return CLG_OK;
}

clg_status clg_dataset_from_idx(const char *images, const char *labels,
                                clg_dataset **out)
{
    if (!images || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_dataset_from_idx: NULL argument");
    *out = NULL;
    clg_idx *img = NULL, *lab = NULL;
    clg_status s = clg_idx_read(images, &img);
    if (s == CLG_OK && labels)
        s = clg_idx_read(labels, &lab);
    if (s == CLG_OK && (img->ndim < 2 || img->ndim > 4))
        s = clg_fail(CLG_BAD_FILE,
                     "%s: images have %d dimensions, expected [N, H, W] or "
                     "[N, C, H, W] (or [N, features])",
                     images, img->ndim);
    if (s == CLG_OK && lab && (lab->ndim != 1 || lab->type != CLG_IDX_U8))
        s = clg_fail(CLG_BAD_FILE, "%s: labels must be one dimension of unsigned bytes",
                     labels);
    if (s == CLG_OK && lab && lab->dims[0] != img->dims[0])
        s = clg_fail(CLG_BAD_FILE, "%s has %d images but %s has %d labels", images,
                     img->dims[0], labels, lab->dims[0]);
    clg_dataset *d = NULL;
    if (s == CLG_OK) {
        int shape[3], ndim;
        if (img->ndim == 2) { /* flat features */
            ndim = 1, shape[0] = img->dims[1];
        } else if (img->ndim == 3) { /* one channel */
            ndim = 3, shape[0] = 1, shape[1] = img->dims[1], shape[2] = img->dims[2];
        } else {
            ndim = 3, shape[0] = img->dims[1], shape[1] = img->dims[2],
            shape[2] = img->dims[3];
        }
        for (int i = 0; i < ndim && s == CLG_OK; i++)
            if (shape[i] < 1)
                s = clg_fail(CLG_BAD_FILE, "%s: a sample dimension is 0", images);
        if (s == CLG_OK)
            s = clg_dataset_create(img->dims[0], ndim, shape, lab != NULL, &d);
    }
    if (s == CLG_OK)
        s = images_to_floats(images, img, d);
    if (s == CLG_OK)
        d->from_bytes = img->type == CLG_IDX_U8;
    if (s == CLG_OK && lab) {
        const unsigned char *l = lab->data;
        for (int i = 0; i < d->count; i++) {
            d->labels[i] = l[i];
            if (l[i] + 1 > d->classes)
                d->classes = l[i] + 1;
        }
    }
    clg_idx_free(img);
    clg_idx_free(lab);
    if (s != CLG_OK) {
        clg_dataset_free(d);
        return s;
    }
    *out = d;
    return CLG_OK;
}

clg_status clg_dataset_fashion_mnist(const char *dir, bool train, clg_dataset **out)
{
    if (!dir)
        dir = "/usr/share/datasets/fashion-mnist";
    const char *stem = train ? "train" : "t10k";
    char images[4096], labels[4096];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    FILE *probe = fopen(images, "rb");
    if (!probe) { /* also accept the uncompressed names */
        snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte", dir, stem);
        snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte", dir, stem);
        probe = fopen(images, "rb");
        if (!probe)
            return clg_fail(CLG_NOT_FOUND, "no %s-images-idx3-ubyte[.gz] in %s%s", stem,
                            dir,
                            strcmp(dir, "/usr/share/datasets/fashion-mnist")
                                ? ""
                                : "; install Fashion-MNIST with `apt-get install "
                                  "dataset-fashion-mnist`");
    }
    fclose(probe);
    return clg_dataset_from_idx(images, labels, out);
}

clg_status clg_dataset_split(clg_dataset *d, float fraction, uint64_t seed,
                             clg_dataset **val)
{
    if (!d || !val || !(fraction > 0.0f && fraction < 1.0f))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "validation split %g must lie strictly between 0 and 1",
                        (double)fraction);
    *val = NULL;
    int nval = (int)lround((double)d->count * fraction);
    if (nval < 1 || nval >= d->count)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "validation split %g of %d samples leaves an empty part",
                        (double)fraction, d->count);
    /* Choose nval samples: a seeded partial Fisher-Yates over the indices. */
    int *order = malloc((size_t)d->count * sizeof *order);
    bool *chosen = calloc((size_t)d->count, sizeof *chosen);
    int *parts = d->lazy ? malloc((size_t)d->count * sizeof *parts) : NULL;
    clg_dataset *v = NULL;
    clg_status s =
        order && chosen && (parts || !d->lazy)
            ? clg_dataset_create(d->lazy ? 0 : nval, d->ndim, d->shape, false, &v)
            : clg_fail(CLG_OUT_OF_HOST_MEMORY, "splitting a dataset");
    size_t per = (size_t)clg_dataset_label_len(d);
    if (s == CLG_OK && d->labels &&
        !(v->labels = malloc((size_t)nval * per * sizeof *v->labels)))
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "splitting a dataset");
    if (s == CLG_OK) {
        uint64_t rng = seed ^ 0x5851F42D4C957F2Dull;
        for (int i = 0; i < d->count; i++)
            order[i] = i;
        for (int i = 0; i < nval; i++) {
            int j = i + (int)(clg_rng_next(&rng) % (uint64_t)(d->count - i));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
            chosen[order[i]] = true;
        }
        int vi = 0, ti = 0;
        for (int i = 0; i < d->count; i++) { /* both parts keep the file's order */
            bool to_val = chosen[i];
            int at = to_val ? vi++ : ti++;
            clg_dataset *dst = to_val ? v : d;
            if (d->lazy) /* the train part's indices first, the val part's after */
                parts[to_val ? d->count - nval + at : at] = i;
            else
                memmove(dst->x + (size_t)at * d->sample, d->x + (size_t)i * d->sample,
                        d->sample * sizeof *d->x);
            if (d->labels)
                memmove(dst->labels + at * per, d->labels + i * per,
                        per * sizeof *d->labels);
        }
        v->classes = d->classes;
        v->label_len = d->label_len;
        v->from_bytes = d->from_bytes;
        if (d->lazy) {
            free(v->x);
            v->x = NULL;
            v->count = nval;
            v->lazy = clg_lazy_view(d->lazy, parts + ti, nval);
            s = v->lazy ? lazy_keep(d, parts, ti)
                        : clg_fail(CLG_OUT_OF_HOST_MEMORY, "splitting a dataset");
        }
    }
    if (s == CLG_OK) {
        d->count -= nval;
        *val = v;
    } else {
        clg_dataset_free(v);
    }
    free(order);
    free(chosen);
    free(parts);
    return s;
}

clg_status clg_dataset_select(clg_dataset *d, const int *classes, int count,
                              int per_class)
{
    if (!d || !classes || count < 1 || count > 4096 || per_class < 0 || !d->labels ||
        clg_dataset_label_len(d) != 1)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "selecting classes: needs a dataset with one label per sample "
                        "and 1 to 4096 classes");
    int *map = malloc(4096 * sizeof *map),
        *taken = calloc((size_t)count, sizeof *taken);
    if (!map || !taken) {
        free(map), free(taken);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "selecting classes");
    }
    for (int i = 0; i < 4096; i++)
        map[i] = -1;
    for (int k = 0; k < count; k++) {
        if (classes[k] < 0 || classes[k] >= 4096 || map[classes[k]] >= 0) {
            free(map), free(taken);
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "selecting classes: class %d is out of range "
                            "or repeated",
                            classes[k]);
        }
        map[classes[k]] = k;
    }
    int kept = 0, *keep = d->lazy ? malloc((size_t)d->count * sizeof *keep) : NULL;
    if (d->lazy && !keep) {
        free(map), free(taken);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "selecting classes");
    }
    for (int i = 0; i < d->count; i++) {
        int label = d->labels[i], k = label >= 0 && label < 4096 ? map[label] : -1;
        if (k < 0 || (per_class && taken[k] >= per_class))
            continue;
        taken[k]++;
        if (keep)
            keep[kept] = i;
        else
            memmove(d->x + (size_t)kept * d->sample, d->x + (size_t)i * d->sample,
                    d->sample * sizeof *d->x);
        d->labels[kept++] = k;
    }
    free(map), free(taken);
    clg_status s = keep ? lazy_keep(d, keep, kept) : CLG_OK;
    free(keep);
    if (s != CLG_OK)
        return s;
    d->count = kept;
    if (d->class_names) { /* the kept classes' names, in their new order */
        char **names = calloc((size_t)count, sizeof *names);
        if (!names)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "selecting classes");
        for (int k = 0; k < count; k++)
            if (classes[k] < d->classes) {
                names[k] = d->class_names[classes[k]];
                d->class_names[classes[k]] = NULL;
            } else if (!(names[k] = strdup("?"))) {
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "selecting classes");
            }
        for (int k = 0; k < d->classes; k++)
            free(d->class_names[k]);
        free(d->class_names);
        d->class_names = names;
        if (s != CLG_OK) {
            d->classes = count;
            return s;
        }
    }
    d->classes = count;
    if (!kept)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "selecting classes: no sample has those labels");
    return CLG_OK;
}

clg_status clg_dataset_one_hot(const clg_dataset *d, int classes, float **out)
{
    if (!d || !out || !d->labels || classes < 1 || clg_dataset_label_len(d) != 1)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "one-hot: needs a dataset with one label per sample, and "
                        "classes");
    if (d->classes > classes)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "one-hot: labels reach %d, only %d classes", d->classes - 1,
                        classes);
    float *t = calloc((size_t)d->count * (size_t)classes + 1, sizeof *t);
    if (!t)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "one-hot targets");
    for (int i = 0; i < d->count; i++)
        t[(size_t)i * classes + d->labels[i]] = 1.0f;
    *out = t;
    return CLG_OK;
}

static int channels_of(const clg_dataset *d)
{
    return d->ndim == 3 ? d->shape[0] : 1;
}

clg_status clg_dataset_stats(const clg_dataset *d, float *mean, float *std,
                             int channels)
{
    if (!d || !mean || !std || channels != channels_of(d))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_dataset_stats: the dataset has %d channels, asked for %d",
                        d ? channels_of(d) : 0, channels);
    size_t per = d->sample / (size_t)channels;
    double sum[CLG_NORM_MAX_CHANNELS] = {0}, sq[CLG_NORM_MAX_CHANNELS] = {0};
    double *s = channels <= CLG_NORM_MAX_CHANNELS
                    ? sum
                    : calloc(2 * (size_t)channels, sizeof *s);
    double *q = channels <= CLG_NORM_MAX_CHANNELS ? sq : s + channels;
    float *buf = d->lazy ? malloc(d->sample * sizeof *buf) : NULL;
    clg_status st = s && (buf || !d->lazy)
                        ? CLG_OK
                        : clg_fail(CLG_OUT_OF_HOST_MEMORY, "dataset statistics");
    for (int i = 0; st == CLG_OK && i < d->count; i++) { /* a lazy one's, read once */
        const float *x = d->x + (size_t)i * d->sample;
        if (buf && (st = clg_dataset_read(d, i, 1, buf)) == CLG_OK)
            x = buf;
        for (int c = 0; st == CLG_OK && c < channels; c++)
            for (size_t k = 0; k < per; k++) {
                double v = x[(size_t)c * per + k];
                s[c] += v;
                q[c] += v * v;
            }
    }
    double n = (double)d->count * (double)per;
    for (int c = 0; st == CLG_OK && c < channels; c++) {
        double m = n > 0 ? s[c] / n : 0;
        mean[c] = (float)m;
        std[c] = (float)sqrt(fmax(n > 0 ? q[c] / n - m * m : 0, 0));
    }
    if (s != sum)
        free(s);
    free(buf);
    return st;
}

clg_status clg_dataset_normalize(clg_dataset *d, const float *mean, const float *std,
                                 int channels)
{
    if (!d || !mean || !std || channels != channels_of(d))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_dataset_normalize: the dataset has %d channels, given %d",
                        d ? channels_of(d) : 0, channels);
    for (int c = 0; c < channels; c++)
        if (!(std[c] > 0.0f) || !isfinite(mean[c]))
            return clg_fail(
                CLG_INVALID_ARGUMENT,
                "normalisation: channel %d has mean %g and std %g (std must be > 0)", c,
                (double)mean[c], (double)std[c]);
    if (d->lazy) {
        if (channels > CLG_NORM_MAX_CHANNELS)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "normalisation: %d channels, at most %d", channels,
                            CLG_NORM_MAX_CHANNELS);
        clg_lazy_normalize(d->lazy, mean, std, channels);
        return CLG_OK;
    }
    size_t per = d->sample / (size_t)channels;
    for (int i = 0; i < d->count; i++)
        for (int c = 0; c < channels; c++) {
            float *p = d->x + (size_t)i * d->sample + (size_t)c * per;
            for (size_t k = 0; k < per; k++)
                p[k] = (p[k] - mean[c]) / std[c];
        }
    return CLG_OK;
}

/* ---- Normalisation values ------------------------------------------------- */

clg_status clg_normalization_of(const clg_dataset *d, clg_normalization *n)
{
    if (!d || !n)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_normalization_of: NULL argument");
    memset(n, 0, sizeof *n);
    int channels = channels_of(d);
    if (channels > CLG_NORM_MAX_CHANNELS)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "normalisation: the data has %d channels, at most %d are "
                        "supported",
                        channels, CLG_NORM_MAX_CHANNELS);
    n->channels = channels;
    return clg_dataset_stats(d, n->mean, n->std, channels);
}

clg_status clg_normalization_apply(const clg_normalization *n, clg_dataset *d)
{
    if (!n || !d)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_normalization_apply: NULL argument");
    if (!n->channels)
        return CLG_OK;
    if (channels_of(d) != n->channels)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "the data has %d channels, the normalisation %d",
                        channels_of(d), n->channels);
    return clg_dataset_normalize(d, n->mean, n->std, n->channels);
}

/* One list "a,b,c" of finite numbers (positive ones when `positive`). */
static int parse_list(const char *text, const char *end, float *out, bool positive)
{
    int count = 0;
    for (const char *p = text; p < end; count++) {
        char *stop;
        float v = strtof(p, &stop);
        if (stop == p || stop > end || count == CLG_NORM_MAX_CHANNELS || !isfinite(v) ||
            (positive && !(v > 0.0f)) || (stop < end && *stop != ','))
            return -1;
        out[count] = v;
        p = stop < end ? stop + 1 : stop;
        if (stop < end && p == end)
            return -1; /* a trailing comma */
    }
    return count;
}

clg_status clg_normalization_parse(const char *text, clg_normalization *n)
{
    if (!text || !n)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_normalization_parse: NULL argument");
    memset(n, 0, sizeof *n);
    const char *semi = strchr(text, ';');
    clg_normalization v = {0};
    int means = semi ? parse_list(text, semi, v.mean, false) : -1;
    int stds = semi ? parse_list(semi + 1, semi + strlen(semi), v.std, true) : -1;
    if (means < 1 || means != stds)
        return clg_fail(CLG_BAD_FILE,
                        "normalisation '%s' is not MEAN,..;STD,.. (finite means, stds "
                        "> 0, as many of each, at most %d)",
                        text, CLG_NORM_MAX_CHANNELS);
    v.channels = means;
    *n = v;
    return CLG_OK;
}

const char *clg_normalization_format(const clg_normalization *n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; n && k < 2; k++)
        for (int c = 0; c < n->channels && used < len; c++)
            used += (size_t)snprintf(buf + used, len - used, "%s%.9g",
                                     c   ? ","
                                     : k ? ";"
                                         : "",
                                     (double)(k ? n->std[c] : n->mean[c]));
    return buf;
}
