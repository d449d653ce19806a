/*
 * Private to the blas layer: CLBlast's parameters for the two kernels its
 * SGEMM runs, tuned through CLBlast's own tuner (clblast_tune.cc, C++,
 * since CLBlast offers that API in C++ alone) and set through its C API
 * (clblast.c). The values are compile-time defines of CLBlast's kernels.
 */
#ifndef CLGRAD_BLAS_CLBLAST_TUNE_H
#define CLGRAD_BLAS_CLBLAST_TUNE_H

#include <stdbool.h>
#include <stddef.h>

#include <CL/cl.h>

/* Xgemm: the indirect kernel of large products (operands copied, padded or
 * transposed first); XgemmDirect: the kernel of small ones. */
typedef enum clg_clblast_kernel {
    CLG_CLBLAST_XGEMM_DIRECT = 0,
    CLG_CLBLAST_XGEMM = 1,
} clg_clblast_kernel;

#define CLG_CLBLAST_KERNELS 2
#define CLG_CLBLAST_MAX_PARAMS 24
#define CLG_CLBLAST_NAME_LEN 16

/* One kernel's parameters, sorted by name. */
typedef struct clg_clblast_params {
    int count;
    char names[CLG_CLBLAST_MAX_PARAMS][CLG_CLBLAST_NAME_LEN];
    size_t values[CLG_CLBLAST_MAX_PARAMS];
} clg_clblast_params;

/* "Xgemm" or "XgemmDirect": CLBlast's names, also the cache file's. */
const char *clg_clblast_kernel_name(clg_clblast_kernel kernel);

/* CLBlast's tuner for one kernel at m x n x k, trying that fraction of its
 * search space (a random sample, the same every run); the fastest
 * configuration whose results match the reference kernel's into *out.
 * Returns a CLBlastStatusCode (0: success). Without a C++ compiler at build
 * time this is CLBlastNotImplemented. */
int clg_clblast_tune_kernel(cl_command_queue queue, clg_clblast_kernel kernel, size_t m,
                            size_t n, size_t k, double fraction, clg_clblast_params *out);

/* The parameters CLBlast uses now for the kernel on `device`: an override's,
 * else its database's. A CLBlastStatusCode. */
int clg_clblast_current(cl_device_id device, clg_clblast_kernel kernel,
                        clg_clblast_params *out);

/* Makes CLBlast use `p` for the kernel on `device` in this process, from the
 * next call on (it builds the kernel again). A CLBlastStatusCode. */
int clg_clblast_override(cl_device_id device, clg_clblast_kernel kernel,
                         const clg_clblast_params *p);

/* CLBlast's name of a status code, or OpenCL's. */
const char *clg_clblast_status_name(int code);

/* "NAME=VALUE NAME=VALUE ..." into buf (truncated to len). */
void clg_clblast_params_format(const clg_clblast_params *p, char *buf, size_t len);

/* The reverse of clg_clblast_params_format; false for text that is not. */
bool clg_clblast_params_parse(const char *text, clg_clblast_params *p);

#endif
