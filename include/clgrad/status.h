/*
 * clgrad/status.h — how every clgrad call reports failure.
 *
 * Every fallible function returns a clg_status. CLG_OK is zero; anything else
 * is a failure, and clg_last_error() then holds one sentence that says what
 * failed, on what, and why:
 *
 *     clg_status s = clg_context_create(index, &ctx);
 *     if (s != CLG_OK) {
 *         fprintf(stderr, "clgrad: %s\n", clg_last_error());
 *         return 1;
 *     }
 *
 * The message is per thread and stays until the next failing call on that
 * thread. Successful calls leave it alone.
 */
#ifndef CLGRAD_STATUS_H
#define CLGRAD_STATUS_H

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description). Values are stable: new codes go at the end. */
#define CLG_STATUS_LIST(X)                                                             \
    X(CLG_OK, 0, "success")                                                            \
    X(CLG_INVALID_ARGUMENT, 1, "invalid argument")                                     \
    X(CLG_NO_PLATFORM, 2, "no OpenCL platform found")                                  \
    X(CLG_NO_DEVICE, 3, "no matching OpenCL device")                                   \
    X(CLG_OUT_OF_HOST_MEMORY, 4, "out of host memory")                                 \
    X(CLG_OUT_OF_DEVICE_MEMORY, 5, "out of device memory")                             \
    X(CLG_OPENCL_ERROR, 6, "OpenCL call failed")                                       \
    X(CLG_BUILD_FAILED, 7, "kernel failed to compile")                                 \
    X(CLG_IO_ERROR, 8, "input/output error")                                           \
    X(CLG_BAD_FILE, 9, "malformed file")                                               \
    X(CLG_SHAPE_MISMATCH, 10, "tensor shapes do not fit")                              \
    X(CLG_UNSUPPORTED, 11, "not supported on this device")                             \
    X(CLG_NOT_FOUND, 12, "not found")                                                  \
    X(CLG_BLAS_ERROR, 13, "CLBlast call failed")                                       \
    X(CLG_INTERNAL, 14, "internal error")                                              \
    X(CLG_NOT_FINITE, 15, "loss or gradient is not finite")                            \
    X(CLG_RANK_FAILED, 16, "another rank of the job failed")

/* Every public enum is such a list, X(NAME, VALUE, "text"): one list makes
 * the enum (with CLG_ENUM_VALUE) and the library's names for it (the _str
 * and _parse functions beside each enum), so they cannot drift apart. */
#define CLG_ENUM_VALUE(name, value, text) name = value,

typedef enum clg_status { CLG_STATUS_LIST(CLG_ENUM_VALUE) } clg_status;

/* A short, static description of the code ("out of device memory"). */
CLG_API const char *clg_status_str(clg_status status);

/* The full sentence for the last failure on this thread; "" if none yet.
 * The pointer stays valid until the next failing clgrad call on this thread. */
CLG_API const char *clg_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
