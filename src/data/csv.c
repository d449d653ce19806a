/* CSV datasets: numeric features and a label column of integers or strings. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "base/text.h"
#include "clgrad/data.h"

#define MAX_COLUMNS 65536

typedef struct field {
    char *text; /* unquoted, NUL-terminated */
} field;

typedef struct row {
    field *f;
    int n, cap;
    int line;
} row;

static void row_clear(row *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->f[i].text);
    r->n = 0;
}

static bool row_push(row *r, const char *text, size_t len)
{
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        if (cap > MAX_COLUMNS)
            return false;
        field *grown = realloc(r->f, (size_t)cap * sizeof *grown);
        if (!grown)
            return false;
        r->f = grown;
        r->cap = cap;
    }
    char *t = malloc(len + 1);
    if (!t)
        return false;
    memcpy(t, text, len);
    t[len] = '\0';
    r->f[r->n++].text = t;
    return true;
}

/* Reads one record starting at *pos; returns false at the end of the text. */
static clg_status next_row(const char *text, size_t len, size_t *pos, char delim,
                           row *r, int *line, const char *source, bool *got)
{
    row_clear(r);
    *got = false;
    /* Skip blank lines. */
    while (*pos < len && (text[*pos] == '\n' || text[*pos] == '\r')) {
        if (text[*pos] == '\n')
            (*line)++;
        (*pos)++;
    }
    if (*pos >= len)
        return CLG_OK;
    r->line = *line;
    char *buf = malloc(len - *pos + 1);
    if (!buf)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: reading line %d", source, *line);
    for (;;) {
        size_t n = 0;
        bool quoted = *pos < len && text[*pos] == '"';
        if (quoted) {
            (*pos)++;
            for (;;) {
                if (*pos >= len) {
                    free(buf);
                    return clg_fail(CLG_BAD_FILE,
                                    "%s:%d: a quoted field is never closed", source,
                                    r->line);
                }
                char ch = text[(*pos)++];
                if (ch == '"') {
                    if (*pos < len && text[*pos] == '"') {
                        buf[n++] = '"';
                        (*pos)++;
                        continue;
                    }
                    break;
                }
                if (ch == '\n')
                    (*line)++;
                buf[n++] = ch;
            }
            if (*pos < len && text[*pos] != delim && text[*pos] != '\n' &&
                text[*pos] != '\r') {
                free(buf);
                return clg_fail(CLG_BAD_FILE,
                                "%s:%d: text after a closing quote in field %d", source,
                                r->line, r->n + 1);
            }
        } else {
            while (*pos < len && text[*pos] != delim && text[*pos] != '\n' &&
                   text[*pos] != '\r') {
                if (text[*pos] == '\0') {
                    free(buf);
                    return clg_fail(CLG_BAD_FILE, "%s:%d: a NUL byte in field %d",
                                    source, r->line, r->n + 1);
                }
                buf[n++] = text[(*pos)++];
            }
        }
        if (!row_push(r, buf, n)) {
            free(buf);
            return clg_fail(CLG_BAD_FILE, "%s:%d: more than %d fields or out of memory",
                            source, r->line, MAX_COLUMNS);
        }
        if (*pos < len && text[*pos] == delim) {
            (*pos)++;
            continue;
        }
        break;
    }
    free(buf);
    if (*pos < len && text[*pos] == '\r')
        (*pos)++;
    if (*pos < len && text[*pos] == '\n') {
        (*pos)++;
        (*line)++;
    }
    *got = true;
    return CLG_OK;
}

static bool to_number(const char *s, float *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || errno == ERANGE || !isfinite(v))
        return false;
    *out = (float)v;
    return true;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct table {
    float *x;      /* rows * features */
    char **labels; /* rows, the label fields */
    int *lines;    /* rows, where each row is in the file */
    int rows, cap, features;
} table;

static void table_free(table *t)
{
    for (int i = 0; t->labels && i < t->rows; i++)
        free(t->labels[i]);
    free(t->labels);
    free(t->lines);
    free(t->x);
}

