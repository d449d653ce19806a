/* The batch loader: a seeded shuffle per epoch, batches assembled (and
 * augmented) on the host, by a prefetch thread one batch ahead. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "base/text.h"
#include "clgrad/data.h"

typedef struct slot {
    clg_batch batch;
    float *x;
    int32_t *labels;
    clg_status status; /* of building it: a lazy dataset's file may fail */
    char why[1024];
} slot;

struct clg_loader {
    const clg_dataset *d;
    clg_loader_opts o;
    int *order;
    int epoch, batches, next; /* next: the batch next() returns */
    slot slots[2];
    /* prefetch */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool running, quit;
    int wanted; /* batch the worker should build, -1 for none */
    int ready;  /* batch built and waiting, -1 for none */
};

/* ---- Augmentation of one [C, H, W] image, in place ---------------------- */

static void flip(float *img, int C, int H, int W, bool horizontal)
{
    for (int c = 0; c < C; c++) {
        float *p = img + (size_t)c * H * W;
        if (horizontal)
            for (int h = 0; h < H; h++)
                for (int a = 0, b = W - 1; a < b; a++, b--) {
                    float t = p[h * W + a];
                    p[h * W + a] = p[h * W + b];
                    p[h * W + b] = t;
                }
        else
            for (int a = 0, b = H - 1; a < b; a++, b--)
                for (int w = 0; w < W; w++) {
                    float t = p[a * W + w];
                    p[a * W + w] = p[b * W + w];
                    p[b * W + w] = t;
                }
    }
}

/* Shift by (dy, dx), or rotate by `angle` radians about the centre
 * (bilinear); what comes in from outside is zero. */
static void resample(float *img, float *tmp, int C, int H, int W, int dy, int dx,
                     double angle)
{
    double cs = cos(angle), sn = sin(angle), cy = (H - 1) / 2.0, cx = (W - 1) / 2.0;
    for (int c = 0; c < C; c++) {
        const float *src = img + (size_t)c * H * W;
        float *dst = tmp + (size_t)c * H * W;
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) {
                double y = cs * (h - cy) + sn * (w - cx) + cy - dy;
                double x = -sn * (h - cy) + cs * (w - cx) + cx - dx;
                int y0 = (int)floor(y), x0 = (int)floor(x);
                double fy = y - y0, fx = x - x0, v = 0;
                for (int k = 0; k < 4; k++) {
                    int yy = y0 + (k >> 1), xx = x0 + (k & 1);
                    double wgt = ((k >> 1) ? fy : 1 - fy) * ((k & 1) ? fx : 1 - fx);
                    if (yy >= 0 && yy < H && xx >= 0 && xx < W && wgt > 0)
                        v += wgt * src[yy * W + xx];
                }
                dst[h * W + w] = (float)v;
            }
    }
    memcpy(img, tmp, (size_t)C * H * W * sizeof *img);
}

/* ---- Colour jitter ------------------------------------------------------ */

/* A factor from [max(0, 1 - v), 1 + v], as torchvision draws it. */
static float jitter_factor(float v, uint64_t *rng)
{
    float lo = v < 1 ? 1 - v : 0;
    return lo + (float)clg_rng_uniform(rng) * (1 + v - lo);
}

