/* safetensors checkpoints: validated reads, atomic writes. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/text.h"
#include "clgrad/io.h"
#include "clgrad/version.h"
#include "graph/graph_internal.h"

#define MAX_HEADER ((uint64_t)100 << 20) /* as the safetensors library */

typedef struct entry {
    char *name;
    char dtype[8];
    int ndim;
    int64_t shape[8];
    uint64_t begin, end; /* within the data section */
} entry;

struct clg_checkpoint {
    char path[1024];
    unsigned char *bytes; /* the whole file */
    uint64_t data_start, size;
    entry *entries;
    int count;
    cJSON *meta;
};

static size_t dtype_size(const char *d)
{
    static const struct {
        const char *name;
        size_t size;
    } types[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                 {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
                 {"U16", 2}, {"U32", 4}, {"U64", 8}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcmp(d, types[i].name))
            return types[i].size;
    return 0;
}

void clg_checkpoint_free(clg_checkpoint *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->count; i++)
        free(c->entries[i].name);
    free(c->entries);
    cJSON_Delete(c->meta);
    free(c->bytes);
    free(c);
}

static clg_status bad(const clg_checkpoint *c, const char *fmt, ...) CLG_PRINTF(2, 3);
static clg_status bad(const clg_checkpoint *c, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return clg_fail(CLG_BAD_FILE, "%s: %s", c->path, msg);
}

static clg_status parse_entry(clg_checkpoint *c, const cJSON *item, entry *e)
{
    const char *name = item->string;
    cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) ||
        !cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return bad(c, "tensor '%s' needs dtype, shape and data_offsets [begin, end]",
                   name);
    size_t esize = dtype_size(dtype->valuestring);
    if (!esize || strlen(dtype->valuestring) >= sizeof e->dtype)
        return bad(c, "tensor '%s': unknown dtype '%s'", name, dtype->valuestring);
    snprintf(e->dtype, sizeof e->dtype, "%s", dtype->valuestring);
    if (cJSON_GetArraySize(shape) > 8)
        return bad(c, "tensor '%s': more than 8 dimensions", name);
    uint64_t numel = 1;
    const cJSON *d;
    e->ndim = 0;
    cJSON_ArrayForEach(d, shape)
    {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return bad(c, "tensor '%s': shape entries must be whole numbers >= 0",
                       name);
        e->shape[e->ndim++] = (int64_t)d->valuedouble;
        if (e->shape[e->ndim - 1] && numel > c->size / (uint64_t)e->shape[e->ndim - 1])
            return bad(c, "tensor '%s': its shape holds more elements than the file",
                       name);
        numel *= (uint64_t)e->shape[e->ndim - 1];
    }
    double b = cJSON_GetArrayItem(offsets, 0)->valuedouble;
    double en = cJSON_GetArrayItem(offsets, 1)->valuedouble;
    uint64_t data = c->size - c->data_start;
    if (!(b >= 0 && en >= b && en <= (double)data))
        return bad(c,
                   "tensor '%s': data_offsets [%.0f, %.0f] lie outside the %" PRIu64
                   " data bytes",
                   name, b, en, data);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    if (e->end - e->begin != numel * esize)
        return bad(c,
                   "tensor '%s': %s %s of %" PRIu64 " elements needs %" PRIu64
                   " bytes, its offsets span %" PRIu64,
                   name, e->dtype, "tensor", numel, numel * esize, e->end - e->begin);
    e->name = strdup(name);
    return e->name ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", c->path);
}

