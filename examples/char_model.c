/* Next-character prediction on a text file (default: README.md): a character
 * tokenizer, an Embedding over 16 characters, two Linear layers. Prints the
 * loss per epoch, which falls well below log(vocabulary) = guessing. */
#include <clgrad.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define TRY(call)                                                                      \
    if ((call) != CLG_OK) {                                                            \
        fprintf(stderr, "%s\n", clg_last_error());                                     \
        return 1;                                                                      \
    }

static bool show(const clg_epoch_info *e, void *user)
{
    (void)user;
    printf("epoch %d: loss %.3f, next-character accuracy %.3f\n", e->epoch + 1,
           (double)e->train_loss, (double)e->train_accuracy);
    return true;
}

int main(int argc, char **argv)
{
    const int T = 16;
    int dev, V;
    clg_context *ctx;
    clg_text *text;
    clg_tokenizer *tok;
    clg_dataset *windows;
    int32_t *ids;
    size_t count;
    TRY(clg_device_select(NULL, &dev));
    TRY(clg_context_create(dev, &ctx));
    TRY(clg_text_read(argc > 1 ? argv[1] : "README.md", false, &text));
    clg_tokenizer_opts to = CLG_TOKENIZER_DEFAULTS;
    to.type = CLG_TOKENIZER_CHAR;
    TRY(clg_tokenizer_train(&to, text, &tok));
    TRY(clg_tokenizer_encode(tok, text->docs[0], text->lengths[0], &ids, &count));
    V = clg_tokenizer_vocab_size(tok);
    TRY(clg_dataset_next_token(ids, count, T, 2, V, &windows));
    printf("%zu characters, vocabulary %d, %d windows; guessing costs %.3f\n", count, V,
           windows->count, log((double)V));

    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.input_dtype = CLG_INT32;
    clg_model *m;
    TRY(clg_model_create(ctx, &mo, 1, &T, &m));
    clg_layer layers[] = {CLG_EMBEDDING(V, 24), CLG_FLATTEN(), CLG_LINEAR(256),
                          CLG_RELU(), CLG_LINEAR(V)};
    for (int i = 0; i < 5; i++)
        TRY(clg_model_add(m, layers[i]));
    TRY(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    oo.type = CLG_OPTIM_ADAM, oo.lr = 3e-3f;
    clg_optimizer *opt;
    TRY(clg_optim_create(clg_model_plan(m), &oo, &opt));
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    clg_loader *loader;
    TRY(clg_loader_create(windows, &lo, &loader));
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 5, fo.on_epoch = show;
    clg_fit_report r;
    TRY(clg_fit(m, opt, loader, NULL, &fo, &r));
    return 0;
}
