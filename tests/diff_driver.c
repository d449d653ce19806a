/*
 * The clgrad side of the differential test (tests/torch_diff.py): reads a
 * JSON list of cases, trains each from its initial weights on its batches
 * with its optimizer and schedule, and writes what came out: the loss of
 * every step, every tensor of the model afterwards, and the evaluation-mode
 * output of the last batch.
 *
 * usage: diff_driver CASES.json RESULTS.json
 *        diff_driver --dropout-seeds CASES.json SEEDS.json
 *
 * The second form builds each case's model and writes the seeds of its
 * dropout nodes in the order of the spec's dropout layers ([[seed as a
 * decimal string, ...], ...] a case each): the Philox masks are a function
 * of (seed, step, element), so PyTorch can draw the very masks clgrad
 * draws (tests/torch_diff.py, PhiloxDropout).
 *
 * A case: {"name", "spec", "loss": "cross_entropy"|"mse"|"l1"|"bce",
 * "label_smoothing", "batch", "seed", "optim": {...}, "schedule": {...} or
 * null, "init": {tensor: [floats]}, "steps": [{"batch": n, "x": [...],
 * "y": [...]}]}. A case that fails reports {"name", "error"} and the rest go
 * on. Floats travel as %.9g, which round-trips float32.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clgrad.h>

#include "graph/op.h"

/* A number or a boolean (1 or 0) of object o, or the fallback. */
static double num(const cJSON *o, const char *key, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static const char *str(const cJSON *o, const char *key, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

/* A JSON array of numbers as floats; *n gets the count. Caller frees. */
static float *floats(const cJSON *a, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(a);
    float *v = malloc((*n ? *n : 1) * sizeof *v);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) v[i++] = (float)e->valuedouble;
    return v;
}

static cJSON *float_item(float v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", (double)v);
    return isfinite(v) ? cJSON_CreateRaw(buf) : cJSON_CreateNull();
}

static cJSON *float_array(const float *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, float_item(v[i]));
    return a;
}

#define TRY(call)                                                                      \
    do {                                                                               \
        if ((s = (call)) != CLG_OK)                                                    \
            goto done;                                                                 \
    } while (0)

static clg_status optim_opts(const cJSON *o, clg_optim_opts *q)
{
    clg_optim_opts d = CLG_OPTIM_DEFAULTS;
    *q = d;
    clg_status s = clg_optim_type_parse(str(o, "type", "sgd"), &q->type);
    q->lr = num(o, "lr", q->lr);
    q->momentum = num(o, "momentum", 0);
    q->dampening = num(o, "dampening", 0);
    q->nesterov = num(o, "nesterov", 0) != 0;
    q->weight_decay = num(o, "weight_decay", 0);
    q->l1 = num(o, "l1", 0);
    q->decay_biases = num(o, "decay_biases", 1) != 0;
    q->beta1 = num(o, "beta1", q->beta1);
    q->beta2 = num(o, "beta2", q->beta2);
    q->eps = num(o, "eps", 0);
    q->alpha = num(o, "alpha", q->alpha);
    q->centered = num(o, "centered", 0) != 0;
    q->lr_decay = num(o, "lr_decay", 0);
    q->initial_accumulator = num(o, "initial_accumulator", 0);
    q->clip_norm = num(o, "clip_norm", 0);
    q->clip_value = num(o, "clip_value", 0);
    return s;
}

static clg_status schedule(const cJSON *o, float lr, clg_schedule **out)
{
    *out = NULL;
    if (!cJSON_IsObject(o))
        return CLG_OK;
    clg_schedule_opts so = CLG_SCHEDULE_DEFAULTS;
    clg_status s = clg_schedule_type_parse(str(o, "type", "constant"), &so.type);
    so.step_size = (int)num(o, "step_size", so.step_size);
    so.gamma = (float)num(o, "gamma", so.gamma);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "milestones"), *e;
    cJSON_ArrayForEach(e, m) so.milestones[so.milestone_count++] = e->valueint;
    so.t_max = (int)num(o, "t_max", so.t_max);
    so.eta_min = (float)num(o, "eta_min", so.eta_min);
    so.max_lr = (float)num(o, "max_lr", so.max_lr);
    so.total_steps = (int)num(o, "total_steps", so.total_steps);
    so.factor = (float)num(o, "factor", so.factor);
    so.patience = (int)num(o, "patience", so.patience);
    so.warmup = (int)num(o, "warmup", 0);
    so.warmup_start = (float)num(o, "warmup_start", so.warmup_start);
    return s == CLG_OK ? clg_schedule_create(&so, lr, out) : s;
}

