/* What the clgrad-train tests share (test_cli, test_cli_text,
 * test_cli_dist): a scratch directory with small IDX datasets and spec
 * files, and clgrad-train or a shell line run in it. */
#ifndef CLGRAD_TEST_CLI_UTIL_H
#define CLGRAD_TEST_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

/* The scratch directory. */
extern char dir[];
/* The last command's output and exit status. */
extern char out[1 << 16];
extern int status;

/* NAME's path in the scratch directory (eight at a time stay valid). */
const char *at(const char *name);
/* clgrad-train with `args` (a shell fragment), run in the directory. */
void train(const char *fmt, ...);
/* Any shell command line, run in the directory. */
void shell(const char *fmt, ...);

#define EXPECT(code)                                                                   \
    do {                                                                               \
        if (status != (code))                                                          \
            fail_msg("expected exit %d, got %d:\n%s", code, status, out);              \
    } while (0)

void write_file(const char *name, const void *data, size_t len);
/* IDX images [n, 8, 8] where class c lights row 2c (plus noise), and labels. */
void write_dataset(const char *prefix, int n, int classes, uint32_t seed);
/* A text of `sentences` sentences from a small grammar. */
void write_text(const char *name, int sentences, uint32_t seed);

/* The test accuracy the last run printed ("test: loss L, accuracy A"); fails
 * the test where it printed none. */
float test_accuracy(void);

/* A small GPT: T 16, 32 ids, one block of width 32 and 4 heads. */
extern const char gpt_spec[];

/* The directory with data/ (4 classes, train and t10k), three/ (classes
 * 0-2) and mlp.spec, cnn.spec; removed at the end unless KEEP is set. */
int cli_setup(void **state);
int cli_teardown(void **state);

#endif
