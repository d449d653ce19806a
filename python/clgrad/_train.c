/*
 * clgrad._core.Model's training, evaluation, prediction, checkpoints and
 * generation, and the type itself. Training mirrors clgrad-train's, so the
 * same options give the same weights: the model's seed initialises it and
 * draws its dropout masks, the loader shuffles by the same seed, clg_fit
 * runs the loop. The GIL is released while the device works; the loop's
 * callbacks take it back to check for signals (Ctrl-C stops at the next
 * step boundary, as KeyboardInterrupt) and to call Python.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_core.h"

/* ---- Options ------------------------------------------------------------------- */

static const char *const fit_keys[] = {
    "epochs",     "batch_size",   "shuffle",    "seed",       "optimizer",
    "lr",         "momentum",     "dampening",  "nesterov",   "weight_decay",
    "l1",         "decay_biases", "beta1",      "beta2",      "eps",
    "alpha",      "centered",     "clip_norm",  "clip_value", "schedule",
    "step_size",  "gamma",        "milestones", "eta_min",    "max_lr",
    "patience",   "factor",       "warmup",     "early_stop", "max_steps",
    "accumulate", "sync_every",   "augment",    NULL};

/* Every key of the options is one fit knows, else UsageError naming it. */
static int check_keys(PyObject *opts)
{
    PyObject *key;
    Py_ssize_t pos = 0;
    while (PyDict_Next(opts, &pos, &key, NULL)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        bool known = false;
        for (int i = 0; k && fit_keys[i]; i++)
            known = known || !strcmp(k, fit_keys[i]);
        if (!known) {
            usage("fit: unknown option '%s'", k ? k : "?");
            return -1;
        }
    }
    return 0;
}

static int get_double(PyObject *opts, const char *key, double *v)
{
    PyObject *o = PyDict_GetItemString(opts, key);
    if (!o || o == Py_None)
        return 0;
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        usage("%s: expected a number, got %s", key, Py_TYPE(o)->tp_name);
        return -1;
    }
    *v = d;
    return 0;
}

static int get_float(PyObject *opts, const char *key, float *v)
{
    double d = *v;
    if (get_double(opts, key, &d) != 0)
        return -1;
    *v = (float)d;
    return 0;
}

static int get_long(PyObject *opts, const char *key, long long lo, long long hi,
                    long long *v)
{
    PyObject *o = PyDict_GetItemString(opts, key);
    if (!o || o == Py_None)
        return 0;
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        usage("%s: expected a whole number, got %s", key, Py_TYPE(o)->tp_name);
        return -1;
    }
    long long n = PyLong_AsLongLong(o);
    if ((n == -1 && PyErr_Occurred()) || n < lo || n > hi) {
        PyErr_Clear();
        usage("%s: expected a whole number from %lld to %lld", key, lo, hi);
        return -1;
    }
    *v = n;
    return 0;
}

static int get_int(PyObject *opts, const char *key, int lo, int hi, int *v)
{
    long long n = *v;
    if (get_long(opts, key, lo, hi, &n) != 0)
        return -1;
    *v = (int)n;
    return 0;
}

static int get_bool(PyObject *opts, const char *key, bool *v)
{
    PyObject *o = PyDict_GetItemString(opts, key);
    if (o && o != Py_None)
        *v = PyObject_IsTrue(o);
    return 0;
}

static const char *get_string(PyObject *opts, const char *key, const char *def)
{
    PyObject *o = PyDict_GetItemString(opts, key);
    if (!o || o == Py_None)
        return def;
    if (!PyUnicode_Check(o)) {
        usage("%s: expected a name, got %s", key, Py_TYPE(o)->tp_name);
        return NULL;
    }
    return PyUnicode_AsUTF8(o);
}

/* torch.optim's options as clgrad-train takes them (Adam, lr 1e-3 unless
 * given). */
