/*
 * GPT-2's tokenizer files as Hugging Face writes them (gpt2.c has the
 * tokenizer): vocab.json and merges.txt, GPT2TokenizerFast's two files, or
 * tokenizer.json, which transformers 5 writes alone; the special tokens of
 * tokenizer_config.json. Tokens are named by characters of GPT-2's byte
 * alphabet (clg_gpt2_name_bytes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/file.h"
#include "base/text.h"
#include "data/tokenizer_internal.h"

#define MAX_TOKEN_BYTES CLG_GPT2_MAX_TOKEN_BYTES

/* ---- Hugging Face's files --------------------------------------------------- */

/* DIR/NAME in path. */
static clg_status file_in(const char *dir, const char *name, char *path, size_t size)
{
    int n = snprintf(path, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size
               ? CLG_OK
               : clg_fail(CLG_INVALID_ARGUMENT, "%s: path too long", dir);
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
    s = clg_read_json(path, (size_t)256 << 20, &root);
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
    if (!id || clg_gpt2_is_special(t, *id))
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
static clg_status vocab_from(clg_tokenizer *t, const cJSON *root, const char *path,
                             clg_tok_map *names);

static clg_status read_vocab(clg_tokenizer *t, const char *dir, clg_tok_map *names)
{
    char path[4096];
    clg_status s = file_in(dir, "vocab.json", path, sizeof path);
    cJSON *root = NULL;
    if (s == CLG_OK)
        s = clg_read_json(path, (size_t)256 << 20, &root);
    if (s == CLG_OK)
        s = vocab_from(t, root, path, names);
    cJSON_Delete(root);
    return s;
}

/* {"token": id, ...}: vocab.json, or tokenizer.json's model.vocab. */
static clg_status vocab_from(clg_tokenizer *t, const cJSON *root, const char *path,
                             clg_tok_map *names)
{
    clg_status s = CLG_OK;
    if (!cJSON_IsObject(root))
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
            (t->tok[id] && !clg_gpt2_is_special(t, id)) ||
            clg_tok_map_find(names, e->string, name_len)) {
            s = clg_fail(CLG_BAD_FILE,
                         "%s: \"%.40s\": %.0f: ids must be whole numbers 0 .. %d, each "
                         "once, and tokens each once",
                         path, e->string, v, t->vocab - 1);
        } else if (clg_utf8_invalid_at(e->string, name_len) < name_len) {
            s = clg_fail(CLG_BAD_FILE, "%s: token %d's name is not UTF-8", path, id);
        } else if (!clg_tok_map_add(names, e->string, name_len, id)) {
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
        } else if (clg_gpt2_is_special(t, id)) {
            continue; /* its content is its text, as added tokens are written */
        } else if (!clg_gpt2_name_bytes(e->string, bytes, &len, &bad) || !len) {
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

/* tokenizer.json, as transformers 5 saves a GPT-2 tokenizer alone: a BPE
 * model over GPT-2's byte-level pre-tokenizer (without a prefix space), its
 * vocabulary, its merges ("A B" or ["A", "B"]) and its added tokens. */
static clg_status read_tokenizer_json(clg_tokenizer *t, const char *dir,
                                      clg_tok_map *names)
{
    char path[4096];
    clg_status s = file_in(dir, "tokenizer.json", path, sizeof path);
    cJSON *root = NULL;
    if (s == CLG_OK)
        s = clg_read_json(path, (size_t)256 << 20, &root);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *pre_type = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (s == CLG_OK && !(cJSON_IsString(type) && !strcmp(type->valuestring, "BPE")))
        s = clg_fail(CLG_BAD_FILE, "%s: model.type is not \"BPE\"", path);
    if (s == CLG_OK &&
        !(cJSON_IsString(pre_type) && !strcmp(pre_type->valuestring, "ByteLevel") &&
          !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space"))))
        s = clg_fail(CLG_BAD_FILE,
                     "%s: pre_tokenizer is not GPT-2's (ByteLevel without a prefix "
                     "space)",
                     path);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), *e;
    int most = 0, k = 0;
    cJSON_ArrayForEach(e, added)
    { /* the vocabulary covers the added tokens' ids */
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (s == CLG_OK &&
            (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= 1 << 24 ||
             !cJSON_IsString(content) || !*content->valuestring ||
             strlen(content->valuestring) > MAX_TOKEN_BYTES))
            s = clg_fail(CLG_BAD_FILE,
                         "%s: added_tokens[%d] is not an id below 2^24 with a token of "
                         "1 to %d bytes as its content",
                         path, k, MAX_TOKEN_BYTES);
        else if (s == CLG_OK && id->valueint + 1 > most)
            most = id->valueint + 1;
        k++;
    }
    int32_t *special =
        realloc(t->special, (size_t)(t->nspecial + k + 1) * sizeof *special);
    if (s == CLG_OK && !special)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    if (special)
        t->special = special;
    if (s == CLG_OK)
        s = grow(t, most, path);
    cJSON_ArrayForEach(e, added)
    {
        int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        const char *c = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        if (s == CLG_OK && !clg_gpt2_is_special(t, id)) {
            t->special[t->nspecial++] = id;
            s = t->tok[id] ? CLG_OK : clg_tok_set(t, id, c, strlen(c));
        }
    }
    if (s == CLG_OK)
        s = vocab_from(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"), path,
                       names);
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    int n = cJSON_GetArraySize(merges);
    t->merges = s == CLG_OK ? malloc((size_t)(n ? n : 1) * sizeof *t->merges) : NULL;
    if (s == CLG_OK && !t->merges)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    k = 0;
    cJSON_ArrayForEach(e, merges)
    {
        const char *a = NULL, *b = NULL, *space = NULL;
        size_t la = 0, lb = 0;
        if (cJSON_IsString(e) && (space = strchr(e->valuestring, ' ')) != NULL) {
            a = e->valuestring, la = (size_t)(space - a), b = space + 1, lb = strlen(b);
        } else if (cJSON_GetArraySize(e) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring, la = strlen(a);
            b = cJSON_GetArrayItem(e, 1)->valuestring, lb = strlen(b);
        }
        const int *ia = a ? clg_tok_map_find(names, a, la) : NULL;
        const int *ib = b ? clg_tok_map_find(names, b, lb) : NULL;
        if (s == CLG_OK && (!ia || !ib))
            s = clg_fail(CLG_BAD_FILE,
                         "%s: model.merges[%d] is not two tokens of its vocab", path,
                         k);
        else if (s == CLG_OK)
            t->merges[t->nmerges][0] = *ia, t->merges[t->nmerges++][1] = *ib;
        k++;
    }
    cJSON_Delete(root);
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
    char vocab[4096];
    struct stat st;
    /* vocab.json and merges.txt, or tokenizer.json alone (transformers 5) */
    bool json = file_in(dir, "vocab.json", vocab, sizeof vocab) == CLG_OK &&
                stat(vocab, &st) != 0 &&
                file_in(dir, "tokenizer.json", vocab, sizeof vocab) == CLG_OK &&
                stat(vocab, &st) == 0;
    clg_status s = read_added_tokens(t, dir, &config);
    if (s == CLG_OK && json) {
        s = read_tokenizer_json(t, dir, &names);
    } else {
        if (s == CLG_OK)
            s = read_vocab(t, dir, &names);
        if (s == CLG_OK)
            s = named_specials(t, config, &names);
        if (s == CLG_OK)
            s = read_merges(t, dir, &names);
    }
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
        if (clg_gpt2_is_special(t, id)) {
            char key[16];
            snprintf(key, sizeof key, "%d", id);
            cJSON *e = cJSON_AddObjectToObject(added, key);
            ok = e && cJSON_AddStringToObject(e, "content", t->tok[id]) &&
                 cJSON_AddBoolToObject(e, "special", true) &&
                 cJSON_AddNumberToObject(vocab, t->tok[id], id);
        } else {
            clg_gpt2_token_name(t->tok[id], t->toklen[id], name);
            ok = cJSON_AddNumberToObject(vocab, name, id) != NULL;
        }
    }
    if (ok)
        fputs("#version: 0.2\n", f);
    for (int r = 0; ok && r < t->nmerges; r++) {
        for (int k = 0; k < 2; k++) {
            int32_t id = t->merges[r][k];
            clg_gpt2_token_name(t->tok[id], t->toklen[id], name);
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
