/* CSV, text, tokenisers, sequences, and a character-level model that learns. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "fixture.h"
#include "test_util.h"

static clg_status csv(const char *text, const clg_csv_opts *o, clg_dataset **d)
{
    return clg_dataset_from_csv_text(text, strlen(text), "t.csv", o, d);
}

static void test_csv_with_header_and_string_labels(void **state)
{
    (void)state;
    clg_dataset *d;
    clg_csv_opts o = CLG_CSV_DEFAULTS;
    o.label_name = "species";
    assert_ok(csv("a,species,b\n1.5,cat,2\n\"3\",dog,-4e1\r\n\n5,cat,6\n", &o, &d));
    assert_int_equal(d->count, 3);
    assert_int_equal(d->sample, 2);
    assert_true(d->x[0] == 1.5f && d->x[1] == 2.0f && d->x[3] == -40.0f);
    assert_int_equal(d->classes, 2);
    assert_string_equal(d->class_names[0], "cat");
    assert_string_equal(d->class_names[1], "dog");
    assert_int_equal(d->labels[1], 1);
    assert_int_equal(d->labels[2], 0);
    clg_dataset_free(d);
}

static void test_csv_without_header_integer_labels_by_index(void **state)
{
    (void)state;
    clg_dataset *d;
    clg_csv_opts o = CLG_CSV_DEFAULTS;
    o.label_index = 0;
    assert_ok(csv("2,0.5,0.25\n0,1,1\n", &o, &d));
    assert_int_equal(d->count, 2);
    assert_int_equal(d->labels[0], 2);
    assert_int_equal(d->classes, 3);
    assert_null(d->class_names);
    clg_dataset_free(d);
    /* "1,2,cat" is data, not a header: only the label column is text. */
    assert_ok(csv("1,2,cat\n3,4,dog\n", NULL, &d));
    assert_int_equal(d->count, 2);
    clg_dataset_free(d);
}

static void test_csv_rejects_bad_rows_naming_the_line(void **state)
{
    (void)state;
    clg_dataset *d = (clg_dataset *)1;
    assert_int_equal(csv("x,y,label\n1,2,0\n3,4\n", NULL, &d), CLG_BAD_FILE);
    assert_null(d);
    assert_contains(clg_last_error(), "t.csv:3: 2 fields, expected 3");
    assert_int_equal(csv("x,y,label\n1,2,0\n3,abc,1\n", NULL, &d), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "t.csv:3: column 'y': 'abc' is not a number");
    assert_int_equal(csv("1,2,0\n1,\"2,0\n", NULL, &d), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "never closed");
    clg_csv_opts o = CLG_CSV_DEFAULTS;
    o.label_name = "kind";
    assert_int_equal(csv("x,y\n1,2\n", &o, &d), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "no column named 'kind'");
    assert_int_equal(csv("x,y,label\n", NULL, &d), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "no data rows");
    assert_int_equal(csv("", NULL, &d), CLG_BAD_FILE);
    assert_int_equal(clg_dataset_from_csv("/nonexistent.csv", NULL, &d), CLG_IO_ERROR);
}

/* Numbers that are not class numbers, or a column mixing numbers and
 * names, are refused at the first odd row instead of turning every label
 * into a name and renumbering the classes. */
