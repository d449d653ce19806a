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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>

#include "base/error.h"
#include "base/file.h"
#include "base/text.h"
#include "data/tokenizer_internal.h"

#define WS                                                                             \
    "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}"    \
    "\\x{205f}\\x{3000}"

static const char pattern_text[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+"
    "| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

enum { MAX_TOKEN_BYTES = 1024 };

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
static bool name_bytes(const char *name, char *bytes, size_t *len, unsigned *bad_char)
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
static void token_name(const char *bytes, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += put_utf8(byte_char((unsigned char)bytes[i]), out + n);
    out[n] = '\0';
}

/* ---- Tables --------------------------------------------------------------- */

static bool is_special(const clg_tokenizer *t, int id)
{
    for (int k = 0; k < t->nspecial; k++)
        if (t->special[k] == id)
            return true;
    return false;
}

static void pair_key(int32_t a, int32_t b, char key[8])
{
    memcpy(key, &a, 4);
    memcpy(key + 4, &b, 4);
}

/* GPT-2's pattern, compiled (and JIT-compiled where PCRE2 can). */
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
        else if (is_special(t, id))
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
        if (a < 0 || b < 0 || a >= t->vocab || b >= t->vocab || is_special(t, a) ||
            is_special(t, b)) {
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
        pair_key(a, b, key);
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

/* ---- Hugging Face's files --------------------------------------------------- */

/* DIR/NAME in path. */
static clg_status file_in(const char *dir, const char *name, char *path, size_t size)
{
    int n = snprintf(path, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size
               ? CLG_OK
               : clg_fail(CLG_INVALID_ARGUMENT, "%s: path too long", dir);
}

/* A JSON file whole. */
static clg_status read_json(const char *path, cJSON **out)
{
    char *text;
    size_t len;
    clg_status s = clg_read_file(path, (size_t)256 << 20, &text, &len);
    if (s != CLG_OK)
        return s;
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(text, &end, true);
    if (!*out) {
        size_t at = end ? (size_t)(end - text) : 0;
        s = clg_fail(CLG_BAD_FILE, "%s: byte %zu: not valid JSON", path, at);
    }
    free(text);
    return s;
}

/* The special tokens of DIR/tokenizer_config.json's added_tokens_decoder
 * ({"50256": {"content": "<|endoftext|>", ...}}), which may make the
 * vocabulary larger; none without the file. *config gets the file's JSON
 * (NULL without it) for the caller to free. */
static clg_status read_added_tokens(clg_tokenizer *t, const char *dir, cJSON **config)
{
    char path[4096];
    clg_status s = file_in(dir, "tokenizer_config.json", path, sizeof path);
    struct stat st;
    if (s != CLG_OK || stat(path, &st) != 0)
        return s;
    cJSON *root = NULL;
    s = read_json(path, &root);
    *config = root;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder"),
                *e;
    int n = cJSON_GetArraySize(added);
    t->special = calloc((size_t)(n ? n : 1), sizeof *t->special);
    if (s == CLG_OK && !t->special)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    cJSON_ArrayForEach(e, added)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        long long id;
        if (s != CLG_OK)
            break;
        if (!clg_parse_int(e->string, 0, (1 << 24) - 1, &id) ||
            !cJSON_IsString(content) || !*content->valuestring ||
            strlen(content->valuestring) > MAX_TOKEN_BYTES)
            s = clg_fail(
                CLG_BAD_FILE,
                "%s: added_tokens_decoder: '%s' is not an id below 2^24 with a "
                "token of 1 to %d bytes as its content",
                path, e->string, MAX_TOKEN_BYTES);
        else
            t->special[t->nspecial++] = (int32_t)id;
    }
    if (s == CLG_OK) {
        int vocab = 0;
        for (int k = 0; k < t->nspecial; k++)
            vocab = t->special[k] + 1 > vocab ? t->special[k] + 1 : vocab;
        t->vocab = vocab; /* vocab.json may say more */
        int k = 0;
        t->tok = calloc((size_t)(vocab ? vocab : 1), sizeof *t->tok);
        t->toklen = calloc((size_t)(vocab ? vocab : 1), sizeof *t->toklen);
        if (!t->tok || !t->toklen)
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
        cJSON_ArrayForEach(e, added)
        {
            const char *c = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
            if (s == CLG_OK && !t->tok[t->special[k]])
                s = clg_tok_set(t, t->special[k], c, strlen(c));
            k++;
        }
    }
    return s;
}

/* Makes the token `name` special if vocab.json has it and it is not yet. */
static clg_status add_special(clg_tokenizer *t, const clg_tok_map *names,
                              const char *name)
{
    const int *id = name ? clg_tok_map_find(names, name, strlen(name)) : NULL;
    if (!id || is_special(t, *id))
        return CLG_OK;
    int32_t *more = realloc(t->special, (size_t)(t->nspecial + 1) * sizeof *more);
    if (!more)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "tokenizer");
    t->special = more;
    t->special[t->nspecial++] = *id;
    return CLG_OK;
}

/* The special tokens tokenizer_config.json names (bos, eos, unk and pad
 * tokens, as strings or {"content": ...}); without the file GPT-2's
 * "<|endoftext|>". */
static clg_status named_specials(clg_tokenizer *t, const cJSON *config,
                                 const clg_tok_map *names)
{
    if (!config)
        return add_special(t, names, "<|endoftext|>");
    const char *keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    clg_status s = CLG_OK;
    for (int k = 0; s == CLG_OK && k < 4; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, keys[k]);
        if (cJSON_IsObject(v))
            v = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(v))
            s = add_special(t, names, v->valuestring);
    }
    return s;
}

