/* clgrad-train's text: the tokenizer, the token windows a language model
 * trains on, and generation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/text.h"
#include "train.h"

/* The model's source as errors name it: the checkpoint or the spec. */
static const char *model_source(const train_options *o)
{
    return o->resume      ? o->resume
           : o->evaluate  ? o->evaluate
           : o->init_from ? o->init_from
           : o->spec      ? o->spec
                          : "the model";
}

/* The context T of a model whose input is token ids [N, T]. */
static int context_of(const train_options *o, const clg_model *m, int *T)
{
    clg_tensor *in = clg_model_input(m);
    if (clg_tensor_dtype(in) != CLG_INT32 || clg_tensor_ndim(in) != 2)
        return cli_usage_error(TOOL,
                               "%s: text data needs a model whose input is tokens (its "
                               "spec's first line: input tokens T); this model takes "
                               "%d-d %s",
                               model_source(o), clg_tensor_ndim(in),
                               clg_tensor_dtype(in) == CLG_INT32 ? "ids" : "floats");
    *T = clg_tensor_dim(in, 1);
    return -1;
}

static int classes_of(const clg_model *m)
{
    clg_tensor *out = clg_model_output(m);
    return clg_tensor_dim(out, clg_tensor_ndim(out) - 1);
}

/* The rows of the model's first layer when it is tokpos or an embedding
 * (0 otherwise). */
static int embedding_rows(const clg_model *m)
{
    const clg_layer *l = clg_model_layer_count(m) > 0 ? clg_model_layer(m, 0) : NULL;
    return l && (l->type == CLG_LAYER_TOKPOS || l->type == CLG_LAYER_EMBEDDING)
               ? l->vocab
               : 0;
}

/* Every id of the tokenizer must have a row in the model's embedding and an
 * output of its last layer: checked before the first step, not found in an
 * upload. */
static int check_vocabulary(const train_options *o, const clg_model *m,
                            const clg_tokenizer *t)
{
    int ids = t ? clg_tokenizer_vocab_size(t) : 0, rows = embedding_rows(m);
    int outputs = classes_of(m), least = rows && rows < outputs ? rows : outputs;
    if (!t || ids <= least)
        return -1;
    return cli_usage_error(
        TOOL,
        "%s: the %s tokenizer has %d ids; the model's vocabulary is "
        "%d (%s %d rows, its last linear layer %d outputs): make "
        "both at least %d",
        model_source(o), clg_tokenizer_type_str(clg_tokenizer_type_of(t)), ids, least,
        rows ? "its tokpos or embedding" : "no embedding:", rows, outputs, ids);
}

/* The tokenizer: the one saved beside the weights, or --tokenizer learned on
 * the training text (plain: no <pad> or <unk>). */
/* How --tokenizer names t: char, byte, bpe=N or gpt2bpe=N. */
static void tokenizer_flag(const clg_tokenizer *t, char *out, size_t len)
{
    int V = clg_tokenizer_vocab_size(t);
    clg_tokenizer_type type = clg_tokenizer_type_of(t);
    if (type == CLG_TOKENIZER_BPE)
        snprintf(out, len, "bpe=%d", V - 256);
    else if (type == CLG_TOKENIZER_GPT2)
        snprintf(out, len, "gpt2bpe=%d", V - 257);
    else
        snprintf(out, len, "%s", clg_tokenizer_type_str(type));
}

