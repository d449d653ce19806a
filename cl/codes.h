/*
 * Codes shared by the C launchers and the kernels: which binary op,
 * pointwise loss, reduction or optimizer rule a kernel is compiled for
 * (-DBINOP=1 is CLG_BIN_ADD). The activations' codes come from their list,
 * include/clgrad/activations.h. The kernel sources include this file
 * (#include "codes.h", resolved by the runtime for the built-in and the
 * CLGRAD_KERNEL_DIR sources alike) and so do src/ops/ and src/optim/, so
 * both sides read one definition. Where a public enum names the same thing
 * (the optimizer types), the C side checks with static asserts that the
 * values agree.
 *
 * Plain #defines only: this is C and OpenCL C at once.
 */
#ifndef CLGRAD_CODES_H
#define CLGRAD_CODES_H

/* Broadcasting binary ops (elementwise.cl: -DBINOP=). */
#define CLG_BIN_ADD 1
#define CLG_BIN_SUB 2
#define CLG_BIN_MUL 3

/* Pointwise losses (loss.cl: -DLOSS=). */
#define CLG_POINTWISE_MSE 1
#define CLG_POINTWISE_L1  2
#define CLG_POINTWISE_BCE 3

/* Reductions over an axis (reduce.cl: -DRED=). */
#define CLG_RED_SUM  1
#define CLG_RED_MEAN 2
#define CLG_RED_MAX  3

/* Optimizer rules (optim.cl: -DOPT=): the values of clg_optim_type. */
#define CLG_OPT_SGD     0
#define CLG_OPT_ADAM    1
#define CLG_OPT_ADAMW   2
#define CLG_OPT_RMSPROP 3
#define CLG_OPT_ADAGRAD 4

#endif