static int by_begin(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static clg_status parse_header(clg_checkpoint *c)
{
    if (c->size < 8)
        return bad(c, "%" PRIu64 " bytes, too short for a safetensors header", c->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | c->bytes[i];
    if (n < 2 || n > c->size - 8 || n > MAX_HEADER)
        return bad(
            c, "header length %" PRIu64 " does not fit the file of %" PRIu64 " bytes",
            n, c->size);
    c->data_start = 8 + n;
    cJSON *root = cJSON_ParseWithLength((const char *)c->bytes + 8, (size_t)n);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad(c, "the header is not a JSON object");
    }
    int count = cJSON_GetArraySize(root);
    c->entries = calloc((size_t)(count ? count : 1), sizeof *c->entries);
    clg_status s =
        c->entries ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", c->path);
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (s != CLG_OK)
            break;
        if (!strcmp(item->string, "__metadata__")) {
            const cJSON *v;
            cJSON_ArrayForEach(v, item) if (!cJSON_IsString(v)) s =
                bad(c, "__metadata__ values must be strings ('%s' is not)", v->string);
            if (s == CLG_OK && cJSON_IsObject(item))
                c->meta = cJSON_Duplicate(item, true);
            else if (s == CLG_OK)
                s = bad(c, "__metadata__ must be an object");
            continue;
        }
        s = parse_entry(c, item, &c->entries[c->count]);
        if (s == CLG_OK)
            c->count++;
    }
    cJSON_Delete(root);
    if (s != CLG_OK)
        return s;
    /* The tensors must tile the data section: no gaps, no overlaps. */
    entry *sorted = malloc((size_t)(c->count ? c->count : 1) * sizeof *sorted);
    if (!sorted)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", c->path);
    memcpy(sorted, c->entries, (size_t)c->count * sizeof *sorted);
    qsort(sorted, (size_t)c->count, sizeof *sorted, by_begin);
    uint64_t at = 0;
    for (int i = 0; i < c->count && s == CLG_OK; i++) {
        if (sorted[i].begin != at)
            s = bad(c,
                    "tensor '%s' starts at data byte %" PRIu64 ", expected %" PRIu64
                    " (gap or overlap)",
                    sorted[i].name, sorted[i].begin, at);
        at = sorted[i].end;
    }
    if (s == CLG_OK && at != c->size - c->data_start)
        s = bad(c, "the tensors end at data byte %" PRIu64 " but the file has %" PRIu64,
                at, c->size - c->data_start);
    free(sorted);
    return s;
}

