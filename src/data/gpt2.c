/*
 * GPT-2's byte-level BPE (Radford et al. 2019), as OpenAI's encoder.py and
 * Hugging Face's GPT2TokenizerFast compute it:
 *
 *   1. special tokens ("<|endoftext|>") are cut out of the text whole;
 *   2. each stretch between them is split by GPT-2's pattern into
 *      contractions, letters, numbers, other symbols and whitespace runs,
 *      each but a contraction with at most one space before it;
 *   3. each piece's bytes are merged, the adjacent pair of lowest rank in
 *      merges.txt first, everywhere in the piece, until no pair has a rank.
 *
 * vocab.json and merges.txt name tokens by characters, one per byte: the
 * 188 printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for the
 * code points of the same number, the other 68 (controls, space, DEL, NBSP,
 * soft hyphen) for U+0100 on, in byte order (encoder.py's bytes_to_unicode:
 * a space is 'Ġ'). clgrad keeps each token as its bytes.
 *
 * The pattern runs on PCRE2 with Unicode properties (\p{L}, \p{N}); its \s
 * is the Unicode White_Space property written out, as the regex engines of
 * tiktoken and Hugging Face's tokenizers read \s (PCRE2's own \s also takes
 * U+180E).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/error.h"
#include "base/text.h"
#include "data/tokenizer_internal.h"

#define WS                                                                             \
    "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}"    \
    "\\x{205f}\\x{3000}"

static const char pattern_text[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+"
    "| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

#define MAX_TOKEN_BYTES CLG_GPT2_MAX_TOKEN_BYTES

/* ---- The byte alphabet ------------------------------------------------------ */

