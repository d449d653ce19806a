/*
 * clgrad/activations.h — the element-wise activations, one row each.
 *
 * Everything else is made from these rows: the codes the kernels are built
 * with (-DACT=code; cl/elementwise.cl holds each formula and its
 * derivative), the clg_activation enum, the builders clg_relu(g, x),
 * clg_leaky_relu(g, x, slope), ... (graph.h), their op rows
 * (src/ops/elementwise.c), the layer types CLG_LAYER_RELU, ... (nn.h) and
 * the spec lines "relu", "leakyrelu 0.1", ... with their defaults
 * (src/nn/layers.c). The tests read the rows too: each needs its double
 * reference (tests/reference.c) and its PyTorch function
 * (tests/activations.py). CONTRIBUTING.md walks through adding one.
 *
 *   ID        CLG_ACT_ID and CLG_LAYER_ID
 *   fn        clg_fn(), the op's name; PyTorch's torch.nn.functional name
 *   name      the layer as a model spec spells it
 *   code      the kernel's code (any unused number; not stored anywhere)
 *   layer     clg_layer_type value (kept: the C API's enum values)
 *   nargs     0, or 1 for an activation with one number (the builder's
 *             third argument, clg_layer.value, the spec's positional word)
 *   arg, def  that number's name and default (PyTorch's)
 *   option    "approximate" for GELU, whose tanh form is CLG_ACT_GELU_TANH
 *             (spec: gelu approximate=tanh); NULL for the rest
 *
 * Y is passed through to X, so that a list can be expanded inside another
 * X-macro list (nn.h's layer types).
 *
 * Plain macros only: the kernels include this file as "activations.h"
 * (OpenCL C), the library and the public headers as C.
 */
#ifndef CLGRAD_ACTIVATIONS_H
#define CLGRAD_ACTIVATIONS_H

/* X(Y, ID, fn, name, code, layer, nargs, arg, def, option) */
#define CLG_ACTIVATION_LIST(X, Y)                                                      \
    X(Y, RELU, relu, "relu", 1, 9, 0, "", 0.0f, NULL)                                  \
    X(Y, LEAKYRELU, leaky_relu, "leakyrelu", 2, 10, 1, "slope", 0.01f, NULL)           \
    X(Y, ELU, elu, "elu", 3, 11, 1, "alpha", 1.0f, NULL)                               \
    X(Y, GELU, gelu, "gelu", 4, 12, 0, "", 0.0f, "approximate")                        \
    X(Y, SIGMOID, sigmoid, "sigmoid", 5, 13, 0, "", 0.0f, NULL)                        \
    X(Y, TANH, tanh, "tanh", 6, 14, 0, "", 0.0f, NULL)                                 \
    X(Y, SILU, silu, "silu", 9, 24, 0, "", 0.0f, NULL)                                 \
    X(Y, HARDSWISH, hardswish, "hardswish", 10, 25, 0, "", 0.0f, NULL)                 \
    X(Y, HARDSIGMOID, hardsigmoid, "hardsigmoid", 11, 26, 0, "", 0.0f, NULL)

/* Kernel forms that are ops but not layers of their own:
 * X(Y, ID, fn, code, nargs) */
#define CLG_ACTIVATION_FORM_LIST(X, Y)                                                 \
    X(Y, SCALE, scale, 7, 1)         /* a x: clg_scale(g, x, a) */                     \
    X(Y, GELU_TANH, gelu_tanh, 8, 0) /* GELU(approximate="tanh"), GPT-2's */

#endif