clg_status clg_checkpoint_read(const char *path, clg_checkpoint **out)
{
    if (!path || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_checkpoint_read: NULL argument");
    *out = NULL;
    clg_checkpoint *c = calloc(1, sizeof *c);
    if (!c)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_checkpoint_read");
    snprintf(c->path, sizeof c->path, "%s", path);
    FILE *f = fopen(path, "rb");
    struct stat st;
    clg_status s = CLG_OK;
    if (!f || fstat(fileno(f), &st) != 0)
        s = clg_fail(CLG_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = clg_fail(CLG_IO_ERROR, "%s: not a regular file", path);
    if (s == CLG_OK) {
        c->size = (uint64_t)st.st_size;
        c->bytes = malloc(c->size ? c->size : 1);
        if (!c->bytes)
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: %" PRIu64 " bytes", path,
                         c->size);
        else if (fread(c->bytes, 1, c->size, f) != c->size)
            s = clg_fail(CLG_IO_ERROR, "%s: short read", path);
    }
    if (f)
        fclose(f);
    if (s == CLG_OK)
        s = parse_header(c);
    if (s != CLG_OK) {
        clg_checkpoint_free(c);
        return s;
    }
    *out = c;
    return CLG_OK;
}

int clg_checkpoint_count(const clg_checkpoint *c)
{
    return c ? c->count : 0;
}
const char *clg_checkpoint_name(const clg_checkpoint *c, int i)
{
    return c && i >= 0 && i < c->count ? c->entries[i].name : NULL;
}
const char *clg_checkpoint_dtype(const clg_checkpoint *c, int i)
{
    return c && i >= 0 && i < c->count ? c->entries[i].dtype : NULL;
}
int clg_checkpoint_shape(const clg_checkpoint *c, int i, int64_t shape[8])
{
    if (!c || i < 0 || i >= c->count)
        return -1;
    memcpy(shape, c->entries[i].shape, sizeof c->entries[i].shape);
    return c->entries[i].ndim;
}

static int find(const clg_checkpoint *c, const char *name)
{
    for (int i = 0; i < c->count; i++)
        if (!strcmp(c->entries[i].name, name))
            return i;
    return -1;
}

clg_status clg_checkpoint_floats(const clg_checkpoint *c, int i, float *out,
                                 size_t count)
{
    if (!c || i < 0 || i >= c->count || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_checkpoint_floats: bad argument");
    const entry *e = &c->entries[i];
    if (strcmp(e->dtype, "F32") || (e->end - e->begin) / 4 != count)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "%s: '%s' is %s of %" PRIu64 " bytes, not %zu floats", c->path,
                        e->name, e->dtype, e->end - e->begin, count);
    memcpy(out, c->bytes + c->data_start + e->begin,
           count * 4); /* little-endian hosts */
    return CLG_OK;
}

const char *clg_checkpoint_meta(const clg_checkpoint *c, const char *key)
{
    const cJSON *v =
        c && c->meta ? cJSON_GetObjectItemCaseSensitive(c->meta, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- Writing ------------------------------------------------------------ */

typedef struct out_tensor {
    char name[128];
    const char *dtype;
    int ndim;
    int64_t shape[4];
    void *data;
    size_t bytes;
} out_tensor;

typedef struct writer {
    out_tensor *t;
    int count, cap;
} writer;

static clg_status add(writer *w, const char *name, const char *dtype, int ndim,
                      const int64_t *shape, void *data, size_t bytes)
{
    if (w->count == w->cap) {
        int cap = w->cap ? w->cap * 2 : 32;
        out_tensor *grown = realloc(w->t, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(data);
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "writing a checkpoint");
        }
        w->t = grown;
        w->cap = cap;
    }
    out_tensor *o = &w->t[w->count++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->dtype = dtype;
    o->ndim = ndim;
    if (ndim > 0) /* a scalar has no shape to copy */
        memcpy(o->shape, shape, (size_t)ndim * sizeof *shape);
    o->data = data;
    o->bytes = bytes;
    return CLG_OK;
}

static clg_status add_buffer(writer *w, const char *name, const clg_tensor *shape_of,
                             clg_buffer *buf)
{
    size_t n = clg_tensor_numel(shape_of);
    float *data = malloc(n * 4);
    if (!data)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "writing '%s'", name);
    clg_status s = clg_buffer_download(buf, 0, data, n * 4);
    if (s != CLG_OK) {
        free(data);
        return s;
    }
    int64_t shape[4];
    for (int i = 0; i < clg_tensor_ndim(shape_of); i++)
        shape[i] = clg_tensor_dim(shape_of, i);
    return add(w, name, "F32", clg_tensor_ndim(shape_of), shape, data, n * 4);
}

static char *header_json(const writer *w, cJSON *meta, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    if (meta)
        cJSON_AddItemToObject(root, "__metadata__", meta);
    uint64_t at = 0;
    for (int i = 0; i < w->count; i++) {
        const out_tensor *o = &w->t[i];
        cJSON *t = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        cJSON_AddStringToObject(t, "dtype", o->dtype);
        for (int k = 0; k < o->ndim; k++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)o->shape[k]));
        cJSON_AddItemToObject(t, "shape", shape);
        cJSON *offsets = cJSON_CreateArray();
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)at));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(at + o->bytes)));
        cJSON_AddItemToObject(t, "data_offsets", offsets);
        cJSON_AddItemToObject(root, o->name, t);
        at += o->bytes;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        return NULL;
    /* Pad with spaces so the data section starts 8-byte aligned. */
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *out = malloc(padded + 1);
    if (out) {
        memcpy(out, text, n);
        memset(out + n, ' ', padded - n);
        out[padded] = '\0';
        *len = padded;
    }
    free(text);
    return out;
}

/* The 8-byte header length, the header, the tensors' bytes, written whole
 * or not at all. */
static clg_status write_atomic(const char *path, const char *header, size_t hlen,
                               const writer *w)
{
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    clg_file_part *parts = malloc((size_t)(w->count + 2) * sizeof *parts);
    if (!parts)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: writing", path);
    parts[0] = (clg_file_part){len8, 8};
    parts[1] = (clg_file_part){header, hlen};
    for (int i = 0; i < w->count; i++)
        parts[i + 2] = (clg_file_part){w->t[i].data, w->t[i].bytes};
    clg_status s = clg_write_file_atomic(path, parts, w->count + 2);
    free(parts);
    return s;
}

