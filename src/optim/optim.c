/* Optimizers: device-side gradient norms and clipping, then one fused update
 * kernel (cl/optim.cl) per run of parameters that the graph packed side by
 * side (all of a model's, usually: one launch for its weights, one for its
 * biases, or one in all without weight decay), recorded once into a command
 * list that every step enqueues. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "cl/codes.h"
#include "clgrad/optim.h"
#include "graph/graph_internal.h"

_Static_assert(CLG_OPT_SGD == CLG_OPTIM_SGD && CLG_OPT_ADAM == CLG_OPTIM_ADAM &&
                   CLG_OPT_ADAMW == CLG_OPTIM_ADAMW &&
                   CLG_OPT_RMSPROP == CLG_OPTIM_RMSPROP &&
                   CLG_OPT_ADAGRAD == CLG_OPTIM_ADAGRAD,
               "cl/codes.h: optimizer rule codes are clg_optim_type values");

#define NORM_CHUNK 4096 /* gradient elements per partial sum of squares */
#define CONTROL    8    /* floats of control: cl/optim.cl's norm_finalize */
#define MAX_SLOTS  3

/* A parameter; its state buffers are views of its run's where it has one. */
typedef struct optim_param {
    clg_tensor *t;
    clg_buffer *state[MAX_SLOTS];
    size_t n;
    bool decay; /* weight decay and L1 apply */
    int run;
    size_t at; /* its first float in its run */
} optim_param;

/* Parameters whose values lie one after the other in one buffer, and their
 * gradients likewise, with the same gaps (the graph's parameter arenas:
 * src/graph/memory.c), and one decay rule: their sums of squares and update
 * are one launch each, over n floats from the values' w_off and the
 * gradients' g_off. A parameter with buffers of its own is a run alone. */
typedef struct optim_run {
    cl_mem w, g;
    size_t w_off, g_off, n;
    size_t launch; /* n rounded up inside the arena's padding; n if unpacked */
    bool decay;
    clg_buffer *state[MAX_SLOTS];
    cl_kernel update; /* in the step list; its hyperparameters change per step */
} optim_run;

struct clg_optimizer {
    clg_plan *plan;
    clg_context *ctx;
    clg_optim_opts opts;
    optim_param *params;
    int count;
    optim_run *runs;
    int nruns;
    clg_buffer *chunks;  /* per chunk of NORM_CHUNK: start, end in its run, partial */
    clg_buffer *first;   /* [count + 1]: each parameter's first partial */
    clg_buffer *partial; /* sums of squares of the chunks */
    clg_buffer *norms;   /* [2 count]: the last step's, their sums since taken */
    clg_buffer *control; /* [CONTROL]: cl/optim.cl's norm_finalize */
    clg_cmdlist step;    /* sums of squares, norms, updates */
    cl_kernel finalize;  /* in the step list; its step number changes per step */
    long long steps;     /* updates enqueued */
};

static const char *slot_names[][MAX_SLOTS] = {
    [CLG_OPTIM_SGD] = {"momentum_buffer", NULL, NULL},
    [CLG_OPTIM_ADAM] = {"exp_avg", "exp_avg_sq", NULL},
    [CLG_OPTIM_ADAMW] = {"exp_avg", "exp_avg_sq", NULL},
    [CLG_OPTIM_RMSPROP] = {"square_avg", "grad_avg", "momentum_buffer"},
    [CLG_OPTIM_ADAGRAD] = {"sum", NULL, NULL},
};

CLG_DEFINE_ENUM_NAMES(clg_optim_type, CLG_OPTIM_TYPE_LIST, "optimizer")

static bool slot_used(const clg_optim_opts *o, int slot)
{
    switch (o->type) {
    case CLG_OPTIM_SGD:
        return slot == 0 && o->momentum != 0.0f;
    case CLG_OPTIM_ADAM:
    case CLG_OPTIM_ADAMW:
        return slot < 2;
    case CLG_OPTIM_RMSPROP:
        return slot == 0 || (slot == 1 && o->centered) ||
               (slot == 2 && o->momentum > 0.0f);
    case CLG_OPTIM_ADAGRAD:
        return slot == 0;
    }
    return false;
}

