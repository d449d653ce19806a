/* Private to libclgrad: initialisation helpers the layers share, host-side
 * (init.c draws the values and uploads them through the public API). */
#ifndef CLGRAD_NN_INTERNAL_H
#define CLGRAD_NN_INTERNAL_H

#include <stddef.h>

#include "base/error.h"
#include "base/rng.h"
#include "clgrad/nn.h"

/* ---- The model (model.c) --------------------------------------------------- */

typedef struct layer_rec {
    clg_layer spec;
    char name[48]; /* "3", or "3.body.1" inside a residual block */
    int top;       /* top-level index */
    int depth;     /* 1 inside a residual body */
    clg_tensor *out;
    size_t params;
} layer_rec;

struct clg_model {
    clg_context *ctx;
    clg_graph *g;
    clg_model_opts opts;
    clg_tensor *input, *out, *target, *loss;
    clg_plan *plan;
    layer_rec *layers;
    int nlayers, cap;
    int top; /* next top-level index */
    /* the open residual block, if any */
    int block; /* its record, -1 when none */
    clg_tensor *block_in;
    int block_inner;
    uint64_t rng;
};

/* ---- The layers (layers.c) ------------------------------------------------- */

/* How a spec word sets a field of clg_layer. */
typedef enum clg_field_kind {
    CLG_FIELD_SIZE,     /* a whole number from lo to hi (an int field) */
    CLG_FIELD_FLOAT,    /* a number from lo to hi (a float field) */
    CLG_FIELD_NO_BIAS,  /* bias=true|false, kept as no_bias (a bool field) */
    CLG_FIELD_BOOL,     /* true|false (a bool field) */
    CLG_FIELD_TANH,     /* approximate=tanh|none, as nn.GELU (a bool field) */
    CLG_FIELD_BILINEAR, /* mode=nearest|bilinear, as nn.Upsample (a bool field) */
} clg_field_kind;

typedef struct clg_layer_field {
    const char *name; /* as a spec, --help and errors name it */
    size_t offset;    /* in clg_layer */
    clg_field_kind kind;
    double lo, hi;
} clg_layer_field;

/* One layer's nodes on x, its parameters named after `prefix` ("3",
 * "2.body.0"), their elements added to *count, their initialisation's
 * status in *init; NULL (the graph's error set) when x does not fit. */
typedef clg_tensor *(*clg_layer_build_fn)(clg_model *m, const clg_layer *l,
                                          const char *prefix, clg_tensor *x,
                                          size_t *count, clg_status *init);

/* Everything about one layer type but its kernels: what a spec line takes
 * (positional arguments, then key=value options), the values it starts
 * from, and how it is built. One row of clg_layer_descs a type. */
typedef struct clg_layer_desc {
    clg_layer_type type;
    int min_args, max_args;
    clg_layer_field args[2];
    clg_layer_field options[6];
    clg_layer defaults; /* the fields a spec line does not set */
    clg_layer_build_fn build;
} clg_layer_desc;

extern const clg_layer_desc clg_layer_descs[];
extern const int clg_layer_desc_count;

/* The row of `type`, or NULL (residual, which is a block, not a row). */
const clg_layer_desc *clg_layer_desc_of(clg_layer_type type);

/* Sets field f of l from a spec word; false when the word is not in its
 * range (clg_layer_field_range says which). */
bool clg_layer_field_set(const clg_layer_field *f, const char *word, clg_layer *l);
const char *clg_layer_field_range(const clg_layer_field *f, char *buf, size_t len);

/* Builds layer l on x (its row's build, or an error for an unknown type). */
clg_tensor *clg_layer_build(clg_model *m, const clg_layer *l, const char *prefix,
                            clg_tensor *x, size_t *count, clg_status *init);

/* ---- Initialisation (init.c) ------------------------------------------------- */

typedef enum clg_init_rule {
    CLG_RULE_CONSTANT, /* every value a */
    CLG_RULE_UNIFORM,  /* U(-a, a) */
    CLG_RULE_NORMAL,   /* N(0, a^2) */
} clg_init_rule;

clg_status clg_init_fill(clg_tensor *t, clg_init_rule rule, double a, uint64_t *rng);
clg_status clg_init_weight(clg_tensor *w, clg_init init, int fan_in, int fan_out,
                           uint64_t *rng);
clg_status clg_init_bias(clg_tensor *b, clg_init init, int fan_in, uint64_t *rng);

#endif