static int optim_options(PyObject *opts, clg_optim_opts *o)
{
    *o = (clg_optim_opts)CLG_OPTIM_DEFAULTS;
    o->type = CLG_OPTIM_ADAM, o->lr = 1e-3;
    const char *name = get_string(opts, "optimizer", "adam");
    if (!name)
        return -1;
    clg_status s = clg_optim_type_parse(name, &o->type);
    if (s != CLG_OK) {
        fail(s);
        return -1;
    }
    if (get_double(opts, "lr", &o->lr) || get_double(opts, "momentum", &o->momentum) ||
        get_double(opts, "dampening", &o->dampening) ||
        get_bool(opts, "nesterov", &o->nesterov) ||
        get_double(opts, "weight_decay", &o->weight_decay) ||
        get_double(opts, "l1", &o->l1) ||
        get_bool(opts, "decay_biases", &o->decay_biases) ||
        get_double(opts, "beta1", &o->beta1) || get_double(opts, "beta2", &o->beta2) ||
        get_double(opts, "eps", &o->eps) || get_double(opts, "alpha", &o->alpha) ||
        get_bool(opts, "centered", &o->centered) ||
        get_double(opts, "clip_norm", &o->clip_norm) ||
        get_double(opts, "clip_value", &o->clip_value))
        return -1;
    return 0;
}

static bool same_optim(const clg_optim_opts *a, const clg_optim_opts *b)
{
    return a->type == b->type && a->lr == b->lr && a->momentum == b->momentum &&
           a->dampening == b->dampening && a->nesterov == b->nesterov &&
           a->weight_decay == b->weight_decay && a->l1 == b->l1 &&
           a->decay_biases == b->decay_biases && a->beta1 == b->beta1 &&
           a->beta2 == b->beta2 && a->eps == b->eps && a->alpha == b->alpha &&
           a->centered == b->centered && a->lr_decay == b->lr_decay &&
           a->initial_accumulator == b->initial_accumulator &&
           a->clip_norm == b->clip_norm && a->clip_value == b->clip_value;
}

/* The schedule clgrad-train would make (NULL: a constant rate). */
static int schedule_options(PyObject *opts, double lr, int epochs, int batches,
                            int accumulate, long long max_steps, clg_schedule **out)
{
    *out = NULL;
    clg_schedule_opts so = CLG_SCHEDULE_DEFAULTS;
    const char *name = get_string(opts, "schedule", "constant");
    if (!name)
        return -1;
    clg_status s = clg_schedule_type_parse(name, &so.type);
    if (s != CLG_OK) {
        fail(s);
        return -1;
    }
    if (get_int(opts, "step_size", 1, 1 << 30, &so.step_size) ||
        get_float(opts, "gamma", &so.gamma) ||
        get_float(opts, "eta_min", &so.eta_min) ||
        get_float(opts, "max_lr", &so.max_lr) ||
        get_int(opts, "patience", 0, 1 << 30, &so.patience) ||
        get_float(opts, "factor", &so.factor) ||
        get_int(opts, "warmup", 0, 1 << 30, &so.warmup))
        return -1;
    PyObject *ms = PyDict_GetItemString(opts, "milestones");
    if (ms && ms != Py_None) {
        PyObject *seq = PySequence_Fast(ms, "milestones: expected a list of epochs");
        if (!seq)
            return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        if (n > CLG_MAX_MILESTONES) {
            Py_DECREF(seq);
            usage("milestones: at most %d", CLG_MAX_MILESTONES);
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++)
            so.milestones[i] = (int)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        so.milestone_count = (int)n;
        Py_DECREF(seq);
        if (PyErr_Occurred())
            return -1;
    }
    if (so.type == CLG_SCHEDULE_CONSTANT && so.warmup == 0)
        return 0;
    if (so.type == CLG_SCHEDULE_COSINE)
        so.t_max = epochs;
    if (so.type == CLG_SCHEDULE_ONECYCLE) {
        int k = accumulate > 1 ? accumulate : 1;
        so.total_steps = max_steps ? (int)max_steps : epochs * ((batches + k - 1) / k);
        if (!PyDict_GetItemString(opts, "max_lr"))
            so.max_lr = (float)lr;
    }
    s = clg_schedule_create(&so, lr, out);
    if (s != CLG_OK) {
        fail(s);
        return -1;
    }
    return 0;
}

/* ---- Training -------------------------------------------------------------------- */

typedef struct fit_state {
    PyObject *on_step, *on_epoch, *on_warning; /* callables or None */
    PyObject *history;                         /* list of epoch dicts */
    bool failed; /* a Python exception (KeyboardInterrupt too) is set */
} fit_state;

static bool on_step(const clg_step_info *i, void *user)
{
    fit_state *f = user;
    PyGILState_STATE g = PyGILState_Ensure();
    bool go = !f->failed;
    if (go && PyErr_CheckSignals() != 0)
        go = false, f->failed = true;
    if (go && f->on_step != Py_None) {
        PyObject *r = PyObject_CallFunction(
            f->on_step, "iiiLffffd", i->epoch, i->batch, i->batches, i->step, i->loss,
            i->running_loss, i->running_accuracy, i->lr, i->samples_per_second);
        if (!r)
            go = false, f->failed = true;
        else
            go = r == Py_None || PyObject_IsTrue(r);
        Py_XDECREF(r);
    }
    PyGILState_Release(g);
    return go;
}

