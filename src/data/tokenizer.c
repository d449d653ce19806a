/* Tokenisers: bytes, characters, words and byte-level BPE. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/text.h"
#include "clgrad/data.h"
#include "data/tokenizer_internal.h"

void clg_tokenizer_free(clg_tokenizer *t)
{
    if (!t)
        return;
    for (int i = 0; t->tok && i < t->vocab; i++)
        free(t->tok[i]);
    free(t->tok), free(t->toklen), free(t->merges);
    clg_tok_map_free(&t->lookup);
    clg_gpt2_free(t);
    free(t);
}

int clg_tokenizer_vocab_size(const clg_tokenizer *t)
{
    return t ? t->vocab : 0;
}

int clg_tokenizer_pad(const clg_tokenizer *t)
{
    if (!t || t->plain)
        return -1;
    return t->type == CLG_TOKENIZER_CHAR || t->type == CLG_TOKENIZER_WORD
               ? 0
               : t->vocab - 1;
}

int clg_tokenizer_end_of_text(const clg_tokenizer *t)
{
    return t && t->type == CLG_TOKENIZER_GPT2 && t->nspecial > 0 ? t->special[0] : -1;
}

clg_tokenizer_type clg_tokenizer_type_of(const clg_tokenizer *t)
{
    return t ? t->type : CLG_TOKENIZER_BYTE;
}

/* Ids of char and word tokens start after <pad> and <unk>, or at 0. */
static int first_id(const clg_tokenizer *t)
{
    return t->plain ? 0 : 2;
}

static size_t utf8_len(unsigned char c)
{
    return c < 0x80         ? 1
           : (c >> 5) == 6  ? 2
           : (c >> 4) == 14 ? 3
           : (c >> 3) == 30 ? 4
                            : 1;
}

/* Words: runs of letters, digits and non-ASCII; each other visible byte alone. */
static size_t next_word(const char *s, size_t len, size_t *at)
{
    while (*at < len && isspace((unsigned char)s[*at]))
        (*at)++;
    size_t start = *at;
    if (*at >= len)
        return 0;
    unsigned char c = (unsigned char)s[*at];
    if (isalnum(c) || c >= 0x80) {
        while (*at < len &&
               (isalnum((unsigned char)s[*at]) || (unsigned char)s[*at] >= 0x80))
            (*at)++;
    } else {
        (*at)++;
    }
    return *at - start;
}

/* BPE chunks: leading whitespace, then a run of non-space; they tile the text. */
static size_t next_chunk(const char *s, size_t len, size_t at)
{
    size_t i = at;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    while (i < len && !isspace((unsigned char)s[i]))
        i++;
    return i - at;
}

/* The next character (char) or word (word) token at *at: its start and
 * length, 0 at the end of the text. */
static size_t next_unit(clg_tokenizer_type type, const char *text, size_t len,
                        size_t *at, size_t *start)
{
    if (type == CLG_TOKENIZER_CHAR) {
        size_t n = *at < len ? utf8_len((unsigned char)text[*at]) : 0;
        n = *at + n > len ? len - *at : n;
        *start = *at;
        *at += n;
        return n;
    }
    size_t n = next_word(text, len, at);
    *start = *at - n;
    return n;
}

typedef struct vocab_entry {
    const char *key;
    size_t len;
    int count;
} vocab_entry;