static int make_tokenizer(const train_options *o, const char *saved,
                          const clg_text *corpus, train_data *d)
{
    const char *ck = o->resume ? o->resume : o->evaluate ? o->evaluate : o->init_from;
    if (!saved && o->resume && !o->tokenizer)
        return cli_usage_error(TOOL,
                               "--resume %s: it carries no tokenizer: give the "
                               "--tokenizer that made the ids its weights learned",
                               o->resume);
    if (saved) {
        if (clg_tokenizer_from_string(saved, "the checkpoint's tokenizer",
                                      &d->tokenizer) != CLG_OK)
            return cli_fail(TOOL, CLI_USAGE_ERROR);
        char has[64];
        tokenizer_flag(d->tokenizer, has, sizeof has);
        if (o->tokenizer && strcmp(o->tokenizer, has) != 0)
            return cli_usage_error(TOOL,
                                   "--tokenizer %s: %s carries its own tokenizer (%s), "
                                   "whose ids its weights know: leave --tokenizer out",
                                   o->tokenizer, ck ? ck : "the checkpoint", has);
        d->tokenizer_text = strdup(saved);
        return d->tokenizer_text ? -1 : cli_usage_error(TOOL, "out of memory");
    }
    const char *how = o->tokenizer ? o->tokenizer : "char";
    clg_tokenizer_opts to = CLG_TOKENIZER_DEFAULTS;
    to.plain = true;
    long long merges = 0;
    if (!strcmp(how, "char"))
        to.type = CLG_TOKENIZER_CHAR;
    else if (!strcmp(how, "byte"))
        to.type = CLG_TOKENIZER_BYTE;
    else if (!strncmp(how, "bpe=", 4) && clg_parse_int(how + 4, 0, 1 << 20, &merges))
        to.type = CLG_TOKENIZER_BPE, to.merges = (int)merges;
    else if (!strncmp(how, "gpt2bpe=", 8) &&
             clg_parse_int(how + 8, 0, 1 << 20, &merges))
        to.type = CLG_TOKENIZER_GPT2, to.merges = (int)merges;
    else
        return cli_usage_error(
            TOOL,
            "--tokenizer: '%s' is not char, byte, bpe=N or gpt2bpe=N "
            "(N merges, at most 1048576)",
            how);
    if (to.type != CLG_TOKENIZER_BYTE && !corpus)
        return cli_usage_error(TOOL,
                               "--tokenizer %s learns from the training text: give "
                               "--text too",
                               how);
    if (clg_tokenizer_train(&to, corpus, &d->tokenizer) != CLG_OK ||
        clg_tokenizer_to_string(d->tokenizer, &d->tokenizer_text) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    return -1;
}

/* The ids of every document of text, one after the other. */
static int encode_all(const char *path, const clg_tokenizer *t, const clg_text *text,
                      int32_t **ids, size_t *count)
{
    size_t total = 0, cap = 0;
    int32_t *all = NULL;
    for (int k = 0; k < text->count; k++) {
        int32_t *part;
        size_t n;
        if (clg_tokenizer_encode(t, text->docs[k], text->lengths[k], &part, &n) !=
            CLG_OK) {
            free(all);
            if (text->count > 1)
                fprintf(stderr, TOOL ": %s, document %d: %s\n", path, k + 1,
                        clg_last_error());
            else
                fprintf(stderr, TOOL ": %s: %s\n", path, clg_last_error());
            return CLI_USAGE_ERROR;
        }
        if (total + n > cap) {
            cap = (total + n) * 2;
            int32_t *grown = realloc(all, cap * sizeof *grown);
            if (!grown) {
                free(all), free(part);
                return cli_usage_error(TOOL, "%s: out of memory for its tokens", path);
            }
            all = grown;
        }
        if (n) /* an empty document: nothing to copy, and `all` may be NULL */
            memcpy(all + total, part, n * sizeof *part);
        total += n;
        free(part);
    }
    *ids = all;
    *count = total;
    return -1;
}

/* Windows of T + 1 tokens of ids [from, to). */
static int windows(const char *path, const int32_t *ids, size_t from, size_t to, int T,
                   int vocab, clg_dataset **out)
{
    if (to - from < (size_t)T + 1)
        return cli_usage_error(TOOL,
                               "%s: %zu tokens do not fill one window of %d + 1 (the "
                               "model's context and the token after it)",
                               path, to - from, T);
    if (clg_dataset_windows(ids + from, to - from, T, vocab, out) == CLG_OK)
        return -1;
    fprintf(stderr, TOOL ": %s: %s\n", path, clg_last_error());
    return CLI_USAGE_ERROR;
}

static int read_text(const char *path, clg_text **text)
{
    return clg_text_read(path, false, text) == CLG_OK ? -1
                                                      : cli_fail(TOOL, CLI_USAGE_ERROR);
}

int train_load_text(const train_options *o, const clg_model *m,
                    const char *tokenizer_text, bool need_train, train_data *d)
{
    int T = 0;
    clg_text *corpus = NULL, *test = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = context_of(o, m, &T);
    if (rc < 0 && need_train && !o->text)
        rc = cli_usage_error(TOOL, "training a text model needs --text FILE");
    snprintf(d->train_source, sizeof d->train_source, "training text (%s)",
             o->text ? o->text : "?");
    snprintf(d->test_source, sizeof d->test_source, "test text (%s)",
             o->test_text ? o->test_text : "?");
    if (rc < 0 && o->text)
        rc = read_text(o->text, &corpus);
    if (rc < 0)
        rc = make_tokenizer(o, tokenizer_text, corpus, d);
    int vocab = d->tokenizer ? clg_tokenizer_vocab_size(d->tokenizer) : 0;
    if (rc < 0)
        rc = check_vocabulary(o, m, d->tokenizer);
    if (rc < 0 && need_train)
        rc = encode_all(o->text, d->tokenizer, corpus, &ids, &n);
    if (rc < 0 && need_train) {
        /* --val-split holds out the end of the text, as nanoGPT does: windows
         * of one stretch of text never straddle training and validation. */
        size_t cut =
            o->val_split > 0 ? n - (size_t)llround((double)n * o->val_split) : n;
        rc = windows(o->text, ids, 0, cut, T, vocab, &d->train);
        if (rc < 0 && o->val_split > 0)
            rc = windows("the --val-split part of the text", ids, cut, n, T, vocab,
                         &d->val);
    }
    free(ids), ids = NULL;
    if (rc < 0 && o->test_text)
        rc = read_text(o->test_text, &test);
    if (rc < 0 && o->test_text)
        rc = encode_all(o->test_text, d->tokenizer, test, &ids, &n);
    if (rc < 0 && o->test_text)
        rc = windows(o->test_text, ids, 0, n, T, vocab, &d->test);
    free(ids);
    clg_text_free(corpus), clg_text_free(test);
    if (rc < 0 && !o->quiet && need_train)
        printf("text: %s tokenizer, %d ids; %d training windows of %d tokens%s\n",
               clg_tokenizer_type_str(clg_tokenizer_type_of(d->tokenizer)), vocab,
               d->train->count, T, d->val ? ", validation: the end of the text" : "");
    return rc;
}

/* ---- Generation ----------------------------------------------------------- */

/* The prompt's ids; by default a newline (or id 0 where it has none). */
static int prompt_ids(const train_options *o, const clg_tokenizer *t, int32_t **ids,
                      size_t *n)
{
    const char *text = o->prompt ? o->prompt : "\n";
    *ids = NULL;
    *n = 0;
    clg_status s = clg_tokenizer_encode(t, text, strlen(text), ids, n);
    if (s == CLG_OK && *n > 0)
        return -1;
    free(*ids);
    *ids = NULL; /* the caller frees what is left here */
    if (o->prompt)
        return cli_usage_error(TOOL, "--prompt: %s",
                               s != CLG_OK ? clg_last_error() : "encodes to no tokens");
    *ids = calloc(1, sizeof **ids);
    *n = 1;
    return *ids ? -1 : cli_usage_error(TOOL, "out of memory");
}

/* What --generate prints as it goes: the tokenizer and the bytes of the
 * text shown so far (a token's bytes may end inside a character: the
 * terminal completes it with the next), the last byte, a failure. */
typedef struct text_stream {
    const clg_tokenizer *t;
    size_t shown;
    char last;
    bool failed;
} text_stream;

/* clg_generate's on_token: prints what the text of tokens[0 .. count) adds
 * to what was printed before, at once. */
static bool stream(const int32_t *tokens, int count, void *user)
{
    text_stream *st = user;
    char *text = NULL;
    size_t len = 0;
    if (clg_tokenizer_decode(st->t, tokens, (size_t)count, &text, &len) != CLG_OK) {
        st->failed = true;
        return false;
    }
    if (len > st->shown) {
        fwrite(text + st->shown, 1, len - st->shown, stdout);
        fflush(stdout);
        st->last = text[len - 1];
        st->shown = len;
    }
    free(text);
    return true;
}

int generate_mode(clg_context *ctx, const train_options *o)
{
    clg_model *m = NULL;
    char *tokenizer_text = NULL;
    train_data d = {0};
    int32_t *ids = NULL, *out = NULL;
    size_t n = 0;
    int T = 0;
    int rc =
        train_model_from_checkpoint(ctx, o, o->init_from, 1, &m, NULL, &tokenizer_text);
    if (rc < 0)
        rc = context_of(o, m, &T);
    if (rc < 0 && !tokenizer_text && (!o->tokenizer || strcmp(o->tokenizer, "byte")))
        rc =
            cli_usage_error(TOOL,
                            "%s carries no tokenizer (not saved by clgrad-train from "
                            "--text): give --tokenizer byte if it was trained on bytes",
                            o->init_from);
    if (rc < 0)
        rc = make_tokenizer(o, tokenizer_text, NULL, &d);
    if (rc < 0)
        rc = check_vocabulary(o, m, d.tokenizer);
    if (rc < 0)
        rc = prompt_ids(o, d.tokenizer, &ids, &n);
    if (rc < 0 && !(out = malloc((size_t)o->generate * sizeof *out)))
        rc = cli_usage_error(TOOL, "out of memory");
    text_stream st = {d.tokenizer, 0, '\n', false};
    if (rc < 0) {
        /* ids past the tokenizer's (a vocabulary padded in the spec) never */
        clg_generate_opts go = CLG_GENERATE_DEFAULTS;
        go.temperature = o->temperature, go.top_k = o->top_k;
        go.seed = (uint64_t)o->seed, go.vocab = clg_tokenizer_vocab_size(d.tokenizer);
        go.on_token = stream, go.user = &st;
        clg_status s = clg_generate(m, ids, n, o->generate, &go, out, NULL);
        if (s == CLG_NOT_FINITE) { /* logits of weights that overflow: a bad file */
            fprintf(stderr, "%s: %s: %s\n", TOOL, o->init_from, clg_last_error());
            rc = CLI_USAGE_ERROR;
        } else if (s != CLG_OK) {
            rc = train_fail_status(s);
        } else if (st.failed) {
            rc = cli_fail(TOOL, TRAIN_ERROR);
        }
    }
    if (rc < 0 && st.shown && st.last != '\n')
        putchar('\n');
    fflush(stdout);
    free(ids), free(out);
    free(tokenizer_text);
    train_free_data(&d);
    clg_model_free(m);
    return rc < 0 ? 0 : rc;
}