static PyObject *nan_or(float v)
{
    return PyFloat_FromDouble(isnan(v) ? NAN : (double)v);
}

static bool on_epoch(const clg_epoch_info *e, void *user)
{
    fit_state *f = user;
    PyGILState_STATE g = PyGILState_Ensure();
    bool go = !f->failed;
    PyObject *d = Py_BuildValue(
        "{s:i,s:f,s:f,s:f,s:N,s:N,s:d,s:d,s:O}", "epoch", e->epoch + 1, "lr", e->lr,
        "loss", e->train_loss, "accuracy", e->train_accuracy, "val_loss",
        nan_or(e->val_loss), "val_accuracy", nan_or(e->val_accuracy), "seconds",
        e->seconds, "samples_per_second", e->samples_per_second, "best",
        e->best ? Py_True : Py_False);
    if (!d || PyList_Append(f->history, d) != 0)
        go = false, f->failed = true;
    if (go && f->on_epoch != Py_None) {
        PyObject *r = PyObject_CallFunctionObjArgs(f->on_epoch, d, NULL);
        if (!r)
            go = false, f->failed = true;
        else
            go = r == Py_None || PyObject_IsTrue(r);
        Py_XDECREF(r);
    }
    Py_XDECREF(d);
    PyGILState_Release(g);
    return go;
}

static void on_warning(const char *message, void *user)
{
    fit_state *f = user;
    PyGILState_STATE g = PyGILState_Ensure();
    if (!f->failed && f->on_warning != Py_None) {
        PyObject *r = PyObject_CallFunction(f->on_warning, "s", message);
        if (!r)
            f->failed = true;
        Py_XDECREF(r);
    }
    PyGILState_Release(g);
}

/* fit(train, val, options, on_step, on_epoch, on_warning) -> report dict;
 * the history goes to the epoch callback and into report["history"]. */
