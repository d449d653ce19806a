/* Whole models through plans: MLP and CNN steps repeatable and equal at a
 * partial batch, intermediates sharing memory, evaluation mode, running
 * statistics, frozen parameters, parameters and gradients packed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/plan_internal.h"
#include "graph_util.h"

typedef struct model {
    clg_graph *g;
    clg_tensor *x, *labels, *logits, *loss;
    clg_tensor *params[16];
    int nparams;
} model;

static clg_tensor *param(model *m, const char *name, int ndim, const int *shape,
                         float scale)
{
    clg_tensor *p = clg_parameter(m->g, name, ndim, shape);
    fill_random(p, (uint32_t)(m->nparams * 977 + 13), scale);
    m->params[m->nparams++] = p;
    return p;
}

/* 784-64-10 with a residual 64-64 block and dropout. */
static void build_mlp(clg_context *ctx, model *m, int batch)
{
    memset(m, 0, sizeof *m);
    m->g = new_graph(ctx);
    m->x = clg_input(m->g, "x", CLG_FLOAT32, 2, (int[]){batch, 784});
    m->labels = clg_input(m->g, "y", CLG_INT32, 1, (int[]){batch});
    clg_tensor *h = clg_relu(
        m->g, clg_linear(m->g, m->x, param(m, "0.weight", 2, (int[]){64, 784}, 0.05f),
                         param(m, "0.bias", 1, (int[]){64}, 0.05f)));
    clg_tensor *r = clg_relu(
        m->g, clg_linear(m->g, h, param(m, "2.weight", 2, (int[]){64, 64}, 0.1f),
                         param(m, "2.bias", 1, (int[]){64}, 0.1f)));
    h = clg_dropout(m->g, clg_add(m->g, r, h), 0.25f, 42);
    m->logits = clg_linear(m->g, h, param(m, "5.weight", 2, (int[]){10, 64}, 0.1f),
                           param(m, "5.bias", 1, (int[]){10}, 0.1f));
    m->loss = clg_cross_entropy(m->g, m->logits, m->labels, 0.0f, CLG_REDUCE_MEAN);
    assert_ok(clg_graph_status(m->g));
}

/* conv8-bn-relu-pool-conv16-relu-gap-fc10, as a small CNN. */
static void build_cnn(clg_context *ctx, model *m, int batch)
{
    memset(m, 0, sizeof *m);
    m->g = new_graph(ctx);
    clg_graph *g = m->g;
    m->x = clg_input(g, "x", CLG_FLOAT32, 4, (int[]){batch, 1, 12, 12});
    m->labels = clg_input(g, "y", CLG_INT32, 1, (int[]){batch});
    clg_conv2d_opts pad1 = {1, 1, 1, 1, 1, 1};
    clg_tensor *h = clg_conv2d(
        g, m->x, param(m, "0.weight", 4, (int[]){8, 1, 3, 3}, 0.3f), NULL, &pad1);
    clg_tensor *rm = clg_state(g, "1.running_mean", 1, (int[]){8}, 0.0f);
    clg_tensor *rv = clg_state(g, "1.running_var", 1, (int[]){8}, 1.0f);
    clg_tensor *gamma = clg_parameter(g, "1.weight", 1, (int[]){8});
    float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_ok(clg_tensor_upload(gamma, ones, 8));
    m->params[m->nparams++] = gamma;
    h = clg_batch_norm(g, h, gamma, param(m, "1.bias", 1, (int[]){8}, 0.0f), rm, rv,
                       0.1f, 1e-5f);
    h = clg_max_pool2d(g, clg_relu(g, h), 2, 2, 0);
    h = clg_relu(g,
                 clg_conv2d(g, h, param(m, "4.weight", 4, (int[]){16, 8, 3, 3}, 0.2f),
                            param(m, "4.bias", 1, (int[]){16}, 0.1f), &pad1));
    h = clg_flatten(g, clg_global_avg_pool(g, h));
    m->logits = clg_linear(g, h, param(m, "8.weight", 2, (int[]){10, 16}, 0.3f),
                           param(m, "8.bias", 1, (int[]){10}, 0.1f));
    m->loss = clg_cross_entropy(g, m->logits, m->labels, 0.0f, CLG_REDUCE_MEAN);
    assert_ok(clg_graph_status(g));
}

