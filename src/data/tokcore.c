/* What every tokeniser shares: the byte-string map, the token table, id
 * lists and BPE's merging of a chunk (tokenizer.c trains and reads them,
 * gpt2.c builds GPT-2's). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "data/tokenizer_internal.h"

static uint64_t hash(const char *k, size_t len)
{
    return clg_fnv1a(CLG_FNV_START, k, len);
}

void clg_tok_map_free(clg_tok_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys), free(m->lens), free(m->vals);
    memset(m, 0, sizeof *m);
}

int *clg_tok_map_find(const clg_tok_map *m, const char *k, size_t len)
{
    if (!m->cap)
        return NULL;
    for (size_t i = hash(k, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return NULL;
        if (m->lens[i] == len && !memcmp(m->keys[i], k, len))
            return &m->vals[i];
    }
}

static bool map_grow(clg_tok_map *m)
{
    clg_tok_map g = {calloc(m->cap ? m->cap * 2 : 64, sizeof(char *)),
                     calloc(m->cap ? m->cap * 2 : 64, sizeof(size_t)),
                     calloc(m->cap ? m->cap * 2 : 64, sizeof(int)),
                     m->cap ? m->cap * 2 : 64, m->n};
    if (!g.keys || !g.lens || !g.vals) {
        free(g.keys), free(g.lens), free(g.vals);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = hash(m->keys[i], m->lens[i]) & (g.cap - 1);
        while (g.keys[j])
            j = (j + 1) & (g.cap - 1);
        g.keys[j] = m->keys[i], g.lens[j] = m->lens[i], g.vals[j] = m->vals[i];
    }
    free(m->keys), free(m->lens), free(m->vals);
    *m = g;
    return true;
}

/* Adds `delta` to k's value, inserting it at 0 first; returns the slot. */
int *clg_tok_map_add(clg_tok_map *m, const char *k, size_t len, int delta)
{
    int *v = clg_tok_map_find(m, k, len);
    if (v) {
        *v += delta;
        return v;
    }
    if ((m->n + 1) * 2 > m->cap && !map_grow(m))
        return NULL;
    size_t i = hash(k, len) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = malloc(len ? len : 1);
    if (!m->keys[i])
        return NULL;
    memcpy(m->keys[i], k, len);
    m->lens[i] = len;
    m->vals[i] = delta;
    m->n++;
    return &m->vals[i];
}

/* ---- The tokenizer ------------------------------------------------------- */

clg_status clg_tok_set(clg_tokenizer *t, int id, const char *bytes, size_t len)
{
    t->tok[id] = malloc(len + 1);
    if (!t->tok[id])
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
    memcpy(t->tok[id], bytes, len);
    t->tok[id][len] = '\0';
    t->toklen[id] = len;
    return CLG_OK;
}

clg_status clg_tok_alloc(clg_tokenizer *t, int vocab)
{
    t->vocab = vocab;
    t->tok = calloc((size_t)vocab, sizeof *t->tok);
    t->toklen = calloc((size_t)vocab, sizeof *t->toklen);
    return t->tok && t->toklen ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
}

void clg_tok_pair_key(int32_t a, int32_t b, char key[8])
{
    memcpy(key, &a, 4);
    memcpy(key + 4, &b, 4);
}

int clg_tok_merge_in(clg_tok_seq *q, int32_t a, int32_t b, int32_t id)
{
    int w = 0, merged = 0;
    for (int r = 0; r < q->n; r++) {
        if (r + 1 < q->n && q->ids[r] == a && q->ids[r + 1] == b) {
            q->ids[w++] = id;
            r++;
            merged++;
        } else {
            q->ids[w++] = q->ids[r];
        }
    }
    q->n = w;
    return merged;
}

bool clg_tok_push(clg_tok_ids *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *g = realloc(b->v, cap * sizeof *g);
        if (!g)
            return false;
        b->v = g;
        b->cap = cap;
    }
    b->v[b->n++] = id;
    return true;
}

bool clg_tok_encode_chunk(const clg_tokenizer *t, const char *s, size_t len,
                          clg_tok_ids *out)
{
    int32_t *q = malloc((len ? len : 1) * sizeof *q);
    if (!q)
        return false;
    int n = (int)len;
    for (int i = 0; i < n; i++)
        q[i] = t->merged ? t->byte_id[(unsigned char)s[i]] : (unsigned char)s[i];
    for (;;) { /* merge the adjacent pair of lowest rank until none is left */
        int best = -1, at = -1;
        for (int i = 0; i + 1 < n; i++) {
            char key[8];
            clg_tok_pair_key(q[i], q[i + 1], key);
            int *rank = clg_tok_map_find(&t->lookup, key, 8);
            if (rank && (best < 0 || *rank < best))
                best = *rank, at = i;
        }
        if (best < 0)
            break;
        clg_tok_seq sq = {q, n, 1};
        clg_tok_merge_in(&sq, t->merges[best][0], t->merges[best][1],
                         t->merged ? t->merged[best] : 256 + best);
        n = sq.n;
        (void)at;
    }
    bool ok = true;
    for (int i = 0; ok && i < n; i++)
        ok = clg_tok_push(out, q[i]);
    free(q);
    return ok;
}