static PyObject *model_fit(ModelObject *self, PyObject *args)
{
    PyObject *train, *val, *opts;
    fit_state f = {0};
    if (model_check(self) != 0 ||
        !PyArg_ParseTuple(args, "O!OO!OOO", &DatasetType, &train, &val, &PyDict_Type,
                          &opts, &f.on_step, &f.on_epoch, &f.on_warning))
        return NULL;
    if (val != Py_None && !PyObject_TypeCheck(val, &DatasetType))
        return usage("fit: validation data must be a Dataset or None");
    if (check_keys(opts) != 0)
        return NULL;
    clg_dataset *d = ((DatasetObject *)train)->d;
    clg_dataset *v = val != Py_None ? ((DatasetObject *)val)->d : NULL;
    int epochs = 10, batch = clg_model_max_batch(self->m), accumulate = 1, sync = 1,
        early = 0;
    long long seed = 0, max_steps = 0;
    bool shuffle = true;
    clg_optim_opts oo;
    if (get_int(opts, "epochs", 1, 1 << 24, &epochs) ||
        get_int(opts, "batch_size", 1, clg_model_max_batch(self->m), &batch) ||
        get_bool(opts, "shuffle", &shuffle) ||
        get_long(opts, "seed", 0, 1LL << 62, &seed) ||
        get_int(opts, "accumulate", 1, 1 << 20, &accumulate) ||
        get_int(opts, "sync_every", 1, 1 << 20, &sync) ||
        get_int(opts, "early_stop", 0, 1 << 20, &early) ||
        get_long(opts, "max_steps", 0, 1LL << 62, &max_steps) ||
        optim_options(opts, &oo))
        return NULL;
    clg_status s = clg_check_data(self->m, d, "x");
    if (s == CLG_OK && v)
        s = clg_check_data(self->m, v, "validation data");
    if (s != CLG_OK)
        return fail(s);
    /* A new optimizer unless the last fit's has these options: a second fit
     * goes on where the first stopped, as one longer run would. */
    if (self->opt && !same_optim(&self->opt_opts, &oo)) {
        clg_optim_free(self->opt);
        self->opt = NULL;
    }
    if (!self->opt &&
        (s = clg_optim_create(clg_model_plan(self->m), &oo, &self->opt)) != CLG_OK)
        return fail(s);
    self->opt_opts = oo;
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = batch, lo.shuffle = shuffle, lo.seed = (uint64_t)seed;
    lo.normalized = self->norm; /* fit's data has it applied; colour jitter undoes it */
    const char *augment = get_string(opts, "augment", NULL);
    if (PyErr_Occurred())
        return NULL;
    if (augment && (s = clg_augment_parse(augment, &lo.augment)) != CLG_OK)
        return fail(s);
    clg_loader *loader = NULL;
    if ((s = clg_loader_create(d, &lo, &loader)) != CLG_OK)
        return fail(s);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    if (schedule_options(opts, oo.lr, epochs, clg_loader_batches(loader), accumulate,
                         max_steps, &fo.schedule) != 0) {
        clg_loader_free(loader);
        return NULL;
    }
    fo.first_epoch = self->epochs, fo.first_step = self->steps;
    fo.epochs = self->epochs + epochs;
    fo.max_steps = max_steps ? self->steps + max_steps : 0;
    fo.early_stop = early, fo.accumulate = accumulate, fo.sync_every = sync;
    fo.on_step = on_step, fo.on_epoch = on_epoch, fo.on_warning = on_warning;
    fo.user = &f;
    f.history = PyList_New(0);
    clg_fit_report r = {0};
    if (f.history) {
        Py_BEGIN_ALLOW_THREADS s = clg_fit(self->m, self->opt, loader, v, &fo, &r);
        Py_END_ALLOW_THREADS
    }
    clg_loader_free(loader);
    clg_schedule_free(fo.schedule);
    if (r.epochs > self->epochs)
        self->epochs = r.epochs;
    if (r.best_epoch >= 0 && r.best_val_loss < self->best_val_loss)
        self->best_val_loss = r.best_val_loss;
    if (r.steps > self->steps)
        self->steps = r.steps;
    if (!f.history || f.failed) {
        Py_XDECREF(f.history);
        return NULL; /* the callback's exception, KeyboardInterrupt included */
    }
    if (s != CLG_OK) {
        Py_DECREF(f.history);
        return fail(s);
    }
    return Py_BuildValue(
        "{s:N,s:i,s:L,s:i,s:N,s:O,s:O,s:f}", "history", f.history, "epochs", r.epochs,
        "steps", r.steps, "best_epoch", r.best_epoch >= 0 ? r.best_epoch + 1 : -1,
        "best_val_loss", nan_or(r.best_epoch >= 0 ? r.best_val_loss : NAN),
        "stopped_early", r.stopped_early ? Py_True : Py_False, "restored_best",
        r.restored_best ? Py_True : Py_False, "last_loss", r.last_loss);
}

/* ---- Evaluation and prediction ------------------------------------------------- */

/* normalize(dataset): the normalisation the model's checkpoint records,
 * applied to the dataset in place (none: nothing). */
static PyObject *model_normalize(ModelObject *self, PyObject *args)
{
    PyObject *data;
    if (model_check(self) != 0 || !PyArg_ParseTuple(args, "O!", &DatasetType, &data))
        return NULL;
    clg_status s = clg_normalization_apply(&self->norm, ((DatasetObject *)data)->d);
    return s == CLG_OK ? (Py_INCREF(Py_None), Py_None) : fail(s);
}

static PyObject *model_evaluate(ModelObject *self, PyObject *args)
{
    PyObject *data;
    if (model_check(self) != 0 || !PyArg_ParseTuple(args, "O!", &DatasetType, &data))
        return NULL;
    clg_dataset *d = ((DatasetObject *)data)->d;
    clg_status s = clg_check_data(self->m, d, "x");
    clg_eval_report r = {0};
    if (s == CLG_OK) {
        Py_BEGIN_ALLOW_THREADS s = clg_evaluate(self->m, d, &r);
        Py_END_ALLOW_THREADS
    }
    if (s != CLG_OK)
        return fail(s);
    PyObject *confusion = PyList_New(0);
    for (int i = 0; confusion && r.confusion && i < r.classes * r.classes; i++) {
        PyObject *n = PyLong_FromLong(r.confusion[i]);
        PyList_Append(confusion, n);
        Py_XDECREF(n);
    }
    PyObject *out =
        Py_BuildValue("{s:f,s:f,s:i,s:i,s:N}", "loss", r.loss, "accuracy", r.accuracy,
                      "count", r.count, "classes", r.classes, "confusion", confusion);
    clg_eval_report_free(&r);
    return out;
}

