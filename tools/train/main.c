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

/* This process's rank as mpirun's environment gives it (0 without one). */
static int launched_rank(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
    for (int i = 0; i < 3; i++)
        if (getenv(names[i]))
            return atoi(getenv(names[i]));
    return 0;
}

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
    bool mpi = !strcmp(how, "mpi") || (!strcmp(how, "auto") && clg_comm_mpi_launched());
    const char *list = o.devices                                          ? o.devices
                       : o.device                                         ? NULL
                       : env && (strchr(env, ',') || !strcmp(env, "all")) ? env
                                                                          : NULL;
    if (training && mpi && o.devices)
        return cli_usage_error(TOOL, "--devices and MPI ranks do not mix: each rank "
                                     "takes one device (--device or CLGRAD_DEVICE)");
    if (o.nweights && !(training && (mpi || list)))
        return cli_usage_error(TOOL, "--device-weights goes with training on several "
                                     "devices (--devices) or MPI ranks");
    if (training && mpi)
        return train_with_mpi(&o);
    if (!training && clg_comm_mpi_launched() && launched_rank() > 0)
        return 0; /* evaluation, prediction and generation once: on rank 0 */
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