static bool printable(int b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

/* The character byte b stands for. */
static unsigned byte_char(int b)
{
    if (printable(b))
        return (unsigned)b;
    unsigned n = 0;
    for (int k = 0; k < b; k++)
        n += !printable(k);
    return 256 + n;
}

/* The byte character c stands for, or -1. */
static int char_byte(unsigned c)
{
    if (c < 256)
        return printable((int)c) ? (int)c : -1;
    unsigned n = 256;
    for (int b = 0; b < 256; b++)
        if (!printable(b) && n++ == c)
            return b;
    return -1;
}

/* Appends code point c to out as UTF-8; returns its length. */
static size_t put_utf8(unsigned c, char *out)
{
    if (c < 0x80)
        return out[0] = (char)c, 1;
    if (c < 0x800)
        return out[0] = (char)(0xc0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3f)), 2;
    out[0] = (char)(0xe0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[2] = (char)(0x80 | (c & 0x3f));
    return 3; /* the alphabet stays below U+0800 */
}

/* The bytes a token's name in vocab.json stands for (at most
 * MAX_TOKEN_BYTES); false for a character outside the alphabet, *bad_char
 * then naming it. The name must be valid UTF-8. */
bool clg_gpt2_name_bytes(const char *name, char *bytes, size_t *len, unsigned *bad_char)
{
    const unsigned char *s = (const unsigned char *)name;
    *len = 0;
    while (*s) {
        unsigned c = *s++;
        if (c >= 0xc0) {
            int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
            c &= 0x3f >> more;
            while (more-- && (*s & 0xc0) == 0x80)
                c = c << 6 | (*s++ & 0x3f);
        }
        int b = char_byte(c);
        if (b < 0 || *len >= MAX_TOKEN_BYTES) {
            *bad_char = c;
            return false;
        }
        bytes[(*len)++] = (char)b;
    }
    return true;
}

/* A token's name as vocab.json and merges.txt write it (NUL-terminated in
 * out, which holds 3 * MAX_TOKEN_BYTES + 1). */
void clg_gpt2_token_name(const char *bytes, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += put_utf8(byte_char((unsigned char)bytes[i]), out + n);
    out[n] = '\0';
}

/* ---- Tables --------------------------------------------------------------- */

bool clg_gpt2_is_special(const clg_tokenizer *t, int id)
{
    for (int k = 0; k < t->nspecial; k++)
        if (t->special[k] == id)
            return true;
    return false;
}

static clg_status compile_pattern(void **out)
{
    int err;
    PCRE2_SIZE at;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern_text, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    if (!code)
        return clg_fail(CLG_INTERNAL, "GPT-2's pattern does not compile at %zu (%d)",
                        (size_t)at, err);
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter else */
    *out = code;
    return CLG_OK;
}

void clg_gpt2_free(clg_tokenizer *t)
{
    free(t->merged), free(t->special);
    pcre2_code_free(t->pattern);
    t->merged = t->special = NULL;
    t->pattern = NULL;
}

clg_status clg_gpt2_tables(clg_tokenizer *t, const char *source)
{
    clg_tok_map ids = {0}; /* bytes -> id, special tokens aside */
    clg_status s = CLG_OK;
    for (int id = 0; s == CLG_OK && id < t->vocab; id++) {
        if (!t->tok[id] || !t->toklen[id])
            s = clg_fail(CLG_BAD_FILE, "%s: token id %d is missing or empty", source,
                         id);
        else if (clg_gpt2_is_special(t, id))
            continue;
        int *at =
            s == CLG_OK ? clg_tok_map_find(&ids, t->tok[id], t->toklen[id]) : NULL;
        if (at)
            s = clg_fail(CLG_BAD_FILE, "%s: tokens %d and %d are the same bytes",
                         source, *at, id);
        else if (s == CLG_OK && !clg_tok_map_add(&ids, t->tok[id], t->toklen[id], id))
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", source);
    }
    for (int b = 0; s == CLG_OK && b < 256; b++) {
        char c = (char)b;
        const int *id = clg_tok_map_find(&ids, &c, 1);
        if (!id)
            s = clg_fail(CLG_BAD_FILE, "%s: no token is the byte 0x%02x alone", source,
                         b);
        else
            t->byte_id[b] = *id;
    }
    t->merged = malloc((size_t)(t->nmerges ? t->nmerges : 1) * sizeof *t->merged);
    if (s == CLG_OK && !t->merged)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", source);
    char both[2 * MAX_TOKEN_BYTES];
    for (int r = 0; s == CLG_OK && r < t->nmerges; r++) {
        int32_t a = t->merges[r][0], b = t->merges[r][1];
        if (a < 0 || b < 0 || a >= t->vocab || b >= t->vocab ||
            clg_gpt2_is_special(t, a) || clg_gpt2_is_special(t, b)) {
            s = clg_fail(CLG_BAD_FILE, "%s: merge %d pairs ids %d and %d, not tokens",
                         source, r + 1, a, b);
            break;
        }
        size_t la = t->toklen[a], lb = t->toklen[b];
        memcpy(both, t->tok[a], la);
        memcpy(both + la, t->tok[b], lb);
        const int *made =
            la + lb <= MAX_TOKEN_BYTES ? clg_tok_map_find(&ids, both, la + lb) : NULL;
        char key[8];
        clg_tok_pair_key(a, b, key);
        const int *earlier = clg_tok_map_find(&t->lookup, key, 8);
        if (!made)
            s = clg_fail(CLG_BAD_FILE,
                         "%s: merge %d (ids %d %d) makes a token the vocabulary lacks",
                         source, r + 1, a, b);
        else if (earlier)
            s = clg_fail(CLG_BAD_FILE, "%s: merge %d (ids %d %d) repeats merge %d",
                         source, r + 1, a, b, *earlier + 1);
        else if (!clg_tok_map_add(&t->lookup, key, 8, r))
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", source);
        else
            t->merged[r] = *made;
    }
    clg_tok_map_free(&ids);
    return s == CLG_OK ? compile_pattern(&t->pattern) : s;
}

/* ---- Encoding --------------------------------------------------------------- */

/* The first place of w[0 .. n) in s[0 .. len), or NULL. */
static const char *find(const char *s, size_t len, const char *w, size_t n)
{
    for (const char *p = s; n <= len && p <= s + len - n;) {
        p = memchr(p, w[0], (size_t)(s + len - n - p) + 1);
        if (!p || !memcmp(p, w, n))
            return p;
        p++;
    }
    return NULL;
}

/* The first special token in s[0 .. len): its start (len if none) and id;
 * of two starting together, the longer. */
static size_t next_special(const clg_tokenizer *t, const char *s, size_t len,
                           int32_t *id)
{
    size_t best = len, best_len = 0;
    for (int k = 0; k < t->nspecial; k++) {
        const char *w = t->tok[t->special[k]];
        size_t n = t->toklen[t->special[k]];
        const char *hit = find(s, len, w, n);
        size_t at = hit ? (size_t)(hit - s) : len;
        if (hit && (at < best || (at == best && n > best_len)))
            best = at, best_len = n, *id = t->special[k];
    }
    return best;
}

/* The pieces of s[0 .. len) by GPT-2's pattern, each merged into ids. */
static clg_status encode_stretch(const clg_tokenizer *t, const char *s, size_t len,
                                 pcre2_match_data *md, clg_tok_ids *out)
{
    size_t at = 0;
    while (at < len) {
        int rc = pcre2_match(t->pattern, (PCRE2_SPTR)s, len, at, PCRE2_NO_UTF_CHECK, md,
                             NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
            return clg_fail(CLG_INTERNAL, "GPT-2 pre-tokenisation failed (%d)", rc);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        /* the pattern covers every character: a gap would be its own piece */
        size_t from = at, to = rc < 0 ? len : ov[0] > at ? ov[0] : ov[1];
        if (to == from)
            return clg_fail(CLG_INTERNAL, "GPT-2 pre-tokenisation stopped at %zu", at);
        if (!clg_tok_encode_chunk(t, s + from, to - from, out))
            return clg_fail(CLG_OUT_OF_HOST_MEMORY, "encoding %zu bytes", len);
        at = to;
    }
    return CLG_OK;
}

clg_status clg_gpt2_encode(const clg_tokenizer *t, const char *text, size_t len,
                           clg_tok_ids *out)
{
    size_t bad = clg_utf8_invalid_at(text, len);
    if (bad < len)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "GPT-2 tokenizer: the text is not UTF-8 at byte %zu (0x%02x)",
                        bad, (unsigned char)text[bad]);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->pattern, NULL);
    if (!md)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "encoding %zu bytes", len);
    clg_status s = CLG_OK;
    for (size_t at = 0; s == CLG_OK && at < len;) {
        int32_t id = -1;
        size_t stop = at + next_special(t, text + at, len - at, &id);
        s = encode_stretch(t, text + at, stop - at, md, out);
        if (s == CLG_OK && stop < len && !clg_tok_push(out, id))
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "encoding %zu bytes", len);
        at = stop < len ? stop + t->toklen[id] : len;
    }
    pcre2_match_data_free(md);
    return s;
}

