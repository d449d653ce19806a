/*
 * Hugging Face GPT-2 directories as clgrad models: config.json and
 * model.safetensors as GPT2LMHeadModel.save_pretrained() writes them.
 *
 * The model is built from the config as from a spec (tokpos, n_layer
 * blocks, the final layer norm, the output layer tied to wte), and the
 * tensors are mapped by one table: GPT-2's Conv1D layers keep their weights
 * [in, out], clgrad's linear layers [out, in], so those are transposed; the
 * "transformer." prefix may be there or not; lm_head.weight is wte's when
 * the embeddings are tied and usually absent. A config clgrad cannot run
 * exactly is refused by name.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/file.h"
#include "clgrad/io.h"

typedef struct gpt2_config {
    int n_layer, n_embd, n_head, n_positions, vocab;
    double eps;
    bool tied;
} gpt2_config;

/* GPT-2's names for clgrad's, after "transformer." (or at the top for
 * lm_head): block k of clgrad is h.(k - 1); `transpose` for Conv1D. */
static const struct {
    const char *clgrad, *hf;
    bool transpose;
} block_names[] = {
    {"ln_1.weight", "ln_1.weight", false},
    {"ln_1.bias", "ln_1.bias", false},
    {"attn.c_attn.weight", "attn.c_attn.weight", true},
    {"attn.c_attn.bias", "attn.c_attn.bias", false},
    {"attn.c_proj.weight", "attn.c_proj.weight", true},
    {"attn.c_proj.bias", "attn.c_proj.bias", false},
    {"ln_2.weight", "ln_2.weight", false},
    {"ln_2.bias", "ln_2.bias", false},
    {"mlp.0.weight", "mlp.c_fc.weight", true},
    {"mlp.0.bias", "mlp.c_fc.bias", false},
    {"mlp.2.weight", "mlp.c_proj.weight", true},
    {"mlp.2.bias", "mlp.c_proj.bias", false},
};

/* ---- config.json -------------------------------------------------------------- */

static clg_status bad_config(const char *path, const char *fmt, const char *key,
                             const char *value)
{
    char what[256];
    snprintf(what, sizeof what, fmt, key, value);
    return clg_fail(CLG_BAD_FILE, "%s: %s", path, what);
}

/* A whole number config[key] in [lo, hi]. */
static clg_status config_int(const char *path, const cJSON *c, const char *key, int lo,
                             int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < lo || v->valuedouble > hi) {
        char range[64];
        snprintf(range, sizeof range, "%d to %d", lo, hi);
        return bad_config(path, "\"%s\" must be a whole number from %s", key, range);
    }
    *out = (int)v->valuedouble;
    return CLG_OK;
}

/* config[key] as a boolean, `fallback` when absent; an error unless it is
 * `allowed` (a value clgrad cannot run). */
static clg_status config_flag(const char *path, const cJSON *c, const char *key,
                              bool fallback, bool allowed, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    bool b = v ? cJSON_IsTrue(v) : fallback;
    if (v && !cJSON_IsBool(v))
        return bad_config(path, "\"%s\" must be true or false%s", key, "");
    if (b != allowed)
        return bad_config(path, "\"%s\": %s is not what clgrad's GPT-2 runs", key,
                          b ? "true" : "false");
    if (out)
        *out = b;
    return CLG_OK;
}

