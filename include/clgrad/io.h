/*
 * clgrad/io.h — checkpoints in the safetensors format.
 *
 * A file holds 8 bytes of header length (little-endian), a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw
 * little-endian tensors. clgrad writes a model's weights under their
 * nn.Sequential state_dict names (with the int64 "N.num_batches_tracked" of
 * each batch norm, so torch's load_state_dict accepts the file as it is),
 * the optimizer's state as "optim.NAME.SLOT" ("optim.0.weight.exp_avg"), and
 * training state as strings in "__metadata__".
 *
 * Writes are atomic: a temporary file beside the target is written, synced
 * and renamed over it, so a crash at any moment leaves the previous file
 * whole. Reads check the header length, the JSON, every dtype, shape and
 * offset against the file's size before using any of it.
 */
#ifndef CLGRAD_IO_H
#define CLGRAD_IO_H

#include "api.h"

#include "data.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_checkpoint clg_checkpoint;

/* Reads and validates a safetensors file, all of it into memory. Names,
 * metadata and training state returned from it point into it: keep it
 * until they are used. Free with clg_checkpoint_free. */
CLG_API clg_status clg_checkpoint_read(const char *path, clg_checkpoint **checkpoint);
CLG_API void clg_checkpoint_free(clg_checkpoint *checkpoint);

CLG_API int clg_checkpoint_count(const clg_checkpoint *checkpoint);
CLG_API const char *clg_checkpoint_name(const clg_checkpoint *checkpoint, int i);
/* "F32", "I64", ... and the shape (up to 8 dims; returns ndim). */
CLG_API const char *clg_checkpoint_dtype(const clg_checkpoint *checkpoint, int i);
CLG_API int clg_checkpoint_shape(const clg_checkpoint *checkpoint, int i,
                                 int64_t shape[8]);
/* Copies tensor i, which must be F32, into `out` (its element count). */
CLG_API clg_status clg_checkpoint_floats(const clg_checkpoint *checkpoint, int i,
                                         float *out, size_t count);
/* A metadata string, or NULL. */
CLG_API const char *clg_checkpoint_meta(const clg_checkpoint *checkpoint,
                                        const char *key);

/* Training state stored beside the weights. */
typedef struct clg_train_state {
    int epoch;                    /* epochs completed */
    long long step;               /* optimizer steps */
    unsigned long long plan_step; /* dropout step counter */
    float schedule[4];            /* plateau schedule state */
    float best_val_loss;
    const char *spec;      /* the model spec text, or NULL */
    const char *normalize; /* "MEAN,..;STD,.." applied to the inputs, or NULL */
    const char *extra;     /* free text, e.g. the command line, or NULL */
    const char *tokenizer; /* a text model's tokenizer (clg_tokenizer_to_string),
                              or NULL */
} clg_train_state;

/* Writes the model's weights and statistics, the optimizer's state when opt
 * is not NULL, and `state` when not NULL, atomically to `path`. */
CLG_API clg_status clg_save(const char *path, const clg_model *model,
                            const clg_optimizer *opt, const clg_train_state *state);

typedef struct clg_load_report {
    int loaded;        /* tensors copied into the model */
    int skipped;       /* in the file, but no tensor of that name and shape */
    int missing;       /* in the model, not in the file: left as initialised */
    int optim_loaded;  /* optimizer state tensors copied (opt given) */
    int optim_missing; /* optimizer state the optimizer keeps, not in the file */
    char text[4096];   /* the names in each group, for people */
} clg_load_report;

/* Copies into the model every tensor of the file whose name and shape match
 * (a PyTorch nn.Sequential state_dict saved with safetensors works as is),
 * and, when opt is not NULL, the optimizer state saved for those weights.
 * report (may be NULL) tells what was loaded, skipped and left alone; to
 * resume exactly, require missing == 0 and optim_missing == 0. A tensor
 * holding inf or NaN is CLG_BAD_FILE naming it: nothing is loaded from a
 * checkpoint of a run that diverged. */
CLG_API clg_status clg_load(const clg_checkpoint *checkpoint, clg_model *model,
                            clg_optimizer *opt, clg_load_report *report);