static void meta_num(cJSON *meta, const char *key, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    cJSON_AddStringToObject(meta, key, buf);
}

clg_status clg_save(const char *path, const clg_model *m, const clg_optimizer *opt,
                    const clg_train_state *st)
{
    if (!path || !m)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_save: NULL argument");
    writer w = {0};
    clg_status s = CLG_OK;
    clg_plan *plan = clg_model_plan(m);
    for (int i = 0; s == CLG_OK && i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        s = add_buffer(&w, clg_tensor_name(t), t, clg_tensor_buffer(t));
        const char *suffix = strstr(clg_tensor_name(t), ".running_var");
        if (s == CLG_OK && suffix && !suffix[12]) { /* torch's batch counter follows */
            char name[128];
            snprintf(name, sizeof name, "%.*s.num_batches_tracked",
                     (int)(suffix - clg_tensor_name(t)), clg_tensor_name(t));
            int64_t *v = malloc(8);
            if (!v)
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_save");
            else {
                *v = (int64_t)clg_plan_step(plan);
                s = add(&w, name, "I64", 0, NULL, v, 8);
            }
        }
    }
    for (int i = 0; s == CLG_OK && opt && i < clg_optim_param_count(opt); i++) {
        for (int k = 0; s == CLG_OK && k < 3; k++) {
            const char *slot;
            clg_buffer *b = clg_optim_state(opt, i, k, &slot);
            if (!b)
                continue;
            char name[128];
            clg_tensor *p = clg_optim_param(opt, i);
            snprintf(name, sizeof name, "optim.%s.%s", clg_tensor_name(p), slot);
            s = add_buffer(&w, name, p, b);
        }
    }
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddStringToObject(meta, "clgrad.version", clg_version());
    if (opt) {
        cJSON_AddStringToObject(meta, "optim.type",
                                clg_optim_type_str(clg_optim_options(opt)->type));
        meta_num(meta, "optim.steps", (double)clg_optim_steps(opt));
    }
    if (st) {
        meta_num(meta, "epoch", st->epoch);
        meta_num(meta, "step", (double)st->step);
        meta_num(meta, "plan_step", (double)st->plan_step);
        char sched[160];
        snprintf(sched, sizeof sched, "%.9g,%.9g,%.9g,%.9g", (double)st->schedule[0],
                 (double)st->schedule[1], (double)st->schedule[2],
                 (double)st->schedule[3]);
        cJSON_AddStringToObject(meta, "schedule", sched);
        meta_num(meta, "best_val_loss", st->best_val_loss);
        if (st->spec)
            cJSON_AddStringToObject(meta, "spec", st->spec);
        if (st->normalize)
            cJSON_AddStringToObject(meta, "normalize", st->normalize);
        if (st->extra)
            cJSON_AddStringToObject(meta, "extra", st->extra);
        if (st->tokenizer)
            cJSON_AddStringToObject(meta, "tokenizer", st->tokenizer);
    }
    size_t hlen = 0;
    char *header = s == CLG_OK ? header_json(&w, meta, &hlen) : NULL;
    if (s == CLG_OK && !header)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_save: the header");
    if (s != CLG_OK && !header)
        cJSON_Delete(meta);
    if (s == CLG_OK)
        s = write_atomic(path, header, hlen, &w);
    free(header);
    for (int i = 0; i < w.count; i++)
        free(w.t[i].data);
    free(w.t);
    return s;
}

/* A whole number in [lo, hi] from metadata `key`, strictly. */
static clg_status meta_int(const clg_checkpoint *c, const char *key, long long lo,
                           long long hi, bool required, long long *out)
{
    const char *v = clg_checkpoint_meta(c, key);
    if (!v) {
        if (required)
            return clg_fail(CLG_BAD_FILE, "%s: no '%s' in its training state", c->path,
                            key);
        return CLG_OK;
    }
    if (!clg_parse_int(v, lo, hi, out))
        return clg_fail(CLG_BAD_FILE,
                        "%s: training state '%s' is '%s', not a whole number in "
                        "[%lld, %lld]",
                        c->path, key, v, lo, hi);
    return CLG_OK;
}

