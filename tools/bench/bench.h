/*
 * clgrad-bench's parts: the options and what the benchmarks share
 * (common.c), and one file per benchmark: ops.c, loader.c, train.c,
 * scale.c; main.c parses the flags and runs one. The PyTorch peers are
 * Python (peers.py), run through the --python interpreter.
 */
#ifndef CLGRAD_TOOLS_BENCH_H
#define CLGRAD_TOOLS_BENCH_H

#include <stdio.h>

#include <clgrad.h>

#include "cli.h"

typedef struct options {
    const char *device;
    float seconds; /* per measurement */
    bool no_numpy;
    const char *python;       /* the Python with numpy and torch */
    const char *torch_device; /* where PyTorch trains: cpu or cuda */
    int ranks;                /* scale: up to this many */
    int steps;                /* scale: timed steps per measurement (0: 200, CNN 30) */
    const char *model;        /* scale: mlp, cnn or both (NULL) */
    bool recompute;           /* train: GPT blocks recomputed in backward */
} options;

/* The flags, as main.c parsed them. */
extern options flags_set;

/* "clgrad-bench: WHAT: the library's last error" on stderr; 1. */
int fail(const char *what);
/* The Python that runs the peers: --python, else /usr/bin/python3. */
const char *access_python(void);
/* peers.py ARGS through that Python, its standard output to read (close
 * it with pclose), or NULL (always under --no-numpy). */
FILE *bench_peer(const char *args);
/* The first number the peer `args` prints, or -1 when it prints none. */
double bench_peer_number(const char *args);
/* Up to `count` numbers the peer prints, into out; how many it printed. */
int bench_peer_numbers(const char *args, double *out, int count);

/* Fashion-MNIST's training set, or 60,000 synthetic images without it. */
clg_dataset *bench_data(void);
/* The Fashion-MNIST MLP or CNN, compiled, with Adam (lr 1e-3) and a loader
 * over d; the caller frees all three. */
clg_status make_trainer(clg_context *ctx, const clg_dataset *d, bool cnn,
                        const clg_loader_opts *lo, clg_model **m, clg_optimizer **opt,
                        clg_loader **l);

/* The clock of a timed clg_fit: the time of every step's end, so that a
 * rate counts the steps between the first and the last, not clg_fit's
 * start (checking every sample of the dataset, shuffling the epoch). */
typedef struct step_clock {
    long long first, last;
    double t_first, t_last;
} step_clock;
bool clock_step(const clg_step_info *info, void *user);
/* Steps per second between the first and the last step clocked; < 0 if
 * fewer than two were. */
double clock_rate(const step_clock *c);

int bench_ops(clg_context *ctx, const options *opt);
int bench_loader(clg_context *ctx);
int bench_train(clg_context *ctx);
int bench_scale(int max_ranks);

#endif