/* Plain vocabularies: by bytes, which for UTF-8 is by code point. */
static int by_bytes(const void *a, const void *b)
{
    const vocab_entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int by_count(const void *a, const void *b)
{
    const vocab_entry *x = a, *y = b;
    if (x->count != y->count)
        return y->count - x->count;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static clg_status train_vocab(clg_tokenizer *t, const clg_tokenizer_opts *o,
                              const clg_text *c)
{
    clg_tok_map counts = {0};
    clg_status s = CLG_OK;
    for (int d = 0; s == CLG_OK && d < c->count; d++) {
        const char *text = c->docs[d];
        size_t len = c->lengths[d];
        for (size_t at = 0, start, n; s == CLG_OK && at < len;) {
            if (!(n = next_unit(t->type, text, len, &at, &start)))
                break;
            if (!clg_tok_map_add(&counts, text + start, n, 1))
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "training a tokenizer");
        }
    }
    vocab_entry *e = s == CLG_OK ? malloc((counts.n ? counts.n : 1) * sizeof *e) : NULL;
    size_t n = 0;
    for (size_t i = 0; e && i < counts.cap; i++)
        if (counts.keys[i] && counts.vals[i] >= (o->min_count > 0 ? o->min_count : 1))
            e[n++] = (vocab_entry){counts.keys[i], counts.lens[i], counts.vals[i]};
    if (s == CLG_OK && !e)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "training a tokenizer");
    if (s == CLG_OK) {
        int first = first_id(t);
        qsort(e, n, sizeof *e, by_count);
        if (o->max_vocab > first && n > (size_t)(o->max_vocab - first))
            n = (size_t)(o->max_vocab - first);
        if (t->plain)
            qsort(e, n, sizeof *e, by_bytes);
        s = clg_tok_alloc(t, (int)n + first);
    }
    if (s == CLG_OK && !t->plain)
        s = clg_tok_set(t, 0, "<pad>", 5);
    if (s == CLG_OK && !t->plain)
        s = clg_tok_set(t, 1, "<unk>", 5);
    for (size_t i = 0; s == CLG_OK && i < n; i++) {
        int id = (int)i + first_id(t);
        s = clg_tok_set(t, id, e[i].key, e[i].len);
        if (s == CLG_OK && !clg_tok_map_add(&t->lookup, e[i].key, e[i].len, id))
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
    }
    free(e);
    clg_tok_map_free(&counts);
    return s;
}

/* ---- BPE ------------------------------------------------------------------ */

static clg_status bpe_tables(clg_tokenizer *t)
{
    clg_status s = clg_tok_alloc(t, 256 + t->nmerges + (t->plain ? 0 : 1));
    for (int b = 0; s == CLG_OK && b < 256; b++) {
        char c = (char)b;
        s = clg_tok_set(t, b, &c, 1);
    }
    for (int m = 0; s == CLG_OK && m < t->nmerges; m++) {
        int32_t a = t->merges[m][0], b = t->merges[m][1];
        size_t la = t->toklen[a], lb = t->toklen[b];
        char *buf = malloc(la + lb);
        if (!buf)
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
        memcpy(buf, t->tok[a], la);
        memcpy(buf + la, t->tok[b], lb);
        s = clg_tok_set(t, 256 + m, buf, la + lb);
        free(buf);
        char key[8];
        clg_tok_pair_key(a, b, key);
        const int *earlier = s == CLG_OK ? clg_tok_map_find(&t->lookup, key, 8) : NULL;
        if (earlier) /* a pair is merged once; its rank indexes merges[] */
            s = clg_fail(CLG_BAD_FILE, "merge %d (%d %d) repeats merge %d", m + 1, a, b,
                         *earlier + 1);
        else if (s == CLG_OK && !clg_tok_map_add(&t->lookup, key, 8, m))
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
    }
    if (s == CLG_OK && !t->plain)
        s = clg_tok_set(t, t->vocab - 1, "", 0); /* <pad> decodes to nothing */
    return s;
}

