/*
 * clgrad._core: the C library as Python objects, thin over it. The
 * package around it (clgrad/__init__.py, _model.py) gives the Keras- and
 * PyTorch-like API; everything that computes is the library's.
 *
 * Arrays come in and go out through the buffer protocol (C-contiguous
 * float32 or int32, as numpy makes them), so no numpy headers are needed.
 * This file: errors, devices, contexts, datasets, tokenizers, the module;
 * _model.c: models. The GIL is released while the device works; the training
 * loop's callbacks take it back, check for signals (Ctrl-C stops at the
 * next step boundary) and call the Python callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_core.h"

/* ---- Errors ------------------------------------------------------------------ */

PyObject *Error, *UsageError, *DataError, *DeviceMemoryError, *NumericalError,
    *DeviceError;

/* The exception class of a status: bad arguments and shapes are usage
 * errors, bad or missing files data errors, memory device-memory errors, a
 * non-finite loss a numerical error, the rest device errors. */
static PyObject *class_of(clg_status s)
{
    switch (s) {
    case CLG_INVALID_ARGUMENT:
    case CLG_SHAPE_MISMATCH:
    case CLG_UNSUPPORTED:
        return UsageError;
    case CLG_BAD_FILE:
    case CLG_NOT_FOUND:
    case CLG_IO_ERROR:
        return DataError;
    case CLG_OUT_OF_DEVICE_MEMORY:
    case CLG_OUT_OF_HOST_MEMORY:
        return DeviceMemoryError;
    case CLG_NOT_FINITE:
        return NumericalError;
    default:
        return DeviceError;
    }
}

/* Raises the library's last error as its class, with the status's name in
 * the exception's `status` attribute; returns NULL. */