static clg_status add_row(table *t, const row *r, int label_col, const char *source,
                          char *const *names)
{
    if (t->rows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        float *x = realloc(t->x, (size_t)cap * (size_t)(t->features ? t->features : 1) *
                                     sizeof *x);
        if (x)
            t->x = x;
        char **l = realloc(t->labels, (size_t)cap * sizeof *l);
        if (l)
            t->labels = l;
        int *lines = realloc(t->lines, (size_t)cap * sizeof *lines);
        if (lines)
            t->lines = lines;
        if (!x || !l || !lines)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: %d rows", source, cap);
        t->cap = cap;
    }
    int k = 0;
    t->labels[t->rows] = NULL;
    t->lines[t->rows] = r->line;
    for (int c = 0; c < r->n; c++) {
        if (c == label_col) {
            t->labels[t->rows] = strdup(r->f[c].text);
            if (!t->labels[t->rows])
                return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", source);
            continue;
        }
        if (!to_number(r->f[c].text, &t->x[(size_t)t->rows * t->features + k++])) {
            char col[96];
            if (names)
                snprintf(col, sizeof col, "'%s'", names[c]);
            else
                snprintf(col, sizeof col, "%d", c + 1);
            clg_status s =
                clg_fail(CLG_BAD_FILE, "%s:%d: column %s: '%.40s' is not a number",
                         source, r->line, col, r->f[c].text);
            free(t->labels[t->rows]);
            return s;
        }
    }
    t->rows++;
    return CLG_OK;
}

/* A whole number from 0, spaces around it allowed; *v gets it. */
static bool class_number(const char *label, int32_t *v)
{
    char word[32];
    while (*label == ' ' || *label == '\t')
        label++;
    size_t n = strlen(label);
    while (n > 0 && (label[n - 1] == ' ' || label[n - 1] == '\t'))
        n--;
    long long parsed;
    if (n == 0 || n >= sizeof word)
        return false;
    memcpy(word, label, n);
    word[n] = '\0';
    if (!clg_parse_int(word, 0, (1 << 24) - 1, &parsed))
        return false;
    *v = (int32_t)parsed;
    return true;
}

static bool is_class_number(const char *label)
{
    int32_t v;
    return class_number(label, &v);
}

static bool is_number(const char *label)
{
    float v;
    return to_number(label, &v);
}

/* Class numbers as they are (0, 1, 2, ...); otherwise names, numbered in
 * sorted order. A column that mixes the two, or holds numbers that are not
 * class numbers (-1, 2.0, 1e2), is refused at its first odd row: switching
 * to names would renumber every class without a word. */
static clg_status make_labels(table *t, clg_dataset *d, const char *source)
{
    int numbers = 0;
    for (int i = 0; i < t->rows; i++)
        numbers += is_number(t->labels[i]);
    for (int i = 0; numbers && i < t->rows; i++) {
        if (numbers == t->rows && !is_class_number(t->labels[i]))
            return clg_fail(CLG_BAD_FILE,
                            "%s:%d: label '%.40s' is not a class number (0, 1, 2, "
                            "...)",
                            source, t->lines[i], t->labels[i]);
        if (numbers < t->rows && is_number(t->labels[i]) != (2 * numbers > t->rows))
            return clg_fail(CLG_BAD_FILE,
                            "%s:%d: label '%.40s' is %s, the other labels of the "
                            "column are mostly %s: a label column holds class "
                            "numbers or names, not both",
                            source, t->lines[i], t->labels[i],
                            is_number(t->labels[i]) ? "a number" : "a name",
                            2 * numbers > t->rows ? "numbers" : "names");
    }
    if (numbers == t->rows) {
        for (int i = 0; i < t->rows; i++) {
            class_number(t->labels[i], &d->labels[i]);
            if (d->labels[i] + 1 > d->classes)
                d->classes = d->labels[i] + 1;
        }
        return CLG_OK;
    }
    char **sorted = malloc((size_t)t->rows * sizeof *sorted);
    if (!sorted)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", source);
    memcpy(sorted, t->labels, (size_t)t->rows * sizeof *sorted);
    qsort(sorted, (size_t)t->rows, sizeof *sorted, compare_strings);
    int unique = 0;
    for (int i = 0; i < t->rows; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]))
            sorted[unique++] = sorted[i];
    d->class_names = calloc((size_t)unique, sizeof *d->class_names);
    clg_status s =
        d->class_names ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", source);
    for (int i = 0; s == CLG_OK && i < unique; i++)
        if (!(d->class_names[i] = strdup(sorted[i])))
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", source);
    d->classes = unique;
    for (int i = 0; s == CLG_OK && i < t->rows; i++) {
        char **hit = bsearch(&t->labels[i], sorted, (size_t)unique, sizeof *sorted,
                             compare_strings);
        d->labels[i] = (int32_t)(hit - sorted);
    }
    free(sorted);
    return s;
}