static clg_status check_opts(const clg_optim_opts *o)
{
#define BAD(cond, ...)                                                                 \
    if (cond)                                                                          \
    return clg_fail(CLG_INVALID_ARGUMENT, "optimizer " __VA_ARGS__)
    BAD((unsigned)o->type > CLG_OPTIM_ADAGRAD, "type %d is unknown", (int)o->type);
    BAD(!(o->lr >= 0.0f) || !isfinite(o->lr), "%s: learning rate %g must be >= 0",
        clg_optim_type_str(o->type), (double)o->lr);
    BAD(!(o->momentum >= 0.0f && o->momentum < 1.0f), "momentum %g must lie in [0, 1)",
        (double)o->momentum);
    BAD(!(o->dampening >= 0.0f && o->dampening <= 1.0f),
        "dampening %g must lie in [0, 1]", (double)o->dampening);
    BAD(o->nesterov && (o->momentum <= 0.0f || o->dampening != 0.0f),
        "Nesterov momentum needs momentum > 0 and dampening 0");
    BAD(!(o->weight_decay >= 0.0f) || !(o->l1 >= 0.0f),
        "weight decay %g and L1 %g must be >= 0", (double)o->weight_decay,
        (double)o->l1);
    BAD(!(o->beta1 >= 0.0f && o->beta1 < 1.0f) ||
            !(o->beta2 >= 0.0f && o->beta2 < 1.0f),
        "betas (%g, %g) must lie in [0, 1)", (double)o->beta1, (double)o->beta2);
    BAD(!(o->eps >= 0.0f), "eps %g must be >= 0", (double)o->eps);
    BAD(!(o->alpha >= 0.0f && o->alpha <= 1.0f), "alpha %g must lie in [0, 1]",
        (double)o->alpha);
    BAD(!(o->lr_decay >= 0.0f) || !(o->initial_accumulator >= 0.0f),
        "Adagrad lr_decay %g and initial accumulator %g must be >= 0",
        (double)o->lr_decay, (double)o->initial_accumulator);
    BAD(!(o->clip_norm >= 0.0f) || !(o->clip_value >= 0.0f),
        "clip norm %g and clip value %g must be >= 0 (0: off)", (double)o->clip_norm,
        (double)o->clip_value);
#undef BAD
    return CLG_OK;
}

/* Where parameter p's values and gradient live: a view's buffer and the
 * float it starts at, or its own buffer at 0. */
static cl_mem root_of(const clg_buffer *b, size_t *off)
{
    *off = b->parent ? b->offset / 4 : 0;
    return b->parent ? b->parent->mem : b->mem;
}

static int by_place(const void *x, const void *y)
{
    const optim_param *a = *(optim_param *const *)x, *b = *(optim_param *const *)y;
    size_t ao, bo;
    uintptr_t ar = (uintptr_t)root_of(a->t->buffer, &ao),
              br = (uintptr_t)root_of(b->t->buffer, &bo);
    if (ar != br)
        return ar < br ? -1 : 1;
    return (ao > bo) - (ao < bo);
}

/* Groups the parameters into runs: in the order of their values in memory,
 * a parameter joins the run before it when both its values and its
 * gradient start where the previous ones' gaps end, at the same distance
 * from the run's start, and it decays alike (which matters only with
 * weight decay or L1). Each run gets its state buffers, each parameter
 * views of them at its place. */