static void test_csv_labels_are_class_numbers_or_names_not_both(void **state)
{
    (void)state;
    clg_dataset *d = NULL;
    const struct {
        const char *text, *message;
    } bad[] = {
        {"x,label\n1,0\n2,1\n3,-1\n", "t.csv:4: label '-1' is not a class number"},
        {"x,label\n1,0\n2,2.0\n3,1\n", "t.csv:3: label '2.0' is not a class number"},
        {"x,label\n1,1e2\n2,0\n", "t.csv:2: label '1e2' is not a class number"},
        {"x,label\n1,0\n2,1\n3,cat\n4,2\n",
         "t.csv:4: label 'cat' is a name, the other labels of the column are mostly "
         "numbers"},
        {"x,label\n1,cat\n2,dog\n3,7\n", "t.csv:4: label '7' is a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(csv(bad[i].text, NULL, &d), CLG_BAD_FILE);
        assert_null(d);
        assert_contains(clg_last_error(), bad[i].message);
    }
    /* Spaces around a class number are fine. */
    assert_ok(csv("x,label\n1, 0\n2,2 \n", NULL, &d));
    assert_int_equal(d->labels[1], 2);
    assert_null(d->class_names);
    clg_dataset_free(d);
}

static void test_text_reading_checks_utf8(void **state)
{
    (void)state;
    char dir[] = "/tmp/clgrad-text-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("first line\nsecond, é\n\nthird\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/b.txt", dir);
    f = fopen(path, "w");
    fputs("another", f);
    fclose(f);
    clg_text *t;
    assert_ok(clg_text_read(dir, true, &t));
    assert_int_equal(t->count, 4);
    assert_string_equal(t->docs[1], "second, é");
    assert_string_equal(t->docs[3], "another");
    clg_text_free(t);
    assert_ok(clg_text_read(dir, false, &t));
    assert_int_equal(t->count, 2);
    clg_text_free(t);
    f = fopen(path, "w");
    fputs("ok \xc3\x28 bad", f);
    fclose(f);
    assert_int_equal(clg_text_read(path, false, &t), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "byte 3: not UTF-8");
    unlink(path);
    snprintf(path, sizeof path, "%s/a.txt", dir);
    unlink(path);
    rmdir(dir);
}

static const char *corpus_text =
    "the cat sat on the mat. the cat ate the rat. a rat sat on a hat. "
    "the hat sat on the cat. that cat, the rat and the hat sat there. "
    "café au lait, naïve résumé — 日本語 text.";

static void round_trip(const clg_tokenizer *t, const char *text)
{
    int32_t *ids;
    size_t n, len;
    char *back;
    assert_ok(clg_tokenizer_encode(t, text, strlen(text), &ids, &n));
    for (size_t i = 0; i < n; i++)
        assert_in_range(ids[i], 0, clg_tokenizer_vocab_size(t) - 1);
    assert_ok(clg_tokenizer_decode(t, ids, n, &back, &len));
    assert_int_equal(len, strlen(text));
    assert_string_equal(back, text);
    free(ids);
    free(back);
}

static void test_byte_and_bpe_round_trip(void **state)
{
    (void)state;
    clg_text *corpus;
    assert_ok(clg_text_from_string(corpus_text, strlen(corpus_text), false, &corpus));
    clg_tokenizer_opts o = CLG_TOKENIZER_DEFAULTS;
    o.type = CLG_TOKENIZER_BYTE;
    clg_tokenizer *byte, *bpe, *loaded;
    assert_ok(clg_tokenizer_train(&o, NULL, &byte));
    assert_int_equal(clg_tokenizer_vocab_size(byte), 257);
    round_trip(byte, corpus_text);
    o.type = CLG_TOKENIZER_BPE, o.merges = 40;
    assert_ok(clg_tokenizer_train(&o, corpus, &bpe));
    assert_true(clg_tokenizer_vocab_size(bpe) > 256 + 10);
    round_trip(bpe, corpus_text);
    round_trip(bpe, "unseen words: zebra, 0xff, ümlaut, and the cat again  \n\t end");
    /* Merges make common text shorter than its bytes. */
    int32_t *ids;
    size_t n;
    assert_ok(clg_tokenizer_encode(bpe, "the cat sat on the mat", 22, &ids, &n));
    assert_true(n < 12);
    free(ids);
    char path[] = "/tmp/clgrad-bpe-XXXXXX";
    close(mkstemp(path));
    assert_ok(clg_tokenizer_save(bpe, path));
    assert_ok(clg_tokenizer_load(path, &loaded));
    int32_t *a, *b;
    size_t na, nb;
    assert_ok(clg_tokenizer_encode(bpe, corpus_text, strlen(corpus_text), &a, &na));
    assert_ok(clg_tokenizer_encode(loaded, corpus_text, strlen(corpus_text), &b, &nb));
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    free(a), free(b);
    FILE *f = fopen(path, "w");
    fputs("clgrad-tokenizer 1\ntype bpe\nmerges 2\n1 2\n999 3\n", f);
    fclose(f);
    clg_tokenizer *bad;
    assert_int_equal(clg_tokenizer_load(path, &bad), CLG_BAD_FILE);
    assert_contains(clg_last_error(), ":5: expected two earlier token ids");
    /* A pair merged twice would give it a rank past the merge table (found
     * by fuzz/fuzz_tokenizer.c). */
    f = fopen(path, "w");
    fputs("clgrad-tokenizer 1\ntype bpe\nmerges 3\n97 116\n104 101\n97 116\n", f);
    fclose(f);
    assert_int_equal(clg_tokenizer_load(path, &bad), CLG_BAD_FILE);
    assert_contains(clg_last_error(), path);
    assert_contains(clg_last_error(), "merge 3 (97 116) repeats merge 1");
    unlink(path);
    clg_tokenizer_free(byte), clg_tokenizer_free(bpe), clg_tokenizer_free(loaded);
    clg_text_free(corpus);
}

/* The ids of `text` under a BPE merge table given as text. */
static void assert_bpe_ids(const char *table, const char *text, const int32_t *want,
                           size_t count)
{
    clg_tokenizer *t;
    assert_ok(clg_tokenizer_from_string(table, "merge table", &t));
    int32_t *ids;
    size_t n;
    assert_ok(clg_tokenizer_encode(t, text, strlen(text), &ids, &n));
    if (n != count || memcmp(ids, want, count * sizeof *ids) != 0) {
        char got[256] = "";
        for (size_t i = 0; i < n && strlen(got) < 200; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids[i]);
        fail_msg("'%s' encodes to [%s ], want %zu ids starting %d", text, got, count,
                 want[0]);
    }
    round_trip(t, text);
    free(ids);
    clg_tokenizer_free(t);
}

/* Merges apply by rank, the lowest first, over the whole chunk, as GPT-2's
 * BPE does: where the order matters the ids tell. */
static void test_bpe_merges_by_lowest_rank(void **state)
{
    (void)state;
    /* (a b) -> 256, then (b c) -> 257 */
    const char *two = "clgrad-tokenizer 1\ntype bpe\nmerges 2\n97 98\n98 99\n";
    assert_bpe_ids(two, "abc", (int32_t[]){256, 99}, 2);
    assert_bpe_ids(two, "bca", (int32_t[]){257, 97}, 2);
    /* ... and (256 c) -> 258, (a 257) -> 259: "abc" is 258 by rank order,
     * 259 if (b c) went first */
    const char *four =
        "clgrad-tokenizer 1\ntype bpe\nmerges 4\n97 98\n98 99\n256 99\n97 257\n";
    assert_bpe_ids(four, "abc", (int32_t[]){258}, 1);
    assert_bpe_ids(four, "abcbc", (int32_t[]){258, 257}, 2);
    assert_bpe_ids(four, "abbc", (int32_t[]){256, 257}, 2);
    assert_bpe_ids(four, "cabc", (int32_t[]){99, 258}, 2);
}

/* ---- GPT-2's tokenizer against Hugging Face's ------------------------------ */

static const char *fixture_path(const char *name)
{
    static char path[1024];
    const char *dir = getenv("CLGRAD_FIXTURES");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    return path;
}

static clg_tokenizer *gpt2_fixture(void)
{
    clg_tokenizer *t;
    assert_ok(clg_tokenizer_load_gpt2(fixture_path("gpt2_tokenizer"), &t));
    assert_int_equal(clg_tokenizer_vocab_size(t), 2000);
    assert_int_equal(clg_tokenizer_type_of(t), CLG_TOKENIZER_GPT2);
    assert_int_equal(clg_tokenizer_pad(t), -1);
    return t;
}

/* ids of text under t equal the JSON array want, and decode gives text */
static void assert_gpt2_ids(const clg_tokenizer *t, const char *label, const char *text,
                            size_t len, const cJSON *want)
{
    int32_t *ids;
    size_t n;
    assert_ok(clg_tokenizer_encode(t, text, len, &ids, &n));
    size_t expected = (size_t)cJSON_GetArraySize(want);
    for (size_t i = 0; i < n && i < expected; i++) {
        int w = cJSON_GetArrayItem(want, (int)i)->valueint;
        if (ids[i] != w)
            fail_msg("%s: id %zu is %d, GPT2TokenizerFast's %d", label, i, ids[i], w);
    }
    if (n != expected)
        fail_msg("%s: %zu ids, GPT2TokenizerFast's %zu", label, n, expected);
    char *back;
    size_t back_len;
    assert_ok(clg_tokenizer_decode(t, ids, n, &back, &back_len));
    assert_int_equal(back_len, len);
    assert_memory_equal(back, text, len);
    free(back), free(ids);
}

/* Removes a directory of GPT-2 tokenizer files. */
static void gpt2_cleanup(const char *dir)
{
    const char *names[] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The Unicode stress text of tests/hf_gpt2_tokenizer.py: contractions,
 * whitespace runs and kinds, CRLF, accents and marks, CJK, right-to-left
 * scripts, emoji sequences, digits of many scripts, the special token
 * inside words. */
static void test_gpt2_tokenizer_gives_hugging_faces_ids(void **state)
{
    (void)state;
    cJSON *ref = test_fixture_json("gpt2_tokenizer_ids.json");
    assert_non_null(ref);
    clg_tokenizer *t = gpt2_fixture();
    const cJSON *e;
    int cases = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "stress"))
    {
        const char *text = cJSON_GetObjectItem(e, "text")->valuestring;
        char label[64];
        snprintf(label, sizeof label, "stress text %d", cases++);
        assert_gpt2_ids(t, label, text, strlen(text), cJSON_GetObjectItem(e, "ids"));
    }
    assert_true(cases >= 15);
    /* tokenizer.json alone, as transformers 5 saves it (merges as pairs), and
     * as tokenizers 0.19 wrote it (merges as "A B"): the same ids */
    const char *json_dirs[] = {"gpt2_tokenizer", "hf_gpt2"};
    for (int j = 0; j < 2; j++) {
        char from[1100], only[] = "/tmp/clgrad-tokjson-XXXXXX", cmd[2400];
        snprintf(from, sizeof from, "%s", fixture_path(json_dirs[j]));
        assert_non_null(mkdtemp(only));
        snprintf(cmd, sizeof cmd, "cp '%s/tokenizer.json' '%s/'", from, only);
        assert_int_equal(system(cmd), 0);
        clg_tokenizer *from_json;
        assert_ok(clg_tokenizer_load_gpt2(only, &from_json));
        assert_int_equal(clg_tokenizer_vocab_size(from_json), 2000);
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "stress"))
        {
            const char *s = cJSON_GetObjectItem(e, "text")->valuestring;
            assert_gpt2_ids(from_json, json_dirs[j], s, strlen(s),
                            cJSON_GetObjectItem(e, "ids"));
        }
        clg_tokenizer_free(from_json);
        snprintf(cmd, sizeof cmd, "rm -r '%s'", only);
        assert_int_equal(system(cmd), 0);
    }
    /* saved and loaded again, as files and as a checkpoint's text */
    char dir[] = "/tmp/clgrad-gpt2-XXXXXX", *saved;
    assert_non_null(mkdtemp(dir));
    assert_ok(clg_tokenizer_save_gpt2(t, dir));
    clg_tokenizer *files, *text;
    assert_ok(clg_tokenizer_load_gpt2(dir, &files));
    assert_ok(clg_tokenizer_to_string(t, &saved));
    assert_ok(clg_tokenizer_from_string(saved, "metadata", &text));
    free(saved);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "stress"))
    {
        const char *s = cJSON_GetObjectItem(e, "text")->valuestring;
        assert_gpt2_ids(files, "saved", s, strlen(s), cJSON_GetObjectItem(e, "ids"));
        assert_gpt2_ids(text, "as text", s, strlen(s), cJSON_GetObjectItem(e, "ids"));
    }
    gpt2_cleanup(dir);
    clg_tokenizer_free(files), clg_tokenizer_free(text), clg_tokenizer_free(t);
    cJSON_Delete(ref);
}

