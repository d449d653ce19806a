/* Runs a libFuzzer target once on each file named, or in each directory
 * named, as its arguments: the seed corpora and every input a fuzzer ever
 * crashed on replayed in the suite (any compiler, with or without
 * sanitizers). Exits 1 when no input was found. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(1);
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    /* A copy of exactly n bytes, so that reading past the input is caught. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        exit(1);
    for (size_t i = 0; i < n; i++)
        copy[i] = buf[i];
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 1;
}

int main(int argc, char **argv)
{
    int inputs = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "replay: %s does not exist\n", argv[a]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            inputs += run_file(argv[a]);
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[a], &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], names[i]->d_name);
            if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
                S_ISREG(st.st_mode))
                inputs += run_file(path);
            free(names[i]);
        }
        free(names);
    }
    printf("replay: %d inputs, no failure\n", inputs);
    return inputs > 0 ? 0 : 1;
}