/* Uploads one step's inputs and targets. */
static clg_status upload(clg_model *m, const cJSON *step, int n)
{
    size_t nx, ny;
    float *x = floats(cJSON_GetObjectItemCaseSensitive(step, "x"), &nx);
    float *y = floats(cJSON_GetObjectItemCaseSensitive(step, "y"), &ny);
    clg_status s = CLG_OK;
    clg_tensor *in = clg_model_input(m), *target = clg_model_target(m);
    if (clg_tensor_dtype(in) == CLG_INT32) {
        int32_t *ids = malloc(nx * sizeof *ids);
        for (size_t i = 0; i < nx; i++)
            ids[i] = (int32_t)x[i];
        s = clg_tensor_upload(in, ids, nx);
        free(ids);
    } else {
        s = clg_tensor_upload(in, x, nx);
    }
    if (s == CLG_OK && clg_tensor_dtype(target) == CLG_INT32) {
        int32_t *labels = malloc(ny * sizeof *labels);
        for (size_t i = 0; i < ny; i++)
            labels[i] = (int32_t)y[i];
        s = clg_tensor_upload(target, labels, ny);
        free(labels);
    } else if (s == CLG_OK) {
        s = clg_tensor_upload(target, y, ny);
    }
    (void)n;
    free(x), free(y);
    return s;
}

/* Case c's model, built from its spec, batch and seed (not compiled). */
static clg_status case_model(clg_context *ctx, const cJSON *c, clg_spec **spec,
                             clg_model **m)
{
    clg_status s = clg_spec_parse(str(c, "spec", ""), str(c, "name", "case"), spec);
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = (int)num(c, "batch", 1);
    mo.seed = (uint64_t)num(c, "seed", 0);
    return s == CLG_OK ? clg_model_from_spec(ctx, *spec, &mo, m) : s;
}

static clg_status run_case(clg_context *ctx, const cJSON *c, cJSON *result)
{
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_schedule *sched = NULL;
    float *v = NULL;
    clg_status s;
    TRY(case_model(ctx, c, &spec, &m));
    clg_loss_type loss;
    TRY(clg_loss_type_parse(str(c, "loss", "cross_entropy"), &loss));
    TRY(clg_model_compile(m, loss, (float)num(c, "label_smoothing", 0)));
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(c, "init");
    for (int i = 0; i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(init, clg_tensor_name(t));
        size_t n;
        if (!a) {
            s = CLG_NOT_FOUND;
            fprintf(stderr, "%s: no initial value for %s\n", str(c, "name", ""),
                    clg_tensor_name(t));
            goto done;
        }
        v = floats(a, &n);
        TRY(clg_tensor_upload(t, v, n));
        free(v), v = NULL;
    }
    clg_optim_opts q;
    TRY(optim_opts(cJSON_GetObjectItemCaseSensitive(c, "optim"), &q));
    TRY(clg_optim_create(clg_model_plan(m), &q, &opt));
    TRY(schedule(cJSON_GetObjectItemCaseSensitive(c, "schedule"), q.lr, &sched));
    clg_plan *plan = clg_model_plan(m);
    cJSON *losses = cJSON_AddArrayToObject(result, "losses");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(c, "steps"), *step;
    int k = 0, n = 0;
    cJSON_ArrayForEach(step, steps)
    {
        n = (int)num(step, "batch", 1);
        if (sched)
            clg_optim_set_lr(opt, clg_schedule_lr(sched, k, k));
        TRY(upload(m, step, n));
        TRY(clg_plan_run(plan, n, CLG_RUN_TRAIN));
        TRY(clg_optim_step(opt));
        float value;
        TRY(clg_plan_loss(plan, &value));
        cJSON_AddItemToArray(losses, float_item(value));
        if (sched)
            clg_schedule_observe(sched, value);
        k++;
    }
    cJSON *final = cJSON_AddObjectToObject(result, "final");
    for (int i = 0; i < clg_model_tensor_count(m); i++) {
        clg_tensor *t = clg_model_tensor(m, i);
        size_t count = clg_tensor_numel(t);
        v = malloc(count * sizeof *v);
        TRY(clg_tensor_download(t, v, count));
        cJSON_AddItemToObject(final, clg_tensor_name(t), float_array(v, count));
        free(v), v = NULL;
    }
    /* The last batch again in evaluation mode: running statistics, no dropout. */
    if (k > 0) {
        TRY(clg_plan_run(plan, n, CLG_RUN_EVAL));
        size_t count = clg_tensor_numel(clg_model_output(m)) /
                       (size_t)clg_model_max_batch(m) * (size_t)n;
        v = malloc(count * sizeof *v);
        TRY(clg_plan_read(plan, clg_model_output(m), v, count));
        cJSON_AddItemToObject(result, "eval", float_array(v, count));
    }
done:
    free(v);
    clg_schedule_free(sched);
    clg_optim_free(opt);
    clg_model_free(m);
    clg_spec_free(spec);
    return s;
}

