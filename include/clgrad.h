/*
 * clgrad.h — everything a program that trains with clgrad includes.
 *
 *     #include <clgrad.h>
 *
 * Build with: cc app.c $(pkg-config --cflags --libs clgrad)
 *
 * The layers are documented in their own headers:
 *   clgrad/status.h   clg_status, clg_status_str, clg_last_error
 *   clgrad/runtime.h  devices, contexts, device buffers
 *   clgrad/blas.h     GEMM on raw device buffers
 *   clgrad/graph.h    tensors, ops, autograd, execution plans
 *   clgrad/optim.h    optimizers, clipping, learning-rate schedules
 *   clgrad/nn.h       layers, Sequential models, initialisation
 *   clgrad/data.h     IDX readers, datasets, augmentation, the batch loader
 *   clgrad/train.h    the training loop, evaluation, diagnostics
 *   clgrad/io.h       safetensors checkpoints
 */
#ifndef CLGRAD_H
#define CLGRAD_H

#include "clgrad/blas.h"
#include "clgrad/comm.h"
#include "clgrad/data.h"
#include "clgrad/graph.h"
#include "clgrad/io.h"
#include "clgrad/nn.h"
#include "clgrad/optim.h"
#include "clgrad/runtime.h"
#include "clgrad/status.h"
#include "clgrad/train.h"
#include "clgrad/version.h"

#endif
