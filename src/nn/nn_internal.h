/* Private to libclgrad: initialisation helpers the layers share, host-side
 * (init.c draws the values and uploads them through the public API). */
#ifndef CLGRAD_NN_INTERNAL_H
#define CLGRAD_NN_INTERNAL_H

#include "base/error.h"
#include "base/rng.h"
#include "clgrad/nn.h"

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