static clg_status make_runs(clg_optimizer *o)
{
    optim_param **order = malloc((size_t)o->count * sizeof *order);
    o->runs = calloc((size_t)o->count, sizeof *o->runs);
    if (!order || !o->runs) {
        free(order);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_optim_create");
    }
    for (int i = 0; i < o->count; i++)
        order[i] = &o->params[i];
    qsort(order, (size_t)o->count, sizeof *order, by_place);
    bool decay_matters = o->opts.weight_decay != 0.0f || o->opts.l1 != 0.0f;
    size_t align = clg_arena_align(o->ctx) / 4;
    for (int k = 0; k < o->count; k++) {
        optim_param *p = order[k];
        size_t wo, go;
        cl_mem w = root_of(p->t->buffer, &wo), g = root_of(p->t->grad_buffer, &go);
        optim_run *r = o->nruns ? &o->runs[o->nruns - 1] : NULL;
        size_t end = r ? (r->n + align - 1) / align * align : 0;
        bool joins = r && p->t->buffer->parent && p->t->grad_buffer->parent &&
                     r->w == w && r->g == g && wo == r->w_off + end &&
                     go == r->g_off + end && (!decay_matters || r->decay == p->decay);
        if (joins) {
            p->at = end;
            r->n = end + p->n;
        } else {
            p->at = 0;
            r = &o->runs[o->nruns++];
            *r = (optim_run){w, g, wo, go, p->n, p->n, p->decay, {NULL}, NULL};
        }
        if (p->t->buffer->parent && p->t->grad_buffer->parent)
            r->launch = (r->n + CLG_ARENA_ALIGN_FLOATS - 1) / CLG_ARENA_ALIGN_FLOATS *
                        CLG_ARENA_ALIGN_FLOATS;
        else
            r->launch = r->n;
        p->run = (int)(r - o->runs);
    }
    free(order);
    clg_status s = CLG_OK;
    float init = o->opts.type == CLG_OPTIM_ADAGRAD ? o->opts.initial_accumulator : 0.0f;
    for (int i = 0; s == CLG_OK && i < o->nruns; i++)
        for (int k = 0; s == CLG_OK && k < MAX_SLOTS; k++) {
            if (!slot_used(&o->opts, k))
                continue;
            optim_run *r = &o->runs[i];
            s = clg_buffer_create(o->ctx, r->launch * 4, &r->state[k]);
            if (s == CLG_OK)
                s = clg_buffer_fill(r->state[k], 0, &init, 4, r->launch * 4);
        }
    for (int i = 0; s == CLG_OK && i < o->count; i++) {
        optim_param *p = &o->params[i];
        optim_run *r = &o->runs[p->run];
        for (int k = 0; s == CLG_OK && k < MAX_SLOTS; k++)
            if (r->state[k])
                s = clg_buffer_view(r->state[k], p->at * 4, p->n * 4, &p->state[k]);
    }
    return s;
}

/* The table of chunks of NORM_CHUNK gradient elements: per chunk its start
 * and end within its run and its partial sum's index, partials numbered in
 * parameter order, so that a parameter's norm sums partials first[i] ..
 * first[i + 1] - 1. A function of the parameters' sizes alone, so the order
 * of every sum is too. Then, per run, one launch of sumsq_chunks. */
static clg_status record_sums(clg_optimizer *o)
{
    int *first = malloc((size_t)(o->count + 1) * sizeof *first);
    if (!first)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_optim_create");
    first[0] = 0;
    for (int i = 0; i < o->count; i++)
        first[i + 1] = first[i] + (int)((o->params[i].n + NORM_CHUNK - 1) / NORM_CHUNK);
    int nchunks = first[o->count];
    int *table = malloc((size_t)nchunks * 3 * sizeof *table), at = 0;
    clg_status s =
        table ? CLG_OK : clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_optim_create");
    int *run_first = calloc((size_t)o->nruns + 1, sizeof *run_first);
    if (!run_first && s == CLG_OK)
        s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_optim_create");
    for (int r = 0; s == CLG_OK && r < o->nruns; r++) {
        run_first[r] = at;
        for (int i = 0; i < o->count; i++) {
            const optim_param *p = &o->params[i];
            if (p->run != r)
                continue;
            for (int c = first[i]; c < first[i + 1]; c++, at++) {
                size_t start = (size_t)(c - first[i]) * NORM_CHUNK;
                size_t end = start + NORM_CHUNK < p->n ? start + NORM_CHUNK : p->n;
                table[3 * at] = (int)(p->at + start);
                table[3 * at + 1] = (int)(p->at + end);
                table[3 * at + 2] = c;
            }
        }
    }
    if (run_first)
        run_first[o->nruns] = at;
    if (s == CLG_OK)
        s = clg_buffer_create(o->ctx, (size_t)nchunks * 3 * sizeof *table, &o->chunks);
    if (s == CLG_OK)
        s = clg_buffer_upload(o->chunks, 0, table, (size_t)nchunks * 3 * sizeof *table);
    if (s == CLG_OK)
        s = clg_buffer_create(o->ctx, (size_t)(o->count + 1) * sizeof *first,
                              &o->first);
    if (s == CLG_OK)
        s = clg_buffer_upload(o->first, 0, first,
                              (size_t)(o->count + 1) * sizeof *first);
    if (s == CLG_OK)
        s = clg_buffer_create(o->ctx, (size_t)nchunks * 4, &o->partial);
    for (int r = 0; s == CLG_OK && r < o->nruns; r++)
        s = clg_cmd_kernel_groups(&o->step, o->ctx, "optim", NULL, "sumsq_chunks",
                                  (size_t)(run_first[r + 1] - run_first[r]), 64,
                                  CLG_ARGS(KMEM(o->runs[r].g), KINT(o->runs[r].g_off),
                                           KMEM(o->chunks->mem), KINT(run_first[r]),
                                           KMEM(o->partial->mem)),
                                  CLG_NO_COUNTER, NULL);
    free(first), free(table), free(run_first);
    return s;
}

