/* The cl/FAMILY.cl sources, compiled into the library by scripts/embed_kernels.py. */
#ifndef CLGRAD_EMBEDDED_KERNELS_H
#define CLGRAD_EMBEDDED_KERNELS_H

#include <stddef.h>

typedef struct clg_embedded_kernel {
    const char *name; /* family: the file name without .cl */
    const char *source;
} clg_embedded_kernel;

extern const clg_embedded_kernel clg_embedded_kernels[];
extern const size_t clg_embedded_kernel_count;

#endif