/* forward(x, count, out): the model's outputs (logits) for `count` samples
 * of x (float32, or int32 token ids) into out, in batches of the model's
 * batch size, in evaluation mode. */
static PyObject *model_forward(ModelObject *self, PyObject *args)
{
    PyObject *x, *out;
    int count;
    if (model_check(self) != 0 || !PyArg_ParseTuple(args, "OiO", &x, &count, &out))
        return NULL;
    clg_tensor *in = clg_model_input(self->m), *y = clg_model_output(self->m);
    bool ids = clg_tensor_dtype(in) == CLG_INT32;
    int B = clg_model_max_batch(self->m);
    size_t per_in = clg_tensor_numel(in) / (size_t)B,
           per_out = clg_tensor_numel(y) / (size_t)B;
    Py_buffer bx, bo;
    if (get_buffer(x, &bx, ids ? "i" : "f", false, "x") != 0)
        return NULL;
    if (get_buffer(out, &bo, "f", true, "out") != 0) {
        PyBuffer_Release(&bx);
        return NULL;
    }
    clg_status s = CLG_OK;
    bool fits = (size_t)bx.len == (size_t)count * per_in * 4 &&
                (size_t)bo.len == (size_t)count * per_out * 4;
    if (fits) {
        Py_BEGIN_ALLOW_THREADS for (int at = 0; s == CLG_OK && at < count; at += B)
        {
            int b = count - at < B ? count - at : B;
            s = clg_tensor_upload(in, (const char *)bx.buf + (size_t)at * per_in * 4,
                                  (size_t)b * per_in);
            if (s == CLG_OK)
                s = clg_plan_run(clg_model_plan(self->m), b, CLG_RUN_EVAL);
            if (s == CLG_OK)
                s = clg_plan_read(clg_model_plan(self->m), y,
                                  (char *)bo.buf + (size_t)at * per_out * 4,
                                  (size_t)b * per_out);
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bo);
    if (!fits)
        return usage("x: %d samples of %zu values do not fill the array", count,
                     per_in);
    return s == CLG_OK ? (Py_INCREF(Py_None), Py_None) : fail(s);
}

/* ---- Checkpoints ------------------------------------------------------------------
 */

static PyObject *model_save(ModelObject *self, PyObject *args)
{
    const char *path;
    int with_optimizer = 1;
    if (model_check(self) != 0 ||
        !PyArg_ParseTuple(args, "s|p", &path, &with_optimizer))
        return NULL;
    char norm[512];
    clg_train_state st = {
        .epoch = self->epochs,
        .step = self->steps,
        .plan_step = clg_plan_step(clg_model_plan(self->m)),
        .best_val_loss = self->best_val_loss,
        .spec = self->spec,
        .normalize = self->norm.channels
                         ? clg_normalization_format(&self->norm, norm, sizeof norm)
                         : NULL,
        .extra = "clgrad Python package",
        .tokenizer = self->tokenizer,
    };
    clg_status s;
    Py_BEGIN_ALLOW_THREADS s =
        clg_save(path, self->m, with_optimizer ? self->opt : NULL, &st);
    Py_END_ALLOW_THREADS return s == CLG_OK ? (Py_INCREF(Py_None), Py_None) : fail(s);
}

/* load(path) -> {loaded, skipped, missing, text}: the tensors of a
 * checkpoint (or any safetensors state_dict) whose names and shapes match. */
static PyObject *model_load(ModelObject *self, PyObject *args)
{
    const char *path;
    if (model_check(self) != 0 || !PyArg_ParseTuple(args, "s", &path))
        return NULL;
    clg_checkpoint *ck = NULL;
    clg_load_report r = {0};
    clg_status s = clg_checkpoint_read(path, &ck);
    if (s == CLG_OK)
        s = clg_load(ck, self->m, NULL, &r);
    clg_checkpoint_free(ck);
    if (s != CLG_OK)
        return fail(s);
    return Py_BuildValue("{s:i,s:i,s:i,s:s}", "loaded", r.loaded, "skipped", r.skipped,
                         "missing", r.missing, "text", r.text);
}

static PyObject *model_set_tokenizer(ModelObject *self, PyObject *args)
{
    const char *text;
    if (!PyArg_ParseTuple(args, "z", &text))
        return NULL;
    free(self->tokenizer);
    self->tokenizer = text ? strdup(text) : NULL;
    if (text && !self->tokenizer)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *model_set_normalization(ModelObject *self, PyObject *args)
{
    const char *text;
    if (!PyArg_ParseTuple(args, "z", &text))
        return NULL;
    clg_normalization n = {0};
    clg_status s = text ? clg_normalization_parse(text, &n) : CLG_OK;
    if (s != CLG_OK)
        return fail(s);
    self->norm = n;
    Py_RETURN_NONE;
}

/* generate(prompt ids, count, temperature, top_k, seed, vocab) -> int32
 * bytes: clg_generate, as clgrad-train --generate draws. */
static PyObject *model_generate(ModelObject *self, PyObject *args)
{
    PyObject *prompt;
    int count, top_k = 0, vocab = 0;
    float temperature = 1.0f;
    unsigned long long seed = 0;
    if (model_check(self) != 0 ||
        !PyArg_ParseTuple(args, "Oi|fiKi", &prompt, &count, &temperature, &top_k, &seed,
                          &vocab))
        return NULL;
    if (count < 0)
        return usage("generate: count %d is negative", count);
    Py_buffer b;
    if (get_buffer(prompt, &b, "i", false, "prompt") != 0)
        return NULL;
    int32_t *out = malloc(((size_t)count + 1) * sizeof *out);
    clg_generate_opts go = CLG_GENERATE_DEFAULTS;
    go.temperature = temperature, go.top_k = top_k, go.seed = seed, go.vocab = vocab;
    clg_status s = out ? CLG_OK : CLG_OUT_OF_HOST_MEMORY;
    int produced = 0;
    if (s == CLG_OK) {
        Py_BEGIN_ALLOW_THREADS s =
            clg_generate(self->m, b.buf, (size_t)b.len / 4, count, &go, out, &produced);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&b);
    PyObject *r =
        s == CLG_OK
            ? PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)produced * 4)
            : (s == CLG_OUT_OF_HOST_MEMORY ? PyErr_NoMemory() : fail(s));
    free(out);
    return r;
}

