/* libFuzzer target: a Hugging Face GPT-2 config.json from arbitrary bytes
 * must give a spec or be refused, never crash; a spec it gives must parse
 * (clgrad builds the model from it). */
#include <clgrad/io.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[96], path[160];

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/clgrad-fuzz-config-%ld", (long)getpid());
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (mkdir(dir, 0700) != 0)
            abort(); /* the harness, not clgrad, failed */
        atexit(remove_dir);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    char *text = NULL;
    if (clg_gpt2_dir_spec(dir, 0, &text) != CLG_OK)
        return 0;
    clg_spec *spec = NULL;
    if (clg_spec_parse(text, "config", &spec) != CLG_OK)
        abort(); /* a config it takes must make a spec that parses */
    clg_spec_free(spec);
    free(text);
    return 0;
}
