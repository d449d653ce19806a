/* clgrad-bench loader: the input pipeline alone and under an MLP epoch. */
#include <stdio.h>

#include "base/clock.h"
#include "bench.h"

static double loader_seconds(const clg_dataset *d, bool prefetch,
                             const clg_augment *aug)
{
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.prefetch = prefetch, lo.augment = *aug;
    clg_loader *l;
    if (clg_loader_create(d, &lo, &l) != CLG_OK)
        return -1;
    double start = clg_now_seconds();
    const clg_batch *b;
    clg_loader_start_epoch(l, 0);
    while (clg_loader_next(l, &b) == CLG_OK && b)
        ;
    double t = clg_now_seconds() - start;
    clg_loader_free(l);
    return t;
}

/* One MLP epoch through clg_fit; seconds, or < 0 on failure. */
static double epoch_seconds(clg_context *ctx, const clg_dataset *d, bool prefetch,
                            const clg_augment *aug)
{
    clg_model *m = NULL;
    clg_optimizer *opt;
    clg_loader *l;
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.prefetch = prefetch, lo.augment = *aug;
    clg_status s = make_trainer(ctx, d, false, &lo, &m, &opt, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 1;
    clg_fit_report r;
    double start = clg_now_seconds();
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r);
    double t = clg_now_seconds() - start;
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m);
    return s == CLG_OK ? t : -1;
}

int bench_loader(clg_context *ctx)
{
    clg_dataset *d = bench_data();
    if (!d)
        return fail("loading the data");
    const clg_device_info *dev = clg_context_device(ctx);
    printf(
        "clgrad %s loader benchmark on device %d: %s; %d images of 28x28, batch 64\n\n",
        clg_version(), dev->index, dev->name, d->count);
    clg_augment none = CLG_AUGMENT_NONE, aug = CLG_AUGMENT_NONE;
    aug.hflip = 0.5f, aug.crop_pad = 2, aug.probability = 0.5f;
    struct {
        const char *label;
        bool prefetch;
        const clg_augment *aug;
    } rows[] = {{"no prefetch", false, &none},
                {"prefetch", true, &none},
                {"no prefetch, flip+crop", false, &aug},
                {"prefetch, flip+crop", true, &aug}};
    printf("%-26s %14s %16s\n", "", "loader alone", "MLP epoch");
    double epoch[4];
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        double lt = loader_seconds(d, rows[i].prefetch, rows[i].aug);
        epoch[i] = epoch_seconds(ctx, d, rows[i].prefetch, rows[i].aug);
        failures += lt < 0 || epoch[i] < 0;
        printf("%-26s %8.2f s %5.0f b/s %9.2f s\n", rows[i].label, lt,
               lt > 0 ? 938.0 / lt : 0.0, epoch[i]);
    }
    printf("\nprefetch: epoch %.2fx the time without it; flip+crop with prefetch: "
           "%.2fx the plain epoch\n",
           epoch[1] / epoch[0], epoch[3] / epoch[1]);
    clg_dataset_free(d);
    return failures ? 1 : 0;
}