static void feed(model *m, int batch, uint32_t seed)
{
    size_t per = clg_tensor_numel(m->x) / (size_t)clg_tensor_dim(m->x, 0);
    float *x = malloc((size_t)batch * per * sizeof *x);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    for (size_t i = 0; i < (size_t)batch * per; i++)
        x[i] = test_random(&seed);
    for (int i = 0; i < batch; i++)
        y[i] = (int32_t)((i * 7 + 3) % 10);
    assert_ok(clg_tensor_upload(m->x, x, (size_t)batch * per));
    assert_ok(clg_tensor_upload(m->labels, y, (size_t)batch));
    free(x);
    free(y);
}

/* Loss and every parameter gradient of one training step, concatenated. */
static float *step_results(model *m, clg_plan *plan, int batch, size_t *len)
{
    size_t total = 1;
    for (int i = 0; i < m->nparams; i++)
        total += clg_tensor_numel(m->params[i]);
    float *out = malloc(total * sizeof *out);
    assert_ok(clg_plan_run(plan, batch, CLG_RUN_TRAIN));
    assert_ok(clg_plan_loss(plan, &out[0]));
    size_t at = 1;
    for (int i = 0; i < m->nparams; i++) {
        size_t n = clg_tensor_numel(m->params[i]);
        assert_ok(clg_plan_read_grad(plan, m->params[i], out + at, n));
        at += n;
    }
    *len = total;
    return out;
}

static void check_repeatable(clg_context *ctx,
                             void (*build)(clg_context *, model *, int))
{
    model m;
    build(ctx, &m, 16);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, &m.logits, 1, &plan));
    feed(&m, 16, 99);
    size_t n1, n2;
    clg_plan_set_step(plan, 5);
    float *first = step_results(&m, plan, 16, &n1);
    clg_plan_set_step(plan, 5); /* same dropout masks */
    float *second = step_results(&m, plan, 16, &n2);
    assert_int_equal(n1, n2);
    assert_true(isfinite(first[0]) && first[0] > 0.5f && first[0] < 10.0f);
    assert_memory_equal(first, second, n1 * sizeof *first);
    /* Every gradient is finite and some are not zero. */
    double norm = 0;
    for (size_t i = 1; i < n1; i++) {
        assert_true(isfinite(first[i]));
        norm += (double)first[i] * first[i];
    }
    assert_true(norm > 1e-8);
    free(first);
    free(second);
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

static void test_mlp_step_is_repeatable(void **state)
{
    check_repeatable(*state, build_mlp);
}
static void test_cnn_step_is_repeatable(void **state)
{
    check_repeatable(*state, build_cnn);
}

static void test_partial_batch_matches_a_plan_of_that_size(void **state)
{
    model big, small;
    build_cnn(*state, &big, 16);
    build_cnn(*state, &small, 5);
    clg_plan *pb, *ps;
    assert_ok(clg_plan_create(big.g, big.loss, NULL, 0, &pb));
    assert_ok(clg_plan_create(small.g, small.loss, NULL, 0, &ps));
    feed(&big, 5, 3);
    feed(&small, 5, 3);
    size_t nb, ns;
    float *rb = step_results(&big, pb, 5, &nb);
    float *rs = step_results(&small, ps, 5, &ns);
    assert_int_equal(nb, ns);
    for (size_t i = 0; i < nb; i++)
        if (!(fabsf(rb[i] - rs[i]) <= 1e-5f * (1 + fabsf(rs[i]))))
            fail_msg("value %zu: batch 5 of 16 gives %g, a plan for 5 gives %g", i,
                     rb[i], rs[i]);
    /* And back to the full batch. */
    feed(&big, 16, 4);
    assert_ok(clg_plan_run(pb, 16, CLG_RUN_TRAIN));
    free(rb), free(rs);
    clg_plan_free(pb), clg_plan_free(ps);
    clg_graph_free(big.g), clg_graph_free(small.g);
}

