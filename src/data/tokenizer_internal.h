/* Private to libclgrad: the tokenizer's tables, shared by tokenizer.c (byte,
 * char, word and clgrad's BPE; encoding, files) and gpt2.c (GPT-2's
 * byte-level BPE as Hugging Face saves it). */
#ifndef CLGRAD_DATA_TOKENIZER_INTERNAL_H
#define CLGRAD_DATA_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clgrad/data.h"

/* ---- A small hash map from byte strings to ints --------------------------- */

typedef struct clg_tok_map {
    char **keys;
    size_t *lens;
    int *vals;
    size_t cap, n;
} clg_tok_map;

void clg_tok_map_free(clg_tok_map *m);
int *clg_tok_map_find(const clg_tok_map *m, const char *k, size_t len);
/* Adds `delta` to k's value, inserting it at 0 first; returns the slot (NULL
 * out of memory). */
int *clg_tok_map_add(clg_tok_map *m, const char *k, size_t len, int delta);

struct clg_tokenizer {
    clg_tokenizer_type type;
    int vocab;
    char **tok; /* bytes of each id (char, word, bpe, gpt2) */
    size_t *toklen;
    clg_tok_map lookup; /* char/word: token -> id; bpe, gpt2: pair (8 bytes of
                           two ids) -> merge rank */
    int32_t (*merges)[2];
    int nmerges;
    bool plain; /* no <pad>, <unk>: ids start at 0 (char, word), no pad (bpe);
                   always for gpt2 */
    /* gpt2 (NULL or unused elsewhere, where byte b is id b and merge r makes
     * id 256 + r) */
    int32_t *merged;      /* the id merge r makes */
    int32_t byte_id[256]; /* the id of each byte alone */
    int32_t *special;     /* ids of the special tokens, matched whole */
    int nspecial;
    void *pattern; /* GPT-2's pre-tokenisation, compiled (pcre2_code) */
};

/* Token `id`'s bytes; the table of `vocab` tokens. */
clg_status clg_tok_set(clg_tokenizer *t, int id, const char *bytes, size_t len);
clg_status clg_tok_alloc(clg_tokenizer *t, int vocab);

/* A growing list of ids. */
typedef struct clg_tok_ids {
    int32_t *v;
    size_t n, cap;
} clg_tok_ids;

bool clg_tok_push(clg_tok_ids *b, int32_t id);

/* The 8-byte map key of the pair (a, b): the merges' lookup. */
void clg_tok_pair_key(int32_t a, int32_t b, char key[8]);

/* A chunk's ids as BPE merges them. */
typedef struct clg_tok_seq {
    int32_t *ids;
    int n;
    int count; /* how often the chunk occurs */
} clg_tok_seq;

/* Replaces each adjacent (a, b) of q, left to right, with id; the count. */
int clg_tok_merge_in(clg_tok_seq *q, int32_t a, int32_t b, int32_t id);

/* The ids of one pre-tokenised chunk: its bytes' ids, then the adjacent
 * pair of lowest merge rank merged everywhere in the chunk, until no pair
 * has a rank (false: out of memory). */
bool clg_tok_encode_chunk(const clg_tokenizer *t, const char *s, size_t len,
                          clg_tok_ids *out);

/* ---- GPT-2 (gpt2.c) ----------------------------------------------------- */

/* Ids of text under a GPT-2 tokenizer: special tokens whole, the rest
 * pre-tokenised by GPT-2's pattern and merged chunk by chunk. */
clg_status clg_gpt2_encode(const clg_tokenizer *t, const char *text, size_t len,
                           clg_tok_ids *out);

/* Builds a GPT-2 tokenizer's tables from t->tok (each id's bytes), t->merges
 * (pairs of ids, by rank) and t->special: the merged ids, each byte's id,
 * the pair ranks and the pattern. `source` names the files in errors. */
clg_status clg_gpt2_tables(clg_tokenizer *t, const char *source);

void clg_gpt2_free(clg_tokenizer *t);

/* The longest token clgrad keeps, in bytes. */
#define CLG_GPT2_MAX_TOKEN_BYTES 1024

/* The bytes a token's name in vocab.json stands for (at most
 * CLG_GPT2_MAX_TOKEN_BYTES); false for a character outside GPT-2's byte
 * alphabet, *bad_char naming it. The name must be valid UTF-8. */
bool clg_gpt2_name_bytes(const char *name, char *bytes, size_t *len,
                         unsigned *bad_char);
/* A token's name as vocab.json writes it, NUL-terminated in out (3 *
 * CLG_GPT2_MAX_TOKEN_BYTES + 1 bytes). */
void clg_gpt2_token_name(const char *bytes, size_t len, char *out);
bool clg_gpt2_is_special(const clg_tokenizer *t, int id);

/* Counts the pieces GPT-2's pattern cuts the corpus into (counts: piece's
 * bytes -> occurrences), to learn merges over. */
clg_status clg_gpt2_count_pieces(const clg_text *corpus, clg_tok_map *counts);

/* A learned GPT-2 BPE's tables from t->merges (ids: byte b is b, merge r
 * makes 256 + r): the tokens, "<|endoftext|>" last, then clg_gpt2_tables. */
clg_status clg_gpt2_learned_tables(clg_tokenizer *t);

#endif
