/*
 * clgrad-train — trains a model described in a spec file, shows progress,
 * saves checkpoints, resumes, fine-tunes, evaluates and predicts.
 *
 * Exit status: 0 on success; 1 when training fails (a non-finite loss or
 * gradient, the device out of memory), the last good checkpoint kept; 2 for
 * bad usage, values, files or a spec that does not fit the data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

int main(int argc, char **argv)
{
    train_options o;
    int rc = train_parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char line[2048] = TOOL; /* kept in checkpoints */
    for (int i = 1; i < argc; i++)
        snprintf(line + strlen(line), sizeof line - strlen(line), " %s", argv[i]);
    o.command_line = line;
    /* Several devices or ranks: data parallel (dist.c). */
    const char *how = o.distributed ? o.distributed : "auto";
    const char *env = getenv("CLGRAD_DEVICE");
    bool training = !o.evaluate && !o.predict && !o.generate;
    if (training &&
        (!strcmp(how, "mpi") || (!strcmp(how, "auto") && clg_comm_mpi_launched())))
        return train_with_mpi(&o);
    const char *list = o.devices                                          ? o.devices
                       : o.device                                         ? NULL
                       : env && (strchr(env, ',') || !strcmp(env, "all")) ? env
                                                                          : NULL;
    if (training && list)
        return train_on_devices(&o, list);
    static char first[256];
    if (list) { /* evaluation and generation: the list's first device */
        snprintf(first, sizeof first, "%s", strcmp(list, "all") ? list : "0");
        first[strcspn(first, ",")] = '\0';
        o.device = first;
    }
    int dev;
    if (clg_device_select(o.device, &dev) != CLG_OK)
        return cli_fail(TOOL, CLI_USAGE_ERROR);
    clg_context *ctx;
    clg_status s = clg_context_create(dev, &ctx);
    if (s != CLG_OK)
        return train_fail_status(s);
    rc = o.evaluate   ? evaluate_mode(ctx, &o)
         : o.predict  ? predict_mode(ctx, &o)
         : o.generate ? generate_mode(ctx, &o)
                      : train_mode(ctx, &o);
    clg_context_free(ctx);
    return rc;
}
