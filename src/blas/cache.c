/* The GEMM tuning cache: one file per device, platform, driver and clgrad
 * version, holding what was tuned (include/clgrad/blas.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/hash.h"
#include "blas/blas_internal.h"
#include "clgrad/version.h"

/* The lines that name what a cache entry belongs to; the file name is
 * their hash. */
static void identity(const clg_context *ctx, char *buf, size_t len)
{
    const clg_device_info *d = clg_context_device(ctx);
    snprintf(buf, len, "device %s\nplatform %s\ndriver %s\nclgrad %s\n", d->name,
             d->platform_name, d->driver_version, clg_version());
}

clg_status clg_gemm_tuning_path(const clg_context *ctx, char *path, size_t len)
{
    if (!ctx || !path)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_gemm_tuning_path: NULL argument");
    char id[1200], name[64];
    identity(ctx, id, sizeof id);
    snprintf(name, sizeof name, "gemm-%016llx.txt",
             (unsigned long long)clg_fnv1a(CLG_FNV_START, id, strlen(id)));
    return clg_cache_file(name, path, len);
}

#define CACHE_HEADER "clgrad GEMM tuning 1\n"

/* After the header and the identity, each line one kernel's (native and
 * nt, the first two, where the native kernels were tuned):
 *     native ROWS COLS GROUP
 *     nt ROWS COLS GROUP
 *     clblast KERNEL NAME=VALUE ...        (Xgemm, XgemmDirect) */
static void parse_line(const clg_context *ctx, const char *line, clg_gemm_tuned *t)
{
    clg_gemm_tuning n = t->native;
    char kernel[32];
    int used = 0;
    if (sscanf(line, "native %d %d %d", &n.rows, &n.cols, &n.group) == 3) {
        t->native = n;
    } else if (sscanf(line, "nt %d %d %d", &n.nt_rows, &n.nt_cols, &n.nt_group) == 3) {
        t->native = n;
        t->has_native = clg_gemm_tuning_check(ctx, &n) == CLG_OK;
    } else if (sscanf(line, "clblast %31s %n", kernel, &used) == 1 && used > 0) {
        for (int k = 0; k < CLG_CLBLAST_KERNELS; k++)
            if (!strcmp(kernel, clg_clblast_kernel_name((clg_clblast_kernel)k)))
                t->has_clblast[k] =
                    clg_clblast_params_parse(line + used, &t->clblast[k]);
    }
}

bool clg_gemm_tuning_load(const clg_context *ctx, clg_gemm_tuned *out)
{
    char path[4200], id[1200];
    char *text = NULL; /* none cached, or unreadable: the default */
    if (clg_gemm_tuning_path(ctx, path, sizeof path) != CLG_OK ||
        clg_read_file(path, (size_t)1 << 16, &text, NULL) != CLG_OK)
        return false;
    identity(ctx, id, sizeof id);
    size_t hl = strlen(CACHE_HEADER), il = strlen(id);
    bool ok = !strncmp(text, CACHE_HEADER, hl) && !strncmp(text + hl, id, il);
    *out = (clg_gemm_tuned){.native = CLG_GEMM_TUNING_DEFAULT};
    for (char *line = text + hl + il; ok && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        parse_line(ctx, line, out);
        line = end ? end + 1 : line + strlen(line);
    }
    free(text);
    return ok;
}

/* Writes `t` as the context's device's cache file. */
clg_status clg_gemm_tuning_save(const clg_context *ctx, const clg_gemm_tuned *t)
{
    char path[4200], id[1200], text[4096], params[1024];
    clg_status s = clg_gemm_tuning_path(ctx, path, sizeof path);
    if (s == CLG_OK) {
        identity(ctx, id, sizeof id);
        int n = snprintf(text, sizeof text, "%s%s", CACHE_HEADER, id);
        const clg_gemm_tuning *n_ = &t->native;
        if (t->has_native)
            n += snprintf(text + n, sizeof text - (size_t)n,
                          "native %d %d %d\nnt %d %d %d\n", n_->rows, n_->cols,
                          n_->group, n_->nt_rows, n_->nt_cols, n_->nt_group);
        for (int k = 0; k < CLG_CLBLAST_KERNELS; k++) {
            if (!t->has_clblast[k])
                continue;
            clg_clblast_params_format(&t->clblast[k], params, sizeof params);
            n += snprintf(text + n, sizeof text - (size_t)n, "clblast %s %s\n",
                          clg_clblast_kernel_name((clg_clblast_kernel)k), params);
        }
        s = clg_cache_write(path, &(clg_file_part){text, (size_t)n}, 1);
    }
    return s == CLG_OK ? s : clg_fail_prefix(s, "GEMM tuning cache");
}
