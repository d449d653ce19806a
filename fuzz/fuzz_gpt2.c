/* libFuzzer target: GPT-2's tokenizer files (vocab.json, merges.txt,
 * tokenizer_config.json, tokenizer.json) from arbitrary bytes must load or
 * be refused, never crash. The input is the four files' bytes separated by
 * lines of "--8<--"; a file whose part is empty is missing (an empty first
 * part: tokenizer.json is read instead of vocab.json and merges.txt). A tokenizer it
 * accepts encodes its own vocab.json's bytes (when they are UTF-8) into ids inside its
 * vocabulary that decode back into exactly those bytes. */
#include <clgrad/data.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[96];
static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                    "tokenizer.json"};

static void file_path(int i, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, names[i]);
}

static void remove_dir(void)
{
    char path[160];
    for (int i = 0; i < 4; i++)
        file_path(i, path, sizeof path), unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/clgrad-fuzz-gpt2-%ld", (long)getpid());
        if (mkdir(dir, 0700) != 0)
            abort(); /* the harness, not clgrad, failed */
        atexit(remove_dir);
    }
    static const char cut[] = "\n--8<--\n";
    const char *at = (const char *)data, *end = at + size;
    size_t first_len = size;
    for (int i = 0; i < 4; i++) {
        const char *stop = at;
        while (stop + sizeof cut - 1 <= end && memcmp(stop, cut, sizeof cut - 1))
            stop++;
        if (stop + sizeof cut - 1 > end)
            stop = end;
        char path[160];
        file_path(i, path, sizeof path);
        unlink(path);
        if (stop > at) { /* files the input gives no bytes are missing */
            FILE *f = fopen(path, "wb");
            if (!f || (stop > at && fwrite(at, 1, (size_t)(stop - at), f) == 0) ||
                fclose(f) != 0)
                abort();
        }
        if (i == 0)
            first_len = (size_t)(stop - at);
        at = stop + sizeof cut - 1 < end ? stop + sizeof cut - 1 : end;
    }
    clg_tokenizer *t = NULL;
    if (clg_tokenizer_load_gpt2(dir, &t) != CLG_OK)
        return 0;
    int vocab = clg_tokenizer_vocab_size(t);
    int32_t *ids = NULL;
    size_t count = 0;
    if (clg_tokenizer_encode(t, (const char *)data, first_len, &ids, &count) ==
        CLG_OK) {
        for (size_t i = 0; i < count; i++)
            if (ids[i] < 0 || ids[i] >= vocab)
                abort();
        char *text = NULL;
        size_t len = 0;
        if (clg_tokenizer_decode(t, ids, count, &text, &len) != CLG_OK ||
            len != first_len || memcmp(text, data, len) != 0)
            abort(); /* byte-level BPE loses nothing */
        free(text);
    }
    free(ids);
    clg_tokenizer_free(t);
    return 0;
}
