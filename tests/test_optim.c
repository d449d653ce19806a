/* Optimizers, clipping and schedules against torch.optim: 20 steps of an MLP
 * and of a CNN with batch norm from tests/fixtures/torch_optim.json (written
 * by tests/torch_optim.py) must give PyTorch's losses and final weights
 * within 1e-3 (max abs difference over max abs value, per tensor). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fixture.h"
#include "runtime/runtime_internal.h"
#include "test_util.h"

static cJSON *fixtures;

static int setup(void **state)
{
    fixtures = test_fixture_json("torch_optim.json");
    return fixtures ? test_context_setup(state) : -1;
}

static int teardown(void **state)
{
    cJSON_Delete(fixtures);
    return test_context_teardown(state);
}

typedef struct net {
    clg_graph *g;
    clg_tensor *x, *y, *loss;
    clg_plan *plan;
} net;

static clg_tensor *named(clg_graph *g, const char *name, int ndim, const int *shape)
{
    return clg_parameter(g, name, ndim, shape);
}

static void build(clg_context *ctx, const char *model, int batch, net *n)
{
    assert_ok(clg_graph_create(ctx, &n->g));
    clg_graph *g = n->g;
    n->y = clg_input(g, "y", CLG_INT32, 1, (int[]){batch});
    clg_tensor *h;
    if (!strcmp(model, "mlp")) {
        n->x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){batch, 20});
        h = clg_relu(g, clg_linear(g, n->x, named(g, "0.weight", 2, (int[]){32, 20}),
                                   named(g, "0.bias", 1, (int[]){32})));
        h = clg_tanh(g, clg_linear(g, h, named(g, "2.weight", 2, (int[]){16, 32}),
                                   named(g, "2.bias", 1, (int[]){16})));
        h = clg_linear(g, h, named(g, "4.weight", 2, (int[]){5, 16}),
                       named(g, "4.bias", 1, (int[]){5}));
    } else {
        n->x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){batch, 1, 8, 8});
        clg_conv2d_opts pad = {1, 1, 1, 1, 1, 1, CLG_CONV_AUTO};
        h = clg_conv2d(g, n->x, named(g, "0.weight", 4, (int[]){4, 1, 3, 3}), NULL,
                       &pad);
        h = clg_batch_norm(g, h, named(g, "1.weight", 1, (int[]){4}),
                           named(g, "1.bias", 1, (int[]){4}),
                           clg_state(g, "1.running_mean", 1, (int[]){4}, 0.0f),
                           clg_state(g, "1.running_var", 1, (int[]){4}, 1.0f), 0.1f,
                           1e-5f);
        h = clg_flatten(g, clg_max_pool2d(g, clg_relu(g, h), 2, 2, 0));
        h = clg_linear(g, h, named(g, "5.weight", 2, (int[]){5, 64}),
                       named(g, "5.bias", 1, (int[]){5}));
    }
    n->loss = clg_cross_entropy(g, h, n->y, 0.0f, CLG_REDUCE_MEAN);
    assert_ok(clg_graph_status(g));
    assert_ok(clg_plan_create(g, n->loss, NULL, 0, &n->plan));
}

static float *floats(cJSON *array, size_t *count)
{
    size_t n = (size_t)cJSON_GetArraySize(array), i = 0;
    float *v = malloc((n ? n : 1) * sizeof *v);
    cJSON *e;
    cJSON_ArrayForEach(e, array) v[i++] = (float)e->valuedouble;
    *count = n;
    return v;
}

static double get(cJSON *c, const char *key, double fallback)
{
    cJSON *v = cJSON_GetObjectItem(c, key);
    return v ? v->valuedouble : fallback;
}

static void options_from(cJSON *c, clg_optim_opts *o, clg_schedule_opts *so,
                         bool *scheduled)
{
    clg_optim_opts d = CLG_OPTIM_DEFAULTS;
    *o = d;
    const char *type = cJSON_GetObjectItem(c, "type")->valuestring;
    o->type = !strcmp(type, "sgd")       ? CLG_OPTIM_SGD
              : !strcmp(type, "adam")    ? CLG_OPTIM_ADAM
              : !strcmp(type, "adamw")   ? CLG_OPTIM_ADAMW
              : !strcmp(type, "rmsprop") ? CLG_OPTIM_RMSPROP
                                         : CLG_OPTIM_ADAGRAD;
    o->lr = (float)get(c, "lr", 0.01);
    o->momentum = (float)get(c, "momentum", 0);
    o->dampening = (float)get(c, "dampening", 0);
    o->nesterov = cJSON_IsTrue(cJSON_GetObjectItem(c, "nesterov"));
    o->weight_decay =
        (float)get(c, "weight_decay", o->type == CLG_OPTIM_ADAMW ? 0.01 : 0);
    cJSON *betas = cJSON_GetObjectItem(c, "betas");
    if (betas) {
        o->beta1 = (float)cJSON_GetArrayItem(betas, 0)->valuedouble;
        o->beta2 = (float)cJSON_GetArrayItem(betas, 1)->valuedouble;
    }
    o->alpha = (float)get(c, "alpha", 0.99);
    o->centered = cJSON_IsTrue(cJSON_GetObjectItem(c, "centered"));
    o->lr_decay = (float)get(c, "lr_decay", 0);
    o->clip_norm = (float)get(c, "clip_norm", 0);
    o->clip_value = (float)get(c, "clip_value", 0);
    clg_schedule_opts sd = CLG_SCHEDULE_DEFAULTS;
    *so = sd;
    cJSON *sched = cJSON_GetObjectItem(c, "schedule");
    *scheduled = sched != NULL;
    if (!sched)
        return;
    if (!strcmp(sched->valuestring, "step")) {
        so->type = CLG_SCHEDULE_STEP, so->step_size = 5, so->gamma = 0.5f;
    } else if (!strcmp(sched->valuestring, "cosine")) {
        so->type = CLG_SCHEDULE_COSINE, so->t_max = 20, so->eta_min = 1e-3f;
    } else {
        so->type = CLG_SCHEDULE_ONECYCLE, so->max_lr = o->lr, so->total_steps = 20;
    }
}

static void compare(const char *run, const char *what, const float *got,
                    const float *want, size_t n)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(want[i]));
        worst = fmax(worst, fabs((double)got[i] - want[i]));
    }
    if (!(worst <= 1e-3 * scale))
        fail_msg("%s: %s differs from PyTorch by %.3g (max abs %.3g)", run, what, worst,
                 scale);
}

static void run_model(clg_context *ctx, cJSON *model)
{
    const char *name = cJSON_GetObjectItem(model, "name")->valuestring;
    int steps = cJSON_GetObjectItem(fixtures, "steps")->valueint;
    int batch = cJSON_GetObjectItem(fixtures, "batch")->valueint;
    net n;
    build(ctx, name, batch, &n);
    cJSON *run;
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(model, "runs"))
    {
        char label[160];
        snprintf(label, sizeof label, "%s / %s", name,
                 cJSON_GetObjectItem(run, "name")->valuestring);
        /* Initial weights and statistics. */
        cJSON *init = cJSON_GetObjectItem(model, "init"), *t;
        cJSON_ArrayForEach(t, init)
        {
            size_t count;
            float *v = floats(cJSON_GetObjectItem(t, "data"), &count);
            clg_tensor *dst = clg_graph_find(n.g, t->string);
            assert_non_null(dst);
            assert_ok(clg_tensor_upload(dst, v, count));
            free(v);
        }
        clg_optim_opts o;
        clg_schedule_opts so;
        bool scheduled;
        options_from(cJSON_GetObjectItem(run, "config"), &o, &so, &scheduled);
        clg_optimizer *opt;
        clg_schedule *sched = NULL;
        assert_ok(clg_optim_create(n.plan, &o, &opt));
        if (scheduled)
            assert_ok(clg_schedule_create(&so, o.lr, &sched));
        size_t nl;
        float *want_losses = floats(cJSON_GetObjectItem(run, "losses"), &nl);
        assert_int_equal(nl, steps);
        cJSON *inputs = cJSON_GetObjectItem(model, "inputs");
        cJSON *labels = cJSON_GetObjectItem(model, "labels");
        for (int k = 0; k < steps; k++) {
            size_t count;
            float *x = floats(cJSON_GetArrayItem(inputs, k), &count);
            assert_ok(clg_tensor_upload(n.x, x, count));
            free(x);
            int32_t y[64];
            cJSON *e;
            int i = 0;
            cJSON_ArrayForEach(e, cJSON_GetArrayItem(labels, k)) y[i++] = e->valueint;
            assert_ok(clg_tensor_upload(n.y, y, (size_t)i));
            if (sched)
                clg_optim_set_lr(opt, clg_schedule_lr(sched, k, k));
            assert_ok(clg_plan_run(n.plan, batch, CLG_RUN_TRAIN));
            float loss;
            assert_ok(clg_plan_loss(n.plan, &loss));
            assert_ok(clg_optim_step(opt));
            assert_ok(clg_optim_check(opt));
            if (!(fabsf(loss - want_losses[k]) <= 1e-3f * fabsf(want_losses[k])))
                fail_msg("%s: loss of step %d is %.7g, PyTorch %.7g", label, k, loss,
                         want_losses[k]);
        }
        free(want_losses);
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(run, "final"))
        {
            size_t count;
            float *want = floats(t, &count), *got = malloc(count * sizeof *got);
            clg_tensor *src = clg_graph_find(n.g, t->string);
            assert_non_null(src);
            assert_ok(clg_tensor_download(src, got, count));
            char what[96];
            snprintf(what, sizeof what, "final %s", t->string);
            compare(label, what, got, want, count);
            free(want), free(got);
        }
        clg_schedule_free(sched);
        clg_optim_free(opt);
    }
    clg_plan_free(n.plan);
    clg_graph_free(n.g);
}