static clg_status train_bpe(clg_tokenizer *t, const clg_tokenizer_opts *o,
                            const clg_text *c)
{
    clg_tok_map chunks = {0};
    bool gpt2 = o->type == CLG_TOKENIZER_GPT2; /* chunks by GPT-2's pattern */
    clg_status s = gpt2 ? clg_gpt2_count_pieces(c, &chunks) : CLG_OK;
    for (int d = 0; !gpt2 && s == CLG_OK && d < c->count; d++)
        for (size_t at = 0, n; s == CLG_OK && at < c->lengths[d]; at += n) {
            n = next_chunk(c->docs[d], c->lengths[d], at);
            if (!clg_tok_map_add(&chunks, c->docs[d] + at, n, 1))
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "training BPE");
        }
    clg_tok_seq *q = s == CLG_OK ? calloc(chunks.n ? chunks.n : 1, sizeof *q) : NULL;
    int nq = 0;
    for (size_t i = 0; q && i < chunks.cap; i++) {
        if (!chunks.keys[i])
            continue;
        q[nq].n = (int)chunks.lens[i];
        q[nq].count = chunks.vals[i];
        q[nq].ids = malloc(chunks.lens[i] * sizeof(int32_t) + 4);
        for (size_t k = 0; q[nq].ids && k < chunks.lens[i]; k++)
            q[nq].ids[k] = (unsigned char)chunks.keys[i][k];
        nq++;
    }
    t->merges = malloc((size_t)(o->merges > 0 ? o->merges : 1) * sizeof *t->merges);
    if (s == CLG_OK && (!q || !t->merges))
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "training BPE");
    for (int m = 0; s == CLG_OK && m < o->merges; m++) {
        clg_tok_map pairs = {0};
        int32_t best_a = -1, best_b = -1;
        int best = 1; /* a pair must occur at least twice to be worth a token */
        for (int i = 0; i < nq && s == CLG_OK; i++)
            for (int k = 0; k + 1 < q[i].n; k++) {
                char key[8];
                clg_tok_pair_key(q[i].ids[k], q[i].ids[k + 1], key);
                int *v = clg_tok_map_add(&pairs, key, 8, q[i].count);
                if (!v) {
                    s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "training BPE");
                    break;
                }
                int32_t a = q[i].ids[k], b = q[i].ids[k + 1];
                if (*v > best || (*v == best && best_a >= 0 &&
                                  (a < best_a || (a == best_a && b < best_b)))) {
                    best = *v, best_a = a, best_b = b;
                }
            }
        clg_tok_map_free(&pairs);
        if (best_a < 0)
            break;
        t->merges[t->nmerges][0] = best_a, t->merges[t->nmerges][1] = best_b;
        for (int i = 0; i < nq; i++)
            clg_tok_merge_in(&q[i], best_a, best_b, 256 + t->nmerges);
        t->nmerges++;
    }
    for (int i = 0; q && i < nq; i++)
        free(q[i].ids);
    free(q);
    clg_tok_map_free(&chunks);
    if (s != CLG_OK)
        return s;
    return gpt2 ? clg_gpt2_learned_tables(t) : bpe_tables(t);
}

clg_status clg_tokenizer_train(const clg_tokenizer_opts *o, const clg_text *corpus,
                               clg_tokenizer **out)
{
    if (!o || !out || (o->type != CLG_TOKENIZER_BYTE && !corpus))
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_tokenizer_train: needs options and a corpus");
    if ((unsigned)o->type > CLG_TOKENIZER_GPT2 || o->merges < 0 ||
        o->merges > 1 << 20 || o->max_vocab < 0)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "tokenizer: bad options (type %d, %d merges)", (int)o->type,
                        o->merges);
    *out = NULL;
    clg_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
    t->type = o->type;
    t->plain = o->plain;
    clg_status s;
    if (o->type == CLG_TOKENIZER_BYTE) {
        t->nmerges = 0;
        s = bpe_tables(t); /* bytes and <pad>, no merges */
    } else if (o->type == CLG_TOKENIZER_BPE || o->type == CLG_TOKENIZER_GPT2) {
        s = train_bpe(t, o, corpus);
    } else {
        s = train_vocab(t, o, corpus);
    }
    if (s != CLG_OK) {
        clg_tokenizer_free(t);
        return s;
    }
    *out = t;
    return CLG_OK;
}

/* ---- Encode and decode --------------------------------------------------- */

