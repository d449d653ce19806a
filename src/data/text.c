/* Text documents, token sequences as datasets. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "base/text.h"
#include "clgrad/data.h"

static clg_status add_doc(clg_text *t, const char *s, size_t len)
{
    char **docs = realloc(t->docs, (size_t)(t->count + 1) * sizeof *docs);
    if (docs)
        t->docs = docs;
    size_t *lengths = realloc(t->lengths, (size_t)(t->count + 1) * sizeof *lengths);
    if (lengths)
        t->lengths = lengths;
    char *copy = docs && lengths ? malloc(len + 1) : NULL;
    if (!copy)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "reading text");
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->docs[t->count] = copy;
    t->lengths[t->count++] = len;
    return CLG_OK;
}

static clg_status split(clg_text *t, const char *s, size_t len, bool per_line)
{
    if (!per_line)
        return add_doc(t, s, len);
    clg_status st = CLG_OK;
    for (size_t start = 0; st == CLG_OK && start < len;) {
        const char *nl = memchr(s + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t n = end - start;
        if (n && s[start + n - 1] == '\r')
            n--;
        if (n)
            st = add_doc(t, s + start, n);
        start = end + 1;
    }
    return st;
}

void clg_text_free(clg_text *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->count; i++)
        free(t->docs[i]);
    free(t->docs);
    free(t->lengths);
    free(t);
}

static clg_status read_one(clg_text *t, const char *path, bool per_line)
{
    char *buf;
    size_t n;
    clg_status s = clg_read_file(path, (size_t)2 << 30, &buf, &n);
    if (s != CLG_OK)
        return s;
    size_t bad = clg_utf8_invalid_at(buf, n);
    s = bad < n ? clg_fail(CLG_BAD_FILE, "%s: byte %zu: not UTF-8 (0x%02x)", path, bad,
                           (unsigned char)buf[bad])
                : split(t, buf, n, per_line);
    free(buf);
    return s;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

clg_status clg_text_read(const char *path, bool per_line, clg_text **out)
{
    if (!path || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_text_read: NULL argument");
    *out = NULL;
    clg_text *t = calloc(1, sizeof *t);
    if (!t)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_text_read");
    struct stat st;
    clg_status s = CLG_OK;
    if (stat(path, &st) != 0) {
        s = clg_fail(CLG_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    } else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        /* a FIFO or device could be read forever */
        s = clg_fail(CLG_IO_ERROR,
                     "%s: not a regular file or directory (a device, FIFO or socket)",
                     path);
    } else if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        char **names = NULL;
        int n = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", path, e->d_name);
            struct stat fs;
            if (e->d_name[0] == '.' || stat(full, &fs) != 0 || !S_ISREG(fs.st_mode))
                continue;
            char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
            if (!grown)
                break;
            names = grown;
            names[n++] = strdup(full);
        }
        if (d)
            closedir(d);
        qsort(names, (size_t)n, sizeof *names, by_name);
        for (int i = 0; i < n; i++) {
            if (s == CLG_OK)
                s = names[i] ? read_one(t, names[i], per_line)
                             : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
            free(names[i]);
        }
        free(names);
        if (s == CLG_OK && t->count == 0)
            s = clg_fail(CLG_BAD_FILE, "%s: no text files", path);
    } else {
        s = read_one(t, path, per_line);
    }
    if (s != CLG_OK) {
        clg_text_free(t);
        return s;
    }
    *out = t;
    return CLG_OK;
}

clg_status clg_text_from_string(const char *str, size_t len, bool per_line,
                                clg_text **out)
{
    if ((!str && len) || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_text_from_string: NULL argument");
    clg_text *t = calloc(1, sizeof *t);
    clg_status s =
        t ? split(t, str, len, per_line) : clg_fail(CLG_OUT_OF_HOST_MEMORY, "text");
    if (s != CLG_OK) {
        clg_text_free(t);
        return s;
    }
    *out = t;
    return CLG_OK;
}

clg_status clg_dataset_from_sequences(const int32_t *const *seqs, const size_t *counts,
                                      int n, int length, int pad, const int32_t *labels,
                                      clg_dataset **out)
{
    if (!seqs || !counts || !out || n < 1 || length < 1)
        return clg_fail(CLG_INVALID_ARGUMENT, "sequences: %d sequences of length %d", n,
                        length);
    clg_status s = clg_dataset_create(n, 1, &length, labels != NULL, out);
    if (s != CLG_OK)
        return s;
    clg_dataset *d = *out;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < length; k++)
            d->x[(size_t)i * length + k] =
                (float)((size_t)k < counts[i] ? seqs[i][k] : pad);
        if (labels) {
            d->labels[i] = labels[i];
            if (labels[i] + 1 > d->classes)
                d->classes = labels[i] + 1;
        }
    }
    return CLG_OK;
}

clg_status clg_dataset_windows(const int32_t *ids, size_t count, int length, int vocab,
                               clg_dataset **out)
{
    if ((!ids && count) || !out || length < 1 || vocab < 1)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "windows: %s, a window of %d tokens, a vocabulary of %d",
                        out ? "no ids" : "no output", length, vocab);
    *out = NULL;
    size_t n = count > 0 ? (count - 1) / (size_t)length : 0;
    if (n < 1)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "windows: %zu tokens do not fill one window of %d + 1", count,
                        length);
    if (n > (size_t)1 << 30)
        return clg_fail(CLG_INVALID_ARGUMENT, "windows: %zu windows are too many", n);
    clg_status s = clg_dataset_create((int)n, 1, &length, false, out);
    clg_dataset *d = *out;
    if (s == CLG_OK && !(d->labels = malloc(n * (size_t)length * sizeof *d->labels)))
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "windows of %zu tokens", count);
    for (size_t i = 0; s == CLG_OK && i < n * (size_t)length; i++) {
        if (ids[i] < 0 || ids[i] >= vocab || ids[i + 1] < 0 || ids[i + 1] >= vocab) {
            s = clg_fail(CLG_INVALID_ARGUMENT,
                         "windows: token %zu (%d) is outside "
                         "the vocabulary of %d",
                         ids[i] < 0 || ids[i] >= vocab ? i : i + 1,
                         (int)(ids[i] < 0 || ids[i] >= vocab ? ids[i] : ids[i + 1]),
                         vocab);
            break;
        }
        d->x[i] = (float)ids[i];
        d->labels[i] = ids[i + 1];
    }
    if (s != CLG_OK) {
        clg_dataset_free(d);
        *out = NULL;
        return s;
    }
    d->classes = vocab;
    d->label_len = length;
    return CLG_OK;
}

clg_status clg_dataset_next_token(const int32_t *ids, size_t count, int length,
                                  int stride, int vocab, clg_dataset **out)
{
    if (!ids || !out || length < 1 || stride < 1 || count <= (size_t)length)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "next-token windows: %zu ids are too few for windows of %d",
                        count, length);
    int n = (int)((count - (size_t)length - 1) / (size_t)stride + 1);
    clg_status s = clg_dataset_create(n, 1, &length, true, out);
    if (s != CLG_OK)
        return s;
    clg_dataset *d = *out;
    for (int i = 0; i < n; i++) {
        const int32_t *w = ids + (size_t)i * stride;
        for (int k = 0; k < length; k++)
            d->x[(size_t)i * length + k] = (float)w[k];
        d->labels[i] = w[length];
    }
    d->classes = vocab;
    return CLG_OK;
}
