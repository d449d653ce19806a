/* Trains a 784-256-10 MLP on Fashion-MNIST for 10 epochs and evaluates it:
 * the README's program. Build: cc quick_start.c $(pkg-config --cflags --libs clgrad) */
#include <clgrad.h>
#include <stdio.h>

#define TRY(call)                                                                      \
    if ((call) != CLG_OK) {                                                            \
        fprintf(stderr, "example: %s\n", clg_last_error());                            \
        return 1;                                                                      \
    }

int main(void)
{
    int dev;
    clg_context *ctx;
    clg_dataset *train, *test;
    TRY(clg_device_select(NULL, &dev)); /* CLGRAD_DEVICE, else a GPU, else a CPU */
    TRY(clg_context_create(dev, &ctx));
    TRY(clg_dataset_fashion_mnist(NULL, true, &train));
    TRY(clg_dataset_fashion_mnist(NULL, false, &test));

    clg_model_opts mo = CLG_MODEL_DEFAULTS; /* batch 64, PyTorch's init */
    clg_model *m;
    TRY(clg_model_create(ctx, &mo, 3, (int[]){1, 28, 28}, &m));
    clg_layer layers[] = {CLG_FLATTEN(), CLG_LINEAR(256), CLG_RELU(), CLG_LINEAR(10)};
    for (int i = 0; i < 4; i++)
        TRY(clg_model_add(m, layers[i]));
    TRY(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));

    clg_optim_opts oo = CLG_OPTIM_DEFAULTS; /* Adam, lr 1e-3 */
    clg_optimizer *opt;
    clg_loader *loader;
    clg_loader_opts lo = CLG_LOADER_DEFAULTS; /* batches of 64, shuffled */
    TRY(clg_optim_create(clg_model_plan(m), &oo, &opt));
    TRY(clg_loader_create(train, &lo, &loader));
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    clg_fit_report fit;
    clg_eval_report r;
    TRY(clg_fit(m, opt, loader, NULL, &fo, &fit));
    TRY(clg_evaluate(m, test, &r));
    printf("test accuracy %.4f\n", r.accuracy);
    clg_eval_report_free(&r);
    clg_loader_free(loader), clg_optim_free(opt), clg_model_free(m);
    clg_dataset_free(train), clg_dataset_free(test), clg_context_free(ctx);
    return 0;
}
