/* The native GEMM kernels' tunings: which are valid on a device, and the
 * one each kind of device starts from. */
#include "blas/blas_internal.h"

clg_status clg_gemm_tuning_check(const clg_context *ctx, const clg_gemm_tuning *t)
{
    size_t most = clg_context_device(ctx)->max_work_group_size;
    const char *bad = NULL;
    if (t->rows < 1 || t->rows > 16)
        bad = "rows (1 to 16)";
    else if (t->cols != 4 && t->cols != 8 && t->cols != 16)
        bad = "cols (4, 8 or 16)";
    else if (t->nt_rows < 1 || t->nt_rows > 8 || t->nt_cols < 1 || t->nt_cols > 8 ||
             t->nt_rows * t->nt_cols > 16)
        bad = "nt_rows x nt_cols (1 to 8 each, at most 16 in all)";
    else if (t->group < 1 || (size_t)t->group > most)
        bad = "group (1 to the device's work-group size)";
    else if (t->nt_group < 1 || (size_t)t->nt_group > most)
        bad = "nt_group (1 to the device's work-group size)";
    if (bad)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "GEMM tuning %d x %d group %d, A B^T %d x %d group %d: %s out "
                        "of range",
                        t->rows, t->cols, t->group, t->nt_rows, t->nt_cols, t->nt_group,
                        bad);
    return CLG_OK;
}

/* The defaults are the tuner's picks (clgrad-devices --tune) on the
 * machines here: with 16-wide float vectors (AVX-512) 8 x 16 in groups of
 * 4; with narrower ones (AVX2) 8 x 16 keeps more of the product than there
 * are vector registers and spills, and 4 x 16 in groups of 16, with gemm_nt
 * loading 8-wide vectors along k in 4 x 2 blocks, came first
 * (docs/performance.md). */
bool clg_gemm_narrow(const clg_device_info *dev)
{
    return dev && dev->type == CLG_DEVICE_CPU && dev->float_vector_width > 0 &&
           dev->float_vector_width < 16;
}

clg_gemm_tuning clg_gemm_default_tuning(const clg_device_info *dev)
{
    return clg_gemm_narrow(dev) ? CLG_GEMM_TUNING_NARROW : CLG_GEMM_TUNING_DEFAULT;
}
