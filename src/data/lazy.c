/* Samples read on demand, through a bounded cache (lazy.h). The cache
 * keeps the first samples decoded until it is full and never evicts: under
 * the loader's uniform shuffles every sample is as likely as any other to
 * come next, so no policy hits more often than a fixed set of that size,
 * and a fixed set costs no bookkeeping. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "data/lazy.h"

typedef struct files {
    int refs;
    pthread_mutex_t lock; /* refs and the cache's slots */
    char **paths;
    int count;
    clg_lazy_load_fn load;
    void *opts;
    size_t sample;
    float *cache;    /* slots * sample floats */
    int *slot;       /* [count]: a file's slot, or -1 */
    int slots, used; /* of the cache */
} files;

struct clg_lazy {
    files *f;
    int *index; /* [count]: the file of each sample */
    int count;
    int channels; /* of the normalisation (0: none) */
    float mean[CLG_NORM_MAX_CHANNELS], std[CLG_NORM_MAX_CHANNELS];
};

static void files_release(files *f)
{
    pthread_mutex_lock(&f->lock);
    int refs = --f->refs;
    pthread_mutex_unlock(&f->lock);
    if (refs > 0)
        return;
    for (int i = 0; i < f->count; i++)
        free(f->paths[i]);
    free(f->paths), free(f->opts), free(f->cache), free(f->slot);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static clg_lazy *view_of(files *f, int count)
{
    clg_lazy *l = calloc(1, sizeof *l);
    if (l && !(l->index = malloc((count ? (size_t)count : 1) * sizeof *l->index))) {
        free(l);
        l = NULL;
    }
    if (l) {
        l->f = f;
        l->count = count;
    }
    return l;
}

clg_lazy *clg_lazy_create(char **paths, int count, clg_lazy_load_fn load,
                          const void *opts, size_t opts_size, size_t sample,
                          size_t cache_bytes)
{
    files *f = calloc(1, sizeof *f);
    if (!f) {
        for (int i = 0; i < count; i++)
            free(paths[i]);
        free(paths);
        return NULL;
    }
    size_t slots = cache_bytes / (sample * sizeof(float));
    slots = slots < (size_t)count ? slots : (size_t)count;
    f->refs = 1, f->paths = paths, f->count = count, f->load = load;
    f->sample = sample, f->slots = (int)slots;
    f->opts = malloc(opts_size);
    f->slot = malloc((count ? (size_t)count : 1) * sizeof *f->slot);
    f->cache = slots ? malloc(slots * sample * sizeof *f->cache) : NULL;
    pthread_mutex_init(&f->lock, NULL);
    clg_lazy *l = f->opts && f->slot && (!slots || f->cache) ? view_of(f, count) : NULL;
    if (!l) {
        files_release(f); /* the paths with it */
        return NULL;
    }
    memcpy(f->opts, opts, opts_size);
    for (int i = 0; i < count; i++)
        f->slot[i] = -1, l->index[i] = i;
    return l;
}

clg_lazy *clg_lazy_view(const clg_lazy *l, const int *index, int count)
{
    clg_lazy *v = view_of(l->f, count);
    if (!v)
        return NULL;
    for (int i = 0; i < count; i++)
        v->index[i] = l->index[index[i]];
    v->channels = l->channels;
    memcpy(v->mean, l->mean, sizeof v->mean);
    memcpy(v->std, l->std, sizeof v->std);
    pthread_mutex_lock(&l->f->lock);
    l->f->refs++;
    pthread_mutex_unlock(&l->f->lock);
    return v;
}

void clg_lazy_free(clg_lazy *l)
{
    if (!l)
        return;
    files_release(l->f);
    free(l->index);
    free(l);
}

const char *clg_lazy_path(const clg_lazy *l, int i)
{
    return l->f->paths[l->index[i]];
}

clg_status clg_lazy_read(clg_lazy *l, int i, float *out)
{
    files *f = l->f;
    int file = l->index[i];
    pthread_mutex_lock(&f->lock);
    int slot = f->slot[file];
    pthread_mutex_unlock(&f->lock);
    clg_status s = CLG_OK;
    if (slot >= 0) { /* written once, before its slot was published */
        memcpy(out, f->cache + (size_t)slot * f->sample, f->sample * sizeof *out);
    } else {
        s = f->load(f->paths[file], f->opts, out);
        pthread_mutex_lock(&f->lock);
        if (s == CLG_OK && f->slot[file] < 0 && f->used < f->slots) {
            slot = f->used++;
            memcpy(f->cache + (size_t)slot * f->sample, out, f->sample * sizeof *out);
            f->slot[file] = slot;
        }
        pthread_mutex_unlock(&f->lock);
    }
    size_t per = l->channels ? f->sample / (size_t)l->channels : 0;
    for (int c = 0; s == CLG_OK && c < l->channels; c++)
        for (size_t k = 0; k < per; k++)
            out[c * per + k] = (out[c * per + k] - l->mean[c]) / l->std[c];
    return s;
}

void clg_lazy_normalize(clg_lazy *l, const float *mean, const float *std, int channels)
{
    for (int c = 0; c < channels; c++) {
        /* ((x - m1) / s1 - m2) / s2 = (x - (m1 + m2 s1)) / (s1 s2) */
        float m1 = l->channels ? l->mean[c] : 0.0f, s1 = l->channels ? l->std[c] : 1.0f;
        l->mean[c] = m1 + mean[c] * s1;
        l->std[c] = s1 * std[c];
    }
    l->channels = channels;
}
