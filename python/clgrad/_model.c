/*
 * clgrad._core.Model: building a compiled clgrad model (from a spec, a
 * checkpoint or a Hugging Face GPT-2 directory) and its tensors; training,
 * evaluation, prediction, saving and generation are in _train.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_core.h"

int model_check(ModelObject *self)
{
    if (!self->m) {
        usage("this Model was not built (use Model.from_spec or from_checkpoint)");
        return -1;
    }
    return 0;
}

static char *copy_text(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Compiles with a loss clgrad-train takes (cross_entropy, or mse, l1 or bce
 * against one-hot labels) and cross-entropy's smoothing. */
static int compile(ModelObject *self, const char *loss, float smoothing)
{
    clg_loss_type type;
    clg_status s = clg_loss_type_parse(loss, &type);
    if (s == CLG_OK && type != CLG_LOSS_CROSS_ENTROPY && smoothing > 0)
        s = clg_fail(CLG_INVALID_ARGUMENT,
                     "label_smoothing goes with the cross_entropy loss, not %s", loss);
    if (s == CLG_OK)
        s = clg_model_compile(self->m, type, smoothing);
    if (s != CLG_OK) {
        fail(s);
        return -1;
    }
    return 0;
}

static int model_opts(PyObject *kw_batch, const char *init, unsigned long long seed,
                      clg_model_opts *mo)
{
    *mo = (clg_model_opts)CLG_MODEL_DEFAULTS;
    long batch = kw_batch ? PyLong_AsLong(kw_batch) : 64;
    if (batch < 1 || batch > (1L << 20)) {
        usage("batch_size: %ld is not a whole number from 1 to 1048576", batch);
        return -1;
    }
    mo->max_batch = (int)batch;
    mo->seed = (uint64_t)seed;
    clg_status s = clg_init_parse(init, &mo->init);
    if (s != CLG_OK) {
        fail(s);
        return -1;
    }
    return 0;
}

/* Model(context, spec, source, batch_size, init, seed, label_smoothing, loss) */
int model_init(ModelObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"context",         "spec", "source",
                            "batch_size",      "init", "seed",
                            "label_smoothing", "loss", NULL};
    PyObject *ctx, *batch = NULL;
    const char *spec_text, *source = "spec", *init = "pytorch", *loss = "cross_entropy";
    unsigned long long seed = 0;
    float smoothing = 0.0f;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!s|sO!sKfs", names, &ContextType, &ctx,
                                     &spec_text, &source, &PyLong_Type, &batch, &init,
                                     &seed, &smoothing, &loss))
        return -1;
    if (self->m)
        return usage("Model: already built"), -1;
    clg_model_opts mo;
    if (model_opts(batch, init, seed, &mo) != 0)
        return -1;
    clg_spec *spec = NULL;
    clg_status s = clg_spec_parse(spec_text, source, &spec);
    if (s == CLG_OK) {
        Py_BEGIN_ALLOW_THREADS s =
            clg_model_from_spec(((ContextObject *)ctx)->ctx, spec, &mo, &self->m);
        Py_END_ALLOW_THREADS
    }
    if (s == CLG_OK)
        self->spec = copy_text(clg_spec_text(spec));
    clg_spec_free(spec);
    if (s != CLG_OK)
        return fail(s), -1;
    Py_INCREF(ctx);
    self->ctx = ctx;
    self->best_val_loss = INFINITY;
    return compile(self, loss, smoothing);
}

