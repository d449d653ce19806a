/* For readers that take a path: the fuzzer's bytes in one scratch file per
 * process, removed at exit. */
#ifndef CLG_FUZZ_FILE_H
#define CLG_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[96];

static void fuzz_remove_scratch(void)
{
    unlink(fuzz_path);
}

static const char *fuzz_scratch(const uint8_t *data, size_t size, const char *suffix)
{
    if (!fuzz_path[0]) {
        snprintf(fuzz_path, sizeof fuzz_path, "/tmp/clgrad-fuzz-%ld%s", (long)getpid(),
                 suffix);
        atexit(fuzz_remove_scratch);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort(); /* the harness, not clgrad, failed */
    return fuzz_path;
}

#endif