static float clamp01(float v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Pixel i's grey: the RGB weights of torchvision's rgb_to_grayscale, or
 * the value of a one-channel image. */
static float grey(const float *img, int C, size_t P, size_t i)
{
    return C == 3 ? 0.2989f * img[i] + 0.587f * img[P + i] + 0.114f * img[2 * P + i]
                  : img[i];
}

/* img = clamp(f img + (1 - f) base), base the image's mean grey (contrast)
 * or each pixel's grey (saturation, three channels). */
static void blend_grey(float *img, int C, size_t P, float f, bool per_pixel)
{
    if (per_pixel && C != 3)
        return; /* a grey image has no saturation */
    double mean = 0;
    for (size_t i = 0; !per_pixel && i < P; i++)
        mean += grey(img, C, P, i);
    mean /= (double)P;
    for (size_t i = 0; i < P; i++) {
        float base = per_pixel ? grey(img, C, P, i) : (float)mean;
        for (int c = 0; c < C; c++)
            img[c * P + i] = clamp01(f * img[c * P + i] + (1 - f) * base);
    }
}

static void jitter(const clg_loader *l, float *img, int C, size_t P, uint64_t *rng)
{
    const clg_augment *a = &l->o.augment;
    const clg_normalization *n = &l->o.normalized;
    bool undo = n->channels == C;
    for (int c = 0; undo && c < C; c++)
        for (size_t i = 0; i < P; i++)
            img[c * P + i] = img[c * P + i] * n->std[c] + n->mean[c];
    /* the factors, then the order: torchvision's ColorJitter draws both */
    float f[3] = {a->brightness > 0 ? jitter_factor(a->brightness, rng) : 1,
                  a->contrast > 0 ? jitter_factor(a->contrast, rng) : 1,
                  a->saturation > 0 ? jitter_factor(a->saturation, rng) : 1};
    int order[3] = {0, 1, 2};
    for (int k = 2; k > 0; k--) { /* Fisher-Yates */
        int j = (int)(clg_rng_next(rng) % (uint64_t)(k + 1)), t = order[k];
        order[k] = order[j], order[j] = t;
    }
    bool asked[3] = {a->brightness > 0, a->contrast > 0, a->saturation > 0};
    for (int k = 0; k < 3; k++) {
        int which = order[k];
        if (!asked[which])
            continue;
        if (which == 0)
            for (size_t i = 0; i < (size_t)C * P; i++)
                img[i] = clamp01(img[i] * f[0]);
        else
            blend_grey(img, C, P, f[which], which == 2);
    }
    for (int c = 0; undo && c < C; c++)
        for (size_t i = 0; i < P; i++)
            img[c * P + i] = (img[c * P + i] - n->mean[c]) / n->std[c];
}

static bool jittering(const clg_augment *a)
{
    return a->brightness > 0 || a->contrast > 0 || a->saturation > 0;
}

static void augment(const clg_loader *l, float *img, float *tmp, uint64_t *rng)
{
    const clg_augment *a = &l->o.augment;
    const clg_dataset *d = l->d;
    int C = d->ndim == 3 ? d->shape[0] : 1;
    int H = d->ndim == 3 ? d->shape[1] : 1,
        W = d->ndim == 3 ? d->shape[2] : (int)d->sample;
    if (jittering(a))
        jitter(l, img, C, (size_t)H * W, rng);
    if (a->hflip > 0 && clg_rng_uniform(rng) < a->hflip)
        flip(img, C, H, W, true);
    if (a->vflip > 0 && clg_rng_uniform(rng) < a->vflip)
        flip(img, C, H, W, false);
    if (a->crop_pad > 0 && clg_rng_uniform(rng) < a->probability) {
        int dy =
            (int)(clg_rng_next(rng) % (uint64_t)(2 * a->crop_pad + 1)) - a->crop_pad;
        int dx =
            (int)(clg_rng_next(rng) % (uint64_t)(2 * a->crop_pad + 1)) - a->crop_pad;
        resample(img, tmp, C, H, W, dy, dx, 0.0);
    }
    if (a->rotate > 0 && clg_rng_uniform(rng) < a->probability)
        resample(img, tmp, C, H, W, 0, 0,
                 (2 * clg_rng_uniform(rng) - 1) * a->rotate * CLG_PI / 180.0);
    if (a->noise > 0 && clg_rng_uniform(rng) < a->probability)
        for (size_t i = 0; i < d->sample; i++)
            img[i] += (float)(a->noise * clg_rng_normal(rng));
    if (a->cutout > 0 && clg_rng_uniform(rng) < a->probability) {
        int cy = (int)(clg_rng_next(rng) % (uint64_t)H),
            cx = (int)(clg_rng_next(rng) % (uint64_t)W);
        for (int c = 0; c < C; c++)
            for (int h = cy - a->cutout / 2; h < cy - a->cutout / 2 + a->cutout; h++)
                for (int w = cx - a->cutout / 2; w < cx - a->cutout / 2 + a->cutout;
                     w++)
                    if (h >= 0 && h < H && w >= 0 && w < W)
                        img[((size_t)c * H + h) * W + w] = 0.0f;
    }
}

static bool augmenting(const clg_augment *a)
{
    return a->hflip > 0 || a->vflip > 0 || a->crop_pad > 0 || a->rotate > 0 ||
           a->noise > 0 || a->cutout > 0 || jittering(a);
}

/* ---- Batches ------------------------------------------------------------ */

/* Batch `index` of the epoch: batch_size samples of the order (fewer at the
 * end), or this shard's part of them: shard r of n takes samples count r / n
 * .. count (r + 1) / n - 1 of the batch. */
/* Shard r's samples [lo, hi) of a batch of `count`: an equal part each, or
 * in proportion to the shard weights. */
static void shard_range(const clg_loader_opts *o, int count, int r, int *lo, int *hi)
{
    int shards = o->shards > 1 ? o->shards : 1;
    *lo = (int)((long long)count * r / shards);
    *hi = (int)((long long)count * (r + 1) / shards);
    if (shards > 1 && o->shard_weights) {
        double before = 0, total = 0;
        for (int k = 0; k < shards; k++) {
            total += o->shard_weights[k];
            before += k < r ? o->shard_weights[k] : 0;
        }
        *lo = (int)((double)count * before / total);
        *hi = r == shards - 1
                  ? count
                  : (int)((double)count * (before + o->shard_weights[r]) / total);
    }
}

/* A lazy dataset's samples of a batch, decoded by the loader's workers
 * (clg_loader_opts.workers, 4 by default). */
typedef struct fetch_job {
    const clg_loader *l;
    slot *s;
    int first, lo;
} fetch_job;

static clg_status fetch_one(int k, void *user)
{
    const fetch_job *j = user;
    const clg_dataset *d = j->l->d;
    int at = j->lo + k;
    return clg_dataset_read(d, j->l->order[j->first + at], 1,
                            j->s->x + (size_t)k * d->sample);
}

static void fetch(const clg_loader *l, slot *s, int first, int lo, int hi)
{
    fetch_job j = {l, s, first, lo};
    s->status =
        clg_parallel_for(hi - lo, l->o.workers > 0 ? l->o.workers : 4, fetch_one,
                         &j); /* the batch's first failure is named */
    if (s->status != CLG_OK)
        snprintf(s->why, sizeof s->why, "%s", clg_last_error());
}

static void build(clg_loader *l, int index, slot *s)
{
    const clg_dataset *d = l->d;
    int first = index * l->o.batch_size;
    int count = d->count - first < l->o.batch_size ? d->count - first : l->o.batch_size;
    int lo, hi;
    shard_range(&l->o, count, l->o.shards > 1 ? l->o.shard : 0, &lo, &hi);
    s->status = CLG_OK;
    if (d->lazy)
        fetch(l, s, first, lo, hi);
    float *tmp = augmenting(&l->o.augment) ? malloc(d->sample * sizeof *tmp) : NULL;
    for (int k = lo; s->status == CLG_OK && k < hi; k++) {
        int i = l->order[first + k];
        float *dst = s->x + (size_t)(k - lo) * d->sample;
        if (!d->lazy)
            memcpy(dst, d->x + (size_t)i * d->sample, d->sample * sizeof *dst);
        size_t per = (size_t)clg_dataset_label_len(d);
        if (d->labels)
            memcpy(s->labels + (size_t)(k - lo) * per, d->labels + i * per,
                   per * sizeof *s->labels);
        if (tmp) { /* a function of (seed, epoch, position): thread timing never matters
                    */
            uint64_t rng =
                l->o.seed ^ ((uint64_t)l->epoch << 32) ^ (uint64_t)(first + k);
            clg_rng_next(&rng);
            augment(l, dst, tmp, &rng);
        }
    }
    free(tmp);
    s->batch =
        (clg_batch){hi - lo, s->x, d->labels ? s->labels : NULL, index, count, lo};
}

static void *worker(void *arg)
{
    clg_loader *l = arg;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->quit && l->wanted < 0)
            pthread_cond_wait(&l->cond, &l->lock);
        if (l->quit)
            break;
        int index = l->wanted;
        pthread_mutex_unlock(&l->lock);
        build(l, index, &l->slots[index % 2]);
        pthread_mutex_lock(&l->lock);
        l->wanted = -1;
        l->ready = index;
        pthread_cond_broadcast(&l->cond);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

clg_status clg_loader_create(const clg_dataset *d, const clg_loader_opts *opts,
                             clg_loader **out)
{
    if (!d || !opts || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_loader_create: NULL argument");
    *out = NULL;
    if (opts->batch_size < 1)
        return clg_fail(CLG_INVALID_ARGUMENT, "loader: batch size %d must be >= 1",
                        opts->batch_size);
    for (int k = 0; opts->shards > 1 && opts->shard_weights && k < opts->shards; k++)
        if (!(opts->shard_weights[k] > 0) || !isfinite(opts->shard_weights[k]))
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "loader: shard weight %d is %g, weights must be positive",
                            k, opts->shard_weights[k]);
    if (opts->shards > 1 && (opts->shard < 0 || opts->shard >= opts->shards))
        return clg_fail(CLG_INVALID_ARGUMENT, "loader: shard %d of %d", opts->shard,
                        opts->shards);
    if (opts->shards > 1 && opts->batch_size < opts->shards)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "loader: a batch of %d cannot be split into %d shards (ranks), "
                        "at least one sample each: make the batch at least %d",
                        opts->batch_size, opts->shards, opts->shards);
    double total = 0;
    for (int k = 0; opts->shards > 1 && opts->shard_weights && k < opts->shards; k++)
        total += opts->shard_weights[k];
    for (int k = 0; opts->shards > 1 && opts->shard_weights && k < opts->shards; k++) {
        int lo, hi; /* shard k's part of a whole batch, as build() cuts it */
        shard_range(opts, opts->batch_size, k, &lo, &hi);
        if (hi <= lo)
            return clg_fail(
                CLG_INVALID_ARGUMENT,
                "loader: shard %d's weight %g of %g in all gives it no sample "
                "of a batch of %d: weights closer together or a larger batch",
                k, opts->shard_weights[k], total, opts->batch_size);
    }
    const clg_augment *a = &opts->augment;
    if (!(a->hflip >= 0 && a->hflip <= 1) || !(a->vflip >= 0 && a->vflip <= 1) ||
        !(a->probability >= 0 && a->probability <= 1) || a->crop_pad < 0 ||
        !(a->rotate >= 0) || !(a->noise >= 0) || a->cutout < 0 ||
        !(a->brightness >= 0) || !(a->contrast >= 0) || !(a->saturation >= 0))
        return clg_fail(
            CLG_INVALID_ARGUMENT,
            "loader: augmentation probabilities must lie in [0, 1] and sizes be "
            ">= 0");
    if (augmenting(a) && d->ndim != 3 &&
        (a->hflip || a->vflip || a->crop_pad || a->rotate || a->cutout || jittering(a)))
        return clg_fail(
            CLG_INVALID_ARGUMENT,
            "loader: flips, crops, rotations, cutout and colour jitter need "
            "[C, H, W] images");
    const clg_normalization *nz = &opts->normalized;
    if (nz->channels && (nz->channels != (d->ndim == 3 ? d->shape[0] : 1) ||
                         nz->channels > CLG_NORM_MAX_CHANNELS))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "loader: the normalisation has %d channels, the data %d",
                        nz->channels, d->ndim == 3 ? d->shape[0] : 1);
    clg_loader *l = calloc(1, sizeof *l);
    if (!l)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_loader_create");
    l->d = d;
    l->o = *opts;
    l->order = malloc((d->count ? (size_t)d->count : 1) * sizeof *l->order);
    bool ok = l->order != NULL;
    for (int k = 0; k < 2 && ok; k++) {
        l->slots[k].x = malloc((size_t)opts->batch_size * d->sample * sizeof(float));
        l->slots[k].labels = malloc((size_t)opts->batch_size *
                                    (size_t)clg_dataset_label_len(d) * sizeof(int32_t));
        ok = l->slots[k].x && l->slots[k].labels;
    }
    if (!ok) {
        clg_loader_free(l);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_loader_create: batches of %d",
                        opts->batch_size);
    }
    l->batches = opts->drop_last ? d->count / opts->batch_size
                                 : (d->count + opts->batch_size - 1) / opts->batch_size;
    l->wanted = l->ready = -1;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    for (int i = 0; i < d->count; i++)
        l->order[i] = i;
    if (opts->prefetch && pthread_create(&l->thread, NULL, worker, l) == 0)
        l->running = true;
    *out = l;
    return CLG_OK;
}