clg_status clg_tokenizer_encode(const clg_tokenizer *t, const char *text, size_t len,
                                int32_t **ids, size_t *count)
{
    if (!t || (!text && len) || !ids || !count)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_tokenizer_encode: NULL argument");
    clg_tok_ids b = {0};
    bool gpt2 = t->type == CLG_TOKENIZER_GPT2, ok = true;
    clg_status s = gpt2 ? clg_gpt2_encode(t, text, len, &b) : CLG_OK;
    if (s != CLG_OK) {
        free(b.v);
        return s;
    }
    for (size_t at = 0; !gpt2 && ok && at < len;) {
        if (t->type == CLG_TOKENIZER_BYTE || t->type == CLG_TOKENIZER_BPE) {
            size_t n = next_chunk(text, len, at);
            ok = t->type == CLG_TOKENIZER_BYTE
                     ? true
                     : clg_tok_encode_chunk(t, text + at, n, &b);
            for (size_t k = 0; ok && t->type == CLG_TOKENIZER_BYTE && k < n; k++)
                ok = clg_tok_push(&b, (unsigned char)text[at + k]);
            at += n;
        } else {
            size_t start, n = next_unit(t->type, text, len, &at, &start);
            if (!n)
                break;
            int *id = clg_tok_map_find(&t->lookup, text + start, n);
            if (!id && t->plain) {
                free(b.v);
                return clg_fail(CLG_INVALID_ARGUMENT,
                                "the %s '%.*s' at byte %zu is not in the tokenizer's "
                                "vocabulary (%d ids, without <unk>)",
                                t->type == CLG_TOKENIZER_CHAR ? "character" : "word",
                                (int)(n < 40 ? n : 40), text + start, start, t->vocab);
            }
            ok = clg_tok_push(&b, id ? *id : 1);
        }
    }
    if (!ok) {
        free(b.v);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "encoding %zu bytes", len);
    }
    *ids = b.v ? b.v : malloc(sizeof(int32_t));
    *count = b.n;
    return *ids ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "encoding %zu bytes", len);
}

clg_status clg_tokenizer_decode(const clg_tokenizer *t, const int32_t *ids,
                                size_t count, char **text, size_t *len)
{
    if (!t || (!ids && count) || !text)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_tokenizer_decode: NULL argument");
    size_t total = 1;
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "decode: id %d at %zu is outside the "
                            "vocabulary of %d",
                            ids[i], i, t->vocab);
        total += t->toklen[ids[i]] + 1;
    }
    char *out = malloc(total);
    if (!out)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "decoding %zu ids", count);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (t->type == CLG_TOKENIZER_WORD && n)
            out[n++] = ' ';
        memcpy(out + n, t->tok[ids[i]], t->toklen[ids[i]]);
        n += t->toklen[ids[i]];
    }
    out[n] = '\0';
    *text = out;
    if (len)
        *len = n;
    return CLG_OK;
}

/* ---- Files ----------------------------------------------------------------- */

CLG_DEFINE_ENUM_NAMES(clg_tokenizer_type, CLG_TOKENIZER_TYPE_LIST, "tokenizer type")

/* The tokenizer file: "clgrad-tokenizer 1", "type NAME[ plain]", then the
 * merges of bpe and byte, or the tokens of char and word in hex. */
static bool write_tokenizer(const clg_tokenizer *t, FILE *f)
{
    fprintf(f, "clgrad-tokenizer 1\ntype %s%s\n", clg_tokenizer_type_str(t->type),
            t->plain ? " plain" : "");
    if (t->type == CLG_TOKENIZER_BPE || t->type == CLG_TOKENIZER_BYTE) {
        fprintf(f, "merges %d\n", t->nmerges);
        for (int m = 0; m < t->nmerges; m++)
            fprintf(f, "%d %d\n", t->merges[m][0], t->merges[m][1]);
    } else {
        fprintf(f, "tokens %d\n", t->vocab - first_id(t));
        for (int i = first_id(t); i < t->vocab; i++) {
            for (size_t k = 0; k < t->toklen[i]; k++)
                fprintf(f, "%02x", (unsigned char)t->tok[i][k]);
            fputc('\n', f);
        }
    }
    if (t->type == CLG_TOKENIZER_GPT2) { /* the tokens' bytes above, then these */
        fprintf(f, "merges %d\n", t->nmerges);
        for (int m = 0; m < t->nmerges; m++)
            fprintf(f, "%d %d\n", t->merges[m][0], t->merges[m][1]);
        fprintf(f, "special %d\n", t->nspecial);
        for (int k = 0; k < t->nspecial; k++)
            fprintf(f, "%d\n", t->special[k]);
    }
    return !ferror(f);
}