static uint64_t ids_fnv1a(const int32_t *ids, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            h = (h ^ (((uint32_t)ids[i] >> (8 * k)) & 0xff)) * 0x100000001B3ull;
    return h;
}

/* Every file of Debian's fortunes: the ids' count, the first 64 and the
 * hash of all as GPT2TokenizerFast's, and the text back from them. */
static void test_gpt2_tokenizer_on_all_the_fortunes(void **state)
{
    (void)state;
    cJSON *ref = test_fixture_json("gpt2_tokenizer_ids.json");
    assert_non_null(ref);
    clg_tokenizer *t = gpt2_fixture();
    const cJSON *e;
    size_t total = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "fortunes"))
    {
        char path[512];
        snprintf(path, sizeof path, "/usr/share/games/fortunes/%s",
                 cJSON_GetObjectItem(e, "file")->valuestring);
        FILE *f = fopen(path, "rb");
        if (!f)
            fail_msg("%s: missing (apt-get install fortunes)", path);
        static char text[1 << 20];
        size_t len = fread(text, 1, sizeof text, f);
        fclose(f);
        int32_t *ids;
        size_t n;
        assert_ok(clg_tokenizer_encode(t, text, len, &ids, &n));
        const cJSON *first = cJSON_GetObjectItem(e, "first");
        for (int i = 0; i < cJSON_GetArraySize(first) && (size_t)i < n; i++)
            if (ids[i] != cJSON_GetArrayItem(first, i)->valueint)
                fail_msg("%s: id %d is %d, GPT2TokenizerFast's %d", path, i, ids[i],
                         cJSON_GetArrayItem(first, i)->valueint);
        char hash[24];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)ids_fnv1a(ids, n));
        if (n != (size_t)cJSON_GetObjectItem(e, "count")->valueint ||
            strcmp(hash, cJSON_GetObjectItem(e, "fnv1a")->valuestring) != 0)
            fail_msg("%s: %zu ids hashing to %s, GPT2TokenizerFast's %d to %s", path, n,
                     hash, cJSON_GetObjectItem(e, "count")->valueint,
                     cJSON_GetObjectItem(e, "fnv1a")->valuestring);
        char *back;
        size_t back_len;
        assert_ok(clg_tokenizer_decode(t, ids, n, &back, &back_len));
        assert_int_equal(back_len, len);
        assert_memory_equal(back, text, len);
        free(back), free(ids);
        total += n;
    }
    assert_true(total > 900000);
    clg_tokenizer_free(t);
    cJSON_Delete(ref);
}