static void test_intermediates_share_memory(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){32, 256});
    clg_tensor *h = x;
    for (int i = 0; i < 12; i++)
        h = clg_tanh(g, h);
    clg_tensor *loss = clg_sum(g, h, -1);
    clg_plan *plan;
    size_t used, unshared;
    assert_ok(clg_plan_create(g, NULL, &loss, 1, &plan));
    clg_plan_memory(plan, &used, &unshared);
    /* 12 activations of 32 KiB, forward only: a few buffers suffice. */
    assert_true(unshared >= 12 * 32 * 256 * 4);
    assert_true(used <= 3 * 32 * 256 * 4 + 64);
    clg_plan_free(plan);

    /* With backward every activation is kept for it, but gradients reuse. */
    clg_tensor_set_requires_grad(x, true);
    assert_ok(clg_plan_create(g, loss, NULL, 0, &plan));
    clg_plan_memory(plan, &used, &unshared);
    assert_true(used < unshared);
    float *v = calloc(32 * 256, sizeof *v), loss_value;
    for (int i = 0; i < 32 * 256; i++)
        v[i] = 0.001f * (float)(i % 100);
    assert_ok(clg_tensor_upload(x, v, 32 * 256));
    assert_ok(clg_plan_run(plan, 32, CLG_RUN_TRAIN));
    assert_ok(clg_plan_loss(plan, &loss_value));
    double want = 0;
    for (int i = 0; i < 32 * 256; i++) {
        double t = v[i];
        for (int k = 0; k < 12; k++)
            t = tanh(t);
        want += t;
    }
    assert_true(fabs(loss_value - want) <= 1e-4 * fabs(want));
    free(v);
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* Cross-entropy's backward writes the logits' gradient over the logits
 * (one buffer, not two), and the weight's gradient is still (softmax -
 * one-hot) x / N. Logits that are an output keep a buffer of their own,
 * unless the plan's outputs are read after evaluation runs only (a
 * model's): then reading them after a training run is refused by name.
 * Where another node writes the logits' gradient first, two buffers. */
