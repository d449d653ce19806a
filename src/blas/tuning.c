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

/* Measured by the tuner (clgrad-devices --tune) on a 2-core AVX2 EPYC
 * (Zen 3), geometric means over its shapes, four runs each: PoCL 4 x 16
 * with groups of 16 or 4 and 8 x 8 at 56-76 GF/s, 8 x 16 with groups of 4
 * at 44-58; SGEMM 1024^3 with the old default 16-54 GF/s (one run of five
 * at 16), 4 x 16 group 16 58-72. Intel's CPU runtime there: 4 x 16 group
 * 16 at 76 GF/s, 8 x 16 group 4 at 58. gemm_nt with 8-wide vectors along
 * k and 4 x 2 blocks in groups of 16, against 16-wide and 4 x 4 in groups
 * of 4, at the MLP's x W^T (64 x 256 over 784), 64 x 128 over 256 and the
 * CNN's two weight gradients: PoCL 50-55, 39-45, 54, 35-37 -> 81, 56, 70,
 * 64 GF/s; Intel's runtime 50-56, 41-42, 49-51, 36-38 -> 84-102, 92-110,
 * 45-75, 38-62. On the 2-core AVX-512 EPYC, 8 x 16 group 4 was the
 * tuner's choice on PoCL (192 GF/s). */
bool clg_gemm_narrow(const clg_device_info *dev)
{
    return dev && dev->type == CLG_DEVICE_CPU && dev->float_vector_width > 0 &&
           dev->float_vector_width < 16;
}

clg_gemm_tuning clg_gemm_default_tuning(const clg_device_info *dev)
{
    return clg_gemm_narrow(dev) ? CLG_GEMM_TUNING_NARROW : CLG_GEMM_TUNING_DEFAULT;
}
