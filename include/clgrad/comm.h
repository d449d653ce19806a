/*
 * clgrad/comm.h — data parallelism: the ranks that train one model
 * together, as threads of one process (a device each) or as MPI processes.
 *
 * Every rank builds the same model with the same seed (dropout masks follow
 * it; the initial weights are rank 0's whatever the seed) and runs clg_fit
 * with its communicator
 * (clg_fit_opts.comm) over a loader of its shard of each batch
 * (clg_loader_opts.shard, .shards). clg_fit then starts every rank from
 * rank 0's weights, sums each step's gradients over the ranks in rank order
 * (every rank applies the same update, and the numbers do not depend on
 * timing), and reports the losses of the whole batch:
 *
 *     clg_comm **ranks;
 *     clg_comm_local_create(2, &ranks);      // in one process: a handle per thread
 *     // thread r: a context on device r, the model, an optimizer,
 *     //   lo.shard = r, lo.shards = 2, fo.comm = ranks[r], clg_fit(...)
 *     clg_comm_local_free(ranks, 2);         // after every thread is done
 *
 * or, in a program started by mpirun, clg_comm_mpi_create(&comm) once in
 * each process. A rank that fails calls clg_comm_abort (clg_fit does): the
 * others' collectives then fail at once instead of waiting (under MPI the
 * job is aborted), so a job ends with an error, never a hang.
 */
#ifndef CLGRAD_COMM_H
#define CLGRAD_COMM_H

#include "api.h"

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_comm clg_comm;

/* `size` ranks in this process, one thread each: (*ranks)[r] is rank r's
 * handle. A rank waits for the others at most CLGRAD_COMM_TIMEOUT seconds
 * (default 600) in one collective before failing them all. Free with
 * clg_comm_local_free once every thread is done with its handle. */
CLG_API clg_status clg_comm_local_create(int size, clg_comm ***ranks);
CLG_API void clg_comm_local_free(clg_comm **ranks, int size); /* accepts NULL */

/* Whether this library was built with MPI, and whether this process was
 * started by an MPI launcher (mpirun's environment: OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK). */
CLG_API bool clg_comm_mpi_built(void);
CLG_API bool clg_comm_mpi_launched(void);

/* MPI_COMM_WORLD; initialises MPI (clg_comm_free finalises it). Without MPI
 * built in: CLG_UNSUPPORTED, saying how to build it. */
CLG_API clg_status clg_comm_mpi_create(clg_comm **comm);
CLG_API void clg_comm_free(clg_comm *comm); /* an MPI communicator; accepts NULL */

CLG_API int clg_comm_rank(const clg_comm *comm);
CLG_API int clg_comm_size(const clg_comm *comm);
/* The rank among those on this machine (for picking a device): MPI's local
 * rank, or the thread's rank. */
CLG_API int clg_comm_local_rank(const clg_comm *comm);
/* "threads" or "MPI". */
CLG_API const char *clg_comm_kind(const clg_comm *comm);

/* data[0..n) summed over the ranks; every rank gets the same bits, each
 * element added in rank order 0, 1, ... Every rank passes the same n. */
CLG_API clg_status clg_comm_allreduce_sum(clg_comm *comm, float *data, size_t n);
/* root's `bytes` of data to every rank. */
CLG_API clg_status clg_comm_broadcast(clg_comm *comm, void *data, size_t bytes,
                                      int root);
/* Every rank's `bytes` of mine into all[rank * bytes ...], on every rank. */
CLG_API clg_status clg_comm_allgather(clg_comm *comm, const void *mine, void *all,
                                      size_t bytes);

/* This rank failed (`why`, for the others' errors): the collectives of the
 * other ranks return CLG_RANK_FAILED naming it; under MPI the job aborts
 * with exit status 1 once the reason is printed. */
CLG_API void clg_comm_abort(clg_comm *comm, const char *why);

/* Seconds this rank has spent in collectives (waiting included). */
CLG_API double clg_comm_seconds(const clg_comm *comm);

#ifdef __cplusplus
}
#endif

#endif