static clg_status read_config(const char *dir, gpt2_config *g)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *c = NULL;
    clg_status s = clg_read_json(path, (size_t)16 << 20, &c);
    if (s != CLG_OK)
        return s;
    if (!cJSON_IsObject(c))
        s = clg_fail(CLG_BAD_FILE, "%s: not a JSON object", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(c, "model_type");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "activation_function");
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(c, "n_inner");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "layer_norm_epsilon");
    if (s == CLG_OK && (!cJSON_IsString(type) || strcmp(type->valuestring, "gpt2")))
        s = bad_config(path, "\"%s\" is %s, not \"gpt2\"", "model_type",
                       cJSON_IsString(type) ? type->valuestring : "missing");
    if (s == CLG_OK)
        s = config_int(path, c, "n_layer", 1, 4096, &g->n_layer);
    if (s == CLG_OK)
        s = config_int(path, c, "n_embd", 1, 1 << 16, &g->n_embd);
    if (s == CLG_OK)
        s = config_int(path, c, "n_head", 1, 1 << 12, &g->n_head);
    if (s == CLG_OK)
        s = config_int(path, c, "n_positions", 1, 1 << 20, &g->n_positions);
    if (s == CLG_OK)
        s = config_int(path, c, "vocab_size", 1, 1 << 24, &g->vocab);
    if (s == CLG_OK && g->n_embd % g->n_head)
        s = clg_fail(CLG_BAD_FILE, "%s: n_embd %d is not a multiple of n_head %d", path,
                     g->n_embd, g->n_head);
    /* gelu_new, gelu_pytorch_tanh and gelu_fast are one formula: GELU's tanh
     * approximation, which clgrad's blocks compute */
    if (s == CLG_OK && act &&
        !(cJSON_IsString(act) && (!strcmp(act->valuestring, "gelu_new") ||
                                  !strcmp(act->valuestring, "gelu_pytorch_tanh") ||
                                  !strcmp(act->valuestring, "gelu_fast"))))
        s = bad_config(path,
                       "\"%s\": \"%s\" is not what clgrad's GPT-2 blocks compute "
                       "(gelu_new, GELU's tanh approximation)",
                       "activation_function",
                       cJSON_IsString(act) ? act->valuestring : "?");
    if (s == CLG_OK && inner && !cJSON_IsNull(inner) &&
        !(cJSON_IsNumber(inner) && inner->valuedouble == 4.0 * g->n_embd))
        s = bad_config(path, "\"%s\": clgrad's GPT-2 blocks have an MLP of 4 n_embd%s",
                       "n_inner", "");
    g->eps = eps ? (cJSON_IsNumber(eps) ? eps->valuedouble : -1) : 1e-5;
    if (s == CLG_OK && fabs(g->eps - 1e-5) > 1e-12)
        s = bad_config(path, "\"%s\": clgrad's GPT-2 blocks normalise with eps 1e-05%s",
                       "layer_norm_epsilon", "");
    if (s == CLG_OK)
        s = config_flag(path, c, "scale_attn_weights", true, true, NULL);
    if (s == CLG_OK)
        s = config_flag(path, c, "scale_attn_by_inverse_layer_idx", false, false, NULL);
    if (s == CLG_OK)
        s = config_flag(path, c, "reorder_and_upcast_attn", false, false, NULL);
    if (s == CLG_OK)
        s = config_flag(path, c, "add_cross_attention", false, false, NULL);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(c, "tie_word_embeddings");
    g->tied = !tie || cJSON_IsTrue(tie);
    cJSON_Delete(c);
    return s;
}

/* ---- The model ----------------------------------------------------------------- */

clg_status clg_gpt2_dir_spec(const char *dir, int context, char **spec)
{
    if (!dir || !spec || context < 0)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gpt2_dir_spec: bad arguments");
    gpt2_config g;
    clg_status s = read_config(dir, &g);
    if (s != CLG_OK)
        return s;
    if (context > g.n_positions)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s: a context of %d tokens is past the model's n_positions %d",
                        dir, context, g.n_positions);
    size_t len = 0;
    FILE *f = open_memstream(spec, &len);
    if (!f)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
    fprintf(f, "# GPT-2 of %s/config.json\ninput tokens %d\ntokpos %d %d\n", dir,
            context ? context : g.n_positions, g.vocab, g.n_embd);
    for (int i = 0; i < g.n_layer; i++)
        fprintf(f, "block %d %d\n", g.n_embd, g.n_head);
    fprintf(f, "layernorm eps=%.9g\nlinear %d bias=false%s\n", g.eps, g.vocab,
            g.tied ? " tie=true" : "");
    return fclose(f) == 0 ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
}