static void test_loss_gradient_is_written_over_the_logits(void **state)
{
    enum { N = 4, K = 6, C = 5 };
    for (int way = 0; way < 4; way++) {
        bool output = way >= 1 && way <= 2, after_eval = way == 2, extra = way == 3;
        clg_graph *g = new_graph(*state);
        clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){N, K});
        clg_tensor *w = clg_parameter(g, "w", 2, (int[]){C, K});
        clg_tensor *labels = clg_input(g, "labels", CLG_INT32, 1, (int[]){N});
        clg_tensor *logits = clg_linear(g, x, w, NULL);
        clg_tensor *loss = clg_cross_entropy(g, logits, labels, 0.0f, CLG_REDUCE_MEAN);
        if (extra) /* its backward runs first: it writes the gradient first */
            loss = clg_add(
                g, loss, clg_mul(g, clg_mean(g, logits, -1), clg_mean(g, logits, -1)));
        clg_plan *plan;
        assert_ok(clg_plan_create_with(g, loss, &logits, output,
                                       after_eval ? CLG_PLAN_OUTPUTS_AFTER_EVAL : 0,
                                       &plan));
        bool shared = clg_val(plan, logits) == clg_grad_storage(plan, logits)->mem;
        if (shared != (way == 0 || way == 2))
            fail_msg("way %d: the logits and their gradient share %d", way, shared);
        float *xv = random_upload(x, 3), *wv = random_upload(w, 4), lv[N * C];
        int32_t y[N] = {0, 4, 2, 4};
        assert_ok(clg_tensor_upload(labels, y, N));
        assert_ok(clg_plan_run(plan, N, CLG_RUN_TRAIN));
        if (after_eval) {
            assert_int_equal(clg_plan_read(plan, logits, lv, N * C),
                             CLG_INVALID_ARGUMENT);
            assert_contains(clg_last_error(),
                            "'linear3' holds the loss's gradient after "
                            "a training run");
            assert_ok(clg_plan_run(plan, N, CLG_RUN_EVAL));
        }
        if (output)
            assert_ok(clg_plan_read(plan, logits, lv, N * C));
        assert_ok(clg_plan_run(plan, N, CLG_RUN_TRAIN));
        float dw[C * K];
        assert_ok(clg_buffer_download(clg_tensor_grad_buffer(w), 0, dw, sizeof dw));
        double want[C * K] = {0}, mean = 0;
        double z[N][C];
        for (int i = 0; i < N; i++)
            for (int c = 0; c < C; c++) {
                z[i][c] = 0;
                for (int k = 0; k < K; k++)
                    z[i][c] += (double)xv[i * K + k] * wv[c * K + k];
                mean += z[i][c] / (N * C);
            }
        for (int i = 0; i < N; i++) {
            double m = z[i][0], sum = 0;
            for (int c = 1; c < C; c++)
                m = fmax(m, z[i][c]);
            for (int c = 0; c < C; c++)
                sum += exp(z[i][c] - m);
            for (int c = 0; c < C; c++) {
                if (output) /* the logits as read */
                    assert_true(fabs(lv[i * C + c] - z[i][c]) <= 1e-5);
                /* d/dz of mean CE, and of mean(z)^2: 2 mean / (N C) */
                double d = (exp(z[i][c] - m) / sum - (c == y[i])) / N +
                           (extra ? 2 * mean / (N * C) : 0);
                for (int k = 0; k < K; k++)
                    want[c * K + k] += d * xv[i * K + k];
            }
        }
        for (int i = 0; i < C * K; i++)
            if (!(fabs(dw[i] - want[i]) <= 1e-5 + 1e-4 * fabs(want[i])))
                fail_msg("way %d: dw[%d] = %g, want %g", way, i, (double)dw[i],
                         want[i]);
        free(xv), free(wv);
        clg_plan_free(plan);
        clg_graph_free(g);
    }
}

static void test_eval_skips_backward_and_uses_running_stats(void **state)
{
    model m;
    build_cnn(*state, &m, 8);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, &m.logits, 1, &plan));
    feed(&m, 8, 11);
    clg_tensor *w = m.params[0];
    size_t n = clg_tensor_numel(w);
    float *before = malloc(n * 4), *after = malloc(n * 4), *logits1 = malloc(80 * 4),
          *logits2 = malloc(80 * 4);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read_grad(plan, w, before, n));
    /* Evaluation leaves gradients alone and is deterministic. */
    feed(&m, 8, 12);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, m.logits, logits1, 80));
    assert_ok(clg_plan_read_grad(plan, w, after, n));
    assert_memory_equal(before, after, n * 4);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, m.logits, logits2, 80));
    assert_memory_equal(logits1, logits2, 80 * 4);
    /* Batch statistics differ from the running ones: training logits differ. */
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, m.logits, logits2, 80));
    assert_memory_not_equal(logits1, logits2, 80 * 4);
    assert_int_equal(clg_plan_step(plan), 2);
    free(before), free(after), free(logits1), free(logits2);
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