/* A model rebuilt from a checkpoint, ready to compile and evaluate or
 * predict with:
 *
 *     clg_checkpoint *ck;
 *     clg_model *m;
 *     clg_normalization norm;
 *     clg_model_opts mo = CLG_MODEL_DEFAULTS;
 *     clg_checkpoint_read("best.safetensors", &ck);
 *     clg_model_from_checkpoint(ctx, ck, NULL, &mo, &m, &norm);
 *     clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f);
 *     clg_normalization_apply(&norm, test);    // as in training
 *     clg_evaluate(m, test, &report);
 *
 * The layers come from `spec`, or when spec is NULL from the spec text a
 * clgrad checkpoint carries (CLG_NOT_FOUND for a file without one, such as
 * a PyTorch state_dict: give the spec). Every weight and statistic of the
 * model must be in the file with its shape, else CLG_BAD_FILE naming what
 * is missing or differs. *norm (may be NULL) gets the normalisation the
 * checkpoint records, or none. The model is not compiled; the checkpoint
 * may be freed once this returns. */
CLG_API clg_status clg_model_from_checkpoint(
    clg_context *ctx, const clg_checkpoint *checkpoint, const clg_spec *spec,
    const clg_model_opts *opts, clg_model **model, clg_normalization *norm);

/* Reads the training state from the metadata (pointers into checkpoint),
 * strictly: an epoch, step or counter that is not a whole number in range,
 * or a schedule state that is not four numbers, is CLG_BAD_FILE naming the
 * key and its value; a file without a training state is CLG_NOT_FOUND. */
CLG_API clg_status clg_checkpoint_train_state(const clg_checkpoint *checkpoint,
                                              clg_train_state *state);

/* ---- Hugging Face GPT-2 directories ------------------------------------- */

/* A model from a directory GPT2LMHeadModel.save_pretrained() wrote:
 * config.json makes the layers (tokpos, n_layer blocks, the final layer
 * norm, the output layer tied to wte unless tie_word_embeddings is false;
 * the context T is `context`, or n_positions when 0) and model.safetensors
 * gives every weight (GPT-2's Conv1D weights [in, out] transposed to
 * clgrad's [out, in]; "transformer." before the names or not). A config
 * clgrad cannot run exactly (another activation, cross-attention,
 * scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn, an MLP other
 * than 4 n_embd, another layer norm eps) and a tensor missing, extra, of
 * another dtype than F32 or of a shape config.json disagrees with are
 * CLG_BAD_FILE naming the file and key or tensor. The model is not
 * compiled. The tokenizer, where the directory has one:
 * clg_tokenizer_load_gpt2(dir). */
CLG_API clg_status clg_model_from_gpt2_dir(clg_context *ctx, const char *dir,
                                           const clg_model_opts *opts, int context,
                                           clg_model **model);
/* The spec text config.json makes (malloc'd *spec), and the weights of
 * model.safetensors copied into a model of that spec. */
CLG_API clg_status clg_gpt2_dir_spec(const char *dir, int context, char **spec);
CLG_API clg_status clg_gpt2_dir_load(const char *dir, clg_model *model);

/* Writes a GPT-2-shaped model (tokpos, blocks, a layernorm, an output
 * layer of the vocabulary without a bias, tied or not) as
 * GPT2LMHeadModel.from_pretrained(dir) loads it: config.json,
 * model.safetensors (GPT-2's names, Conv1D weights [in, out], no lm_head
 * when tied), the tokenizer's files where `tokenizer` (a GPT-2 one) is
 * given, and, where opt or state is given, clgrad_state.safetensors: a
 * clgrad checkpoint with the optimizer and training state, which
 * transformers leaves alone and --resume DIR reads. Makes dir if missing
 * (not its parents); another model is CLG_INVALID_ARGUMENT naming why. */
/* Whether clg_save_gpt2_dir can write model: CLG_OK, or
 * CLG_INVALID_ARGUMENT saying why not (before training, not after). */
CLG_API clg_status clg_gpt2_check(const clg_model *model);
CLG_API clg_status clg_save_gpt2_dir(const char *dir, const clg_model *model,
                                     const clg_optimizer *opt,
                                     const clg_train_state *state,
                                     const clg_tokenizer *tokenizer);

#ifdef __cplusplus
}
#endif

#endif