/* ---- Loading into a model ----------------------------------------------- */

static void note(clg_load_report *r, const char *group, const char *name)
{
    if (!r)
        return;
    size_t used = strlen(r->text);
    snprintf(r->text + used, sizeof r->text - used, "%s %s\n", group, name);
}

static bool same_shape(const entry *e, const clg_tensor *t)
{
    if (e->ndim != clg_tensor_ndim(t))
        return false;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] != clg_tensor_dim(t, i))
            return false;
    return true;
}

/* Copies float32 entry k (n elements) into a device buffer; an entry with
 * inf or NaN is refused: nothing trains or predicts from it. */
static clg_status copy_entry(const clg_checkpoint *c, int k, clg_buffer *dst, size_t n)
{
    float *v = malloc(n * 4);
    clg_status s =
        v ? clg_checkpoint_floats(c, k, v, n)
          : clg_fail(CLG_OUT_OF_HOST_MEMORY, "loading '%s'", c->entries[k].name);
    for (size_t i = 0; s == CLG_OK && i < n; i++)
        if (!isfinite(v[i]))
            s = clg_fail(CLG_BAD_FILE, "%s: '%s' holds a non-finite value (%g at %zu)",
                         c->path, c->entries[k].name, (double)v[i], i);
    if (s == CLG_OK)
        s = clg_buffer_upload(dst, 0, v, n * 4);
    free(v);
    return s;
}

clg_status clg_load(const clg_checkpoint *c, clg_model *m, clg_optimizer *opt,
                    clg_load_report *r)
{
    if (!c || !m)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_load: NULL argument");
    if (r)
        memset(r, 0, sizeof *r);
    bool *used = calloc((size_t)(c->count ? c->count : 1), sizeof *used);
    if (!used)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_load");
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        int k = find(c, clg_tensor_name(t));
        if (k < 0 || strcmp(c->entries[k].dtype, "F32") ||
            !same_shape(&c->entries[k], t)) {
            if (r)
                r->missing++;
            note(r,
                 k < 0 ? "missing (left at initialisation):"
                       : "shape or dtype differs (left at initialisation):",
                 clg_tensor_name(t));
            continue;
        }
        s = copy_entry(c, k, clg_tensor_buffer(t), clg_tensor_numel(t));
        used[k] = true;
        if (r)
            r->loaded++;
    }
    for (int i = 0; s == CLG_OK && opt && i < clg_optim_param_count(opt); i++) {
        clg_tensor *p = clg_optim_param(opt, i);
        for (int slot = 0; s == CLG_OK && slot < 3; slot++) {
            const char *slot_name;
            clg_buffer *b = clg_optim_state(opt, i, slot, &slot_name);
            if (!b)
                continue;
            char name[160];
            snprintf(name, sizeof name, "optim.%s.%s", clg_tensor_name(p), slot_name);
            int k = find(c, name);
            if (k < 0 || strcmp(c->entries[k].dtype, "F32") ||
                !same_shape(&c->entries[k], p)) {
                if (r)
                    r->optim_missing++;
                note(r, k < 0 ? "optimizer state missing:" : "optimizer state differs:",
                     name);
                continue;
            }
            s = copy_entry(c, k, b, clg_tensor_numel(p));
            used[k] = true;
            if (r)
                r->optim_loaded++;
        }
    }
    long long steps = -1;
    if (s == CLG_OK && opt)
        s = meta_int(c, "optim.steps", 0, 1LL << 53, false, &steps);
    if (s == CLG_OK && opt && steps >= 0)
        clg_optim_set_steps(opt, steps);
    for (int k = 0; k < c->count; k++) {
        const char *name = c->entries[k].name;
        bool counter = strstr(name, ".num_batches_tracked") != NULL;
        if (used[k] || counter || (!opt && !strncmp(name, "optim.", 6)))
            continue;
        if (r)
            r->skipped++;
        note(r, "skipped (no tensor of that name and shape in the model):", name);
    }
    free(used);
    return s;
}

