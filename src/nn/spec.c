/* Model spec files: a small line-oriented language for Sequential models. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/text.h"
#include "nn/nn_internal.h"

typedef enum item_kind { ITEM_LAYER, ITEM_BEGIN, ITEM_END } item_kind;

typedef struct spec_item {
    item_kind kind;
    clg_layer layer;
    int line;
} spec_item;

struct clg_spec {
    char *text;
    char source[256];
    int ndim;
    int shape[3];
    clg_dtype dtype;
    spec_item *items;
    int count;
};

static clg_status bad(const clg_spec *s, int line, const char *fmt, ...)
    CLG_PRINTF(3, 4);
static clg_status bad(const clg_spec *s, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return clg_fail(CLG_BAD_FILE, "%s:%d: %s", s->source, line, msg);
}

/* Sizes in a spec: whole numbers from lo to 2^24. */
static bool parse_size(const char *word, int lo, int *out)
{
    long long v;
    if (!clg_parse_int(word, lo, 1 << 24, &v))
        return false;
    *out = (int)v;
    return true;
}

static void list_layers(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < clg_layer_desc_count && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                                 clg_layer_type_str(clg_layer_descs[i].type));
}

/* Positional argument k of layer l. */
static clg_status set_arg(const clg_spec *s, int line, const clg_layer_desc *d, int k,
                          const char *word, clg_layer *l)
{
    const clg_layer_field *f = &d->args[k];
    char range[96];
    if (clg_layer_field_set(f, word, l))
        return CLG_OK;
    return bad(s, line, "%s: '%s' is not a valid %s (%s)", clg_layer_type_str(d->type),
               word, f->name, clg_layer_field_range(f, range, sizeof range));
}

static clg_status set_option(const clg_spec *s, int line, const clg_layer_desc *d,
                             const char *key, const char *value, clg_layer *l)
{
    const clg_layer_field *f = NULL;
    char opts[192] = "", range[96];
    for (int i = 0;
         i < (int)(sizeof d->options / sizeof *d->options) && d->options[i].name; i++) {
        if (!strcmp(key, d->options[i].name))
            f = &d->options[i];
        snprintf(opts + strlen(opts), sizeof opts - strlen(opts), "%s%s", i ? ", " : "",
                 d->options[i].name);
    }
    if (!f)
        return bad(s, line, "%s: unknown option '%s' (%s%s)",
                   clg_layer_type_str(d->type), key,
                   opts[0] ? "options: " : "it takes none", opts);
    if (clg_layer_field_set(f, value, l))
        return CLG_OK;
    return bad(s, line, "%s: bad value '%s' for %s (%s)", clg_layer_type_str(d->type),
               value, key, clg_layer_field_range(f, range, sizeof range));
}

static clg_status parse_layer(clg_spec *s, int line, char **words, int n,
                              clg_layer *out)
{
    clg_layer_type type;
    const clg_layer_desc *ls = clg_layer_type_parse(words[0], &type) == CLG_OK
                                   ? clg_layer_desc_of(type)
                                   : NULL;
    if (!ls) {
        char names[512];
        list_layers(names, sizeof names);
        return bad(s, line, "unknown layer '%s' (layers: %s, residual, end)", words[0],
                   names);
    }
    clg_layer l = ls->defaults;
    l.type = ls->type;
    int args = 0;
    for (int k = 1; k < n; k++) {
        char *eq = strchr(words[k], '=');
        clg_status st;
        if (eq) {
            *eq = '\0';
            st = set_option(s, line, ls, words[k], eq + 1, &l);
        } else if (args >= ls->max_args) {
            st = bad(s, line, "%s: unexpected argument '%s' (it takes %d)",
                     clg_layer_type_str(ls->type), words[k], ls->max_args);
        } else {
            st = set_arg(s, line, ls, args++, words[k], &l);
        }
        if (st != CLG_OK)
            return st;
    }
    if (args < ls->min_args)
        return bad(s, line, "%s: missing %s", clg_layer_type_str(ls->type),
                   ls->args[args].name);
    *out = l;
    return CLG_OK;
}

static clg_status parse_input(clg_spec *s, int line, char **words, int n)
{
    if (n >= 2 && !strcmp(words[1], "tokens")) {
        if (n != 3 || !parse_size(words[2], 1, &s->shape[0]))
            return bad(s, line,
                       "input tokens: give the sequence length, a whole number from 1 "
                       "to 16777216: input tokens 32");
        s->ndim = 1;
        s->dtype = CLG_INT32;
        return CLG_OK;
    }
    if (n != 2 && n != 4)
        return bad(s, line,
                   "input: give C H W for images or one number for features, not %d "
                   "numbers",
                   n - 1);
    for (int k = 1; k < n; k++)
        if (!parse_size(words[k], 1, &s->shape[k - 1]))
            return bad(s, line, "input: '%s' is not a positive integer", words[k]);
    s->ndim = n - 1;
    s->dtype = CLG_FLOAT32;
    return CLG_OK;
}

static clg_status push_item(clg_spec *s, spec_item item)
{
    spec_item *grown = realloc(s->items, (size_t)(s->count + 1) * sizeof *grown);
    if (!grown)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "parsing %s", s->source);
    s->items = grown;
    s->items[s->count++] = item;
    return CLG_OK;
}

