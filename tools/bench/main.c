/*
 * clgrad-bench — measures clgrad against references on this machine.
 *
 *   clgrad-bench ops     GFLOP/s or GB/s per op at training-sized shapes,
 *                        both GEMM paths beside torch.matmul (numpy without
 *                        torch), each op beside PyTorch
 *   clgrad-bench loader  the input pipeline, alone and under an MLP epoch
 *   clgrad-bench train   training steps of the Fashion-MNIST MLP and CNN,
 *                        beside the same models in PyTorch, as a ratio
 *   clgrad-bench scale   data parallel over 1, 2, ... ranks
 *
 * Timings are whole-op wall-clock times (enqueue to finish) over repeated
 * runs after a warm-up that compiles the kernels.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

options flags_set = {.seconds = 0.5f, .torch_device = "cpu"};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: clgrad-bench ops|loader|train|scale [--device SPEC|all] [--seconds S] "
        "[--no-numpy]\n"
        "\n"
        "  ops      per-op throughput at training-sized shapes: GEMM on both\n"
        "           paths (CLBlast, native) beside torch.matmul (numpy where\n"
        "           the Python has no torch), and the example CNN's two\n"
        "           convolutions, linear, pooling, batch norm, activations and\n"
        "           the loss, forward and forward+backward, beside PyTorch\n"
        "  loader   the input pipeline on Fashion-MNIST (or 60000 synthetic\n"
        "           images): batches/s of the loader alone, and a whole MLP\n"
        "           epoch with and without prefetch and augmentation\n"
        "  train    samples/s of training steps of the Fashion-MNIST MLP and\n"
        "           CNN, and of the same models in PyTorch where\n"
        "           /usr/bin/python3 has torch, as a ratio\n"
        "  scale    data parallel: samples/s of the MLP and CNN on 1, 2, ...\n"
        "           ranks (a thread and context each, on the devices in\n"
        "           turn; --ranks N), communication per step, efficiency\n");
}

int main(int argc, char **argv)
{
    const char *command = NULL;
    const cli_flag flags[] = {
        CLI_GROUP("Options"),
        {"--device", CLI_STRING, &flags_set.device, .value = "SPEC",
         .help = "device index, gpu, cpu, name:SUBSTRING, or all: each in turn"},
        {"--seconds", CLI_FLOAT, &flags_set.seconds, 0.001, 60, .value = "S",
         .help = "time spent per measurement"},
        {"--no-numpy", CLI_SWITCH, &flags_set.no_numpy,
         .help = "skip the numpy and PyTorch references"},
        {"--python", CLI_STRING, &flags_set.python, .value = "PATH",
         .help = "the Python with numpy and torch (default /usr/bin/python3)"},
        {"--torch-device", CLI_STRING, &flags_set.torch_device, .value = "cpu|cuda[:N]",
         .help = "where PyTorch trains in 'train'"},
        {"--ranks", CLI_INT, &flags_set.ranks, 1, 64, .value = "N",
         .help = "'scale': up to N ranks (default: the devices, at least 2)"},
        {"--steps", CLI_INT, &flags_set.steps, 1, 100000, .value = "N",
         .help = "'scale': timed steps (default 200 for the MLP, 30 for the CNN)"},
        {"--model", CLI_STRING, &flags_set.model, .value = "NAME",
         .help = "'scale': mlp or cnn only (default both); 'train': gpt2-mini or\n"
                 "gpt2-small (GPT-2's 124 M parameters at T 1,024) alone;\n"
                 "'ops': gpt2-small's GEMM shapes"},
        {"--recompute", CLI_SWITCH, &flags_set.recompute,
         .help = "'train': the GPTs' blocks recomputed in backward\n"
                 "(clgrad-train --recompute)"},
        CLI_END,
    };
    int rc = cli_parse("clgrad-bench", usage, flags, argc, argv, &command, 1);
    if (rc >= 0)
        return rc;
    if (!command)
        return cli_usage_error("clgrad-bench",
                               "name a benchmark: ops, loader or train (try --help)");
    if (strcmp(flags_set.torch_device, "cpu") &&
        strncmp(flags_set.torch_device, "cuda", 4))
        return cli_usage_error("clgrad-bench",
                               "--torch-device: '%s' is not cpu, cuda or cuda:N",
                               flags_set.torch_device);
    if (strcmp(command, "ops") && strcmp(command, "loader") &&
        strcmp(command, "train") && strcmp(command, "scale"))
        return cli_usage_error("clgrad-bench",
                               "unknown benchmark: '%s' is not one of: ops, loader, "
                               "train, scale",
                               command);
    bool scale = !strcmp(command, "scale"), train = !strcmp(command, "train");
    bool ops = !strcmp(command, "ops");
    const char *m = flags_set.model;
    if (m && !(scale && (!strcmp(m, "mlp") || !strcmp(m, "cnn"))) &&
        !(train && (!strcmp(m, "gpt2-mini") || !strcmp(m, "gpt2-small"))) &&
        !(ops && !strcmp(m, "gpt2-small")))
        return cli_usage_error(
            "clgrad-bench",
            "--model: '%s' is not a model of '%s' (scale: mlp or cnn; "
            "train: gpt2-mini or gpt2-small; ops: gpt2-small)",
            m, command);
    if (!strcmp(command, "scale")) {
        int devices = 1;
        if (clg_device_count(&devices) != CLG_OK)
            return cli_fail("clgrad-bench", CLI_USAGE_ERROR);
        return bench_scale(flags_set.ranks ? flags_set.ranks
                           : devices > 2   ? devices
                                           : 2);
    }
    /* One device, or with --device all each in turn. */
    int first, count;
    if (flags_set.device && !strcmp(flags_set.device, "all")) {
        if (clg_device_select(NULL, &first) != CLG_OK ||
            clg_device_count(&count) != CLG_OK)
            return cli_fail("clgrad-bench", CLI_USAGE_ERROR); /* none at all */
        first = 0;
    } else {
        if (clg_device_select(flags_set.device, &first) != CLG_OK)
            return cli_fail("clgrad-bench", CLI_USAGE_ERROR);
        count = first + 1;
    }
    rc = 0;
    for (int dev = first; dev < count; dev++) {
        clg_context *ctx;
        if (dev > first)
            printf("\n");
        if (clg_context_create(dev, &ctx) != CLG_OK) {
            rc = fail("creating a context");
            continue;
        }
        int one = !strcmp(command, "ops")      ? bench_ops(ctx, &flags_set)
                  : !strcmp(command, "loader") ? bench_loader(ctx)
                                               : bench_train(ctx);
        rc = rc ? rc : one;
        clg_context_free(ctx);
    }
    return rc;
}