static void test_running_stats_follow_pytorch_momentum(void **state)
{
    clg_graph *g = new_graph(*state);
    clg_tensor *x = clg_input(g, "x", CLG_FLOAT32, 2, (int[]){4, 2});
    clg_tensor *rm = clg_state(g, "rm", 1, (int[]){2}, 0.0f);
    clg_tensor *rv = clg_state(g, "rv", 1, (int[]){2}, 1.0f);
    clg_tensor *y = clg_batch_norm(g, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, NULL, &y, 1, &plan));
    float v[8] = {1, 10, 2, 20, 3, 30, 6, 40}, mean[2], var[2];
    assert_ok(clg_tensor_upload(x, v, 8));
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_TRAIN));
    assert_ok(clg_tensor_download(rm, mean, 2));
    assert_ok(clg_tensor_download(rv, var, 2));
    /* channel 0: mean 3, unbiased var 14/3; channel 1: mean 25, var 500/3 */
    assert_true(fabsf(mean[0] - 0.3f) < 1e-6f && fabsf(mean[1] - 2.5f) < 1e-6f);
    assert_true(fabsf(var[0] - (0.9f + 0.1f * 14.0f / 3.0f)) < 1e-5f);
    assert_true(fabsf(var[1] - (0.9f + 0.1f * 500.0f / 3.0f)) < 1e-4f);
    /* Evaluation normalises with them: (1 - 0.3) / sqrt(var0 + eps). */
    float out[8];
    assert_ok(clg_plan_run(plan, 4, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(plan, y, out, 8));
    assert_true(fabsf(out[0] - (1.0f - 0.3f) / sqrtf(var[0] + 1e-5f)) < 1e-5f);
    clg_plan_free(plan);
    clg_graph_free(g);
}