PyObject *fail(clg_status s)
{
    PyObject *cls = class_of(s);
    PyObject *exc = PyObject_CallFunction(cls, "s", clg_last_error());
    if (exc) {
        PyObject *name = PyUnicode_FromString(clg_status_str(s));
        if (name)
            PyObject_SetAttrString(exc, "status", name);
        Py_XDECREF(name);
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *usage(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    PyErr_SetString(UsageError, text);
    return NULL;
}

/* ---- Buffers ----------------------------------------------------------------- */

/* A C-contiguous buffer of `what` with items of format `fmt` ("f" float32,
 * "i" int32); fails naming `what` otherwise. Release with PyBuffer_Release. */
int get_buffer(PyObject *obj, Py_buffer *b, const char *fmt, bool writable,
               const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, b, flags) != 0) {
        PyErr_Clear();
        usage("%s: expected a C-contiguous %s array", what,
              fmt[0] == 'f' ? "float32" : "int32");
        return -1;
    }
    const char *f = b->format ? b->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    bool ok = b->itemsize == 4 &&
              (f[0] == fmt[0] || (fmt[0] == 'i' && f[0] == 'l' && b->itemsize == 4));
    if (!ok) {
        usage("%s: expected %s items, got format '%s' of %zd bytes", what,
              fmt[0] == 'f' ? "float32" : "int32", b->format ? b->format : "B",
              b->itemsize);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* ---- Devices and contexts -------------------------------------------------- */

/* A device as clgrad-devices --json describes it (its keys and values). */
static PyObject *device_dict(const clg_device_info *d)
{
    int def = -1;
    if (clg_device_default(&def) != CLG_OK)
        def = -1;
    return Py_BuildValue(
        "{s:i,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:I,s:I,s:K,s:K,s:K,s:O,s:O,s:O}",
        "index", d->index, "name", d->name, "vendor", d->vendor, "platform",
        d->platform_name, "platform_index", d->platform_index, "type",
        clg_device_type_str(d->type), "opencl_version", d->version, "opencl_c_version",
        d->c_version, "driver_version", d->driver_version, "compute_units",
        d->compute_units, "max_clock_mhz", d->max_clock_mhz, "global_mem_bytes",
        (unsigned long long)d->global_mem_bytes, "local_mem_bytes",
        (unsigned long long)d->local_mem_bytes, "max_alloc_bytes",
        (unsigned long long)d->max_alloc_bytes, "fp16", d->fp16 ? Py_True : Py_False,
        "fp64", d->fp64 ? Py_True : Py_False, "default",
        d->index == def ? Py_True : Py_False);
}

static PyObject *devices(PyObject *self, PyObject *noargs)
{
    (void)self, (void)noargs;
    int n = 0;
    clg_status s = clg_device_count(&n);
    if (s != CLG_OK && s != CLG_NO_PLATFORM)
        return fail(s);
    PyObject *list = PyList_New(0);
    for (int i = 0; list && i < n; i++) {
        clg_device_info info;
        if ((s = clg_device_info_get(i, &info)) != CLG_OK) {
            Py_DECREF(list);
            return fail(s);
        }
        PyObject *d = device_dict(&info);
        if (!d || PyList_Append(list, d) != 0) {
            Py_XDECREF(d);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(d);
    }
    return list;
}

static int context_init(ContextObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"device", NULL};
    PyObject *device = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", names, &device))
        return -1;
    int index;
    clg_status s;
    if (device == Py_None) {
        s = clg_device_select(NULL, &index); /* CLGRAD_DEVICE, else GPU, else CPU */
    } else if (PyLong_Check(device)) {
        char spec[32];
        snprintf(spec, sizeof spec, "%ld", PyLong_AsLong(device));
        s = clg_device_select(spec, &index);
    } else if (PyUnicode_Check(device)) {
        s = clg_device_select(PyUnicode_AsUTF8(device), &index);
    } else {
        usage("Context: device must be None, an index or a string such as 'cpu' or "
              "'name:pthread', not %s",
              Py_TYPE(device)->tp_name);
        return -1;
    }
    if (s == CLG_OK && !self->ctx) {
        Py_BEGIN_ALLOW_THREADS s = clg_context_create(index, &self->ctx);
        Py_END_ALLOW_THREADS
    }
    if (s != CLG_OK) {
        fail(s);
        return -1;
    }
    return 0;
}

static void context_dealloc(ContextObject *self)
{
    clg_context_free(self->ctx);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *context_device(ContextObject *self, void *closure)
{
    (void)closure;
    return device_dict(clg_context_device(self->ctx));
}

static PyGetSetDef context_getset[] = {
    {"device", (getter)context_device, NULL, "the device, as devices() lists it", NULL},
    {NULL}};

PyTypeObject ContextType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clgrad._core.Context",
    .tp_basicsize = sizeof(ContextObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Context(device=None): an OpenCL context on one device. device: None "
              "(CLGRAD_DEVICE, else the first GPU, else the first CPU, as "
              "clgrad-train picks), an index of devices(), or 'gpu', 'cpu', "
              "'name:SUBSTRING'.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)context_init,
    .tp_dealloc = (destructor)context_dealloc,
    .tp_getset = context_getset,
};

/* ---- Datasets ------------------------------------------------------------------ */

static PyObject *wrap_dataset(clg_dataset *d)
{
    DatasetObject *o = PyObject_New(DatasetObject, &DatasetType);
    if (!o) {
        clg_dataset_free(d);
        return NULL;
    }
    o->d = d;
    return (PyObject *)o;
}

static void dataset_dealloc(DatasetObject *self)
{
    clg_dataset_free(self->d);
    PyObject_Free(self);
}

/* from_arrays(x, y, count, shape): x float32 [count, *shape], y int32
 * [count] labels or None. */
static PyObject *dataset_from_arrays(PyObject *cls, PyObject *args)
{
    (void)cls;
    PyObject *x, *y, *shape_obj;
    int count;
    if (!PyArg_ParseTuple(args, "OOiO", &x, &y, &count, &shape_obj))
        return NULL;
    int shape[3], ndim = (int)PySequence_Size(shape_obj);
    if (ndim < 1 || ndim > 3)
        return usage("x: a sample must have 1 to 3 dimensions ([F] or [C, H, W])");
    for (int i = 0; i < ndim; i++) {
        PyObject *v = PySequence_GetItem(shape_obj, i);
        shape[i] = v ? (int)PyLong_AsLong(v) : -1;
        Py_XDECREF(v);
    }
    if (PyErr_Occurred())
        return NULL;
    Py_buffer bx, by = {0};
    if (get_buffer(x, &bx, "f", false, "x") != 0)
        return NULL;
    if (y != Py_None && get_buffer(y, &by, "i", false, "y") != 0) {
        PyBuffer_Release(&bx);
        return NULL;
    }
    clg_dataset *d = NULL;
    clg_status s = clg_dataset_create(count, ndim, shape, y != Py_None, &d);
    if (s == CLG_OK && (size_t)bx.len != (size_t)count * d->sample * 4)
        s = CLG_SHAPE_MISMATCH;
    if (s == CLG_OK && y != Py_None && (size_t)by.len != (size_t)count * 4)
        s = CLG_SHAPE_MISMATCH;
    if (s == CLG_OK) {
        memcpy(d->x, bx.buf, (size_t)bx.len);
        if (y != Py_None) {
            memcpy(d->labels, by.buf, (size_t)by.len);
            int top = -1;
            for (int i = 0; i < count; i++)
                top = d->labels[i] > top ? d->labels[i] : top;
            d->classes = top + 1;
        }
    }
    PyBuffer_Release(&bx);
    if (y != Py_None)
        PyBuffer_Release(&by);
    if (s == CLG_SHAPE_MISMATCH) {
        clg_dataset_free(d);
        return usage("x and y: %d samples do not match the arrays' sizes", count);
    }
    if (s != CLG_OK) {
        clg_dataset_free(d);
        return fail(s);
    }
    return wrap_dataset(d);
}

static PyObject *dataset_idx(PyObject *cls, PyObject *args)
{
    (void)cls;
    const char *images, *labels = NULL;
    if (!PyArg_ParseTuple(args, "s|z", &images, &labels))
        return NULL;
    clg_dataset *d = NULL;
    clg_status s;
    Py_BEGIN_ALLOW_THREADS s = clg_dataset_from_idx(images, labels, &d);
    Py_END_ALLOW_THREADS return s == CLG_OK ? wrap_dataset(d) : fail(s);
}

static PyObject *dataset_fashion_mnist(PyObject *cls, PyObject *args)
{
    (void)cls;
    int train = 1;
    const char *dir = NULL;
    if (!PyArg_ParseTuple(args, "|pz", &train, &dir))
        return NULL;
    clg_dataset *d = NULL;
    clg_status s;
    Py_BEGIN_ALLOW_THREADS s = clg_dataset_fashion_mnist(dir, train, &d);
    Py_END_ALLOW_THREADS return s == CLG_OK ? wrap_dataset(d) : fail(s);
}

/* csv(path, label_column, header): label_column None (the last column),
 * an index, or a header name; header True, False or None (guessed). */
static PyObject *dataset_csv(PyObject *cls, PyObject *args)
{
    (void)cls;
    const char *path;
    PyObject *label = Py_None, *header = Py_None;
    if (!PyArg_ParseTuple(args, "s|OO", &path, &label, &header))
        return NULL;
    clg_csv_opts o = CLG_CSV_DEFAULTS;
    if (PyUnicode_Check(label))
        o.label_name = PyUnicode_AsUTF8(label);
    else if (PyLong_Check(label))
        o.label_index = (int)PyLong_AsLong(label);
    else if (label != Py_None)
        return usage("csv: label_column must be None, an index or a column name");
    o.header = header == Py_None ? -1 : PyObject_IsTrue(header);
    clg_dataset *d = NULL;
    clg_status s;
    Py_BEGIN_ALLOW_THREADS s = clg_dataset_from_csv(path, &o, &d);
    Py_END_ALLOW_THREADS return s == CLG_OK ? wrap_dataset(d) : fail(s);
}

/* images(dir, channels, height, width, resize, memory_limit): an image
 * folder (clg_dataset_from_image_folder); resize "none", "bilinear" or
 * "crop"; memory_limit bytes of decoded images (0: no limit). */
static PyObject *dataset_images(PyObject *cls, PyObject *args)
{
    (void)cls;
    const char *dir, *resize = "none";
    clg_image_opts o = {0};
    unsigned long long memory = 0;
    if (!PyArg_ParseTuple(args, "siii|sK", &dir, &o.channels, &o.height, &o.width,
                          &resize, &memory))
        return NULL;
    o.memory_limit = (size_t)memory;
    if (!strcmp(resize, "bilinear"))
        o.resize = CLG_RESIZE_BILINEAR;
    else if (!strcmp(resize, "crop"))
        o.resize = CLG_RESIZE_CROP;
    else if (strcmp(resize, "none"))
        return usage("resize: '%s' is not none, bilinear or crop", resize);
    clg_dataset *d = NULL;
    clg_status s;
    Py_BEGIN_ALLOW_THREADS s = clg_dataset_from_image_folder(dir, &o, &d);
    Py_END_ALLOW_THREADS return s == CLG_OK ? wrap_dataset(d) : fail(s);
}

/* windows(ids int32, length, vocab): the next-token windows of a text. */
static PyObject *dataset_windows(PyObject *cls, PyObject *args)
{
    (void)cls;
    PyObject *ids;
    int length, vocab;
    if (!PyArg_ParseTuple(args, "Oii", &ids, &length, &vocab))
        return NULL;
    Py_buffer b;
    if (get_buffer(ids, &b, "i", false, "ids") != 0)
        return NULL;
    clg_dataset *d = NULL;
    clg_status s = clg_dataset_windows(b.buf, (size_t)b.len / 4, length, vocab, &d);
    PyBuffer_Release(&b);
    return s == CLG_OK ? wrap_dataset(d) : fail(s);
}

/* split(fraction, seed): moves that fraction of the samples into a new
 * dataset (clgrad-train's --val-split), returned. */
static PyObject *dataset_split(DatasetObject *self, PyObject *args)
{
    float fraction;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "fK", &fraction, &seed))
        return NULL;
    clg_dataset *val = NULL;
    clg_status s = clg_dataset_split(self->d, fraction, (uint64_t)seed, &val);
    return s == CLG_OK ? wrap_dataset(val) : fail(s);
}

/* normalize(text=None): the normalisation `text` ("MEAN,..;STD,..", as
 * checkpoints record it), or with None the dataset's own statistics per
 * channel (clgrad-train --normalize auto), applied in place; returns its
 * text. */
static PyObject *dataset_normalize(DatasetObject *self, PyObject *args)
{
    const char *text = NULL;
    if (!PyArg_ParseTuple(args, "|z", &text))
        return NULL;
    clg_normalization n;
    clg_status s =
        text ? clg_normalization_parse(text, &n) : clg_normalization_of(self->d, &n);
    if (s == CLG_OK)
        s = clg_normalization_apply(&n, self->d);
    if (s != CLG_OK)
        return fail(s);
    char buf[512];
    return PyUnicode_FromString(clg_normalization_format(&n, buf, sizeof buf));
}

/* arrays(): (x float32 bytes, labels int32 bytes or None, shape tuple). */
static PyObject *dataset_arrays(DatasetObject *self, PyObject *noargs)
{
    (void)noargs;
    const clg_dataset *d = self->d;
    PyObject *x =
        PyBytes_FromStringAndSize(d->lazy ? NULL : (const char *)d->x,
                                  (Py_ssize_t)((size_t)d->count * d->sample * 4));
    if (x && d->lazy) { /* decoded now, every file */
        clg_status s;
        Py_BEGIN_ALLOW_THREADS s =
            clg_dataset_read(d, 0, d->count, (float *)PyBytes_AS_STRING(x));
        Py_END_ALLOW_THREADS if (s != CLG_OK)
        {
            Py_DECREF(x);
            return fail(s);
        }
    }
    PyObject *y =
        d->labels ? PyBytes_FromStringAndSize(
                        (const char *)d->labels,
                        (Py_ssize_t)((size_t)d->count * clg_dataset_label_len(d) * 4))
                  : (Py_INCREF(Py_None), Py_None);
    PyObject *shape = PyTuple_New(d->ndim);
    for (int i = 0; shape && i < d->ndim; i++)
        PyTuple_SET_ITEM(shape, i, PyLong_FromLong(d->shape[i]));
    if (!x || !y || !shape) {
        Py_XDECREF(x), Py_XDECREF(y), Py_XDECREF(shape);
        return NULL;
    }
    return Py_BuildValue("(NNNi)", x, y, shape, clg_dataset_label_len(d));
}

static PyObject *dataset_len(DatasetObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->d->count);
}

