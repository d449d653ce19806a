/* Image folders as torchvision's ImageFolder reads them: one subfolder per
 * class, classes in sorted name order, each class's PNG and JPEG files in
 * sorted name order. Decoded with Debian's libpng (its simplified API) and
 * libjpeg-turbo: the system's maintained decoders, which every
 * distribution patches, rather than a copy of a single-header decoder. */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "base/error.h"
#include "base/parallel.h"
#include "clgrad/data.h"
#include "data/lazy.h"

/* ---- Decoding ---------------------------------------------------------------------
 */

typedef struct image {
    int w, h, c; /* c: 1 gray or 3 RGB, as asked */
    unsigned char *px;
} image;

/* The image, or with header_only its size alone (im->px stays NULL). */
static clg_status decode_png(const char *path, int channels, bool header_only,
                             image *im)
{
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&p, path))
        return clg_fail(CLG_BAD_FILE, "%s: not a PNG image that decodes (%s)", path,
                        p.message);
    if (header_only) {
        im->w = (int)p.width, im->h = (int)p.height, im->c = channels;
        png_image_free(&p);
        return CLG_OK;
    }
    p.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t bytes = PNG_IMAGE_SIZE(p);
    im->px = bytes && p.width <= 1 << 16 && p.height <= 1 << 16 ? malloc(bytes) : NULL;
    if (!im->px) {
        png_image_free(&p);
        return clg_fail(CLG_BAD_FILE, "%s: a PNG of %u x %u pixels is too large", path,
                        p.width, p.height);
    }
    if (!png_image_finish_read(&p, NULL, im->px, 0, NULL)) {
        free(im->px);
        im->px = NULL;
        return clg_fail(CLG_BAD_FILE, "%s: PNG data that does not decode (%s)", path,
                        p.message);
    }
    im->w = (int)p.width, im->h = (int)p.height, im->c = channels;
    return CLG_OK;
}

typedef struct jpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_error;

static void jpeg_fail(j_common_ptr j)
{
    jpeg_error *e = (jpeg_error *)j->err;
    (*j->err->format_message)(j, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr j, int level)
{
    (void)j, (void)level; /* warnings (a corrupt stream) end in an error or pass */
}

static clg_status decode_jpeg(const char *path, int channels, bool header_only,
                              image *im)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return clg_fail(CLG_IO_ERROR, "%s: cannot open", path);
    struct jpeg_decompress_struct j;
    jpeg_error e;
    j.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = jpeg_fail;
    e.mgr.emit_message = jpeg_quiet;
    unsigned char *volatile px = NULL;
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&j);
        fclose(f);
        free(px);
        return clg_fail(CLG_BAD_FILE, "%s: not a JPEG image that decodes (%s)", path,
                        e.message);
    }
    jpeg_create_decompress(&j);
    jpeg_stdio_src(&j, f);
    jpeg_read_header(&j, TRUE);
    if (header_only) {
        im->w = (int)j.image_width, im->h = (int)j.image_height, im->c = channels;
        jpeg_destroy_decompress(&j);
        fclose(f);
        return CLG_OK;
    }
    j.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&j);
    if (j.output_width > 1 << 16 || j.output_height > 1 << 16) {
        snprintf(e.message, sizeof e.message, "%u x %u pixels are too many",
                 j.output_width, j.output_height);
        longjmp(e.jump, 1);
    }
    size_t row = (size_t)j.output_width * (size_t)j.output_components;
    px = malloc(row * j.output_height);
    if (!px) {
        snprintf(e.message, sizeof e.message, "out of memory");
        longjmp(e.jump, 1);
    }
    while (j.output_scanline < j.output_height) {
        JSAMPROW r = px + row * j.output_scanline;
        jpeg_read_scanlines(&j, &r, 1);
    }
    jpeg_finish_decompress(&j);
    im->w = (int)j.output_width, im->h = (int)j.output_height, im->c = channels;
    im->px = px;
    jpeg_destroy_decompress(&j);
    fclose(f);
    return CLG_OK;
}