clg_status clg_tokenizer_save(const clg_tokenizer *t, const char *path)
{
    if (!t || !path)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_tokenizer_save: NULL argument");
    char *text = NULL;
    clg_status s = clg_tokenizer_to_string(t, &text);
    if (s == CLG_OK)
        s = clg_write_file_atomic(path, &(clg_file_part){text, strlen(text)}, 1);
    free(text);
    return s;
}

clg_status clg_tokenizer_to_string(const clg_tokenizer *t, char **text)
{
    if (!t || !text)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_tokenizer_to_string: NULL argument");
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    if (!f)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer text");
    bool ok = write_tokenizer(t, f);
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        free(*text);
        *text = NULL;
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer text");
    }
    return CLG_OK;
}

/* A GPT-2 tokenizer's merges and special tokens, after its tokens:
 * "merges M", M lines of two ids, "special K", K lines of one id. */
static clg_status read_gpt2_tables(FILE *f, const char *path, clg_tokenizer *t,
                                   int *lineno)
{
    char line[256];
    int n = 0, k = 0;
    (*lineno)++;
    if (!fgets(line, sizeof line, f) || sscanf(line, "merges %d", &n) != 1 || n < 0 ||
        n > 1 << 20)
        return clg_fail(CLG_BAD_FILE, "%s:%d: expected 'merges COUNT'", path, *lineno);
    t->merges = malloc((size_t)(n ? n : 1) * sizeof *t->merges);
    if (!t->merges)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    for (int m = 0; m < n; m++) {
        int a, b;
        (*lineno)++;
        if (!fgets(line, sizeof line, f) || sscanf(line, "%d %d", &a, &b) != 2 ||
            a < 0 || b < 0 || a >= t->vocab || b >= t->vocab)
            return clg_fail(CLG_BAD_FILE, "%s:%d: expected two token ids", path,
                            *lineno);
        t->merges[m][0] = a, t->merges[m][1] = b, t->nmerges++;
    }
    (*lineno)++;
    if (!fgets(line, sizeof line, f) || sscanf(line, "special %d", &k) != 1 || k < 0 ||
        k > t->vocab)
        return clg_fail(CLG_BAD_FILE, "%s:%d: expected 'special COUNT'", path, *lineno);
    t->special = malloc((size_t)(k ? k : 1) * sizeof *t->special);
    if (!t->special)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    for (int i = 0; i < k; i++) {
        int id;
        (*lineno)++;
        if (!fgets(line, sizeof line, f) || sscanf(line, "%d", &id) != 1 || id < 0 ||
            id >= t->vocab)
            return clg_fail(CLG_BAD_FILE, "%s:%d: expected a token id", path, *lineno);
        t->special[t->nspecial++] = id;
    }
    return clg_gpt2_tables(t, path);
}