static PyObject *dataset_classes(DatasetObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->d->classes);
}

static PyMethodDef dataset_methods[] = {
    {"from_arrays", (PyCFunction)dataset_from_arrays, METH_VARARGS | METH_CLASS,
     "from_arrays(x, y, count, shape)"},
    {"idx", (PyCFunction)dataset_idx, METH_VARARGS | METH_CLASS,
     "idx(images, labels=None): IDX files, plain or gzip'd"},
    {"fashion_mnist", (PyCFunction)dataset_fashion_mnist, METH_VARARGS | METH_CLASS,
     "fashion_mnist(train=True, dir=None): Debian's dataset-fashion-mnist"},
    {"csv", (PyCFunction)dataset_csv, METH_VARARGS | METH_CLASS,
     "csv(path, label_column=None, header=None)"},
    {"images", (PyCFunction)dataset_images, METH_VARARGS | METH_CLASS,
     "images(dir, channels, height, width, resize='none'): an image folder"},
    {"windows", (PyCFunction)dataset_windows, METH_VARARGS | METH_CLASS,
     "windows(ids, length, vocab): next-token windows of a text"},
    {"split", (PyCFunction)dataset_split, METH_VARARGS,
     "split(fraction, seed): moves a fraction of the samples out"},
    {"normalize", (PyCFunction)dataset_normalize, METH_VARARGS,
     "normalize(text=None) -> text: per-channel normalisation, in place"},
    {"arrays", (PyCFunction)dataset_arrays, METH_NOARGS,
     "arrays(): (x bytes, labels bytes or None, sample shape, labels per sample)"},
    {NULL}};