static bool ends_with(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    if (n <= e)
        return false;
    for (size_t i = 0; i < e; i++)
        if (tolower((unsigned char)name[n - e + i]) != ext[i])
            return false;
    return true;
}

static bool is_png(const char *name)
{
    return ends_with(name, ".png");
}

static bool is_image(const char *name)
{
    return is_png(name) || ends_with(name, ".jpg") || ends_with(name, ".jpeg");
}

clg_status clg_image_decode(const char *path, int channels, int *w, int *h,
                            unsigned char **pixels)
{
    if (!path || (channels != 1 && channels != 3) || !w || !h || !pixels)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_image_decode: %s",
                        path && w && h && pixels ? "channels must be 1 or 3"
                                                 : "NULL argument");
    image im = {0};
    clg_status s = is_png(path) ? decode_png(path, channels, false, &im)
                                : decode_jpeg(path, channels, false, &im);
    *w = im.w, *h = im.h, *pixels = im.px;
    return s;
}

/* The size in a file's header, without decoding its pixels. */
static clg_status probe(const char *path, int *w, int *h)
{
    image im = {0};
    clg_status s =
        is_png(path) ? decode_png(path, 1, true, &im) : decode_jpeg(path, 1, true, &im);
    *w = im.w, *h = im.h;
    return s;
}

/* ---- Resizing ------------------------------------------------------------------- */

/* Bilinear resampling of plane `src` (sw x sh, c interleaved channels) into
 * float [c, dh, dw] scaled to [0, 1], as torchvision's resize with
 * antialias=False (PyTorch's interpolate, align_corners=False): source
 * coordinate (d + 0.5) * scale - 0.5, clamped at 0. */
static void bilinear(const image *im, int dw, int dh, float *out)
{
    float sx = (float)im->w / (float)dw, sy = (float)im->h / (float)dh;
    for (int y = 0; y < dh; y++) {
        float fy = ((float)y + 0.5f) * sy - 0.5f;
        fy = fy < 0 ? 0 : fy;
        int y0 = (int)fy, y1 = y0 + 1 < im->h ? y0 + 1 : y0;
        float wy = fy - (float)y0;
        for (int x = 0; x < dw; x++) {
            float fx = ((float)x + 0.5f) * sx - 0.5f;
            fx = fx < 0 ? 0 : fx;
            int x0 = (int)fx, x1 = x0 + 1 < im->w ? x0 + 1 : x0;
            float wx = fx - (float)x0;
            for (int c = 0; c < im->c; c++) {
#define P(yy, xx) ((float)im->px[((size_t)(yy)*im->w + (xx)) * im->c + c])
                float top = P(y0, x0) + (P(y0, x1) - P(y0, x0)) * wx;
                float bot = P(y1, x0) + (P(y1, x1) - P(y1, x0)) * wx;
#undef P
                out[((size_t)c * dh + y) * dw + x] = (top + (bot - top) * wy) / 255.0f;
            }
        }
    }
}

/* Whether a w x h image becomes the model's input as o says. */
static clg_status fits(const char *path, int w, int h, const clg_image_opts *o)
{
    if (o->resize == CLG_RESIZE_BILINEAR ||
        (o->resize == CLG_RESIZE_CROP ? w >= o->width && h >= o->height
                                      : w == o->width && h == o->height))
        return CLG_OK;
    return clg_fail(
        CLG_SHAPE_MISMATCH, "%s is %d x %d pixels, the model's input %d x %d: %s", path,
        w, h, o->width, o->height,
        o->resize == CLG_RESIZE_CROP ? "too small to crop" : "resize it (--resize)");
}

/* The image into float [c, h, w] in [0, 1]: as it is, resized, or its
 * centre cropped; a size that does not fit without --resize is refused. */