/* Grows the tables to `vocab` ids. */
static clg_status grow(clg_tokenizer *t, int vocab, const char *path)
{
    if (vocab <= t->vocab)
        return CLG_OK;
    char **tok = realloc(t->tok, (size_t)vocab * sizeof *tok);
    if (tok)
        t->tok = tok;
    size_t *len = realloc(t->toklen, (size_t)vocab * sizeof *len);
    if (len)
        t->toklen = len;
    if (!tok || !len)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    memset(t->tok + t->vocab, 0, (size_t)(vocab - t->vocab) * sizeof *tok);
    memset(t->toklen + t->vocab, 0, (size_t)(vocab - t->vocab) * sizeof *len);
    t->vocab = vocab;
    return CLG_OK;
}

/* vocab.json: {"token": id, ...}, the ids 0 .. N - 1 each once (the added
 * tokens' ids may be among them). names gets name -> id. */
static clg_status read_vocab(clg_tokenizer *t, const char *dir, clg_tok_map *names)
{
    char path[4096];
    clg_status s = file_in(dir, "vocab.json", path, sizeof path);
    cJSON *root = NULL;
    if (s == CLG_OK)
        s = read_json(path, &root);
    if (s == CLG_OK && !cJSON_IsObject(root))
        s = clg_fail(CLG_BAD_FILE, "%s: not a JSON object of \"token\": id", path);
    int n = s == CLG_OK ? cJSON_GetArraySize(root) : 0;
    if (s == CLG_OK)
        s = grow(t, n, path);
    const cJSON *e;
    char bytes[MAX_TOKEN_BYTES];
    cJSON_ArrayForEach(e, root)
    {
        if (s != CLG_OK)
            break;
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        int id = (int)v;
        size_t len, name_len = strlen(e->string);
        unsigned bad = 0;
        if (!(v >= 0 && v < t->vocab && v == id) ||
            (t->tok[id] && !is_special(t, id)) ||
            clg_tok_map_find(names, e->string, name_len)) {
            s = clg_fail(CLG_BAD_FILE,
                         "%s: \"%.40s\": %.0f: ids must be whole numbers 0 .. %d, each "
                         "once, and tokens each once",
                         path, e->string, v, t->vocab - 1);
        } else if (clg_utf8_invalid_at(e->string, name_len) < name_len) {
            s = clg_fail(CLG_BAD_FILE, "%s: token %d's name is not UTF-8", path, id);
        } else if (!clg_tok_map_add(names, e->string, name_len, id)) {
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
        } else if (is_special(t, id)) {
            continue; /* its content is its text, as added tokens are written */
        } else if (!name_bytes(e->string, bytes, &len, &bad) || !len) {
            s = clg_fail(CLG_BAD_FILE,
                         "%s: token \"%.40s\" (id %d) has U+%04X, outside GPT-2's byte "
                         "alphabet (or is empty)",
                         path, e->string, id, bad);
        } else {
            s = clg_tok_set(t, id, bytes, len);
        }
    }
    for (int id = 0; s == CLG_OK && id < t->vocab; id++)
        if (!t->tok[id])
            s = clg_fail(CLG_BAD_FILE, "%s: no token has id %d (of %d)", path, id,
                         t->vocab);
    cJSON_Delete(root);
    return s;
}