/* The checkpoint's tensor `name`, with or without "transformer.", or -1. */
static int find_tensor(const clg_checkpoint *ck, const char *name)
{
    for (int i = 0; i < clg_checkpoint_count(ck); i++) {
        const char *n = clg_checkpoint_name(ck, i);
        if (!strcmp(n, name) ||
            (!strncmp(n, "transformer.", 12) && !strcmp(n + 12, name)))
            return i;
    }
    return -1;
}

/* GPT-2's name of clgrad's tensor `name` of a model of n_layer blocks, and
 * whether it is stored transposed; false for a name the format lacks. */
static bool hf_name(const char *name, int n_layer, char *out, size_t len,
                    bool *transpose)
{
    int k, used = 0;
    *transpose = false;
    if (!strcmp(name, "0.wte.weight") || !strcmp(name, "0.wpe.weight"))
        return snprintf(out, len, "%s", name + 2) > 0;
    if (sscanf(name, "%d.%n", &k, &used) != 1 || used == 0)
        return false;
    const char *rest = name + used;
    if (k == n_layer + 1) /* the final layer norm */
        return snprintf(out, len, "ln_f.%s", rest) > 0;
    if (k == n_layer + 2 && !strcmp(rest, "weight")) /* an untied output layer */
        return snprintf(out, len, "lm_head.weight") > 0;
    for (size_t i = 0;
         k >= 1 && k <= n_layer && i < sizeof block_names / sizeof *block_names; i++)
        if (!strcmp(rest, block_names[i].clgrad)) {
            *transpose = block_names[i].transpose;
            return snprintf(out, len, "h.%d.%s", k - 1, block_names[i].hf) > 0;
        }
    return false;
}

/* Copies the checkpoint's tensor into t: transposed, or the first rows of a
 * longer table (wpe for a shorter context). */
static clg_status load_one(const clg_checkpoint *ck, int i, clg_tensor *t,
                           bool transpose, const char *path)
{
    int64_t shape[8];
    int nd = clg_checkpoint_shape(ck, i, shape);
    const char *name = clg_checkpoint_name(ck, i);
    int rows = clg_tensor_dim(t, 0), cols = nd == 2 ? clg_tensor_dim(t, 1) : 1;
    int64_t want0 = transpose ? cols : rows, want1 = transpose ? rows : cols;
    bool prefix_rows = !strcmp(clg_tensor_name(t), "0.wpe.weight") && nd == 2 &&
                       shape[0] >= rows && shape[1] == cols;
    if (strcmp(clg_checkpoint_dtype(ck, i), "F32") != 0)
        return clg_fail(CLG_BAD_FILE, "%s: tensor '%s' is %s; clgrad reads F32", path,
                        name, clg_checkpoint_dtype(ck, i));
    if (nd != clg_tensor_ndim(t) ||
        (!prefix_rows && (shape[0] != want0 || (nd == 2 && shape[1] != want1))))
        return clg_fail(
            CLG_BAD_FILE,
            "%s: tensor '%s' is [%lld%s%lld], config.json makes it [%lld%s%lld]", path,
            name, (long long)shape[0], nd == 2 ? ", " : "",
            nd == 2 ? (long long)shape[1] : 0LL, (long long)want0, nd == 2 ? ", " : "",
            nd == 2 ? (long long)want1 : 0LL);
    size_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= (size_t)shape[d];
    float *v = malloc(n * sizeof *v), *u = transpose ? malloc(n * sizeof *u) : NULL;
    clg_status s = v && (!transpose || u)
                       ? clg_checkpoint_floats(ck, i, v, n)
                       : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    if (s == CLG_OK && transpose) /* [cols][rows] -> [rows][cols] */
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                u[(size_t)r * cols + c] = v[(size_t)c * rows + r];
    if (s == CLG_OK)
        s = clg_tensor_upload(t, transpose ? u : v, clg_tensor_numel(t));
    free(v), free(u);
    return s;
}

