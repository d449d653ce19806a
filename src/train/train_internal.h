/*
 * Private to the train layer: data parallel training for clg_fit (dp.c),
 * over the communicators of comm.c.
 *
 * A step on N ranks: each runs forward and backward on its shard, its
 * backward seeded with its share of the batch. As the backward pass
 * completes the gradients of a bucket of parameters (about 25 MB, the last
 * layers first), the bucket is downloaded and summed over the ranks by a
 * communication thread while the device goes on with the earlier layers;
 * then the sums go back to the device and the optimizer steps on them.
 */
#ifndef CLGRAD_TRAIN_INTERNAL_H
#define CLGRAD_TRAIN_INTERNAL_H

#include "clgrad/train.h"

typedef struct clg_dp clg_dp;

/* Checks that every rank has the same model and data, broadcasts rank 0's
 * weights (`fresh`: not when resuming, every rank having loaded them), and
 * starts the communication thread. */
clg_status clg_dp_create(clg_model *model, clg_optimizer *opt, clg_loader *loader,
                         clg_comm *comm, const clg_fit_opts *opts, bool fresh,
                         clg_dp **dp);
void clg_dp_free(clg_dp *dp); /* accepts NULL */

/* Around the run that ends a step (the last of its accumulated batches):
 * begin arms the plan's gradient calls; finish waits for every bucket's
 * sum and puts the sums on the device. A rank whose shard was empty ran
 * nothing: it zeroes its gradients (clg_dp_zero) and finishes with
 * ran = false, summing in the order the ranks that ran use. */
void clg_dp_begin(clg_dp *dp);
clg_status clg_dp_finish(clg_dp *dp, bool ran);
clg_status clg_dp_zero(clg_dp *dp);

/* After an epoch: every rank's parameters hash the same. */
clg_status clg_dp_compare_weights(clg_dp *dp, int epoch);

/* comm.c: whether a second thread of this rank may call the collectives
 * (while the first calls none): threads always; MPI at
 * MPI_THREAD_SERIALIZED or above. */
bool clg_comm_thread_safe(const clg_comm *comm);

#endif