static void test_mlp_matches_torch_optim(void **state)
{
    run_model(*state, cJSON_GetArrayItem(cJSON_GetObjectItem(fixtures, "models"), 0));
}

static void test_cnn_with_batch_norm_matches_torch_optim(void **state)
{
    run_model(*state, cJSON_GetArrayItem(cJSON_GetObjectItem(fixtures, "models"), 1));
}

/* On PoCL (the default suite's device) both models again in every other
 * class's kernel forms: gradient norms and clipping in masked passes
 * (Intel's runtime), batch norm by work-group trees (GPUs), loops split
 * under llvmpipe's limit. Elsewhere skipped: each runs its own. */
static void test_models_match_torch_optim_in_every_kernel_class(void **state)
{
    const clg_device_info *d = clg_context_device(*state);
    if (clg_kernel_class_of(d) != CLG_KERNELS_POCL_CPU)
        skip();
    for (int k = 0; k < CLG_KERNEL_CLASS_COUNT; k++) {
        if (k == CLG_KERNELS_POCL_CPU)
            continue;
        clg_context *ctx;
        assert_ok(clg_context_create(d->index, &ctx));
        assert_ok(clg_context_force_kernels(ctx, (clg_kernel_class)k));
        for (int m = 0; m < 2; m++)
            run_model(ctx,
                      cJSON_GetArrayItem(cJSON_GetObjectItem(fixtures, "models"), m));
        clg_context_free(ctx);
    }
}