/* merges.txt: an optional "#version" line, then "A B" a line, by rank. */
static clg_status read_merges(clg_tokenizer *t, const char *dir,
                              const clg_tok_map *names)
{
    char path[4096], *text = NULL;
    size_t len = 0;
    clg_status s = file_in(dir, "merges.txt", path, sizeof path);
    if (s == CLG_OK)
        s = clg_read_file(path, (size_t)256 << 20, &text, &len);
    size_t bad = s == CLG_OK ? clg_utf8_invalid_at(text, len) : 0;
    if (s == CLG_OK && bad < len)
        s = clg_fail(CLG_BAD_FILE, "%s: byte %zu: not UTF-8", path, bad);
    int lines = 0;
    for (size_t i = 0; s == CLG_OK && i < len; i++)
        lines += text[i] == '\n';
    t->merges = malloc((size_t)(lines + 1) * sizeof *t->merges);
    if (s == CLG_OK && !t->merges)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    char *line = text, *next;
    for (int lineno = 1; s == CLG_OK && line < text + len; lineno++, line = next) {
        next = strchr(line, '\n');
        next = next ? next + 1 : text + len;
        size_t n = (size_t)(next - line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if ((lineno == 1 && !strncmp(line, "#version", 8)) || n == 0)
            continue;
        const char *space = memchr(line, ' ', n);
        const int *a =
            space ? clg_tok_map_find(names, line, (size_t)(space - line)) : NULL;
        const int *b =
            space ? clg_tok_map_find(names, space + 1, n - (size_t)(space + 1 - line))
                  : NULL;
        if (!a || !b)
            s = clg_fail(CLG_BAD_FILE,
                         "%s:%d: '%.*s' is not two tokens of vocab.json with a space "
                         "between",
                         path, lineno, (int)(n < 60 ? n : 60), line);
        else
            t->merges[t->nmerges][0] = *a, t->merges[t->nmerges++][1] = *b;
    }
    free(text);
    return s == CLG_OK ? clg_gpt2_tables(t, path) : s;
}

clg_status clg_tokenizer_load_gpt2(const char *dir, clg_tokenizer **out)
{
    if (!dir || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_tokenizer_load_gpt2: NULL argument");
    *out = NULL;
    clg_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
    t->type = CLG_TOKENIZER_GPT2;
    t->plain = true;
    clg_tok_map names = {0};
    cJSON *config = NULL;
    clg_status s = read_added_tokens(t, dir, &config);
    if (s == CLG_OK)
        s = read_vocab(t, dir, &names);
    if (s == CLG_OK)
        s = named_specials(t, config, &names);
    if (s == CLG_OK)
        s = read_merges(t, dir, &names);
    clg_tok_map_free(&names);
    cJSON_Delete(config);
    if (s != CLG_OK) {
        clg_tokenizer_free(t);
        return s;
    }
    *out = t;
    return CLG_OK;
}

/* DIR/NAME written whole from text. */
static clg_status write_in(const char *dir, const char *name, const char *text)
{
    char path[4096];
    clg_status s = file_in(dir, name, path, sizeof path);
    return s == CLG_OK
               ? clg_write_file_atomic(path, &(clg_file_part){text, strlen(text)}, 1)
               : s;
}

clg_status clg_tokenizer_save_gpt2(const clg_tokenizer *t, const char *dir)
{
    if (!t || !dir)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_tokenizer_save_gpt2: NULL argument");
    if (t->type != CLG_TOKENIZER_GPT2)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s: only a GPT-2 tokenizer is saved as vocab.json and "
                        "merges.txt (this one is %s)",
                        dir, clg_tokenizer_type_str(t->type));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return clg_fail(CLG_IO_ERROR, "%s: cannot make the directory: %s", dir,
                        strerror(errno));
    cJSON *vocab = cJSON_CreateObject(), *config = cJSON_CreateObject();
    cJSON *added = cJSON_AddObjectToObject(config, "added_tokens_decoder");
    char *name = malloc(3 * MAX_TOKEN_BYTES + 1), *merges = NULL;
    size_t merges_len = 0;
    FILE *f = open_memstream(&merges, &merges_len);
    bool ok = vocab && config && added && name && f;
    for (int id = 0; ok && id < t->vocab; id++) {
        if (is_special(t, id)) {
            char key[16];
            snprintf(key, sizeof key, "%d", id);
            cJSON *e = cJSON_AddObjectToObject(added, key);
            ok = e && cJSON_AddStringToObject(e, "content", t->tok[id]) &&
                 cJSON_AddBoolToObject(e, "special", true) &&
                 cJSON_AddNumberToObject(vocab, t->tok[id], id);
        } else {
            token_name(t->tok[id], t->toklen[id], name);
            ok = cJSON_AddNumberToObject(vocab, name, id) != NULL;
        }
    }
    if (ok)
        fputs("#version: 0.2\n", f);
    for (int r = 0; ok && r < t->nmerges; r++) {
        for (int k = 0; k < 2; k++) {
            int32_t id = t->merges[r][k];
            token_name(t->tok[id], t->toklen[id], name);
            fprintf(f, "%s%c", name, k ? '\n' : ' ');
        }
    }
    if (f)
        ok = fclose(f) == 0 && ok;
    if (ok && t->nspecial) { /* GPT-2's: the first special token is all three */
        const char *eot = t->tok[t->special[0]];
        ok = cJSON_AddStringToObject(config, "bos_token", eot) &&
             cJSON_AddStringToObject(config, "eos_token", eot) &&
             cJSON_AddStringToObject(config, "unk_token", eot);
    }
    ok = ok && cJSON_AddStringToObject(config, "tokenizer_class", "GPT2Tokenizer") &&
         cJSON_AddFalseToObject(config, "add_prefix_space");
    char *vocab_text = ok ? cJSON_PrintUnformatted(vocab) : NULL;
    char *config_text = ok ? cJSON_Print(config) : NULL;
    clg_status s =
        vocab_text && config_text
            ? CLG_OK
            : clg_fail(CLG_OUT_OF_HOST_MEMORY, "saving a tokenizer in %s", dir);
    if (s == CLG_OK)
        s = write_in(dir, "vocab.json", vocab_text);
    if (s == CLG_OK)
        s = write_in(dir, "merges.txt", merges);
    if (s == CLG_OK)
        s = write_in(dir, "tokenizer_config.json", config_text);
    free(vocab_text), free(config_text), free(name), free(merges);
    cJSON_Delete(vocab), cJSON_Delete(config);
    return s;
}
