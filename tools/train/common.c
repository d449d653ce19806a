/* What every part of clgrad-train asks: how a failure exits, whether the
 * run is about text, whether a path is a Hugging Face directory. The files
 * of tools/train call downward only: common.c < checkpoint.c < text.c <
 * data.c < output.c < ranks.c < modes.c < dist.c < args.c < main.c
 * (scripts/check_layers.py checks it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train.h"

int train_fail_status(clg_status s)
{
    return cli_fail(TOOL, s == CLG_SHAPE_MISMATCH || s == CLG_INVALID_ARGUMENT ||
                                  s == CLG_BAD_FILE || s == CLG_NOT_FOUND ||
                                  s == CLG_IO_ERROR
                              ? CLI_USAGE_ERROR
                              : TRAIN_ERROR);
}

bool train_is_gpt2_dir(const char *path)
{
    struct stat st;
    char config[4200];
    snprintf(config, sizeof config, "%s/config.json", path ? path : "");
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
           stat(config, &st) == 0;
}

bool train_is_text(const train_options *o)
{
    return o->text || o->test_text;
}

void train_free_data(train_data *d)
{
    clg_dataset_free(d->train);
    clg_dataset_free(d->val);
    clg_dataset_free(d->test);
    clg_tokenizer_free(d->tokenizer);
    free(d->tokenizer_text);
}
