/* A loop over items on several threads (parallel.c): image decoding, at
 * load time and in the loader's batches. */
#ifndef CLGRAD_BASE_PARALLEL_H
#define CLGRAD_BASE_PARALLEL_H

#include "clgrad/status.h"

typedef clg_status (*clg_item_fn)(int i, void *user);

/* Calls fn(i, user) for each i in [0, count) on up to `threads` threads,
 * this one among them, each taking the next i not yet taken and none past
 * the earliest i that failed. Returns CLG_OK, or the status of the earliest
 * item that failed, its sentence in this thread's clg_last_error() (the
 * same failure whatever the threads' timing). */
clg_status clg_parallel_for(int count, int threads, clg_item_fn fn, void *user);

#endif