void model_dealloc(ModelObject *self)
{
    clg_optim_free(self->opt);
    clg_model_free(self->m);
    free(self->spec), free(self->tokenizer);
    Py_XDECREF(self->ctx);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static ModelObject *new_model(PyObject *ctx)
{
    ModelObject *self = (ModelObject *)ModelType.tp_alloc(&ModelType, 0);
    if (self) {
        Py_INCREF(ctx);
        self->ctx = ctx;
        self->best_val_loss = INFINITY;
    }
    return self;
}

/* from_checkpoint(context, path, batch_size, spec=None): a clgrad checkpoint
 * (its spec, normalisation and tokenizer with it), or a safetensors
 * state_dict with the spec given. */
PyObject *model_from_checkpoint(PyObject *cls, PyObject *args)
{
    (void)cls;
    PyObject *ctx;
    const char *path, *spec_text = NULL;
    int batch = 64;
    if (!PyArg_ParseTuple(args, "O!s|iz", &ContextType, &ctx, &path, &batch,
                          &spec_text))
        return NULL;
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = batch;
    clg_checkpoint *ck = NULL;
    clg_spec *spec = NULL;
    ModelObject *self = new_model(ctx);
    if (!self)
        return NULL;
    clg_status s = clg_checkpoint_read(path, &ck);
    if (s == CLG_OK && spec_text)
        s = clg_spec_parse(spec_text, "spec", &spec);
    if (s == CLG_OK) {
        Py_BEGIN_ALLOW_THREADS s = clg_model_from_checkpoint(
            ((ContextObject *)ctx)->ctx, ck, spec, &mo, &self->m, &self->norm);
        Py_END_ALLOW_THREADS
    }
    if (s == CLG_OK) {
        self->spec =
            copy_text(spec ? clg_spec_text(spec) : clg_checkpoint_meta(ck, "spec"));
        self->tokenizer = copy_text(clg_checkpoint_meta(ck, "tokenizer"));
    }
    clg_spec_free(spec);
    if (s != CLG_OK || compile(self, "cross_entropy", 0.0f) != 0) {
        clg_checkpoint_free(ck);
        Py_DECREF(self);
        return s != CLG_OK ? fail(s) : NULL;
    }
    /* The run's counters, where the file has them: the dropout step (batch
     * norm's num_batches_tracked), the epochs and steps a fit goes on from. */
    clg_train_state st;
    if (clg_checkpoint_train_state(ck, &st) == CLG_OK) {
        clg_plan_set_step(clg_model_plan(self->m), st.plan_step);
        self->epochs = st.epoch, self->steps = st.step;
        self->best_val_loss = st.best_val_loss;
    }
    clg_checkpoint_free(ck);
    return (PyObject *)self;
}

/* from_gpt2_dir(context, dir, batch_size, context_len=0): a Hugging Face
 * GPT-2 directory, with its tokenizer where it has one. */
PyObject *model_from_gpt2_dir(PyObject *cls, PyObject *args)
{
    (void)cls;
    PyObject *ctx;
    const char *dir;
    int batch = 1, context = 0;
    if (!PyArg_ParseTuple(args, "O!s|ii", &ContextType, &ctx, &dir, &batch, &context))
        return NULL;
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = batch;
    mo.input_dtype = CLG_INT32;
    ModelObject *self = new_model(ctx);
    if (!self)
        return NULL;
    clg_status s;
    Py_BEGIN_ALLOW_THREADS s = clg_model_from_gpt2_dir(((ContextObject *)ctx)->ctx, dir,
                                                       &mo, context, &self->m);
    Py_END_ALLOW_THREADS if (s == CLG_OK) s =
        clg_gpt2_dir_spec(dir, context, &self->spec);
    clg_tokenizer *t = NULL;
    if (s == CLG_OK && clg_tokenizer_load_gpt2(dir, &t) == CLG_OK)
        clg_tokenizer_to_string(t, &self->tokenizer);
    clg_tokenizer_free(t);
    if (s != CLG_OK) {
        Py_DECREF(self);
        return fail(s);
    }
    if (compile(self, "cross_entropy", 0.0f) != 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

PyObject *model_summary(ModelObject *self, PyObject *noargs)
{
    (void)noargs;
    if (model_check(self) != 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return PyErr_NoMemory();
    clg_status s = clg_model_summary(self->m, f);
    fclose(f);
    PyObject *out =
        s == CLG_OK ? PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace") : fail(s);
    free(text);
    return out;
}

static PyObject *shape_tuple(const clg_tensor *t, int from)
{
    int nd = clg_tensor_ndim(t);
    PyObject *tuple = PyTuple_New(nd - from);
    for (int i = from; tuple && i < nd; i++)
        PyTuple_SET_ITEM(tuple, i - from, PyLong_FromLong(clg_tensor_dim(t, i)));
    return tuple;
}

/* info(): input and output shapes of one sample, the input's dtype, the
 * batch, the parameters, the spec, the tokenizer, the normalisation. */
PyObject *model_info(ModelObject *self, PyObject *noargs)
{
    (void)noargs;
    if (model_check(self) != 0)
        return NULL;
    const clg_tensor *in = clg_model_input(self->m);
    char norm[512] = "";
    if (self->norm.channels)
        clg_normalization_format(&self->norm, norm, sizeof norm);
    return Py_BuildValue("{s:N,s:s,s:N,s:i,s:n,s:s,s:z,s:z,s:L,s:i,s:K}", "input_shape",
                         shape_tuple(in, 1), "input_dtype",
                         clg_tensor_dtype(in) == CLG_INT32 ? "int32" : "float32",
                         "output_shape", shape_tuple(clg_model_output(self->m), 1),
                         "batch_size", clg_model_max_batch(self->m), "parameters",
                         (Py_ssize_t)clg_model_parameter_numel(self->m, false), "spec",
                         self->spec ? self->spec : "", "tokenizer", self->tokenizer,
                         "normalization", self->norm.channels ? norm : NULL, "steps",
                         self->steps, "epochs", self->epochs, "plan_step",
                         (unsigned long long)clg_plan_step(clg_model_plan(self->m)));
}

/* tensors(): [(name, shape, trainable)] in the model's (state_dict's) order. */
PyObject *model_tensors(ModelObject *self, PyObject *noargs)
{
    (void)noargs;
    if (model_check(self) != 0)
        return NULL;
    int n = clg_model_tensor_count(self->m);
    PyObject *list = PyList_New(n);
    for (int i = 0; list && i < n; i++) {
        const clg_tensor *t = clg_model_tensor(self->m, i);
        PyObject *item = Py_BuildValue("(sNO)", clg_tensor_name(t), shape_tuple(t, 0),
                                       clg_tensor_is_parameter(t) ? Py_True : Py_False);
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static clg_tensor *named(ModelObject *self, const char *name)
{
    clg_tensor *t = clg_graph_find(clg_model_graph(self->m), name);
    if (!t)
        usage("the model has no tensor '%s'", name);
    return t;
}

/* read(name, out): the tensor's values into a writable float32 buffer. */
PyObject *model_read(ModelObject *self, PyObject *args)
{
    const char *name;
    PyObject *out;
    if (model_check(self) != 0 || !PyArg_ParseTuple(args, "sO", &name, &out))
        return NULL;
    clg_tensor *t = named(self, name);
    Py_buffer b;
    if (!t || get_buffer(out, &b, "f", true, name) != 0)
        return NULL;
    size_t n = clg_tensor_numel(t);
    clg_status s = (size_t)b.len == n * 4 ? clg_tensor_download(t, b.buf, n) : CLG_OK;
    bool fits = (size_t)b.len == n * 4;
    PyBuffer_Release(&b);
    if (!fits)
        return usage("%s: %zu values, the buffer holds %zd", name, n, b.len / 4);
    return s == CLG_OK ? (Py_INCREF(Py_None), Py_None) : fail(s);
}

/* write(name, values): the tensor's values from a float32 buffer of its
 * size; non-finite values are refused naming the element. */
PyObject *model_write(ModelObject *self, PyObject *args)
{
    const char *name;
    PyObject *values;
    if (model_check(self) != 0 || !PyArg_ParseTuple(args, "sO", &name, &values))
        return NULL;
    clg_tensor *t = named(self, name);
    Py_buffer b;
    if (!t || get_buffer(values, &b, "f", false, name) != 0)
        return NULL;
    size_t n = clg_tensor_numel(t);
    if ((size_t)b.len != n * 4) {
        PyBuffer_Release(&b);
        return usage("%s: the model's tensor has %zu values, the array %zd", name, n,
                     b.len / 4);
    }
    const float *v = b.buf;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            PyBuffer_Release(&b);
            PyErr_Format(NumericalError, "%s: element %zu is %g, not finite", name, i,
                         (double)v[i]);
            return NULL;
        }
    clg_status s = clg_tensor_upload(t, b.buf, n);
    PyBuffer_Release(&b);
    return s == CLG_OK ? (Py_INCREF(Py_None), Py_None) : fail(s);
}