/* Argument 9 of optim_update, the per-step hyperparameters, is set by
 * clg_optim_step before each run. */
static clg_status record_update(clg_optimizer *o, optim_run *r, const char *options)
{
    /* Slots a rule does not use get the weights: never touched. */
    cl_mem slot[MAX_SLOTS];
    for (int k = 0; k < MAX_SLOTS; k++)
        slot[k] = r->state[k] ? r->state[k]->mem : r->w;
    cl_float16 unset = {{0}};
    /* Unguarded where the launch, rounded up to the work-group (64, or less
     * where the kernel allows less), stays inside the packed parameters'
     * padding. */
    char full[48];
    snprintf(full, sizeof full, "%s -DGUARD=0", options);
    bool guard = r->launch % 64 != 0;
    if (!guard) {
        cl_kernel probe;
        clg_status s = clg_kernel_get(o->ctx, "optim", full, "optim_update", &probe);
        if (s != CLG_OK)
            return s;
        guard = 64 % clg_kernel_group(o->ctx, probe, 64) != 0;
    }
    if (guard)
        snprintf(full, sizeof full, "%s -DGUARD=1", options);
    return clg_cmd_kernel_1d(
        &o->step, o->ctx, "optim", full, "optim_update", r->launch,
        CLG_ARGS(KINT(r->n), KMEM(r->w), KINT(r->w_off), KMEM(r->g), KINT(r->g_off),
                 KMEM(slot[0]), KMEM(slot[1]), KMEM(slot[2]), KMEM(o->control->mem),
                 ((clg_karg){sizeof unset, &unset}), KFLOAT(o->opts.eps),
                 KFLOAT(o->opts.clip_value)),
        CLG_NO_COUNTER, &r->update);
}

uint64_t clg_optim_memory(const clg_optimizer *o)
{
    if (!o)
        return 0;
    uint64_t bytes = 0;
    for (int i = 0; i < o->count; i++) /* views of a run's buffers hold nothing */
        for (int k = 0; k < MAX_SLOTS; k++)
            if (o->params[i].state[k] && !o->params[i].state[k]->parent)
                bytes += clg_buffer_held(o->params[i].state[k]);
    for (int i = 0; i < o->nruns; i++)
        for (int k = 0; k < MAX_SLOTS; k++)
            bytes += clg_buffer_held(o->runs[i].state[k]);
    const clg_buffer *small[5] = {o->chunks, o->first, o->partial, o->norms,
                                  o->control};
    for (int k = 0; k < 5; k++)
        bytes += clg_buffer_held(small[k]);
    return bytes + clg_cmdlist_scratch_bytes(&o->step);
}

void clg_optim_free(clg_optimizer *o)
{
    if (!o)
        return;
    clFinish(o->ctx->queue);
    clg_cmdlist_clear(&o->step);
    for (int i = 0; i < o->count; i++) /* views before what they view */
        for (int k = 0; k < MAX_SLOTS; k++)
            clg_buffer_free(o->params[i].state[k]);
    for (int i = 0; i < o->nruns; i++)
        for (int k = 0; k < MAX_SLOTS; k++)
            clg_buffer_free(o->runs[i].state[k]);
    clg_buffer_free(o->chunks);
    clg_buffer_free(o->first);
    clg_buffer_free(o->partial);
    clg_buffer_free(o->norms);
    clg_buffer_free(o->control);
    free(o->runs);
    free(o->params);
    free(o);
}