/* Whether GPT-2's tensor `name` is one clgrad has no use for: the causal
 * masks older transformers saved, a tied lm_head. */
static bool ignorable(const char *name, bool tied)
{
    size_t n = strlen(name);
    return (n > 9 && !strcmp(name + n - 9, ".attn.bias")) ||
           (n > 16 && !strcmp(name + n - 16, ".attn.masked_bias")) ||
           (tied && !strcmp(name, "lm_head.weight"));
}

clg_status clg_gpt2_dir_load(const char *dir, clg_model *m)
{
    if (!dir || !m)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gpt2_dir_load: NULL argument");
    gpt2_config g;
    clg_status s = read_config(dir, &g);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    clg_checkpoint *ck = NULL;
    if (s == CLG_OK)
        s = clg_checkpoint_read(path, &ck);
    int count = ck ? clg_checkpoint_count(ck) : 0;
    bool *used = calloc((size_t)(count ? count : 1), sizeof *used);
    if (s == CLG_OK && !used)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", path);
    for (int i = 0; s == CLG_OK && i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        char name[160];
        bool transpose;
        int k = hf_name(clg_tensor_name(t), g.n_layer, name, sizeof name, &transpose)
                    ? find_tensor(ck, name)
                    : -2;
        if (k == -2)
            s = clg_fail(
                CLG_INVALID_ARGUMENT,
                "%s: the model's tensor '%s' has no place in GPT-2's layout (a "
                "model built from its config.json has none such)",
                dir, clg_tensor_name(t));
        else if (k < 0)
            s = clg_fail(CLG_BAD_FILE, "%s: tensor '%s' (clgrad's %s) is missing", path,
                         name, clg_tensor_name(t));
        else
            s = load_one(ck, k, t, transpose, path);
        if (k >= 0)
            used[k] = true;
    }
    for (int i = 0; s == CLG_OK && i < count; i++) {
        const char *n = clg_checkpoint_name(ck, i);
        const char *bare = strncmp(n, "transformer.", 12) ? n : n + 12;
        if (!used[i] && !ignorable(bare, g.tied))
            s = clg_fail(
                CLG_BAD_FILE,
                "%s: tensor '%s' is not part of the GPT-2 config.json describes "
                "(cross-attention or another model's?)",
                path, n);
    }
    free(used);
    clg_checkpoint_free(ck);
    return s;
}

clg_status clg_model_from_gpt2_dir(clg_context *ctx, const char *dir,
                                   const clg_model_opts *opts, int context,
                                   clg_model **model)
{
    if (!ctx || !dir || !opts || !model)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_model_from_gpt2_dir: NULL argument");
    *model = NULL;
    char *text = NULL;
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_status s = clg_gpt2_dir_spec(dir, context, &text);
    if (s == CLG_OK)
        s = clg_spec_parse(text, dir, &spec);
    clg_model_opts mo = *opts;
    if (s == CLG_OK)
        s = clg_model_from_spec(ctx, spec, &mo, &m);
    if (s == CLG_OK)
        s = clg_gpt2_dir_load(dir, m);
    free(text);
    clg_spec_free(spec);
    if (s != CLG_OK) {
        clg_model_free(m);
        return s;
    }
    *model = m;
    return CLG_OK;
}

/* ---- Writing the layout -----------------------------------------------------------
 */

/* The GPT-2 a model is, read off its layers: tokpos, blocks, a layer norm
 * with a bias, an output layer without one; false (the error set, naming
 * the layer) for any other model. */