/* A copy of the fixture in a new directory, `name` replaced by `text`
 * (NULL: removed), and `name2` by `text2` where given. */
static char *gpt2_copy_with(const char *name, const char *text, const char *name2,
                            const char *text2)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/clgrad-gpt2-bad-XXXXXX");
    assert_non_null(mkdtemp(dir));
    const char *names[] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        char from[1100], to[256];
        snprintf(from, sizeof from, "%s/%s", fixture_path("gpt2_tokenizer"), names[i]);
        snprintf(to, sizeof to, "%s/%s", dir, names[i]);
        if (!strcmp(names[i], name) || (name2 && !strcmp(names[i], name2))) {
            const char *content = !strcmp(names[i], name) ? text : text2;
            if (content)
                test_write_file(to, content);
            continue;
        }
        FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
        assert_non_null(in);
        assert_non_null(out);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, n, out);
        fclose(in), fclose(out);
    }
    return dir;
}

static void test_gpt2_tokenizer_refuses_bad_files_and_text(void **state)
{
    (void)state;
    struct {
        const char *file, *text;
        clg_status status;
        const char *message;
    } cases[] = {
        {"merges.txt", NULL, CLG_IO_ERROR, "merges.txt"},
        {"vocab.json", NULL, CLG_IO_ERROR, "vocab.json"},
        {"merges.txt", "#version: 0.2\nt h\nĠ zebra\n", CLG_BAD_FILE,
         "merges.txt:3: 'Ġ zebra' is not two tokens of vocab.json"},
        {"merges.txt", "#version: 0.2\nth\n", CLG_BAD_FILE, "merges.txt:2: 'th'"},
        {"merges.txt", "#version: 0.2\nt h\nt h\n", CLG_BAD_FILE, "repeats merge 1"},
        {"merges.txt", "#version: 0.2\n\xed\xa0\x80 h\n", CLG_BAD_FILE,
         "merges.txt: byte 14: not UTF-8"},
        {"vocab.json", "{\"a\": 0, \"b\": ", CLG_BAD_FILE, "vocab.json: byte"},
        {"vocab.json", "[1, 2]", CLG_BAD_FILE, "not a JSON object"},
        {"vocab.json", "{\"a\": 0, \"b\": 0}", CLG_BAD_FILE, "each once"},
        {"vocab.json", "{\"a\": 0, \"b\": 2}", CLG_BAD_FILE, "\"b\": 2"},
        {"vocab.json", "{\"a\": 0, \"a b\": 1}", CLG_BAD_FILE,
         "\"a b\" (id 1) has U+0020, outside GPT-2's byte alphabet"},
        {"tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {}}}",
         CLG_BAD_FILE, "added_tokens_decoder: 'x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *dir = gpt2_copy_with(cases[i].file, cases[i].text, NULL, NULL);
        clg_tokenizer *t = (clg_tokenizer *)dir;
        clg_status s = clg_tokenizer_load_gpt2(dir, &t);
        if (s != cases[i].status)
            fail_msg("case %zu: %s, not %s: %s", i, clg_status_str(s),
                     clg_status_str(cases[i].status), clg_last_error());
        assert_null(t);
        assert_contains(clg_last_error(), dir);
        assert_contains(clg_last_error(), cases[i].message);
        gpt2_cleanup(dir);
    }
    /* every byte must be a token alone, and a merge must make a token */
    char *dir = gpt2_copy_with("vocab.json", "{\"a\": 0}", "merges.txt", "");
    clg_tokenizer *t = NULL;
    assert_int_equal(clg_tokenizer_load_gpt2(dir, &t), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "no token is the byte 0x00 alone");
    gpt2_cleanup(dir);
    dir = gpt2_copy_with("merges.txt", "#version: 0.2\nĠ t\nĠt Ġt\n", NULL, NULL);
    assert_int_equal(clg_tokenizer_load_gpt2(dir, &t), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "merges.txt: merge 2 (ids");
    assert_contains(clg_last_error(), "makes a token the vocabulary lacks");
    gpt2_cleanup(dir);
    /* a char or word tokenizer's tokens (a checkpoint's metadata) are text */
    const char *surrogate =
        "clgrad-tokenizer 1\ntype char plain\ntokens 2\n61\neda080\n";
    clg_tokenizer *none = NULL;
    assert_int_equal(clg_tokenizer_from_string(surrogate, "metadata", &none),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(),
                    "metadata:5: the token is not UTF-8 at its byte 0");
    assert_null(none);
    /* text that is not UTF-8: a surrogate, past U+10FFFF, overlong, cut */
    t = gpt2_fixture();
    const char *bad[] = {"ok \xed\xa0\x80", "ok \xf4\x90\x80\x80", "ok \xc0\xaf",
                         "ok \xe2\x82"};
    for (int i = 0; i < 4; i++) {
        int32_t *ids = NULL;
        size_t n;
        assert_int_equal(clg_tokenizer_encode(t, bad[i], strlen(bad[i]), &ids, &n),
                         CLG_INVALID_ARGUMENT);
        assert_contains(clg_last_error(), "not UTF-8 at byte 3");
        assert_null(ids);
    }
    clg_tokenizer_free(t);
}

/* A GPT-2 BPE learned on a text: bytes, the merges, <|endoftext|> last;
 * lossless, shorter than bytes, saved as Hugging Face's files and loaded
 * back to the same ids. */
static void test_gpt2_bpe_learns_saves_and_loads(void **state)
{
    (void)state;
    clg_text *corpus;
    assert_ok(clg_text_from_string(corpus_text, strlen(corpus_text), false, &corpus));
    clg_tokenizer_opts o = CLG_TOKENIZER_DEFAULTS;
    o.type = CLG_TOKENIZER_GPT2, o.merges = 60;
    clg_tokenizer *t, *back;
    assert_ok(clg_tokenizer_train(&o, corpus, &t));
    int V = clg_tokenizer_vocab_size(t);
    if (!(V > 256 + 10 && V <= 256 + 60 + 1))
        fail_msg("%d ids", V);
    assert_int_equal(clg_tokenizer_type_of(t), CLG_TOKENIZER_GPT2);
    round_trip(t, corpus_text);
    round_trip(t,
               "unseen: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac  \r\n\t the cat's 12345");
    const char *text = "the cat sat<|endoftext|>on the mat";
    int32_t *ids, *again;
    size_t n, n2;
    assert_ok(clg_tokenizer_encode(t, text, strlen(text), &ids, &n));
    assert_true(n < strlen(text) / 2);
    bool eot = false;
    for (size_t i = 0; i < n; i++)
        eot |= ids[i] == V - 1;
    assert_true(eot);
    char dir[] = "/tmp/clgrad-gpt2bpe-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_ok(clg_tokenizer_save_gpt2(t, dir));
    assert_ok(clg_tokenizer_load_gpt2(dir, &back));
    assert_int_equal(clg_tokenizer_vocab_size(back), V);
    assert_ok(clg_tokenizer_encode(back, text, strlen(text), &again, &n2));
    assert_int_equal(n2, n);
    assert_memory_equal(again, ids, n * sizeof *ids);
    free(ids), free(again);
    gpt2_cleanup(dir);
    /* a corpus that is not UTF-8 is refused naming the byte */
    clg_text bad = {1, (char *[]){"ok \xed\xa0\x80"}, (size_t[]){6}};
    clg_tokenizer *none = NULL;
    assert_int_equal(clg_tokenizer_train(&o, &bad, &none), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "not UTF-8 at byte 3");
    assert_null(none);
    clg_tokenizer_free(t), clg_tokenizer_free(back);
    clg_text_free(corpus);
}

static void test_char_and_word_vocabularies(void **state)
{
    (void)state;
    clg_text *corpus;
    assert_ok(clg_text_from_string(corpus_text, strlen(corpus_text), true, &corpus));
    clg_tokenizer_opts o = CLG_TOKENIZER_DEFAULTS;
    o.type = CLG_TOKENIZER_CHAR;
    clg_tokenizer *ch, *word;
    assert_ok(clg_tokenizer_train(&o, corpus, &ch));
    round_trip(ch, "the cat é 日本"); /* every character was seen */
    int32_t *ids;
    size_t n;
    assert_ok(clg_tokenizer_encode(ch, "Q", 1, &ids, &n));
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1); /* <unk> */
    free(ids);
    o.type = CLG_TOKENIZER_WORD, o.min_count = 2, o.max_vocab = 8;
    assert_ok(clg_tokenizer_train(&o, corpus, &word));
    assert_int_equal(clg_tokenizer_vocab_size(word), 8);
    assert_ok(clg_tokenizer_encode(word, "the cat zebra.", 14, &ids, &n));
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 2); /* "the": the most frequent word */
    assert_int_equal(ids[2], 1); /* zebra: unknown */
    char *text;
    assert_ok(clg_tokenizer_decode(word, ids, n, &text, NULL));
    assert_string_equal(text, "the cat <unk> .");
    free(text), free(ids);
    clg_tokenizer_free(ch), clg_tokenizer_free(word);
    clg_text_free(corpus);
}

