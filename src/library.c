/*
 * How the layers assemble into one library. The runtime creates the
 * per-context state of each layer listed here with every context, in this
 * order, without knowing what the layers above it are: the list lives at the
 * top, where everything may be known.
 */
#include "blas/blas_internal.h"

const clg_context_layer *const clg_context_layers[] = {
    &clg_blas_context_layer, /* the GEMM path (CLGRAD_GEMM) */
};

const int clg_context_layer_count = (int)CLG_COUNT_OF(clg_context_layers);

_Static_assert(CLG_COUNT_OF(clg_context_layers) <= CLG_MAX_CONTEXT_LAYERS,
               "raise CLG_MAX_CONTEXT_LAYERS in runtime/runtime_internal.h");
