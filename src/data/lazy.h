/* Private to src/data: samples read on demand (lazy.c), for image folders
 * whose decoded images do not fit the memory they may use. A clg_lazy is
 * one dataset's view: which of the shared files are its samples, in order,
 * and the normalisation its reads apply. The files, their loader and a
 * bounded cache of decoded samples are shared by the views that splits and
 * selections make, and go with the last of them. */
#ifndef CLGRAD_DATA_LAZY_H
#define CLGRAD_DATA_LAZY_H

#include "clgrad/data.h"

/* Decodes file `path` into `sample` floats at out, as `opts` (the
 * source's) says. */
typedef clg_status (*clg_lazy_load_fn)(const char *path, const void *opts, float *out);

typedef struct clg_lazy clg_lazy;

/* A view of all `count` paths in order (it takes the paths and their
 * array), loading with `load` and `opts` (copied, opts_size bytes), caching
 * up to cache_bytes of decoded samples; NULL when out of memory (paths then
 * freed). */
clg_lazy *clg_lazy_create(char **paths, int count, clg_lazy_load_fn load,
                          const void *opts, size_t opts_size, size_t sample,
                          size_t cache_bytes);

/* A view of `count` of l's samples: index[i] is the sample of l that
 * becomes sample i; l's normalisation kept. NULL when out of memory. */
clg_lazy *clg_lazy_view(const clg_lazy *l, const int *index, int count);
void clg_lazy_free(clg_lazy *l);

/* Sample i of the view into out: from the cache, or decoded (and cached
 * while there is room), then normalised. Safe from several threads. */
clg_status clg_lazy_read(clg_lazy *l, int i, float *out);

/* Composes x -> (x - mean[c]) / std[c] onto what reads return. */
void clg_lazy_normalize(clg_lazy *l, const float *mean, const float *std, int channels);

/* The path of sample i (for errors and fingerprints). */
const char *clg_lazy_path(const clg_lazy *l, int i);

#endif
