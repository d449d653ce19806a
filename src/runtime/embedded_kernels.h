/* The kernel sources (cl/FAMILY.cl) and the headers they include (cl/NAME.h),
 * compiled into the library by scripts/embed_kernels.py. */
#ifndef CLGRAD_EMBEDDED_KERNELS_H
#define CLGRAD_EMBEDDED_KERNELS_H

#include <stddef.h>

typedef struct clg_embedded_kernel {
    const char *name; /* family: the file name without .cl; header: its name */
    const char *source;
} clg_embedded_kernel;

extern const clg_embedded_kernel clg_embedded_kernels[];
extern const size_t clg_embedded_kernels_count;
extern const clg_embedded_kernel clg_embedded_headers[];
extern const size_t clg_embedded_headers_count;

#endif