static void test_schedules_match_torch(void **state)
{
    (void)state;
    cJSON *sc;
    cJSON_ArrayForEach(sc, cJSON_GetObjectItem(fixtures, "schedules"))
    {
        const char *name = cJSON_GetObjectItem(sc, "name")->valuestring;
        clg_schedule_opts o = CLG_SCHEDULE_DEFAULTS;
        if (!strcmp(name, "step") || !strcmp(name, "warmup+step")) {
            o.type = CLG_SCHEDULE_STEP, o.step_size = 10, o.gamma = 0.5f;
            if (name[0] == 'w')
                o.warmup = 4, o.warmup_start = 1.0f / 3.0f;
        } else if (!strcmp(name, "multistep")) {
            o.type = CLG_SCHEDULE_MULTISTEP, o.gamma = 0.1f;
            o.milestones[0] = 3, o.milestones[1] = 7, o.milestone_count = 2;
        } else if (!strcmp(name, "exp")) {
            o.type = CLG_SCHEDULE_EXPONENTIAL, o.gamma = 0.9f;
        } else if (!strcmp(name, "cosine")) {
            o.type = CLG_SCHEDULE_COSINE, o.t_max = 10, o.eta_min = 0.01f;
        } else if (!strcmp(name, "onecycle")) {
            o.type = CLG_SCHEDULE_ONECYCLE, o.max_lr = 0.1f, o.total_steps = 30;
        } else {
            o.type = CLG_SCHEDULE_PLATEAU, o.factor = 0.5f, o.patience = 2,
            o.cooldown = 1;
        }
        clg_schedule *sched;
        assert_ok(clg_schedule_create(&o, 0.1f, &sched));
        size_t n, nl = 0;
        float *want = floats(cJSON_GetObjectItem(sc, "lrs"), &n);
        float *losses = cJSON_GetObjectItem(sc, "losses")
                            ? floats(cJSON_GetObjectItem(sc, "losses"), &nl)
                            : NULL;
        for (size_t e = 0; e < n; e++) {
            float got = clg_schedule_lr(sched, (int)e, (long long)e);
            if (!(fabsf(got - want[e]) <= 1e-5f * want[e] + 1e-9f))
                fail_msg("%s: lr of epoch %zu is %.8g, torch %.8g", name, e, got,
                         want[e]);
            if (losses && e < nl)
                clg_schedule_observe(sched, losses[e]);
        }
        free(want);
        free(losses);
        clg_schedule_free(sched);
    }
}