clg_status clg_optim_create(clg_plan *plan, const clg_optim_opts *opts,
                            clg_optimizer **out)
{
    if (!plan || !opts || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_optim_create: NULL argument");
    *out = NULL;
    clg_status s = check_opts(opts);
    if (s != CLG_OK)
        return s;
    clg_graph *g = clg_plan_graph(plan);
    clg_tensor *loss = clg_plan_loss_tensor(plan);
    if (!loss)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_optim_create: the plan has no loss");
    clg_optimizer *o = calloc(1, sizeof *o);
    if (!o)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_optim_create");
    o->plan = plan;
    o->ctx = clg_graph_context(g);
    o->opts = *opts;
    if (o->opts.eps == 0.0f)
        o->opts.eps = opts->type == CLG_OPTIM_ADAGRAD ? 1e-10f : 1e-8f;
    int total = clg_graph_parameter_count(g);
    o->params = calloc((size_t)(total ? total : 1), sizeof *o->params);
    if (!o->params) {
        free(o);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_optim_create");
    }
    for (int i = 0; i < total; i++) {
        clg_tensor *t = clg_graph_parameter(g, i);
        if (!t->frozen && t->grad_buffer) {
            optim_param *p = &o->params[o->count++];
            p->t = t;
            p->n = clg_tensor_numel(t);
            p->decay = o->opts.decay_biases || t->ndim > 1;
        }
    }
    if (o->count == 0) {
        free(o->params);
        free(o);
        return clg_fail(
            CLG_INVALID_ARGUMENT,
            "optimizer: no trainable parameters (every parameter is frozen)");
    }
    s = make_runs(o);
    if (s == CLG_OK)
        s = clg_buffer_create(o->ctx, (size_t)o->count * 2 * 4, &o->norms);
    if (s == CLG_OK)
        s = clg_buffer_fill(o->norms, 0, &(float){0.0f}, 4, (size_t)o->count * 2 * 4);
    if (s == CLG_OK)
        s = clg_buffer_create(o->ctx, CONTROL * 4, &o->control);
    float control[CONTROL] = {1, 1};
    if (s == CLG_OK)
        s = clg_buffer_upload(o->control, 0, control, sizeof control);
    if (s == CLG_OK)
        s = record_sums(o);
    if (s == CLG_OK)
        s = clg_cmd_kernel_1d(&o->step, o->ctx, "optim", NULL, "norm_finalize", 1,
                              CLG_ARGS(KINT(o->count), KMEM(o->first->mem),
                                       KMEM(o->partial->mem), KMEM(o->norms->mem),
                                       KMEM(o->control->mem), KFLOAT(opts->clip_norm),
                                       KMEM(clg_val(plan, loss)), KINT(0)),
                              CLG_NO_COUNTER, &o->finalize);
    char options[32];
    snprintf(options, sizeof options, "-DOPT=%d", (int)opts->type);
    for (int i = 0; s == CLG_OK && i < o->nruns; i++)
        s = record_update(o, &o->runs[i], options);
    if (s != CLG_OK) {
        clg_optim_free(o);
        return s;
    }
    *out = o;
    return CLG_OK;
}

/* The per-step scalars of the rule, as cl/optim.cl reads them: computed in
 * double and rounded once, as torch.optim computes them in Python. */
static cl_float16 hyper(const clg_optimizer *o, const optim_run *p, long long t)
{
    const clg_optim_opts *q = &o->opts;
    double lr = q->lr, wd = p->decay ? q->weight_decay : 0.0f;
    cl_float16 h = {{q->lr, (float)wd, p->decay ? q->l1 : 0.0f}};
    switch (q->type) {
    case CLG_OPTIM_SGD:
        h.s[4] = q->momentum, h.s[5] = (float)(1.0 - q->dampening);
        h.s[6] = q->nesterov, h.s[7] = t == 1;
        break;
    case CLG_OPTIM_ADAM:
    case CLG_OPTIM_ADAMW:
        h.s[4] = q->beta1, h.s[5] = q->beta2;
        h.s[6] = (float)(1.0 - q->beta1), h.s[7] = (float)(1.0 - q->beta2);
        h.s[8] = (float)(lr / (1.0 - pow(q->beta1, (double)t)));
        h.s[9] = (float)sqrt(1.0 - pow(q->beta2, (double)t));
        h.s[10] = (float)(1.0 - lr * wd);
        break;
    case CLG_OPTIM_RMSPROP:
        h.s[4] = q->alpha, h.s[5] = q->momentum, h.s[6] = q->centered;
        h.s[7] = (float)(1.0 - q->alpha);
        break;
    case CLG_OPTIM_ADAGRAD:
        h.s[4] = (float)(lr / (1.0 + (double)(t - 1) * q->lr_decay));
        break;
    }
    return h;
}

clg_status clg_optim_step(clg_optimizer *o)
{
    if (!o)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_optim_step: optimizer is NULL");
    long long t = o->steps + 1;
    if (t > INT32_MAX)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_optim_step: step %lld: too many", t);
    clg_status s = clg_kernel_arg(o->finalize, 7, sizeof(cl_int), &(cl_int){(cl_int)t});
    for (int i = 0; s == CLG_OK && i < o->nruns; i++) {
        cl_float16 h = hyper(o, &o->runs[i], t);
        s = clg_kernel_arg(o->runs[i].update, 9, sizeof h, &h);
    }
    if (s == CLG_OK)
        s = clg_cmdlist_run(o->ctx, &o->step, 0);
    if (s == CLG_OK)
        o->steps = t;
    return s;
}

/* cl/optim.cl's control, as norm_finalize lays it out. */
typedef union control {
    float f[CONTROL];
    int32_t i[CONTROL];
} control;

static clg_status read_control(clg_optimizer *o, control *c)
{
    return clg_buffer_download(o->control, 0, c, sizeof *c);
}

clg_status clg_optim_check(clg_optimizer *o)
{
    if (!o)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_optim_check: optimizer is NULL");
    control c;
    clg_status s = read_control(o, &c);
    if (s != CLG_OK || c.i[4] == 0)
        return s;
    /* The bad step and every one after it were skipped: the optimizer goes
     * on from the step before it, as if they had not been asked for. */
    long long bad_step = c.i[4];
    int bad = c.i[5];
    float loss = c.f[6];
    s = clg_buffer_fill(o->control, 4 * 4, &(int32_t){0}, 4, 3 * 4);
    if (s != CLG_OK)
        return s;
    o->steps = bad_step - 1;
    if (bad >= 0 && bad < o->count)
        return clg_fail(CLG_NOT_FINITE,
                        "step %lld: the gradient of '%s' is not finite (loss %g); the "
                        "weights were left as they were",
                        bad_step, o->params[bad].t->name, (double)loss);
    return clg_fail(CLG_NOT_FINITE,
                    "step %lld: the loss is %g; the weights were left as they were",
                    bad_step, (double)loss);
}

clg_status clg_optim_grad_norm(clg_optimizer *o, float *norm)
{
    control c;
    if (!o || !norm)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_optim_grad_norm: NULL argument");
    clg_status s = read_control(o, &c);
    *norm = c.f[2];
    return s;
}

clg_status clg_optim_grad_norms(clg_optimizer *o, float *norms, int count)
{
    if (!o || !norms || count < 0 || count > o->count)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_optim_grad_norms: asked for %d norms of %d parameters",
                        count, o ? o->count : 0);
    return clg_buffer_download(o->norms, 0, norms, (size_t)count * 4);
}