static bool gpt2_of(const clg_model *m, gpt2_config *g)
{
    int n = clg_model_layer_count(m);
    const clg_layer *first = n > 0 ? clg_model_layer(m, 0) : NULL;
    const clg_layer *norm = n > 2 ? clg_model_layer(m, n - 2) : NULL;
    const clg_layer *head = n > 2 ? clg_model_layer(m, n - 1) : NULL;
    const char *why = NULL;
    if (!first || first->type != CLG_LAYER_TOKPOS)
        why = "its layer 0 is not tokpos";
    for (int i = 1; !why && i < n - 2; i++)
        if (clg_model_layer(m, i)->type != CLG_LAYER_BLOCK ||
            clg_model_layer(m, i)->out != first->out)
            why = "a layer between tokpos and the last two is not a block of its width";
    if (!why && (n < 4 || norm->type != CLG_LAYER_LAYERNORM || norm->no_bias))
        why = "the layer before the last is not a layernorm with a bias";
    if (!why && fabs((norm->eps > 0 ? norm->eps : 1e-5) - 1e-5) > 1e-12)
        why = "its final layernorm's eps is not 1e-05";
    if (!why &&
        (head->type != CLG_LAYER_LINEAR || !head->no_bias || head->out != first->vocab))
        why = "its last layer is not a linear layer of the vocabulary without a bias";
    if (why) {
        clg_fail(CLG_INVALID_ARGUMENT, "the model is not a GPT-2 (%s)", why);
        return false;
    }
    g->n_layer = n - 3;
    g->n_embd = first->out;
    g->n_head = clg_model_layer(m, 1)->heads;
    g->vocab = first->vocab;
    g->n_positions = clg_tensor_dim(clg_model_input(m), 1);
    g->eps = 1e-5;
    g->tied = head->tie;
    return true;
}

static clg_status write_config(const char *dir, const gpt2_config *g, int eos)
{
    cJSON *c = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddStringToObject(c, "model_type", "gpt2");
    cJSON_AddStringToObject(c, "activation_function", "gelu_new");
    cJSON_AddNumberToObject(c, "n_layer", g->n_layer);
    cJSON_AddNumberToObject(c, "n_embd", g->n_embd);
    cJSON_AddNumberToObject(c, "n_head", g->n_head);
    cJSON_AddNumberToObject(c, "n_positions", g->n_positions);
    cJSON_AddNumberToObject(c, "n_ctx", g->n_positions);
    cJSON_AddNumberToObject(c, "vocab_size", g->vocab);
    cJSON_AddNullToObject(c, "n_inner");
    cJSON_AddNumberToObject(c, "layer_norm_epsilon", 1e-5);
    /* clgrad trains these blocks without dropout: so does transformers then */
    cJSON_AddNumberToObject(c, "resid_pdrop", 0.0);
    cJSON_AddNumberToObject(c, "embd_pdrop", 0.0);
    cJSON_AddNumberToObject(c, "attn_pdrop", 0.0);
    cJSON_AddBoolToObject(c, "scale_attn_weights", true);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", g->tied);
    if (eos >= 0) {
        cJSON_AddNumberToObject(c, "bos_token_id", eos);
        cJSON_AddNumberToObject(c, "eos_token_id", eos);
    }
    cJSON_AddStringToObject(c, "torch_dtype", "float32");
    char *text = cJSON_Print(c), path[4200];
    cJSON_Delete(c);
    if (!text)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    clg_status s = clg_write_file_atomic(path, &(clg_file_part){text, strlen(text)}, 1);
    free(text);
    return s;
}