static void test_bad_options_are_refused(void **state)
{
    net n;
    build(*state, "mlp", 4, &n);
    clg_optimizer *opt;
    clg_optim_opts o = CLG_OPTIM_DEFAULTS;
    o.lr = -1;
    assert_int_equal(clg_optim_create(n.plan, &o, &opt), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "learning rate -1");
    o = (clg_optim_opts)CLG_OPTIM_DEFAULTS;
    o.nesterov = true;
    assert_int_equal(clg_optim_create(n.plan, &o, &opt), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "Nesterov");
    o = (clg_optim_opts)CLG_OPTIM_DEFAULTS;
    o.type = CLG_OPTIM_ADAM, o.beta2 = 1.0f;
    assert_int_equal(clg_optim_create(n.plan, &o, &opt), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "betas");
    clg_schedule_opts so = CLG_SCHEDULE_DEFAULTS;
    clg_schedule *sched;
    so.type = CLG_SCHEDULE_MULTISTEP, so.milestone_count = 2, so.milestones[0] = 5,
    so.milestones[1] = 3;
    assert_int_equal(clg_schedule_create(&so, 0.1f, &sched), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "milestones must increase");
    clg_plan_free(n.plan);
    clg_graph_free(n.g);
}

static void test_non_finite_step_leaves_weights_and_names_parameter(void **state)
{
    net n;
    build(*state, "mlp", 4, &n);
    clg_optim_opts o = CLG_OPTIM_DEFAULTS;
    o.type = CLG_OPTIM_ADAM, o.lr = 0.01f;
    clg_optimizer *opt;
    assert_ok(clg_optim_create(n.plan, &o, &opt));
    float x[80], w[640], after[640];
    for (int i = 0; i < 80; i++)
        x[i] = 0.01f * (float)i;
    int32_t y[4] = {0, 1, 2, 3};
    uint32_t seed = 3;
    for (int i = 0; i < 640; i++)
        w[i] = 0.1f * test_random(&seed);
    clg_tensor *w0 = clg_graph_find(n.g, "0.weight");
    assert_ok(clg_tensor_upload(w0, w, 640));
    assert_ok(clg_tensor_upload(n.y, y, 4));
    float bias0[5], bias[5];
    clg_tensor *b4 = clg_graph_find(n.g, "4.bias");
    assert_ok(clg_tensor_download(b4, bias0, 5));
    x[5] = NAN;
    assert_ok(clg_tensor_upload(n.x, x, 80));
    assert_ok(clg_plan_run(n.plan, 4, CLG_RUN_TRAIN));
    assert_ok(clg_optim_step(opt));
    /* A finite step after it, before anyone looked: skipped too, so that a
     * loop that checks every few steps finds the weights of before step 1. */
    x[5] = 0.0f;
    assert_ok(clg_tensor_upload(n.x, x, 80));
    assert_ok(clg_plan_run(n.plan, 4, CLG_RUN_TRAIN));
    assert_ok(clg_optim_step(opt));
    assert_int_equal(clg_optim_steps(opt), 2);
    assert_int_equal(clg_optim_check(opt), CLG_NOT_FINITE);
    /* NaN in the input reaches every gradient (as in PyTorch): the first
     * parameter is named. */
    assert_contains(clg_last_error(), "step 1: the gradient of '0.");
    assert_contains(clg_last_error(), "' is not finite");
    assert_contains(clg_last_error(), "left as they were");
    assert_int_equal(clg_optim_steps(opt), 0); /* goes on from before step 1 */
    assert_ok(clg_tensor_download(w0, after, 640));
    assert_memory_equal(w, after, sizeof w);
    assert_ok(clg_tensor_download(b4, bias, 5)); /* the finite step would move it */
    assert_memory_equal(bias0, bias, sizeof bias);
    /* The check cleared it: a finite step then applies, its norm is the
     * host's, and the norm sums hold it alone (skipped steps add none). */
    int count = clg_optim_param_count(opt);
    assert_int_equal(count, 6);
    float norms[6], sums[6], total;
    assert_ok(clg_optim_take_grad_norm_sums(opt, sums, count));
    assert_ok(clg_plan_run(n.plan, 4, CLG_RUN_TRAIN));
    assert_ok(clg_optim_step(opt));
    assert_ok(clg_optim_check(opt));
    assert_int_equal(clg_optim_steps(opt), 1);
    assert_ok(clg_optim_grad_norms(opt, norms, count));
    assert_ok(clg_optim_grad_norm(opt, &total));
    assert_ok(clg_optim_take_grad_norm_sums(opt, sums, count));
    assert_memory_equal(sums, norms, sizeof norms);
    assert_ok(clg_optim_take_grad_norm_sums(opt, sums, count));
    for (int i = 0; i < count; i++)
        assert_true(sums[i] == 0.0f);
    /* More sums than parameters, and a step number the device's int cannot
     * hold: clear errors, nothing enqueued. */
    assert_int_equal(clg_optim_take_grad_norm_sums(opt, sums, count + 1),
                     CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "asked for 7 sums of 6 parameters");
    clg_optim_set_steps(opt, INT32_MAX);
    assert_int_equal(clg_optim_step(opt), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "too many");
    assert_int_equal(clg_optim_steps(opt), INT32_MAX);
    clg_optim_set_steps(opt, 1);
    double sum = 0;
    for (int i = 0; i < count; i++) {
        clg_tensor *p = clg_optim_param(opt, i);
        size_t np = clg_tensor_numel(p);
        float *g = malloc(np * sizeof *g);
        assert_ok(clg_plan_read_grad(n.plan, p, g, np));
        double sq = 0;
        for (size_t k = 0; k < np; k++)
            sq += (double)g[k] * g[k];
        free(g);
        assert_true(fabs(norms[i] - sqrt(sq)) <= 1e-4 * sqrt(sq) + 1e-7);
        sum += sq;
    }
    assert_true(fabs(total - sqrt(sum)) <= 1e-4 * sqrt(sum));
    /* The other layers are zero, so only the last gets a gradient: it moved. */
    assert_ok(clg_tensor_download(b4, bias, 5));
    for (int i = 0; i < 5; i++)
        assert_true(fabsf(bias[i]) > 1e-4f);
    clg_optim_free(opt);
    clg_plan_free(n.plan);
    clg_graph_free(n.g);
}