/* The seeds of case c's dropout nodes, in creation order. */
static clg_status dropout_seeds(clg_context *ctx, const cJSON *c, cJSON *seeds)
{
    clg_spec *spec = NULL;
    clg_model *m = NULL;
    clg_status s;
    TRY(case_model(ctx, c, &spec, &m));
    const clg_graph *g = clg_model_graph(m);
    for (int i = 0; i < g->count; i++) {
        const clg_tensor *t = g->tensors[i];
        if (t->op && strcmp(t->op->name, "dropout") == 0) {
            char text[24];
            snprintf(text, sizeof text, "%llu", (unsigned long long)t->params.seed);
            cJSON_AddItemToArray(seeds, cJSON_CreateString(text));
        }
    }
done:
    clg_model_free(m);
    clg_spec_free(spec);
    return s;
}

int main(int argc, char **argv)
{
    bool seeds_only = argc == 4 && strcmp(argv[1], "--dropout-seeds") == 0;
    if (argc != 3 && !seeds_only) {
        fprintf(stderr,
                "usage: diff_driver [--dropout-seeds] CASES.json RESULTS.json\n");
        return 2;
    }
    argv += seeds_only;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    text[fread(text, 1, (size_t)len, f)] = '\0';
    fclose(f);
    cJSON *cases = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(cases)) {
        fprintf(stderr, "%s: not a JSON list of cases\n", argv[1]);
        return 2;
    }
    int dev;
    clg_context *ctx;
    if (clg_device_select(NULL, &dev) != CLG_OK ||
        clg_context_create(dev, &ctx) != CLG_OK) {
        fprintf(stderr, "diff_driver: %s\n", clg_last_error());
        return 1;
    }
    cJSON *results = cJSON_CreateArray(), *c;
    cJSON_ArrayForEach(c, cases)
    {
        cJSON *r = seeds_only ? cJSON_CreateArray() : cJSON_CreateObject();
        if (seeds_only && dropout_seeds(ctx, c, r) != CLG_OK) {
            fprintf(stderr, "diff_driver: %s: %s\n", str(c, "name", ""),
                    clg_last_error());
            return 1;
        }
        if (!seeds_only) {
            cJSON_AddStringToObject(r, "name", str(c, "name", ""));
            if (run_case(ctx, c, r) != CLG_OK)
                cJSON_AddStringToObject(r, "error", clg_last_error());
        }
        cJSON_AddItemToArray(results, r);
    }
    char *out = cJSON_PrintUnformatted(results);
    f = fopen(argv[2], "wb");
    int rc = f && fputs(out, f) >= 0 && fclose(f) == 0 ? 0 : 1;
    free(out);
    cJSON_Delete(results);
    cJSON_Delete(cases);
    clg_context_free(ctx);
    return rc;
}
