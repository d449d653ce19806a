/* CIFAR-10 and CIFAR-100 in their binary form, as the dataset's site
 * documents it: records of a label byte (CIFAR-100: the coarse label, then
 * the fine one) and 3,072 bytes of a 32 x 32 image, its red, green and blue
 * planes in turn, row by row. CIFAR-10: data_batch_1.bin .. _5.bin and
 * test_batch.bin, names in batches.meta.txt; CIFAR-100: train.bin and
 * test.bin, names in fine_label_names.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "clgrad/data.h"

enum { PIXELS = 3 * 32 * 32 };

/* The class names of `file` in dir, one a line, into d->class_names where
 * there are exactly d->classes of them; a file that is not there or does
 * not fit leaves the classes unnamed. */
static void read_names(const char *dir, const char *file, clg_dataset *d)
{
    char path[4200], *text = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (clg_read_file(path, 1 << 20, &text, NULL) != CLG_OK)
        return;
    char **names = calloc((size_t)d->classes, sizeof *names);
    int n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\r\n", &save); names && line;
         line = strtok_r(NULL, "\r\n", &save)) {
        if (!*line)
            continue;
        if (n == d->classes || !(names[n] = strdup(line))) {
            n = -1;
            break;
        }
        n++;
    }
    if (names && n == d->classes) {
        d->class_names = names;
    } else {
        for (int i = 0; names && i < d->classes; i++)
            free(names[i]);
        free(names);
    }
    free(text);
}

clg_status clg_dataset_cifar(const char *dir, int classes, bool train,
                             clg_dataset **out)
{
    if (!dir || !out || (classes != 10 && classes != 100))
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_dataset_cifar: %s",
                        !dir || !out ? "NULL argument" : "CIFAR has 10 or 100 classes");
    *out = NULL;
    const char *ten[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                         "data_batch_4.bin", "data_batch_5.bin"};
    const char *test10[] = {"test_batch.bin"}, *train100[] = {"train.bin"},
               *test100[] = {"test.bin"};
    const char **files = classes == 10 ? (train ? ten : test10)
                         : train       ? train100
                                       : test100;
    int nfiles = classes == 10 && train ? 5 : 1;
    size_t record = (classes == 10 ? 1 : 2) + PIXELS;
    char *bytes[5] = {0};
    size_t len[5] = {0}, count = 0;
    char path[4200];
    clg_status s = CLG_OK;
    for (int f = 0; s == CLG_OK && f < nfiles; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        if (access(path, F_OK) != 0) {
            s = clg_fail(CLG_NOT_FOUND, "%s: no such file (CIFAR-%d's binary form)",
                         path, classes);
            break;
        }
        s = clg_read_file(path, (size_t)1 << 30, &bytes[f], &len[f]);
        if (s == CLG_OK && (len[f] == 0 || len[f] % record))
            s = clg_fail(CLG_BAD_FILE,
                         "%s: %zu bytes are not whole records of %zu (a label%s and "
                         "a 3 x 32 x 32 image): not CIFAR-%d's binary form",
                         path, len[f], record, classes == 10 ? "" : " pair", classes);
        count += len[f] / record;
    }
    clg_dataset *d = NULL;
    if (s == CLG_OK && count > (size_t)1 << 30)
        s = clg_fail(CLG_BAD_FILE, "%s: %zu images are too many", dir, count);
    if (s == CLG_OK)
        s = clg_dataset_create((int)count, 3, (int[]){3, 32, 32}, true, &d);
    size_t at = 0;
    for (int f = 0; s == CLG_OK && f < nfiles; f++) {
        const unsigned char *r = (const unsigned char *)bytes[f];
        for (size_t k = 0; s == CLG_OK && k < len[f] / record; k++, at++, r += record) {
            int label = r[record - PIXELS - 1]; /* CIFAR-100: the fine label */
            if (label >= classes) {
                snprintf(path, sizeof path, "%s/%s", dir, files[f]);
                s = clg_fail(CLG_BAD_FILE,
                             "%s: record %zu has label %d, past CIFAR-%d's "
                             "%d classes",
                             path, k, label, classes, classes);
            }
            d->labels[at] = label;
            for (int i = 0; i < PIXELS; i++)
                d->x[at * PIXELS + (size_t)i] =
                    (float)r[record - PIXELS + (size_t)i] / 255.0f;
        }
    }
    for (int f = 0; f < nfiles; f++)
        free(bytes[f]);
    if (s != CLG_OK) {
        clg_dataset_free(d);
        return s;
    }
    d->classes = classes;
    d->from_bytes = true;
    read_names(dir, classes == 10 ? "batches.meta.txt" : "fine_label_names.txt", d);
    *out = d;
    return CLG_OK;
}