static void test_frozen_parameters_get_no_gradient(void **state)
{
    model m;
    build_mlp(*state, &m, 8);
    clg_tensor_set_frozen(m.params[0], true);
    clg_tensor_set_frozen(m.params[1], true);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    feed(&m, 8, 5);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    float g0[64];
    assert_int_equal(clg_plan_read_grad(plan, m.params[1], g0, 64),
                     CLG_INVALID_ARGUMENT);
    assert_null(clg_tensor_grad_buffer(m.params[0]));
    float g5[10];
    assert_ok(clg_plan_read_grad(plan, m.params[5], g5, 10));
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

/* The whole arena a packed parameter's buffer views, downloaded. */
static float *arena_of(const clg_buffer *view, size_t *floats)
{
    assert_non_null(view->parent);
    *floats = view->parent->size / 4;
    float *all = malloc(view->parent->size);
    assert_ok(clg_buffer_download(view->parent, 0, all, view->parent->size));
    return all;
}

/* Checks that m's parameters from `first` on are packed in one arena, in
 * `which` storage (0 values, 1 gradients): weights before biases, aligned
 * starts, zeros in every gap; returns the arena's contents. */
static float *check_packed(const model *m, int first, int which)
{
    const clg_buffer *b0 =
        which ? m->params[first]->grad_buffer : m->params[first]->buffer;
    size_t floats;
    float *all = arena_of(b0, &floats);
    bool *used = calloc(floats, sizeof *used);
    size_t last_weight = 0, first_bias = floats;
    for (int i = first; i < m->nparams; i++) {
        const clg_tensor *t = m->params[i];
        const clg_buffer *b = which ? t->grad_buffer : t->buffer;
        assert_ptr_equal(b->parent, b0->parent);
        assert_int_equal(b->offset % (CLG_ARENA_ALIGN_FLOATS * 4), 0);
        size_t at = b->offset / 4, n = clg_tensor_numel(t);
        assert_true(at + n <= floats);
        for (size_t k = at; k < at + n; k++) {
            assert_false(used[k]);
            used[k] = true;
        }
        if (t->ndim > 1 && at > last_weight)
            last_weight = at;
        if (t->ndim == 1 && at < first_bias)
            first_bias = at;
    }
    assert_true(last_weight < first_bias); /* weights first */
    for (size_t k = 0; k < floats; k++)
        if (!used[k] && all[k] != 0.0f)
            fail_msg("arena float %zu, in a gap, is %g", k, (double)all[k]);
    free(used);
    return all;
}

/* The first plan moves the parameters into one buffer, values kept, and
 * their gradients into another; training leaves the gaps zero, and the
 * gradients are those of unpacked parameters (a graph that never packs:
 * its first plan is made with every parameter frozen but one). */
static void test_parameters_are_packed_with_their_values(void **state)
{
    model m;
    build_mlp(*state, &m, 8);
    float *before[16];
    for (int i = 0; i < m.nparams; i++) {
        size_t n = clg_tensor_numel(m.params[i]);
        before[i] = malloc(n * sizeof(float));
        assert_ok(clg_tensor_download(m.params[i], before[i], n));
        assert_null(m.params[i]->buffer->parent);
    }
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    for (int i = 0; i < m.nparams; i++) {
        size_t n = clg_tensor_numel(m.params[i]);
        float *now = malloc(n * sizeof *now);
        assert_ok(clg_tensor_download(m.params[i], now, n));
        assert_memory_equal(now, before[i], n * sizeof *now);
        free(now);
    }
    free(check_packed(&m, 0, 0));
    feed(&m, 8, 5);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    free(check_packed(&m, 0, 1));
    free(check_packed(&m, 0, 0));
    size_t len;
    clg_plan_set_step(plan, 5);
    float *packed = step_results(&m, plan, 8, &len);
    clg_plan_free(plan);
    clg_graph_free(m.g);

    /* The same model with its parameters in buffers of their own. */
    model u;
    build_mlp(*state, &u, 8);
    for (int i = 0; i < u.nparams; i++)
        assert_ok(
            clg_tensor_upload(u.params[i], before[i], clg_tensor_numel(u.params[i])));
    u.g->packed = true; /* as if packed: nothing moves */
    assert_ok(clg_plan_create(u.g, u.loss, NULL, 0, &plan));
    for (int i = 0; i < u.nparams; i++)
        assert_null(u.params[i]->buffer->parent);
    feed(&u, 8, 5);
    size_t ulen;
    clg_plan_set_step(plan, 5);
    float *unpacked = step_results(&u, plan, 8, &ulen);
    assert_int_equal(len, ulen);
    assert_memory_equal(packed, unpacked, len * sizeof *packed);
    free(packed), free(unpacked);
    for (int i = 0; i < u.nparams; i++)
        free(before[i]);
    clg_plan_free(plan);
    clg_graph_free(u.g);
}

/* Frozen parameters get no gradient, in the arena or out of it; unfrozen
 * later, a new plan packs their gradients on their own. */
static void test_gradients_unfrozen_later_are_packed_apart(void **state)
{
    model m;
    build_mlp(*state, &m, 8);
    clg_tensor_set_frozen(m.params[0], true);
    clg_tensor_set_frozen(m.params[1], true);
    clg_plan *plan;
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    free(check_packed(&m, 0, 0));
    assert_null(m.params[0]->grad_buffer);
    free(check_packed(&m, 2, 1));
    clg_plan_free(plan);
    clg_tensor_set_frozen(m.params[0], false);
    clg_tensor_set_frozen(m.params[1], false);
    assert_ok(clg_plan_create(m.g, m.loss, NULL, 0, &plan));
    assert_non_null(m.params[0]->grad_buffer);
    assert_ptr_equal(m.params[0]->grad_buffer->parent,
                     m.params[1]->grad_buffer->parent);
    assert_ptr_not_equal(m.params[0]->grad_buffer->parent,
                         m.params[2]->grad_buffer->parent);
    feed(&m, 8, 5);
    assert_ok(clg_plan_run(plan, 8, CLG_RUN_TRAIN));
    float g1[64];
    assert_ok(clg_plan_read_grad(plan, m.params[1], g1, 64));
    bool any = false;
    for (int i = 0; i < 64; i++)
        any |= g1[i] != 0.0f;
    assert_true(any);
    clg_plan_free(plan);
    clg_graph_free(m.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_step_is_repeatable),
        cmocka_unit_test(test_cnn_step_is_repeatable),
        cmocka_unit_test(test_partial_batch_matches_a_plan_of_that_size),
        cmocka_unit_test(test_intermediates_share_memory),
        cmocka_unit_test(test_loss_gradient_is_written_over_the_logits),
        cmocka_unit_test(test_eval_skips_backward_and_uses_running_stats),
        cmocka_unit_test(test_running_stats_follow_pytorch_momentum),
        cmocka_unit_test(test_frozen_parameters_get_no_gradient),
        cmocka_unit_test(test_parameters_are_packed_with_their_values),
        cmocka_unit_test(test_gradients_unfrozen_later_are_packed_apart),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