void clg_loader_free(clg_loader *l)
{
    if (!l)
        return;
    if (l->running) {
        pthread_mutex_lock(&l->lock);
        l->quit = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->cond);
    }
    for (int k = 0; k < 2; k++) {
        free(l->slots[k].x);
        free(l->slots[k].labels);
    }
    free(l->order);
    free(l);
}

/* Waits until the worker is idle. */
static void settle(clg_loader *l)
{
    pthread_mutex_lock(&l->lock);
    while (l->wanted >= 0)
        pthread_cond_wait(&l->cond, &l->lock);
    pthread_mutex_unlock(&l->lock);
}

static void request(clg_loader *l, int index)
{
    if (!l->running || index >= l->batches)
        return;
    pthread_mutex_lock(&l->lock);
    l->wanted = index;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

clg_status clg_loader_start_epoch(clg_loader *l, int epoch)
{
    if (!l)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_loader_start_epoch: loader is NULL");
    if (l->running)
        settle(l);
    l->epoch = epoch;
    l->next = 0;
    l->ready = -1;
    int n = l->d->count;
    for (int i = 0; i < n; i++)
        l->order[i] = i;
    if (l->o.shuffle) {
        uint64_t rng = l->o.seed * 0xD1B54A32D192ED03ull + (uint64_t)epoch;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(clg_rng_next(&rng) % (uint64_t)(i + 1));
            int t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    request(l, 0);
    return CLG_OK;
}

clg_status clg_loader_next(clg_loader *l, const clg_batch **batch)
{
    if (!l || !batch)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_loader_next: NULL argument");
    *batch = NULL;
    if (l->next >= l->batches)
        return CLG_OK;
    int index = l->next++;
    slot *s = &l->slots[index % 2];
    if (l->running) {
        pthread_mutex_lock(&l->lock);
        while (l->ready != index)
            pthread_cond_wait(&l->cond, &l->lock);
        pthread_mutex_unlock(&l->lock);
        request(l, index + 1); /* into the other slot while this one is used */
    } else {
        build(l, index, s);
    }
    if (s->status != CLG_OK)
        return clg_fail(s->status, "batch %d: %s", index + 1, s->why);
    *batch = &s->batch;
    return CLG_OK;
}

int clg_loader_batches(const clg_loader *l)
{
    return l ? l->batches : 0;
}

const clg_dataset *clg_loader_dataset(const clg_loader *l)
{
    return l ? l->d : NULL;
}

clg_status clg_augment_parse(const char *list, clg_augment *a)
{
    static const struct {
        const char *name;
        float lo, hi, fallback;
        bool whole; /* an int field */
    } transforms[] = {
        {"flip", 0, 1, 0.5f, false},        {"vflip", 0, 1, 0.5f, false},
        {"crop", 1, 64, 2, true},           {"rotate", 0, 180, 10, false},
        {"noise", 0, 10, 0.05f, false},     {"cutout", 1, 64, 8, true},
        {"brightness", 0, 10, 0.2f, false}, {"contrast", 0, 10, 0.2f, false},
        {"saturation", 0, 10, 0.2f, false},
    };
    enum { TRANSFORMS = sizeof transforms / sizeof *transforms };
    if (!list || !a)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_augment_parse: NULL argument");
    clg_augment out = CLG_AUGMENT_NONE;
    void *fields[TRANSFORMS] = {&out.hflip,      &out.vflip,    &out.crop_pad,
                                &out.rotate,     &out.noise,    &out.cutout,
                                &out.brightness, &out.contrast, &out.saturation};
    char buf[256];
    if (strlen(list) >= sizeof buf)
        return clg_fail(CLG_INVALID_ARGUMENT, "augmentation '%.40s...': too long",
                        list);
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq)
            *eq++ = '\0';
        int k = 0;
        while (k < TRANSFORMS && strcmp(item, transforms[k].name))
            k++;
        if (k == TRANSFORMS)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "unknown transform '%s' (flip, vflip, crop, rotate, noise, "
                            "cutout, brightness, contrast, saturation)",
                            item);
        float v = transforms[k].fallback;
        if (eq && !clg_parse_float(eq, transforms[k].lo, transforms[k].hi, &v))
            return clg_fail(CLG_INVALID_ARGUMENT, "bad value '%s' for %s", eq, item);
        if (transforms[k].whole)
            *(int *)fields[k] = (int)v;
        else
            *(float *)fields[k] = v;
    }
    out.probability = 0.5f;
    *a = out;
    return CLG_OK;
}
