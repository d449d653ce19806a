/* What the clgrad-train tests share: cli_util.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli_util.h"

char dir[] = "/tmp/clgrad-cli-XXXXXX";
char out[1 << 16];
int status;

const char *at(const char *name)
{
    static char path[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* Runs a shell command line in the test directory; output and status in
 * `out` and `status`. */
static void run_line(const char *line)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && (%s) 2>&1", dir, line);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs clgrad-train with `args` (a shell fragment). */
void train(const char *fmt, ...)
{
    char args[3000], line[3600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "'%s' %s", getenv("CLGRAD_TRAIN_BIN"), args);
    run_line(line);
}

/* Runs any shell command line. */
void shell(const char *fmt, ...)
{
    char line[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    run_line(line);
}

void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(at(name), "wb");
    assert_non_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

/* IDX images [n, 8, 8] where class c lights row 2c (plus noise), and labels. */
void write_dataset(const char *prefix, int n, int classes, uint32_t seed)
{
    size_t len = 16 + (size_t)n * 64;
    unsigned char *img = malloc(len), lab[8 + 4096];
    unsigned char head[16] = {
        0, 0, 8, 3, 0, 0, (unsigned char)(n >> 8), (unsigned char)n, 0, 0,
        0, 8, 0, 0, 0, 8};
    memcpy(img, head, 16);
    unsigned char lh[8] = {0, 0, 8, 1, 0, 0, (unsigned char)(n >> 8), (unsigned char)n};
    memcpy(lab, lh, 8);
    for (int i = 0; i < n; i++) {
        int c = i % classes;
        lab[8 + i] = (unsigned char)c;
        for (int k = 0; k < 64; k++) {
            float v = (k / 8 == 2 * c ? 200.0f : 20.0f) + 30.0f * test_random(&seed);
            img[16 + (size_t)i * 64 + k] = (unsigned char)(v < 0     ? 0
                                                           : v > 255 ? 255
                                                                     : v);
        }
    }
    char name[128];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    write_file(name, img, len);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    write_file(name, lab, 8 + (size_t)n);
    free(img);
}

static const char *MLP =
    "input 1 8 8\nflatten\nlinear 16\nrelu\ndropout 0.2\nlinear 4\n";
static const char *CNN =
    "input 1 8 8\nconv2d 4 3 padding=1 bias=false\nbatchnorm2d\nrelu\n"
    "maxpool2d 2\nflatten\nlinear 4\n";

int cli_setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    char sub[700];
    snprintf(sub, sizeof sub, "%s/data", dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/three", dir);
    mkdir(sub, 0777);
    write_dataset("data/train", 400, 4, 1);
    write_dataset("data/t10k", 100, 4, 2);
    write_dataset("three/train", 300, 3, 3); /* classes 0-2 only */
    write_dataset("three/t10k", 60, 3, 4);
    write_file("mlp.spec", MLP, strlen(MLP));
    write_file("cnn.spec", CNN, strlen(CNN));
    return 0;
}

int cli_teardown(void **state)
{
    (void)state;
    if (getenv("KEEP"))
        return 0;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Sentences from a small grammar: text with something to learn. */
void write_text(const char *name, int sentences, uint32_t seed)
{
    static const char *subject[] = {"the cat", "a dog", "my bird", "the fox"};
    static const char *verb[] = {"sat on", "ran to", "looked at", "slept by"};
    static const char *object[] = {"the mat", "a tree", "the door", "my bed"};
    FILE *f = fopen(at(name), "w");
    assert_non_null(f);
    for (int i = 0; i < sentences; i++) {
        int a = (int)((test_random(&seed) + 1) * 2) & 3,
            b = (int)((test_random(&seed) + 1) * 2) & 3,
            c = (int)((test_random(&seed) + 1) * 2) & 3;
        fprintf(f, "%s %s %s.\n", subject[a], verb[b], object[c]);
    }
    fclose(f);
}

const char gpt_spec[] = "input tokens 16\n"
                        "tokpos 32 32\n"
                        "block 32 4\n"
                        "layernorm\n"
                        "linear 32\n";

float test_accuracy(void)
{
    float loss, acc;
    const char *at = strstr(out, "test: loss");
    if (!at || sscanf(at, "test: loss %f, accuracy %f", &loss, &acc) != 2)
        fail_msg("no test accuracy in:\n%s", out);
    return acc;
}