/* A language model's tokenizers: no <pad> or <unk>; char ids in code-point
 * order, byte ids the byte values; the tokenizer survives a round trip
 * through text (a checkpoint's metadata). */
static void test_plain_tokenizers_for_language_models(void **state)
{
    (void)state;
    const char *text = "baé\nab";
    clg_text *corpus;
    assert_ok(clg_text_from_string(text, strlen(text), false, &corpus));
    clg_tokenizer_opts o = CLG_TOKENIZER_DEFAULTS;
    o.type = CLG_TOKENIZER_CHAR, o.plain = true;
    clg_tokenizer *ch, *back, *bytes;
    assert_ok(clg_tokenizer_train(&o, corpus, &ch));
    assert_int_equal(clg_tokenizer_vocab_size(ch), 4); /* \n a b é */
    assert_int_equal(clg_tokenizer_pad(ch), -1);
    int32_t *ids;
    size_t n;
    assert_ok(clg_tokenizer_encode(ch, text, strlen(text), &ids, &n));
    int32_t want[6] = {2, 1, 3, 0, 1, 2};
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    assert_int_equal(clg_tokenizer_encode(ch, "abc", 3, &ids, &n),
                     CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "the character 'c' at byte 2 is not in");
    char *saved;
    assert_ok(clg_tokenizer_to_string(ch, &saved));
    assert_ok(clg_tokenizer_from_string(saved, "metadata", &back));
    round_trip(back, text);
    assert_int_equal(clg_tokenizer_vocab_size(back), 4);
    clg_tokenizer_free(back);
    free(saved);
    assert_int_equal(clg_tokenizer_from_string("clgrad-tokenizer 1\ntype char odd\n",
                                               "metadata", &back),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(), "metadata:2: expected 'type NAME'");
    o.type = CLG_TOKENIZER_BYTE;
    assert_ok(clg_tokenizer_train(&o, NULL, &bytes));
    assert_int_equal(clg_tokenizer_vocab_size(bytes), 256);
    assert_ok(clg_tokenizer_encode(bytes, "é", strlen("é"), &ids, &n));
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 0xc3);
    free(ids);
    clg_tokenizer_free(ch), clg_tokenizer_free(bytes);
    clg_text_free(corpus);
}

