/* What clgrad-bench's benchmarks share: errors, the peers' Python, the
 * Fashion-MNIST models, the clock of timed steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "bench.h"

int fail(const char *what)
{
    fprintf(stderr, "clgrad-bench: %s: %s\n", what, clg_last_error());
    return 1;
}

const char *access_python(void)
{
    if (flags_set.python)
        return flags_set.python;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* peers.py in the source tree (a build's clgrad-bench), else where it is
 * installed. */
static const char *peers_path(void)
{
    return access(CLGRAD_BENCH_SOURCE, R_OK) == 0 ? CLGRAD_BENCH_SOURCE
                                                  : CLGRAD_BENCH_INSTALLED;
}

/* No peer under --no-numpy: every reference is then n/a. */
FILE *bench_peer(const char *args)
{
    char cmd[8192];
    if (flags_set.no_numpy)
        return NULL;
    if ((size_t)snprintf(cmd, sizeof cmd, "'%s' '%s' %s 2>/dev/null", access_python(),
                         peers_path(), args) >= sizeof cmd)
        return NULL;
    return popen(cmd, "r");
}

double bench_peer_number(const char *args)
{
    double v = -1;
    return bench_peer_numbers(args, &v, 1) == 1 ? v : -1;
}

int bench_peer_numbers(const char *args, double *out, int count)
{
    FILE *p = bench_peer(args);
    int got = 0;
    while (p && got < count && fscanf(p, "%lf", &out[got]) == 1)
        got++;
    if (p)
        pclose(p);
    return got;
}

clg_dataset *bench_data(void)
{
    clg_dataset *d = NULL;
    if (clg_dataset_fashion_mnist(NULL, true, &d) == CLG_OK)
        return d;
    if (clg_dataset_create(60000, 3, (int[]){1, 28, 28}, true, &d) != CLG_OK)
        return NULL;
    for (size_t i = 0; i < (size_t)d->count * d->sample; i++)
        d->x[i] = (float)(i % 251) / 251.0f;
    for (int i = 0; i < d->count; i++)
        d->labels[i] = i % 10;
    d->classes = 10;
    return d;
}

/* A Fashion-MNIST model as layers; the same architecture as the PyTorch
 * modules of peers.py's train(). */
static clg_status add_layers(clg_model *m, bool cnn)
{
    clg_layer c1 = CLG_CONV2D(32, 3), c2 = CLG_CONV2D(64, 3);
    c1.padding = c2.padding = 1;
    c1.no_bias = c2.no_bias = true;
    clg_layer cnn_layers[] = {c1,
                              CLG_BATCHNORM2D(),
                              CLG_RELU(),
                              CLG_MAXPOOL2D(2),
                              c2,
                              CLG_BATCHNORM2D(),
                              CLG_RELU(),
                              CLG_MAXPOOL2D(2),
                              CLG_FLATTEN(),
                              CLG_DROPOUT(0.25f),
                              CLG_LINEAR(128),
                              CLG_RELU(),
                              CLG_LINEAR(10)};
    clg_layer mlp_layers[] = {CLG_FLATTEN(),   CLG_LINEAR(256), CLG_RELU(),
                              CLG_LINEAR(128), CLG_RELU(),      CLG_LINEAR(10)};
    const clg_layer *l = cnn ? cnn_layers : mlp_layers;
    int n = cnn ? 13 : 6;
    clg_status s = CLG_OK;
    for (int i = 0; s == CLG_OK && i < n; i++)
        s = clg_model_add(m, l[i]);
    return s;
}

clg_status make_trainer(clg_context *ctx, const clg_dataset *d, bool cnn,
                        const clg_loader_opts *lo, clg_model **m, clg_optimizer **opt,
                        clg_loader **l)
{
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    oo.type = CLG_OPTIM_ADAM, oo.lr = 1e-3f;
    *opt = NULL, *l = NULL;
    clg_status s = clg_model_create(ctx, &mo, 3, (int[]){1, 28, 28}, m);
    if (s == CLG_OK)
        s = add_layers(*m, cnn);
    if (s == CLG_OK)
        s = clg_model_compile(*m, CLG_LOSS_CROSS_ENTROPY, 0.0f);
    if (s == CLG_OK)
        s = clg_optim_create(clg_model_plan(*m), &oo, opt);
    if (s == CLG_OK)
        s = clg_loader_create(d, lo, l);
    return s;
}

bool clock_step(const clg_step_info *info, void *user)
{
    step_clock *c = user;
    double t = clg_now_seconds();
    if (c->first < 0)
        c->first = info->step, c->t_first = t;
    c->last = info->step, c->t_last = t;
    return true;
}

double clock_rate(const step_clock *c)
{
    return c->last > c->first && c->t_last > c->t_first
               ? (double)(c->last - c->first) / (c->t_last - c->t_first)
               : -1;
}