static PyGetSetDef dataset_getset[] = {
    {"count", (getter)dataset_len, NULL, "samples", NULL},
    {"classes", (getter)dataset_classes, NULL, "1 + the largest label", NULL},
    {NULL}};

PyTypeObject DatasetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clgrad._core.Dataset",
    .tp_basicsize = sizeof(DatasetObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A clgrad dataset (clg_dataset): samples and labels in host memory.",
    .tp_dealloc = (destructor)dataset_dealloc,
    .tp_methods = dataset_methods,
    .tp_getset = dataset_getset,
};

/* ---- Tokenizers ---------------------------------------------------------------- */

PyObject *wrap_tokenizer(clg_tokenizer *t)
{
    TokenizerObject *o = PyObject_New(TokenizerObject, &TokenizerType);
    if (!o) {
        clg_tokenizer_free(t);
        return NULL;
    }
    o->t = t;
    return (PyObject *)o;
}

static void tokenizer_dealloc(TokenizerObject *self)
{
    clg_tokenizer_free(self->t);
    PyObject_Free(self);
}

/* load(path): a tokenizer file clgrad-train saves, or a Hugging Face GPT-2
 * directory (vocab.json and merges.txt). */
static PyObject *tokenizer_load(PyObject *cls, PyObject *args)
{
    (void)cls;
    const char *path;
    int gpt2 = 0;
    if (!PyArg_ParseTuple(args, "s|p", &path, &gpt2))
        return NULL;
    clg_tokenizer *t = NULL;
    clg_status s =
        gpt2 ? clg_tokenizer_load_gpt2(path, &t) : clg_tokenizer_load(path, &t);
    return s == CLG_OK ? wrap_tokenizer(t) : fail(s);
}