static clg_status place(const char *path, const image *im, const clg_image_opts *o,
                        float *out)
{
    if (o->resize == CLG_RESIZE_BILINEAR) {
        bilinear(im, o->width, o->height, out);
        return CLG_OK;
    }
    if (o->resize == CLG_RESIZE_CROP && im->w >= o->width && im->h >= o->height) {
        int x0 = (im->w - o->width) / 2, y0 = (im->h - o->height) / 2;
        for (int c = 0; c < im->c; c++)
            for (int y = 0; y < o->height; y++)
                for (int x = 0; x < o->width; x++)
                    out[((size_t)c * o->height + y) * o->width + x] =
                        (float)im->px[((size_t)(y + y0) * im->w + x + x0) * im->c + c] /
                        255.0f;
        return CLG_OK;
    }
    clg_status s = fits(path, im->w, im->h, o);
    if (s != CLG_OK)
        return s;
    for (int c = 0; c < im->c; c++)
        for (size_t i = 0; i < (size_t)o->width * o->height; i++)
            out[(size_t)c * o->width * o->height + i] =
                (float)im->px[i * im->c + c] / 255.0f;
    return CLG_OK;
}

/* A file's pixels into a sample: clg_lazy_load_fn for lazy datasets, and
 * each decoding thread's work. */
static clg_status load(const char *path, const void *opts, float *out)
{
    const clg_image_opts *o = opts;
    image im = {0};
    clg_status s = clg_image_decode(path, o->channels, &im.w, &im.h, &im.px);
    im.c = o->channels;
    if (s == CLG_OK)
        s = place(path, &im, o, out);
    free(im.px);
    return s;
}

/* ---- Decoding a folder now, by several threads ---------------------------------- */

typedef struct decode_job {
    char **paths;
    const clg_image_opts *o;
    float *x;
    size_t sample;
} decode_job;

static clg_status decode_one(int i, void *user)
{
    const decode_job *j = user;
    return load(j->paths[i], j->o, j->x + (size_t)i * j->sample);
}

/* Every file into x, a thread per core (at most 8) unless o says; the
 * earliest file that fails is the one named. */
static clg_status decode_all(char **paths, int count, const clg_image_opts *o, float *x,
                             size_t sample)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o->threads > 0 ? o->threads
                  : cores > 8    ? 8
                  : cores > 0    ? (int)cores
                                 : 1;
    decode_job j = {paths, o, x, sample};
    return clg_parallel_for(count, threads, decode_one, &j);
}

/* ---- The folder ----------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in dir that `keep` accepts (subfolders or images). */
static clg_status list(const char *dir, bool folders, char ***names, int *count)
{
    *names = NULL, *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return clg_fail(CLG_NOT_FOUND, "%s: not a folder that opens", dir);
    int cap = 0;
    clg_status s = CLG_OK;
    for (struct dirent *e; s == CLG_OK && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 ||
            (folders ? !S_ISDIR(st.st_mode)
                     : !S_ISREG(st.st_mode) || !is_image(e->d_name)))
            continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(*names, (size_t)cap * sizeof *grown);
            if (!grown) {
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: listing", dir);
                break;
            }
            *names = grown;
        }
        if (!((*names)[*count] = strdup(e->d_name)))
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: listing", dir);
        else
            (*count)++;
    }
    closedir(d);
    if (*count)
        qsort(*names, (size_t)*count, sizeof **names, by_name);
    return s;
}