/* Window k: ids[kT .. kT+T-1] and the T ids after each; the tail dropped. */
static void test_windows_hold_next_token_targets(void **state)
{
    (void)state;
    int32_t ids[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    clg_dataset *d;
    assert_ok(clg_dataset_windows(ids, 10, 4, 10, &d));
    assert_int_equal(d->count, 2); /* (10 - 1) / 4 */
    assert_int_equal(clg_dataset_label_len(d), 4);
    float x1[4] = {4, 5, 6, 7};
    int32_t y1[4] = {5, 6, 7, 8};
    assert_memory_equal(d->x + 4, x1, sizeof x1);
    assert_memory_equal(d->labels + 4, y1, sizeof y1);
    clg_dataset *val;
    assert_ok(clg_dataset_split(d, 0.5f, 1, &val));
    assert_int_equal(clg_dataset_label_len(val), 4);
    assert_int_equal(val->labels[0], (int32_t)val->x[0] + 1);
    assert_int_equal(d->labels[3], (int32_t)d->x[3] + 1);
    clg_dataset_free(val), clg_dataset_free(d);
    assert_int_equal(clg_dataset_windows(ids, 4, 4, 10, &d), CLG_INVALID_ARGUMENT);
    ids[5] = 12;
    assert_int_equal(clg_dataset_windows(ids, 10, 4, 10, &d), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "token 5 (12) is outside the vocabulary of 10");
}

static void test_sequences_are_cut_and_padded(void **state)
{
    (void)state;
    int32_t a[5] = {5, 6, 7, 8, 9}, b[2] = {3, 4};
    const int32_t *seqs[2] = {a, b};
    size_t counts[2] = {5, 2};
    int32_t labels[2] = {1, 0};
    clg_dataset *d;
    assert_ok(clg_dataset_from_sequences(seqs, counts, 2, 3, 0, labels, &d));
    float want[6] = {5, 6, 7, 3, 4, 0};
    assert_memory_equal(d->x, want, sizeof want);
    assert_int_equal(d->labels[0], 1);
    clg_dataset_free(d);
    int32_t ids[7] = {1, 2, 3, 4, 5, 6, 7};
    assert_ok(clg_dataset_next_token(ids, 7, 3, 2, 8, &d));
    assert_int_equal(d->count, 2);
    assert_true(d->x[3] == 3.0f && d->labels[1] == 6);
    clg_dataset_free(d);
}

/* Next-character prediction on generated text: Embedding, Linear, and the
 * loss falls well below uniform guessing. */
static void test_char_model_learns_generated_text(void **state)
{
    static char text[20000];
    const char *words[] = {"alpha ", "beta ", "gamma ", "delta "};
    size_t n = 0;
    uint32_t seed = 11;
    while (n < sizeof text - 8) {
        const char *w = words[(uint32_t)(test_random(&seed) * 1e6f + 1e6f) % 4];
        memcpy(text + n, w, strlen(w));
        n += strlen(w);
    }
    clg_text *corpus;
    assert_ok(clg_text_from_string(text, n, false, &corpus));
    clg_tokenizer_opts to = CLG_TOKENIZER_DEFAULTS;
    to.type = CLG_TOKENIZER_CHAR;
    clg_tokenizer *tok;
    assert_ok(clg_tokenizer_train(&to, corpus, &tok));
    int32_t *ids;
    size_t count;
    assert_ok(clg_tokenizer_encode(tok, text, n, &ids, &count));
    int V = clg_tokenizer_vocab_size(tok), T = 8;
    clg_dataset *d;
    assert_ok(clg_dataset_next_token(ids, count, T, 3, V, &d));
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = 64, mo.input_dtype = CLG_INT32, mo.seed = 2;
    clg_model *m;
    assert_ok(clg_model_create(*state, &mo, 1, &T, &m));
    assert_ok(clg_model_add(m, CLG_EMBEDDING(V, 16)));
    assert_ok(clg_model_add(m, CLG_FLATTEN()));
    assert_ok(clg_model_add(m, CLG_LINEAR(64)));
    assert_ok(clg_model_add(m, CLG_RELU()));
    assert_ok(clg_model_add(m, CLG_LINEAR(V)));
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    oo.type = CLG_OPTIM_ADAM, oo.lr = 0.01f;
    clg_optimizer *opt;
    assert_ok(clg_optim_create(clg_model_plan(m), &oo, &opt));
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    clg_loader *l;
    assert_ok(clg_loader_create(d, &lo, &l));
    clg_eval_report before, after;
    assert_ok(clg_evaluate(m, d, &before));
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 3;
    clg_fit_report r;
    assert_ok(clg_fit(m, opt, l, NULL, &fo, &r));
    assert_ok(clg_evaluate(m, d, &after));
    /* Uniform guessing costs log(V); the text is far more predictable. */
    assert_true(before.loss > 0.8f * logf((float)V));
    assert_true(after.loss < 0.5f * before.loss);
    clg_eval_report_free(&before), clg_eval_report_free(&after);
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(d), free(ids), clg_tokenizer_free(tok), clg_text_free(corpus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_with_header_and_string_labels),
        cmocka_unit_test(test_csv_without_header_integer_labels_by_index),
        cmocka_unit_test(test_csv_rejects_bad_rows_naming_the_line),
        cmocka_unit_test(test_csv_labels_are_class_numbers_or_names_not_both),
        cmocka_unit_test(test_text_reading_checks_utf8),
        cmocka_unit_test(test_byte_and_bpe_round_trip),
        cmocka_unit_test(test_bpe_merges_by_lowest_rank),
        cmocka_unit_test(test_gpt2_tokenizer_gives_hugging_faces_ids),
        cmocka_unit_test(test_gpt2_tokenizer_on_all_the_fortunes),
        cmocka_unit_test(test_gpt2_tokenizer_refuses_bad_files_and_text),
        cmocka_unit_test(test_gpt2_bpe_learns_saves_and_loads),
        cmocka_unit_test(test_char_and_word_vocabularies),
        cmocka_unit_test(test_plain_tokenizers_for_language_models),
        cmocka_unit_test(test_windows_hold_next_token_targets),
        cmocka_unit_test(test_sequences_are_cut_and_padded),
        cmocka_unit_test(test_char_model_learns_generated_text),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