static PyObject *tokenizer_from_string(PyObject *cls, PyObject *args)
{
    (void)cls;
    const char *text, *source = "tokenizer";
    if (!PyArg_ParseTuple(args, "s|s", &text, &source))
        return NULL;
    clg_tokenizer *t = NULL;
    clg_status s = clg_tokenizer_from_string(text, source, &t);
    return s == CLG_OK ? wrap_tokenizer(t) : fail(s);
}

/* train(type, text, merges, plain): learns a tokenizer on a text, as
 * clgrad-train --tokenizer does (plain: no <pad> and <unk>, a language
 * model's). */
static PyObject *tokenizer_train(PyObject *cls, PyObject *args)
{
    (void)cls;
    const char *type, *text;
    Py_ssize_t len;
    int merges = 0, plain = 1;
    if (!PyArg_ParseTuple(args, "ss#|ip", &type, &text, &len, &merges, &plain))
        return NULL;
    clg_tokenizer_opts o = CLG_TOKENIZER_DEFAULTS;
    clg_status s = clg_tokenizer_type_parse(type, &o.type);
    if (s != CLG_OK)
        return fail(s);
    o.merges = merges;
    o.plain = plain;
    clg_text *corpus = NULL;
    clg_tokenizer *t = NULL;
    s = clg_text_from_string(text, (size_t)len, false, &corpus);
    if (s == CLG_OK) {
        Py_BEGIN_ALLOW_THREADS s = clg_tokenizer_train(&o, corpus, &t);
        Py_END_ALLOW_THREADS
    }
    clg_text_free(corpus);
    return s == CLG_OK ? wrap_tokenizer(t) : fail(s);
}

