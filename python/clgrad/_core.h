/* What the files of clgrad._core share (_core.c, _model.c). */
#ifndef CLGRAD_PY_CORE_H
#define CLGRAD_PY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>

#include <clgrad.h>

/* The exception classes (clgrad.Error and its subclasses). */
extern PyObject *Error, *UsageError, *DataError, *DeviceMemoryError, *NumericalError,
    *DeviceError;

/* Raises the library's last error as the class of status s; NULL. */
PyObject *fail(clg_status s);
/* Raises UsageError with the sentence; NULL. */
PyObject *usage(const char *fmt, ...);
/* A C-contiguous buffer of format fmt ("f" float32, "i" int32), or -1 with
 * UsageError naming `what`. */
int get_buffer(PyObject *obj, Py_buffer *b, const char *fmt, bool writable,
               const char *what);

typedef struct {
    PyObject_HEAD clg_context *ctx;
} ContextObject;

typedef struct {
    PyObject_HEAD clg_dataset *d;
} DatasetObject;

typedef struct {
    PyObject_HEAD clg_tokenizer *t;
} TokenizerObject;

/* A compiled model (clgrad._core.Model). */
typedef struct {
    PyObject_HEAD clg_model *m;
    PyObject *ctx;           /* the Context object, kept alive with the model */
    char *spec;              /* the spec text, for checkpoints */
    char *tokenizer;         /* a text model's tokenizer (its text), or NULL */
    clg_optimizer *opt;      /* the last fit's, saved with the model; or NULL */
    clg_optim_opts opt_opts; /* its options */
    clg_normalization norm;  /* the inputs' normalisation a checkpoint records */
    long long steps;         /* optimizer steps so far */
    int epochs;              /* epochs so far */
    float best_val_loss;     /* the best validation loss so far (INFINITY: none) */
} ModelObject;

extern PyTypeObject ContextType, DatasetType, TokenizerType, ModelType;

/* _model.c: building a model and its tensors. */
int model_check(ModelObject *self);
int model_init(ModelObject *self, PyObject *args, PyObject *kw);
void model_dealloc(ModelObject *self);
PyObject *model_from_checkpoint(PyObject *cls, PyObject *args);
PyObject *model_from_gpt2_dir(PyObject *cls, PyObject *args);
PyObject *model_summary(ModelObject *self, PyObject *noargs);
PyObject *model_info(ModelObject *self, PyObject *noargs);
PyObject *model_tensors(ModelObject *self, PyObject *noargs);
PyObject *model_read(ModelObject *self, PyObject *args);
PyObject *model_write(ModelObject *self, PyObject *args);

PyObject *wrap_tokenizer(clg_tokenizer *t);

#endif