/* model.safetensors under GPT-2's names, Conv1D weights [in, out]. */
static clg_status write_weights(const char *dir, const clg_model *m,
                                const gpt2_config *g)
{
    int count = clg_model_tensor_count(m);
    cJSON *h = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += clg_tensor_numel(clg_model_tensor(m, i)) * 4;
    char *data = malloc(total ? total : 1);
    clg_status s = data ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
    size_t at = 0;
    for (int i = 0; s == CLG_OK && i < count; i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        char name[160], full[200];
        bool transpose;
        if (!hf_name(clg_tensor_name(t), g->n_layer, name, sizeof name, &transpose)) {
            s = clg_fail(CLG_INVALID_ARGUMENT,
                         "%s: tensor '%s' has no place in GPT-2's "
                         "layout",
                         dir, clg_tensor_name(t));
            break;
        }
        snprintf(full, sizeof full, "%s%s",
                 strcmp(name, "lm_head.weight") ? "transformer." : "", name);
        size_t n = clg_tensor_numel(t);
        int rows = clg_tensor_dim(t, 0),
            cols = clg_tensor_ndim(t) == 2 ? clg_tensor_dim(t, 1) : 1;
        float *v = malloc(n * sizeof *v), *out = (float *)(data + at);
        s = v ? clg_tensor_download(t, v, n)
              : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
        for (int r = 0; s == CLG_OK && r < rows; r++)
            for (int c = 0; c < cols; c++)
                out[transpose ? (size_t)c * rows + r : (size_t)r * cols + c] =
                    v[(size_t)r * cols + c];
        free(v);
        cJSON *e = cJSON_AddObjectToObject(h, full),
              *shape = cJSON_AddArrayToObject(e, "shape"),
              *off = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(transpose ? cols : rows));
        if (clg_tensor_ndim(t) == 2)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(transpose ? rows : cols));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)at));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(at + n * 4)));
        at += n * 4;
    }
    char *header = s == CLG_OK ? cJSON_PrintUnformatted(h) : NULL;
    cJSON_Delete(h);
    if (s == CLG_OK && !header)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
    if (s == CLG_OK) {
        size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
        char *head = malloc(8 + padded);
        if (!head) {
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s", dir);
        } else {
            for (int k = 0; k < 8; k++) /* the header's length, little-endian */
                head[k] = (char)((uint64_t)padded >> (8 * k));
            memcpy(head + 8, header, hlen);
            memset(head + 8 + hlen, ' ', padded - hlen);
            char path[4200];
            snprintf(path, sizeof path, "%s/model.safetensors", dir);
            clg_file_part parts[] = {{head, 8 + padded}, {data, at}};
            s = clg_write_file_atomic(path, parts, 2);
            free(head);
        }
    }
    free(header), free(data);
    return s;
}

clg_status clg_gpt2_check(const clg_model *m)
{
    gpt2_config g;
    if (!m)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gpt2_check: NULL model");
    return gpt2_of(m, &g) ? CLG_OK : CLG_INVALID_ARGUMENT;
}

clg_status clg_save_gpt2_dir(const char *dir, const clg_model *m,
                             const clg_optimizer *opt, const clg_train_state *state,
                             const clg_tokenizer *tokenizer)
{
    if (!dir || !m)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_save_gpt2_dir: NULL argument");
    gpt2_config g;
    if (!gpt2_of(m, &g))
        return clg_fail_prefix(CLG_INVALID_ARGUMENT, "%s", dir);
    if (tokenizer && clg_tokenizer_type_of(tokenizer) != CLG_TOKENIZER_GPT2)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s: a GPT-2 directory holds a GPT-2 tokenizer; this one is %s "
                        "(train with --tokenizer gpt2bpe=N or from a GPT-2 directory)",
                        dir, clg_tokenizer_type_str(clg_tokenizer_type_of(tokenizer)));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return clg_fail(CLG_IO_ERROR, "%s: cannot make the directory: %s", dir,
                        strerror(errno));
    clg_status s = write_config(dir, &g, clg_tokenizer_end_of_text(tokenizer));
    if (s == CLG_OK)
        s = write_weights(dir, m, &g);
    if (s == CLG_OK && tokenizer)
        s = clg_tokenizer_save_gpt2(tokenizer, dir);
    if (s == CLG_OK && (opt || state)) { /* what --resume needs, beside it */
        char path[4200];
        snprintf(path, sizeof path, "%s/clgrad_state.safetensors", dir);
        s = clg_save(path, m, opt, state);
    }
    return s;
}