/* Reads a tokenizer file from f; `path` names it in errors. */
static clg_status read_tokenizer(FILE *f, const char *path, clg_tokenizer **out)
{
    char line[8192], type[16], flag[16] = "";
    int n = 0, lineno = 2;
    clg_status s = CLG_OK;
    clg_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !fgets(line, sizeof line, f) || strcmp(line, "clgrad-tokenizer 1\n"))
        s = clg_fail(CLG_BAD_FILE, "%s:1: not a clgrad tokenizer file", path);
    if (s == CLG_OK && (!fgets(line, sizeof line, f) ||
                        sscanf(line, "type %15s %15s", type, flag) < 1 ||
                        (flag[0] && strcmp(flag, "plain"))))
        s = clg_fail(CLG_BAD_FILE, "%s:2: expected 'type NAME' or 'type NAME plain'",
                     path);
    clg_tokenizer_type kind = CLG_TOKENIZER_BYTE;
    if (s == CLG_OK && clg_tokenizer_type_parse(type, &kind) != CLG_OK)
        s = clg_fail_prefix(CLG_BAD_FILE, "%s:2", path);
    bool merges = kind == CLG_TOKENIZER_BPE || kind == CLG_TOKENIZER_BYTE;
    lineno = 3;
    if (s == CLG_OK && (!fgets(line, sizeof line, f) ||
                        sscanf(line, merges ? "merges %d" : "tokens %d", &n) != 1 ||
                        n < 0 || n > 1 << 20 || (kind == CLG_TOKENIZER_BYTE && n)))
        s = clg_fail(CLG_BAD_FILE, "%s:3: expected '%s COUNT'", path,
                     merges ? "merges" : "tokens");
    if (s == CLG_OK) {
        t->type = kind;
        t->plain = flag[0] != '\0';
    }
    if (s == CLG_OK && merges) {
        t->merges = malloc((size_t)(n ? n : 1) * sizeof *t->merges);
        for (int m = 0; s == CLG_OK && m < n; m++) {
            lineno++;
            int a, b;
            if (!t->merges || !fgets(line, sizeof line, f) ||
                sscanf(line, "%d %d", &a, &b) != 2 || a < 0 || b < 0 || a >= 256 + m ||
                b >= 256 + m)
                s = clg_fail(CLG_BAD_FILE, "%s:%d: expected two earlier token ids",
                             path, lineno);
            else
                t->merges[m][0] = a, t->merges[m][1] = b, t->nmerges++;
        }
        if (s == CLG_OK && (s = bpe_tables(t)) != CLG_OK)
            s = clg_fail_prefix(s, "%s", path);
    } else if (s == CLG_OK) {
        int first = first_id(t);
        s = clg_tok_alloc(t, n + first);
        if (s == CLG_OK && first)
            s = clg_tok_set(t, 0, "<pad>", 5);
        if (s == CLG_OK && first)
            s = clg_tok_set(t, 1, "<unk>", 5);
        for (int i = 0; s == CLG_OK && i < n; i++) {
            lineno++;
            char bytes[4096];
            size_t len = 0;
            bool ok = fgets(line, sizeof line, f) != NULL;
            for (char *p = line; ok && *p && *p != '\n'; p += 2) {
                unsigned v;
                ok = isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1]) &&
                     sscanf(p, "%2x", &v) == 1 && len < sizeof bytes;
                if (ok)
                    bytes[len++] = (char)v;
            }
            bool gpt2 = kind == CLG_TOKENIZER_GPT2; /* its tables come after */
            /* characters and words are text; GPT-2's tokens are bytes */
            size_t bad = ok && !gpt2 ? clg_utf8_invalid_at(bytes, len) : len;
            if (bad < len) {
                s = clg_fail(CLG_BAD_FILE,
                             "%s:%d: the token is not UTF-8 at its byte %zu (0x%02x)",
                             path, lineno, bad, (unsigned char)bytes[bad]);
                break;
            }
            if (!ok || !len || (!gpt2 && clg_tok_map_find(&t->lookup, bytes, len)))
                s = clg_fail(CLG_BAD_FILE, "%s:%d: expected a new token in hex", path,
                             lineno);
            if (s == CLG_OK)
                s = clg_tok_set(t, i + first, bytes, len);
            if (s == CLG_OK && !gpt2 &&
                !clg_tok_map_add(&t->lookup, bytes, len, i + first))
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
        }
    }
    if (s == CLG_OK && kind == CLG_TOKENIZER_GPT2)
        s = read_gpt2_tables(f, path, t, &lineno);
    if (s != CLG_OK) {
        clg_tokenizer_free(t);
        return s;
    }
    *out = t;
    return CLG_OK;
}

clg_status clg_tokenizer_load(const char *path, clg_tokenizer **out)
{
    if (!path || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_tokenizer_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return clg_fail(CLG_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    clg_status s = read_tokenizer(f, path, out);
    fclose(f);
    return s;
}

clg_status clg_tokenizer_from_string(const char *text, const char *source,
                                     clg_tokenizer **out)
{
    if (!text || !out)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_tokenizer_from_string: NULL argument");
    *out = NULL;
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "reading a tokenizer");
    clg_status s = read_tokenizer(f, source ? source : "tokenizer", out);
    fclose(f);
    return s;
}