static clg_status parse_line(clg_spec *s, int line, char *text, int *depth,
                             int *open_line)
{
    char *hash = strchr(text, '#');
    if (hash)
        *hash = '\0';
    char *words[16];
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(text, " \t\r", &save); w;
         w = strtok_r(NULL, " \t\r", &save)) {
        if (n == 16)
            return bad(s, line, "too many words");
        words[n++] = w;
    }
    if (n == 0)
        return CLG_OK;
    for (char *p = words[0]; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!strcmp(words[0], "input")) {
        if (s->ndim)
            return bad(s, line, "a second input line");
        return parse_input(s, line, words, n);
    }
    if (!s->ndim)
        return bad(s, line,
                   "the first line must be the input: input C H W, input FEATURES or "
                   "input tokens T");
    if (!strcmp(words[0], "residual") || !strcmp(words[0], "end")) {
        bool begin = words[0][0] == 'r';
        if (n != 1)
            return bad(s, line, "%s takes no arguments", words[0]);
        if (begin && *depth)
            return bad(s, line,
                       "residual blocks do not nest (one is open since line %d)",
                       *open_line);
        if (!begin && !*depth)
            return bad(s, line, "end without a residual block");
        *depth = begin;
        *open_line = line;
        return push_item(s, (spec_item){begin ? ITEM_BEGIN : ITEM_END, {0}, line});
    }
    spec_item item = {ITEM_LAYER, {0}, line};
    clg_status st = parse_layer(s, line, words, n, &item.layer);
    return st == CLG_OK ? push_item(s, item) : st;
}

clg_status clg_spec_parse(const char *text, const char *source, clg_spec **out)
{
    if (!text || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_spec_parse: NULL argument");
    *out = NULL;
    clg_spec *s = calloc(1, sizeof *s);
    if (!s || !(s->text = strdup(text))) {
        free(s);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_spec_parse");
    }
    snprintf(s->source, sizeof s->source, "%s", source ? source : "spec");
    char *copy = strdup(text);
    clg_status st = copy ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_spec_parse");
    int line = 0, depth = 0, open_line = 0;
    for (char *p = copy, *next; st == CLG_OK && p; p = next) {
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        line++;
        st = parse_line(s, line, p, &depth, &open_line);
    }
    free(copy);
    if (st == CLG_OK && !s->ndim)
        st = bad(s, line,
                 "no input line (input C H W, input FEATURES or input tokens T)");
    if (st == CLG_OK && depth)
        st = bad(s, open_line, "residual block is never closed with end");
    int layers = 0;
    for (int i = 0; i < s->count; i++)
        layers += s->items[i].kind == ITEM_LAYER;
    if (st == CLG_OK && !layers)
        st = bad(s, line, "no layers");
    if (st != CLG_OK) {
        clg_spec_free(s);
        return st;
    }
    *out = s;
    return CLG_OK;
}

clg_status clg_spec_load(const char *path, clg_spec **out)
{
    if (!path || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_spec_load: NULL argument");
    char *text = NULL;
    size_t n = 0;
    clg_status s = clg_read_file(path, 1 << 20, &text, &n);
    if (s == CLG_OK && strlen(text) != n)
        s = clg_fail(CLG_BAD_FILE, "%s: contains a NUL byte, not a text model spec",
                     path);
    if (s == CLG_OK)
        s = clg_spec_parse(text, path, out);
    free(text);
    return s;
}

void clg_spec_free(clg_spec *s)
{
    if (!s)
        return;
    free(s->text);
    free(s->items);
    free(s);
}

const char *clg_spec_text(const clg_spec *s)
{
    return s ? s->text : "";
}

int clg_spec_input(const clg_spec *s, int shape[3], clg_dtype *dtype)
{
    if (!s)
        return 0;
    for (int i = 0; i < s->ndim; i++)
        shape[i] = s->shape[i];
    if (dtype)
        *dtype = s->dtype;
    return s->ndim;
}

clg_status clg_spec_replace_head(clg_spec *s, int outputs)
{
    if (!s || outputs < 1)
        return clg_fail(CLG_INVALID_ARGUMENT, "replace head: %d outputs", outputs);
    for (int i = s->count - 1; i >= 0; i--)
        if (s->items[i].kind == ITEM_LAYER &&
            s->items[i].layer.type == CLG_LAYER_LINEAR) {
            s->items[i].layer.out = outputs;
            return CLG_OK;
        }
    return clg_fail(CLG_NOT_FOUND, "%s: no linear layer to replace as the head",
                    s->source);
}

clg_status clg_model_from_spec(clg_context *ctx, const clg_spec *s,
                               const clg_model_opts *opts, clg_model **out)
{
    if (!s || !opts || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_model_from_spec: NULL argument");
    clg_model_opts o = *opts;
    o.input_dtype = s->dtype;
    clg_status st = clg_model_create(ctx, &o, s->ndim, s->shape, out);
    for (int i = 0; st == CLG_OK && i < s->count; i++) {
        const spec_item *it = &s->items[i];
        st = it->kind == ITEM_BEGIN ? clg_model_begin_residual(*out)
             : it->kind == ITEM_END ? clg_model_end_residual(*out)
                                    : clg_model_add(*out, it->layer);
        if (st != CLG_OK)
            st = clg_fail_prefix(st, "%s:%d", s->source, it->line);
    }
    if (st != CLG_OK) {
        clg_model_free(*out);
        *out = NULL;
    }
    return st;
}