/* ---- The type ----------------------------------------------------------------------
 */

static PyMethodDef model_methods[] = {
    {"from_checkpoint", (PyCFunction)model_from_checkpoint, METH_VARARGS | METH_CLASS,
     "from_checkpoint(context, path, batch_size=64, spec=None)"},
    {"from_gpt2_dir", (PyCFunction)model_from_gpt2_dir, METH_VARARGS | METH_CLASS,
     "from_gpt2_dir(context, dir, batch_size=1, context_len=0)"},
    {"summary", (PyCFunction)model_summary, METH_NOARGS, "the layers, as text"},
    {"info", (PyCFunction)model_info, METH_NOARGS, "shapes, batch, parameters, spec"},
    {"tensors", (PyCFunction)model_tensors, METH_NOARGS,
     "[(name, shape, trainable)] in state_dict order"},
    {"read", (PyCFunction)model_read, METH_VARARGS, "read(name, out)"},
    {"write", (PyCFunction)model_write, METH_VARARGS, "write(name, values)"},
    {"fit", (PyCFunction)model_fit, METH_VARARGS,
     "fit(train, val, options, on_step, on_epoch, on_warning)"},
    {"normalize", (PyCFunction)model_normalize, METH_VARARGS, "normalize(dataset)"},
    {"evaluate", (PyCFunction)model_evaluate, METH_VARARGS, "evaluate(dataset)"},
    {"forward", (PyCFunction)model_forward, METH_VARARGS, "forward(x, count, out)"},
    {"save", (PyCFunction)model_save, METH_VARARGS, "save(path, with_optimizer=True)"},
    {"load", (PyCFunction)model_load, METH_VARARGS, "load(path)"},
    {"set_tokenizer", (PyCFunction)model_set_tokenizer, METH_VARARGS,
     "set_tokenizer(text or None)"},
    {"set_normalization", (PyCFunction)model_set_normalization, METH_VARARGS,
     "set_normalization(text or None)"},
    {"generate", (PyCFunction)model_generate, METH_VARARGS,
     "generate(prompt, count, temperature=1, top_k=0, seed=0, vocab=0)"},
    {NULL}};

PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clgrad._core.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Model(context, spec, source='spec', batch_size=64, init='pytorch', "
              "seed=0, label_smoothing=0, loss='cross_entropy'): a compiled clgrad "
              "model.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)model_init,
    .tp_dealloc = (destructor)model_dealloc,
    .tp_methods = model_methods,
};
