/* The self test's kernel: proves a device compiles and runs clgrad code. */

#include "index.h"

/* y[i] = a * x[i] + y[i] for i < n. */
__kernel void smoke_axpy(const int n, const float a, __global const float *x,
                         __global float *y)
{
    const int i = clg_global_id(0);
    if (i < n)
        y[i] = a * x[i] + y[i];
}