static PyObject *tokenizer_encode(TokenizerObject *self, PyObject *args)
{
    const char *text;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "s#", &text, &len))
        return NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    clg_status s = clg_tokenizer_encode(self->t, text, (size_t)len, &ids, &n);
    if (s != CLG_OK)
        return fail(s);
    PyObject *out = PyBytes_FromStringAndSize((const char *)ids, (Py_ssize_t)(n * 4));
    free(ids);
    return out;
}

static PyObject *tokenizer_decode(TokenizerObject *self, PyObject *args)
{
    PyObject *ids;
    if (!PyArg_ParseTuple(args, "O", &ids))
        return NULL;
    Py_buffer b;
    if (get_buffer(ids, &b, "i", false, "ids") != 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    clg_status s = clg_tokenizer_decode(self->t, b.buf, (size_t)b.len / 4, &text, &len);
    PyBuffer_Release(&b);
    if (s != CLG_OK)
        return fail(s);
    /* a token's bytes may end inside a character: replaced, as Hugging Face
     * decodes */
    PyObject *out = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace");
    free(text);
    return out;
}

static PyObject *tokenizer_to_string(TokenizerObject *self, PyObject *noargs)
{
    (void)noargs;
    char *text = NULL;
    clg_status s = clg_tokenizer_to_string(self->t, &text);
    if (s != CLG_OK)
        return fail(s);
    PyObject *out = PyUnicode_FromString(text);
    free(text);
    return out;
}

static PyObject *tokenizer_save(TokenizerObject *self, PyObject *args)
{
    const char *path;
    int gpt2 = 0;
    if (!PyArg_ParseTuple(args, "s|p", &path, &gpt2))
        return NULL;
    clg_status s = gpt2 ? clg_tokenizer_save_gpt2(self->t, path)
                        : clg_tokenizer_save(self->t, path);
    return s == CLG_OK ? (Py_INCREF(Py_None), Py_None) : fail(s);
}

static PyObject *tokenizer_vocab(TokenizerObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(clg_tokenizer_vocab_size(self->t));
}

static PyObject *tokenizer_type(TokenizerObject *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(clg_tokenizer_type_str(clg_tokenizer_type_of(self->t)));
}

static PyMethodDef tokenizer_methods[] = {
    {"load", (PyCFunction)tokenizer_load, METH_VARARGS | METH_CLASS,
     "load(path, gpt2=False)"},
    {"from_string", (PyCFunction)tokenizer_from_string, METH_VARARGS | METH_CLASS,
     "from_string(text, source='tokenizer')"},
    {"train", (PyCFunction)tokenizer_train, METH_VARARGS | METH_CLASS,
     "train(type, text, merges=0, plain=True)"},
    {"encode", (PyCFunction)tokenizer_encode, METH_VARARGS,
     "encode(text) -> int32 bytes"},
    {"decode", (PyCFunction)tokenizer_decode, METH_VARARGS, "decode(ids) -> str"},
    {"to_string", (PyCFunction)tokenizer_to_string, METH_NOARGS,
     "the tokenizer's text"},
    {"save", (PyCFunction)tokenizer_save, METH_VARARGS, "save(path, gpt2=False)"},
    {NULL}};

static PyGetSetDef tokenizer_getset[] = {
    {"vocab_size", (getter)tokenizer_vocab, NULL, "ids", NULL},
    {"type", (getter)tokenizer_type, NULL, "char, byte, bpe or gpt2", NULL},
    {NULL}};

PyTypeObject TokenizerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "clgrad._core.Tokenizer",
    .tp_basicsize = sizeof(TokenizerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A clgrad tokenizer (char, byte, bpe or GPT-2's byte-level BPE).",
    .tp_dealloc = (destructor)tokenizer_dealloc,
    .tp_methods = tokenizer_methods,
    .tp_getset = tokenizer_getset,
};

/* ---- The module ------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"devices", devices, METH_NOARGS,
     "devices() -> list of dicts: every OpenCL device, as clgrad-devices --json"},
    {NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "clgrad._core",
    "clgrad's C library as Python objects (see the clgrad package)",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL};

static PyObject *new_error(PyObject *m, const char *name, PyObject *base,
                           const char *doc)
{
    char full[64];
    snprintf(full, sizeof full, "clgrad.%s", name);
    PyObject *bases = base ? PyTuple_Pack(2, Error, base) : NULL;
    PyObject *cls = PyErr_NewExceptionWithDoc(full, doc, base ? bases : NULL, NULL);
    Py_XDECREF(bases);
    if (cls && PyModule_AddObjectRef(m, name, cls) != 0) {
        Py_DECREF(cls);
        return NULL;
    }
    return cls;
}

PyMODINIT_FUNC PyInit__core(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Error = new_error(m, "Error", NULL,
                      "clgrad's errors; str() is the library's sentence saying what "
                      "failed and where, .status the library's status name");
    UsageError = Error ? new_error(m, "UsageError", PyExc_ValueError,
                                   "a bad argument, shape, name or option")
                       : NULL;
    DataError = UsageError ? new_error(m, "DataError", PyExc_OSError,
                                       "a missing, unreadable or malformed file or "
                                       "data set")
                           : NULL;
    DeviceMemoryError = DataError ? new_error(m, "DeviceMemoryError", PyExc_MemoryError,
                                              "device (or host) memory ran out")
                                  : NULL;
    NumericalError = DeviceMemoryError
                         ? new_error(m, "NumericalError", PyExc_ArithmeticError,
                                     "a loss, gradient or logit that is not finite")
                         : NULL;
    DeviceError = NumericalError ? new_error(m, "DeviceError", PyExc_RuntimeError,
                                             "OpenCL, the device or its compiler "
                                             "failed")
                                 : NULL;
    PyTypeObject *types[] = {&ContextType, &DatasetType, &TokenizerType, &ModelType};
    const char *names[] = {"Context", "Dataset", "Tokenizer", "Model"};
    for (int i = 0; DeviceError && i < 4; i++) {
        if (PyType_Ready(types[i]) != 0 ||
            PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) != 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    if (!DeviceError || PyModule_AddStringConstant(m, "version", clg_version()) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