clg_status clg_dataset_from_csv_text(const char *text, size_t len, const char *source,
                                     const clg_csv_opts *opts, clg_dataset **out)
{
    clg_csv_opts o = CLG_CSV_DEFAULTS;
    if (opts)
        o = *opts;
    if (!out || (!text && len))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_dataset_from_csv_text: NULL argument");
    *out = NULL;
    source = source ? source : "CSV";
    row r = {0};
    table t = {0};
    char **names = NULL;
    int ncols = 0, label_col = -1, line = 1;
    size_t pos = 0;
    bool got;
    clg_status s = next_row(text, len, &pos, o.delimiter, &r, &line, source, &got);
    if (s == CLG_OK && !got)
        s = clg_fail(CLG_BAD_FILE, "%s: no rows", source);
    if (s == CLG_OK) {
        ncols = r.n;
        bool header = o.header == 1;
        if (o.header == -1) { /* a header when any field is not a number */
            for (int c = 0; c < r.n && !header; c++) {
                float v;
                header = !to_number(r.f[c].text, &v);
            }
            if (header && o.label_index != -2 && !o.label_name) {
                /* ...unless only the label column is text, as in "1,2,cat" */
                int text_fields = 0, last_text = -1;
                for (int c = 0; c < r.n; c++) {
                    float v;
                    if (!to_number(r.f[c].text, &v))
                        text_fields++, last_text = c;
                }
                int lc = o.label_index == -1 ? r.n - 1 : o.label_index;
                header = !(text_fields == 1 && last_text == lc);
            }
        }
        if (header) {
            names = calloc((size_t)ncols, sizeof *names);
            for (int c = 0; names && c < ncols; c++) {
                names[c] = r.f[c].text;
                r.f[c].text = NULL;
            }
            r.n = 0;
        }
        if (o.label_name) {
            for (int c = 0; names && c < ncols && label_col < 0; c++)
                if (!strcmp(names[c], o.label_name))
                    label_col = c;
            if (label_col < 0)
                s = clg_fail(CLG_BAD_FILE, "%s: no column named '%s'%s", source,
                             o.label_name,
                             names ? "" : " (the file has no header row)");
        } else if (o.label_index != -2) {
            label_col = o.label_index == -1 ? ncols - 1 : o.label_index;
            if (label_col < 0 || label_col >= ncols)
                s = clg_fail(CLG_BAD_FILE,
                             "%s: label column %d, the file has %d columns", source,
                             label_col, ncols);
        }
        t.features = ncols - (label_col >= 0);
        if (s == CLG_OK && t.features < 1)
            s = clg_fail(CLG_BAD_FILE, "%s: no feature columns besides the label",
                         source);
    }
    while (s == CLG_OK && got) {
        if (r.n) {
            if (r.n != ncols)
                s = clg_fail(CLG_BAD_FILE, "%s:%d: %d fields, expected %d", source,
                             r.line, r.n, ncols);
            else
                s = add_row(&t, &r, label_col, source, names);
        }
        if (s == CLG_OK)
            s = next_row(text, len, &pos, o.delimiter, &r, &line, source, &got);
    }
    if (s == CLG_OK && t.rows == 0)
        s = clg_fail(CLG_BAD_FILE, "%s: a header but no data rows", source);
    clg_dataset *d = NULL;
    if (s == CLG_OK)
        s = clg_dataset_create(t.rows, 1, &t.features, label_col >= 0, &d);
    if (s == CLG_OK) {
        memcpy(d->x, t.x, (size_t)t.rows * (size_t)t.features * sizeof *d->x);
        if (label_col >= 0)
            s = make_labels(&t, d, source);
    }
    row_clear(&r);
    free(r.f);
    table_free(&t);
    for (int c = 0; names && c < ncols; c++)
        free(names[c]);
    free(names);
    if (s != CLG_OK) {
        clg_dataset_free(d);
        return s;
    }
    *out = d;
    return CLG_OK;
}

clg_status clg_dataset_from_csv(const char *path, const clg_csv_opts *opts,
                                clg_dataset **out)
{
    if (!path || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_dataset_from_csv: NULL argument");
    char *text;
    size_t n;
    clg_status s = clg_read_file(path, (size_t)2 << 30, &text, &n);
    if (s != CLG_OK)
        return s;
    s = clg_dataset_from_csv_text(text, n, path, opts, out);
    free(text);
    return s;
}