/* ---- Learning ------------------------------------------------------------- */

clg_status clg_gpt2_count_pieces(const clg_text *corpus, clg_tok_map *counts)
{
    void *pattern = NULL;
    clg_status s = compile_pattern(&pattern);
    pcre2_match_data *md =
        s == CLG_OK ? pcre2_match_data_create_from_pattern(pattern, NULL) : NULL;
    if (s == CLG_OK && !md)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "learning a GPT-2 BPE");
    for (int d = 0; s == CLG_OK && d < corpus->count; d++) {
        const char *text = corpus->docs[d];
        size_t len = corpus->lengths[d], bad = clg_utf8_invalid_at(text, len);
        if (bad < len) {
            s = clg_fail(CLG_INVALID_ARGUMENT,
                         "learning a GPT-2 BPE: document %d is not UTF-8 at byte %zu",
                         d, bad);
            break;
        }
        for (size_t at = 0; s == CLG_OK && at < len;) {
            int rc = pcre2_match(pattern, (PCRE2_SPTR)text, len, at, PCRE2_NO_UTF_CHECK,
                                 md, NULL);
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t to = rc < 0 ? len : ov[0] > at ? ov[0] : ov[1];
            if (to == at || (rc < 0 && rc != PCRE2_ERROR_NOMATCH))
                s = clg_fail(CLG_INTERNAL, "GPT-2 pre-tokenisation failed (%d)", rc);
            else if (!clg_tok_map_add(counts, text + at, to - at, 1))
                s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "learning a GPT-2 BPE");
            at = to;
        }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(pattern);
    return s;
}

clg_status clg_gpt2_learned_tables(clg_tokenizer *t)
{
    clg_status s = clg_tok_alloc(t, 256 + t->nmerges + 1);
    for (int b = 0; s == CLG_OK && b < 256; b++) {
        char c = (char)b;
        s = clg_tok_set(t, b, &c, 1);
    }
    char both[2 * MAX_TOKEN_BYTES];
    for (int m = 0; s == CLG_OK && m < t->nmerges; m++) {
        int32_t a = t->merges[m][0], b = t->merges[m][1];
        size_t la = t->toklen[a], lb = t->toklen[b];
        if (la + lb > sizeof both)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "learning a GPT-2 BPE: merge %d makes a token of over %d "
                            "bytes",
                            m + 1, 2 * MAX_TOKEN_BYTES);
        memcpy(both, t->tok[a], la);
        memcpy(both + la, t->tok[b], lb);
        s = clg_tok_set(t, 256 + m, both, la + lb);
    }
    t->special = malloc(sizeof *t->special); /* GPT-2's end of text, last */
    if (s == CLG_OK && !t->special)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
    if (s == CLG_OK) {
        t->special[t->nspecial++] = t->vocab - 1;
        s = clg_tok_set(t, t->vocab - 1, "<|endoftext|>", 13);
    }
    t->plain = true;
    return s == CLG_OK ? clg_gpt2_tables(t, "the learned GPT-2 BPE") : s;
}
