/* Parameter initialisation from one seed (host-side, then uploaded). */
#include <math.h>
#include <stdlib.h>

#include "base/text.h"
#include "nn/nn_internal.h"

CLG_DEFINE_ENUM_NAMES(clg_init, CLG_INIT_LIST, "initialisation")

clg_status clg_init_fill(clg_tensor *t, clg_init_rule rule, double a, uint64_t *rng)
{
    size_t n = clg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    if (!v)
        return CLG_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; i < n; i++) {
        switch (rule) {
        case CLG_RULE_CONSTANT:
            v[i] = (float)a;
            break;
        case CLG_RULE_UNIFORM:
            v[i] = (float)((2.0 * clg_rng_uniform(rng) - 1.0) * a);
            break;
        case CLG_RULE_NORMAL:
            v[i] = (float)(clg_rng_normal(rng) * a);
            break;
        }
    }
    clg_status s = clg_tensor_upload(t, v, n);
    free(v);
    return s;
}

clg_status clg_init_weight(clg_tensor *w, clg_init init, int fan_in, int fan_out,
                           uint64_t *rng)
{
    switch (init) {
    case CLG_INIT_PYTORCH: /* kaiming_uniform(a = sqrt 5): bound 1 / sqrt(fan_in) */
        return clg_init_fill(w, CLG_RULE_UNIFORM, 1.0 / sqrt((double)fan_in), rng);
    case CLG_INIT_KAIMING_UNIFORM:
        return clg_init_fill(w, CLG_RULE_UNIFORM, sqrt(2.0) * sqrt(3.0 / fan_in), rng);
    case CLG_INIT_KAIMING_NORMAL:
        return clg_init_fill(w, CLG_RULE_NORMAL, sqrt(2.0) / sqrt((double)fan_in), rng);
    case CLG_INIT_XAVIER_UNIFORM:
        return clg_init_fill(w, CLG_RULE_UNIFORM, sqrt(6.0 / (fan_in + fan_out)), rng);
    case CLG_INIT_XAVIER_NORMAL:
        return clg_init_fill(w, CLG_RULE_NORMAL, sqrt(2.0 / (fan_in + fan_out)), rng);
    case CLG_INIT_ZEROS:
        return clg_init_fill(w, CLG_RULE_CONSTANT, 0.0, rng);
    case CLG_INIT_ONES:
        return clg_init_fill(w, CLG_RULE_CONSTANT, 1.0, rng);
    case CLG_INIT_GPT2:
        return clg_init_fill(w, CLG_RULE_NORMAL, 0.02, rng);
    }
    return CLG_INVALID_ARGUMENT;
}

clg_status clg_init_bias(clg_tensor *b, clg_init init, int fan_in, uint64_t *rng)
{
    if (init == CLG_INIT_PYTORCH)
        return clg_init_fill(b, CLG_RULE_UNIFORM, 1.0 / sqrt((double)fan_in), rng);
    return clg_init_fill(b, CLG_RULE_CONSTANT, init == CLG_INIT_ONES ? 1.0 : 0.0, rng);
}