clg_status clg_checkpoint_train_state(const clg_checkpoint *c, clg_train_state *st)
{
    if (!c || !st)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_checkpoint_train_state: NULL argument");
    memset(st, 0, sizeof *st);
    if (!clg_checkpoint_meta(c, "epoch"))
        return clg_fail(CLG_NOT_FOUND,
                        "%s: no training state (it was not saved by "
                        "clgrad-train, so it cannot be resumed)",
                        c->path);
    long long epoch = 0, step = 0, plan_step = 0;
    clg_status s = meta_int(c, "epoch", 0, 10000000, true, &epoch);
    if (s == CLG_OK)
        s = meta_int(c, "step", 0, 1LL << 53, true, &step);
    if (s == CLG_OK)
        s = meta_int(c, "plan_step", 0, 1LL << 53, false, &plan_step);
    if (s != CLG_OK)
        return s;
    st->epoch = (int)epoch;
    st->step = step;
    st->plan_step = (unsigned long long)plan_step;
    const char *v = clg_checkpoint_meta(c, "schedule");
    int used = 0;
    if (v && (sscanf(v, "%f,%f,%f,%f%n", &st->schedule[0], &st->schedule[1],
                     &st->schedule[2], &st->schedule[3], &used) != 4 ||
              v[used]))
        return clg_fail(CLG_BAD_FILE,
                        "%s: training state 'schedule' is '%s', not four numbers",
                        c->path, v);
    st->best_val_loss = INFINITY;
    v = clg_checkpoint_meta(c, "best_val_loss");
    if (v && !clg_parse_float(v, -INFINITY, INFINITY, &st->best_val_loss))
        return clg_fail(CLG_BAD_FILE,
                        "%s: training state 'best_val_loss' is '%s', not a number",
                        c->path, v);
    st->spec = clg_checkpoint_meta(c, "spec");
    st->normalize = clg_checkpoint_meta(c, "normalize");
    st->extra = clg_checkpoint_meta(c, "extra");
    st->tokenizer = clg_checkpoint_meta(c, "tokenizer");
    return CLG_OK;
}

clg_status clg_model_from_checkpoint(clg_context *ctx, const clg_checkpoint *c,
                                     const clg_spec *spec, const clg_model_opts *opts,
                                     clg_model **out, clg_normalization *norm)
{
    if (!ctx || !c || !opts || !out)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_model_from_checkpoint: NULL argument");
    *out = NULL;
    if (norm)
        memset(norm, 0, sizeof *norm);
    clg_spec *own = NULL;
    clg_status s = CLG_OK;
    if (!spec) {
        const char *text = clg_checkpoint_meta(c, "spec");
        if (!text)
            return clg_fail(CLG_NOT_FOUND,
                            "%s: carries no model spec (it was not written by "
                            "clgrad-train): give the spec file too",
                            c->path);
        char source[1100];
        snprintf(source, sizeof source, "%s: spec", c->path);
        s = clg_spec_parse(text, source, &own);
        spec = own;
    }
    const char *nm = clg_checkpoint_meta(c, "normalize");
    if (s == CLG_OK && norm && nm && clg_normalization_parse(nm, norm) != CLG_OK)
        s = clg_fail_prefix(CLG_BAD_FILE, "%s: metadata", c->path);
    clg_model *m = NULL;
    if (s == CLG_OK)
        s = clg_model_from_spec(ctx, spec, opts, &m);
    clg_load_report r;
    if (s == CLG_OK)
        s = clg_load(c, m, NULL, &r);
    if (s == CLG_OK && r.missing)
        s = clg_fail(CLG_BAD_FILE,
                     "%s: %d of the model's tensors are missing or differ:\n%s",
                     c->path, r.missing, r.text);
    clg_spec_free(own);
    if (s != CLG_OK) {
        clg_model_free(m);
        return s;
    }
    *out = m;
    return CLG_OK;
}
