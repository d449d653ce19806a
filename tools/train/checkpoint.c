/* clgrad-train's checkpoints: a model from one (clgrad's file or a Hugging
 * Face GPT-2 directory), and a run written as one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "train.h"

clg_model_opts train_model_opts(const train_options *o)
{
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = o->batch, mo.init = o->init, mo.seed = (uint64_t)o->seed;
    mo.recompute = o->recompute;
    return mo;
}

/* The tokenizer of a GPT-2 directory as a checkpoint keeps it (*text NULL
 * where the directory has neither vocab.json nor tokenizer.json). */
clg_status train_gpt2_dir_tokenizer(const char *dir, char **text)
{
    char vocab[4200], json[4200];
    struct stat st;
    *text = NULL;
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    if (stat(vocab, &st) != 0 && stat(json, &st) != 0)
        return CLG_OK;
    clg_tokenizer *t;
    clg_status s = clg_tokenizer_load_gpt2(dir, &t);
    if (s == CLG_OK)
        s = clg_tokenizer_to_string(t, text);
    clg_tokenizer_free(t);
    return s;
}

int train_model_from_checkpoint(clg_context *ctx, const train_options *o,
                                const char *path, int batch, clg_model **m,
                                clg_normalization *n, char **tokenizer)
{
    if (train_is_gpt2_dir(path)) { /* Hugging Face's layout: the model is its own */
        clg_model_opts mo = train_model_opts(o);
        mo.max_batch = batch;
        if (n)
            memset(n, 0, sizeof *n);
        if (o->spec)
            return cli_usage_error(
                TOOL,
                "%s is a GPT-2 directory, whose config.json makes the "
                "model: leave the spec %s out",
                path, o->spec);
        clg_status s = clg_model_from_gpt2_dir(ctx, path, &mo, 0, m);
        if (s == CLG_OK)
            s = train_gpt2_dir_tokenizer(path, tokenizer);
        if (s == CLG_OK)
            s = clg_model_compile(*m, o->loss, o->label_smoothing);
        return s == CLG_OK ? -1 : train_fail_status(s);
    }
    clg_checkpoint *ck = NULL;
    clg_spec *spec = NULL;
    clg_model_opts mo = train_model_opts(o);
    mo.max_batch = batch;
    *tokenizer = NULL;
    clg_status s = clg_checkpoint_read(path, &ck);
    const char *saved = s == CLG_OK ? clg_checkpoint_meta(ck, "tokenizer") : NULL;
    if (saved && !(*tokenizer = strdup(saved)))
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: its tokenizer", path);
    if (s == CLG_OK && o->spec)
        s = clg_spec_load(o->spec, &spec);
    if (s == CLG_OK)
        s = clg_model_from_checkpoint(ctx, ck, spec, &mo, m, n);
    if (s == CLG_OK)
        s = clg_model_compile(*m, o->loss, o->label_smoothing);
    clg_spec_free(spec);
    clg_checkpoint_free(ck);
    if (s == CLG_OK)
        return -1;
    free(*tokenizer);
    *tokenizer = NULL;
    return train_fail_status(s);
}

int train_save_checkpoint(train_run *r, const char *path, int epochs)
{
    char normalize[128];
    clg_train_state st = {
        .epoch = epochs,
        .step = r->steps,
        .plan_step = clg_plan_step(clg_model_plan(r->model)),
        .best_val_loss = r->best_val_loss,
        .spec = clg_spec_text(r->spec),
        .normalize = r->norm->channels ? clg_normalization_format(r->norm, normalize,
                                                                  sizeof normalize)
                                       : NULL,
        .extra = r->o->command_line,
        .tokenizer = r->tokenizer,
    };
    if (r->sched)
        clg_schedule_state(r->sched, st.schedule);
    if (path == r->o->save && r->o->hf_format) { /* Hugging Face's layout */
        clg_tokenizer *t = NULL;
        clg_status s =
            r->tokenizer ? clg_tokenizer_from_string(r->tokenizer, path, &t) : CLG_OK;
        if (s == CLG_OK)
            s = clg_save_gpt2_dir(path, r->model, r->opt, &st, t);
        clg_tokenizer_free(t);
        return s == CLG_OK ? -1 : cli_fail(TOOL, TRAIN_ERROR);
    }
    if (clg_save(path, r->model, r->opt, &st) != CLG_OK)
        return cli_fail(TOOL, TRAIN_ERROR);
    return -1;
}
