/* IDX files, plain or gzip: every header field is checked against the real
 * size of the data before it is trusted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/error.h"
#include "base/text.h"
#include "clgrad/data.h"

#define MAX_FILE_BYTES ((size_t)4 << 30) /* 4 GiB: no IDX data set is larger */

/* Reads a whole file, inflating gzip. *len is its (uncompressed) size. */
static clg_status slurp(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return clg_fail(CLG_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[2] = {0, 0};
    size_t got = fread(magic, 1, 2, f);
    fclose(f);
    bool gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    gzFile z = gzopen(path, "rb"); /* also reads plain files, as they are */
    if (!z)
        return clg_fail(CLG_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    clg_status s = buf ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: reading", path);
    while (s == CLG_OK) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                s = clg_fail(CLG_BAD_FILE, "%s: more than %zu bytes%s", path,
                             MAX_FILE_BYTES, gz ? " uncompressed" : "");
                break;
            }
            unsigned char *grown = realloc(buf, cap * 2);
            if (!grown) {
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: reading %zu bytes", path,
                             cap * 2);
                break;
            }
            buf = grown;
            cap *= 2;
        }
        unsigned want = cap - n > (1u << 30) ? (1u << 30) : (unsigned)(cap - n);
        int r = gzread(z, buf + n, want);
        if (r < 0) {
            int code;
            const char *msg = gzerror(z, &code);
            s = clg_fail(CLG_BAD_FILE, "%s: %s at byte %zu of the %s data: %s", path,
                         gz ? "corrupt gzip stream" : "read error", n,
                         gz ? "uncompressed" : "file", msg);
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    /* zlib hands out what it inflated before a cut and reports the cut only
     * as Z_BUF_ERROR afterwards; a stream cut in its trailer inflates whole
     * but has no CRC to check. */
    int code = Z_OK;
    if (s == CLG_OK && gz)
        gzerror(z, &code);
    if (s == CLG_OK && gz && (code == Z_BUF_ERROR || !gzeof(z)))
        s = clg_fail(CLG_BAD_FILE,
                     "%s: the gzip stream ends early (%zu bytes inflated, then the "
                     "file ends)",
                     path, n);
    else if (s == CLG_OK && gz && code != Z_OK)
        s = clg_fail(CLG_BAD_FILE, "%s: corrupt gzip stream: %s", path,
                     gzerror(z, &code));
    gzclose(z);
    if (s != CLG_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    *len = n;
    return CLG_OK;
}

CLG_DEFINE_ENUM_NAMES(clg_idx_type, CLG_IDX_TYPE_LIST, "IDX type")

static size_t element_size(int type)
{
    switch (type) {
    case CLG_IDX_U8:
    case CLG_IDX_I8:
        return 1;
    case CLG_IDX_I16:
        return 2;
    case CLG_IDX_I32:
    case CLG_IDX_F32:
        return 4;
    case CLG_IDX_F64:
        return 8;
    }
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Big-endian elements to host order, in place. */
static void to_host(unsigned char *data, size_t count, size_t size)
{
    for (size_t i = 0; i < count && size > 1; i++) {
        unsigned char *e = data + i * size;
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = e[a];
            e[a] = e[b];
            e[b] = t;
        }
    }
}

static clg_status parse(const char *path, unsigned char *buf, size_t len, clg_idx *idx)
{
    if (len < 4)
        return clg_fail(CLG_BAD_FILE, "%s: %zu bytes, an IDX header needs at least 4",
                        path, len);
    if (buf[0] != 0 || buf[1] != 0)
        return clg_fail(
            CLG_BAD_FILE,
            "%s: byte 0: magic number starts 0x%02x%02x, IDX files start 0x0000", path,
            buf[0], buf[1]);
    size_t esize = element_size(buf[2]);
    if (!esize)
        return clg_fail(
            CLG_BAD_FILE,
            "%s: byte 2: unknown element type 0x%02x (IDX has 0x08 u8, 0x09 i8, "
            "0x0b i16, 0x0c i32, 0x0d f32, 0x0e f64)",
            path, buf[2]);
    int ndim = buf[3];
    if (ndim < 1 || ndim > 8)
        return clg_fail(CLG_BAD_FILE, "%s: byte 3: %d dimensions, 1 to 8 are supported",
                        path, ndim);
    size_t header = 4 + 4 * (size_t)ndim;
    if (len < header)
        return clg_fail(
            CLG_BAD_FILE,
            "%s: truncated header: %d dimensions need %zu bytes, the file has %zu",
            path, ndim, header, len);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(buf + 4 + 4 * i);
        if (d > 0x7fffffffu)
            return clg_fail(CLG_BAD_FILE, "%s: byte %d: dimension %d is %u, too large",
                            path, 4 + 4 * i, i, d);
        idx->dims[i] = (int)d;
        if (d && count > MAX_FILE_BYTES / esize / d)
            return clg_fail(
                CLG_BAD_FILE,
                "%s: byte %d: the dimensions multiply past %zu bytes of data "
                "(the file has %zu)",
                path, 4 + 4 * i, MAX_FILE_BYTES, len);
        count *= d;
    }
    size_t want = count * esize;
    if (len - header < want)
        return clg_fail(
            CLG_BAD_FILE,
            "%s: truncated: the header promises %zu bytes of data from byte %zu, "
            "the file ends at byte %zu",
            path, want, header, len);
    if (len - header > want)
        return clg_fail(CLG_BAD_FILE,
                        "%s: %zu bytes after the data end at byte %zu (the header's "
                        "dimensions disagree with the file size)",
                        path, len - header - want, header + want);
    idx->type = (clg_idx_type)buf[2];
    idx->ndim = ndim;
    idx->count = count;
    return CLG_OK;
}

/* Takes ownership of buf (malloc'd, len bytes). */
static clg_status parse_owned(const char *path, unsigned char *buf, size_t len,
                              clg_idx **out)
{
    clg_status s;
    clg_idx *idx = calloc(1, sizeof *idx);
    s = idx ? parse(path, buf, len, idx) : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    if (s == CLG_OK) {
        size_t header = 4 + 4 * (size_t)idx->ndim, esize = element_size(idx->type);
        memmove(buf, buf + header, idx->count * esize);
        to_host(buf, idx->count, esize);
        idx->data = buf;
        *out = idx;
        return CLG_OK;
    }
    free(buf);
    free(idx);
    return s;
}

clg_status clg_idx_read(const char *path, clg_idx **out)
{
    if (!path || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_idx_read: NULL argument");
    *out = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    clg_status s = slurp(path, &buf, &len);
    return s == CLG_OK ? parse_owned(path, buf, len, out) : s;
}

clg_status clg_idx_parse(const void *bytes, size_t len, const char *source,
                         clg_idx **out)
{
    if ((!bytes && len) || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_idx_parse: NULL argument");
    *out = NULL;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: %zu bytes", source, len);
    if (len)
        memcpy(buf, bytes, len);
    return parse_owned(source ? source : "IDX data", buf, len, out);
}

void clg_idx_free(clg_idx *idx)
{
    if (idx)
        free(idx->data);
    free(idx);
}