static void free_list(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

clg_status clg_dataset_from_image_folder(const char *dir, const clg_image_opts *o,
                                         clg_dataset **out)
{
    if (!dir || !o || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_dataset_from_image_folder: NULL "
                                              "argument");
    *out = NULL;
    if ((o->channels != 1 && o->channels != 3) || o->width < 1 || o->height < 1 ||
        o->width > 1 << 14 || o->height > 1 << 14)
        return clg_fail(
            CLG_INVALID_ARGUMENT,
            "%s: images of %d channels, %d x %d pixels: 1 or 3 channels and "
            "1 to 16384 pixels a side",
            dir, o->channels, o->width, o->height);
    char **classes = NULL, ***files = NULL;
    int nclasses = 0, *nfiles = NULL;
    size_t total = 0;
    clg_status s = list(dir, true, &classes, &nclasses);
    if (s == CLG_OK && nclasses == 0)
        s = clg_fail(CLG_BAD_FILE,
                     "%s has no subfolders: an image folder holds one folder of images "
                     "per class",
                     dir);
    if (s == CLG_OK) {
        files = calloc((size_t)nclasses, sizeof *files);
        nfiles = calloc((size_t)nclasses, sizeof *nfiles);
        if (!files || !nfiles)
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
    }
    for (int k = 0; s == CLG_OK && k < nclasses; k++) {
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/%s", dir, classes[k]);
        s = list(sub, false, &files[k], &nfiles[k]);
        if (s == CLG_OK && nfiles[k] == 0)
            s = clg_fail(CLG_BAD_FILE,
                         "%s: no PNG or JPEG file in the folder of class '%s'", sub,
                         classes[k]);
        total += (size_t)nfiles[k];
    }
    clg_dataset *d = NULL;
    if (s == CLG_OK && total > (size_t)1 << 30)
        s = clg_fail(CLG_BAD_FILE, "%s: %zu images are too many", dir, total);
    size_t sample = (size_t)o->channels * o->width * o->height;
    bool lazy = o->memory_limit && total * sample * sizeof(float) > o->memory_limit;
    char **paths = s == CLG_OK ? calloc(total ? total : 1, sizeof *paths) : NULL;
    if (s == CLG_OK && !paths)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: %zu file names", dir, total);
    if (s == CLG_OK)
        s = clg_dataset_create(lazy ? 0 : (int)total, 3,
                               (int[]){o->channels, o->height, o->width}, true, &d);
    if (s == CLG_OK && lazy) { /* labels only, in memory */
        int32_t *labels = malloc(total * sizeof *labels);
        if (!labels)
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: %zu labels", dir, total);
        free(d->labels);
        d->labels = labels;
    }
    size_t at = 0;
    for (int k = 0; s == CLG_OK && k < nclasses; k++)
        for (int i = 0; s == CLG_OK && i < nfiles[k]; i++, at++) {
            char path[8400];
            snprintf(path, sizeof path, "%s/%s/%s", dir, classes[k], files[k][i]);
            if (!(paths[at] = strdup(path)))
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: file names", dir);
            int w, h; /* a lazy folder's files are checked now, by their headers */
            if (s == CLG_OK && lazy && (s = probe(path, &w, &h)) == CLG_OK)
                s = fits(path, w, h, o);
            d->labels[at] = k;
        }
    for (int k = 0; files && k < nclasses; k++)
        free_list(files[k], nfiles[k]);
    free(files), free(nfiles);
    if (s == CLG_OK && !lazy)
        s = decode_all(paths, (int)total, o, d->x, sample);
    if (s == CLG_OK && lazy) {
        free(d->x);
        d->x = NULL;
        d->count = (int)total;
        d->lazy = clg_lazy_create(paths, (int)total, load, o, sizeof *o, sample,
                                  o->memory_limit);
        paths = NULL; /* the lazy dataset's, or freed */
        if (!d->lazy)
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: a lazy dataset", dir);
    }
    for (size_t i = 0; paths && i < total; i++)
        free(paths[i]);
    free(paths);
    if (s != CLG_OK) {
        free_list(classes, nclasses);
        clg_dataset_free(d);
        return s;
    }
    d->classes = nclasses;
    d->from_bytes = true;
    d->class_names = classes; /* the dataset frees them */
    *out = d;
    return CLG_OK;
}