/* One step over parameters of every kind of placement: two weights and a
 * bias packed by the first plan (the weights one launch, the bias, which
 * does not decay, another), and a bias made after it, in a buffer of its
 * own; each moves as SGD with weight decay says, and its state is its own. */
static void test_packed_and_unpacked_parameters_step_alike(void **state)
{
    clg_graph *g;
    assert_ok(clg_graph_create(*state, &g));
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){6, 5});
    clg_tensor *y = clg_input(g, "y", CLG_INT32, 1, (int[]){6});
    clg_tensor *p[4];
    p[0] = clg_parameter(g, "a.weight", 2, (int[]){37, 5});
    p[1] = clg_parameter(g, "a.bias", 1, (int[]){37});
    p[2] = clg_parameter(g, "b.weight", 2, (int[]){3, 37});
    clg_tensor *logits =
        clg_linear(g, clg_tanh(g, clg_linear(g, x, p[0], p[1])), p[2], NULL);
    clg_tensor *loss = clg_cross_entropy(g, logits, y, 0.0f, CLG_REDUCE_MEAN);
    clg_plan *first;
    assert_ok(clg_plan_create(g, loss, NULL, 0, &first));
    clg_plan_free(first);
    p[3] = clg_parameter(g, "late.bias", 1, (int[]){3});
    loss = clg_cross_entropy(g, clg_add(g, logits, p[3]), y, 0.0f, CLG_REDUCE_MEAN);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, NULL, 0, &plan));
    uint32_t seed = 11;
    float *w[4], xs[30];
    for (int i = 0; i < 4; i++) {
        size_t n = clg_tensor_numel(p[i]);
        w[i] = malloc(n * sizeof(float));
        for (size_t k = 0; k < n; k++)
            w[i][k] = 0.3f * test_random(&seed);
        assert_ok(clg_tensor_upload(p[i], w[i], n));
    }
    for (int i = 0; i < 30; i++)
        xs[i] = test_random(&seed);
    int32_t ys[6] = {0, 1, 2, 0, 1, 2};
    assert_ok(clg_tensor_upload(x, xs, 30));
    assert_ok(clg_tensor_upload(y, ys, 6));
    clg_optim_opts o = CLG_OPTIM_DEFAULTS;
    o.type = CLG_OPTIM_SGD, o.lr = 0.5f, o.momentum = 0.9f, o.weight_decay = 0.1f;
    o.decay_biases = false;
    clg_optimizer *opt;
    assert_ok(clg_optim_create(plan, &o, &opt));
    assert_ok(clg_plan_run(plan, 6, CLG_RUN_TRAIN));
    float *grad[4];
    for (int i = 0; i < 4; i++) {
        size_t n = clg_tensor_numel(p[i]);
        grad[i] = malloc(n * sizeof(float));
        assert_ok(clg_plan_read_grad(plan, p[i], grad[i], n));
    }
    assert_ok(clg_optim_step(opt));
    assert_ok(clg_optim_check(opt));
    assert_int_equal(clg_optim_param_count(opt), 4);
    for (int i = 0; i < 4; i++) {
        clg_tensor *t = clg_optim_param(opt, i);
        int k = t == p[0] ? 0 : t == p[1] ? 1 : t == p[2] ? 2 : 3;
        size_t n = clg_tensor_numel(t);
        float *now = malloc(n * sizeof *now), *buf = malloc(n * sizeof *buf);
        assert_ok(clg_tensor_download(t, now, n));
        clg_buffer *momentum = clg_optim_state(opt, i, 0, NULL);
        assert_int_equal(clg_buffer_size(momentum), n * 4);
        assert_ok(clg_buffer_download(momentum, 0, buf, n * 4));
        float wd = clg_tensor_ndim(t) > 1 ? 0.1f : 0.0f;
        for (size_t e = 0; e < n; e++) {
            float d = grad[k][e] + wd * w[k][e]; /* the first step: buf = d */
            float want = w[k][e] - 0.5f * d;
            if (!(fabsf(now[e] - want) <= 1e-6f + 1e-6f * fabsf(want)) || buf[e] != d)
                fail_msg("%s[%zu]: %g (momentum %g), want %g (%g)", clg_tensor_name(t),
                         e, (double)now[e], (double)buf[e], (double)want, (double)d);
        }
        free(now), free(buf);
    }
    for (int i = 0; i < 4; i++)
        free(w[i]), free(grad[i]);
    clg_optim_free(opt);
    clg_plan_free(plan);
    clg_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_matches_torch_optim),
        cmocka_unit_test(test_cnn_with_batch_norm_matches_torch_optim),
        cmocka_unit_test(test_models_match_torch_optim_in_every_kernel_class),
        cmocka_unit_test(test_schedules_match_torch),
        cmocka_unit_test(test_bad_options_are_refused),
        cmocka_unit_test(test_non_finite_step_leaves_weights_and_names_parameter),
        cmocka_unit_test(test_packed_and_unpacked_parameters_step_alike),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