clg_status clg_optim_take_grad_norm_sums(clg_optimizer *o, float *sums, int count)
{
    if (!o || !sums || count < 0 || count > o->count)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_optim_take_grad_norm_sums: asked for %d sums of %d "
                        "parameters",
                        count, o ? o->count : 0);
    size_t at = (size_t)o->count * 4;
    clg_status s = clg_buffer_download(o->norms, at, sums, (size_t)count * 4);
    if (s == CLG_OK)
        s = clg_buffer_fill(o->norms, at, &(float){0.0f}, 4, (size_t)o->count * 4);
    return s;
}

int clg_optim_param_count(const clg_optimizer *o)
{
    return o ? o->count : 0;
}
clg_tensor *clg_optim_param(const clg_optimizer *o, int i)
{
    return o && i >= 0 && i < o->count ? o->params[i].t : NULL;
}
const clg_optim_opts *clg_optim_options(const clg_optimizer *o)
{
    return o ? &o->opts : NULL;
}
float clg_optim_lr(const clg_optimizer *o)
{
    return o ? o->opts.lr : 0.0f;
}
void clg_optim_set_lr(clg_optimizer *o, float lr)
{
    if (o && lr >= 0.0f)
        o->opts.lr = lr;
}
long long clg_optim_steps(const clg_optimizer *o)
{
    return o ? o->steps : 0;
}
void clg_optim_set_steps(clg_optimizer *o, long long steps)
{
    if (o && steps >= 0)
        o->steps = steps;
}

clg_buffer *clg_optim_state(const clg_optimizer *o, int i, int slot, const char **name)
{
    if (!o || i < 0 || i >= o->count || slot < 0 || slot >= MAX_SLOTS)
        return NULL;
    if (name)
        *name = slot_names[o->opts.type][slot];
    return o->params[i].state[slot];
}
