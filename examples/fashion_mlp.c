/* Trains a 784-256-128-10 MLP on Fashion-MNIST and evaluates it on the test set.
 * Build: cc fashion_mlp.c $(pkg-config --cflags --libs clgrad) */
#include <clgrad.h>
#include <stdio.h>

/* On failure: the sentence saying what failed and where, exit status 1. */
#define TRY(call)                                                                      \
    if ((call) != CLG_OK) {                                                            \
        fprintf(stderr, "fashion_mlp: %s\n", clg_last_error());                        \
        return 1;                                                                      \
    }

int main(void)
{
    int dev;
    clg_context *ctx;
    clg_dataset *train, *test;
    TRY(clg_device_select(NULL, &dev));
    TRY(clg_context_create(dev, &ctx));
    TRY(clg_dataset_fashion_mnist(NULL, true, &train));
    TRY(clg_dataset_fashion_mnist(NULL, false, &test));
    float mean, std; /* statistics of the training set */
    TRY(clg_dataset_stats(train, &mean, &std, 1));
    TRY(clg_dataset_normalize(train, &mean, &std, 1));
    TRY(clg_dataset_normalize(test, &mean, &std, 1));

    clg_model_opts mo = CLG_MODEL_DEFAULTS; /* batch 64, PyTorch init */
    clg_model *model;
    TRY(clg_model_create(ctx, &mo, 3, (int[]){1, 28, 28}, &model));
    clg_layer layers[] = {CLG_FLATTEN(),   CLG_LINEAR(256), CLG_RELU(),
                          CLG_LINEAR(128), CLG_RELU(),      CLG_LINEAR(10)};
    for (int i = 0; i < 6; i++)
        TRY(clg_model_add(model, layers[i]));
    TRY(clg_model_compile(model, CLG_LOSS_CROSS_ENTROPY, 0.0f));

    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    oo.type = CLG_OPTIM_ADAM, oo.lr = 1e-3f;
    clg_optimizer *opt;
    TRY(clg_optim_create(clg_model_plan(model), &oo, &opt));
    clg_loader_opts lo = CLG_LOADER_DEFAULTS; /* 64, shuffled */
    clg_loader *loader;
    TRY(clg_loader_create(train, &lo, &loader));

    clg_schedule_opts so = CLG_SCHEDULE_DEFAULTS;
    so.type = CLG_SCHEDULE_COSINE, so.t_max = 15; /* anneal over 15 epochs */
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 15;
    TRY(clg_schedule_create(&so, oo.lr, &fo.schedule));
    clg_fit_report fit;
    TRY(clg_fit(model, opt, loader, NULL, &fo, &fit));
    clg_eval_report r;
    TRY(clg_evaluate(model, test, &r));
    printf("test loss %.4f, accuracy %.4f after %d epochs\n", r.loss, r.accuracy,
           fit.epochs);

    clg_eval_report_free(&r);
    clg_schedule_free(fo.schedule);
    clg_loader_free(loader);
    clg_optim_free(opt);
    clg_model_free(model);
    clg_dataset_free(train);
    clg_dataset_free(test);
    clg_context_free(ctx);
    return 0;
}
