/*
 * clgrad-devices — lists every OpenCL device, says whether clgrad works on
 * it, and optionally measures it.
 *
 * Exit status: 0 on success, 1 when a device was asked for by --device and
 * fails its self test, or --tune could not tune a device or save the result,
 * 2 for usage errors or when no OpenCL platform exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli.h"

typedef struct options {
    bool json;
    bool bench;
    bool tune, tune_clblast;
    double tune_seconds, tune_effort;
    const char *device; /* NULL: every device */
} options;

typedef struct bench_result {
    bool ran;
    double gemm_clblast_gflops; /* < 0: failed */
    double gemm_native_gflops;
    double copy_gbps;
    char error[256];
} bench_result;

typedef struct device_report {
    clg_device_info info;
    bool works;
    char reason[512]; /* why not, when !works */
    bench_result bench;
    clg_gemm_tuning tuning; /* the native GEMM's, where the device works */
    clg_gemm_tuning_source tuning_source;
    char cache[1024];       /* its cache file */
    char tune_error[512];   /* why --tune failed */
    /* CLBlast's kernels' parameters ("" where CLBlast could not say) */
    char clblast[2][600];
    clg_gemm_tuning_source clblast_source[2];
} device_report;

static const char *const clblast_kernels[2] = {"XgemmDirect", "Xgemm"};

static void usage(FILE *out)
{
    fprintf(out, "usage: clgrad-devices [--json] [--bench] [--tune] [--tune-clblast] "
                 "[--device SPEC]\n"
                 "\n"
                 "Lists every OpenCL platform and device clgrad can use, with its\n"
                 "index (for --device / CLGRAD_DEVICE), capabilities, and whether\n"
                 "clgrad works on it (its kernels compile and a smoke test passes).\n"
                 "The device clgrad picks by default is marked with '*'.\n"
                 "\n"
                 "--tune measures the native GEMM kernel's block sizes and work-group\n"
                 "widths on each device and caches the fastest (CLGRAD_CACHE_DIR,\n"
                 "else $XDG_CACHE_HOME/clgrad, else ~/.cache/clgrad); every program\n"
                 "then uses it on that device and driver. On devices whose GEMM goes\n"
                 "through CLBlast (GPUs), --tune also runs CLBlast's own tuner and\n"
                 "caches its parameters where they make SGEMM faster; --tune-clblast\n"
                 "does that on every device (slow on CPUs: minutes to hours).\n");
}

static int parse_args(int argc, char **argv, options *opt)
{
    const cli_flag flags[] = {
        CLI_GROUP("Options"),
        {"--json", CLI_SWITCH, &opt->json,
         .help = "print one JSON object with a \"devices\" array"},
        {"--bench", CLI_SWITCH, &opt->bench,
         .help = "also measure SGEMM GFLOP/s (1024^3, CLBlast and native)\n"
                 "and device copy bandwidth (GB/s)"},
        {"--tune", CLI_SWITCH, &opt->tune,
         .help = "tune the native GEMM on each device and cache the result"},
        {"--tune-seconds", CLI_DOUBLE, &opt->tune_seconds, 0.001, 60, .value = "S",
         .help = "time per candidate while tuning (default 0.05)"},
        {"--tune-clblast", CLI_SWITCH, &opt->tune_clblast,
         .help = "tune CLBlast's SGEMM kernels on each device, CPUs too"},
        {"--tune-effort", CLI_DOUBLE, &opt->tune_effort, 0.0001, 128, .value = "E",
         .help = "how much of CLBlast's search space to try (default 1:\n"
                 "1/128 of XgemmDirect's, 1/1024 of Xgemm's)"},
        {"--device", CLI_STRING, &opt->device, .value = "SPEC",
         .help = "only this device: an index, gpu, cpu or name:SUBSTRING"},
        CLI_END,
    };
    return cli_parse("clgrad-devices", usage, flags, argc, argv, NULL, 0);
}

/* Repeats `run` for about 0.3 s after one warm-up; returns seconds per run,
 * or a negative value on failure. */
typedef clg_status (*bench_fn)(clg_context *ctx, void *arg);

static double time_runs(clg_context *ctx, bench_fn run, void *arg)
{
    if (run(ctx, arg) != CLG_OK || clg_context_finish(ctx) != CLG_OK)
        return -1.0;
    int reps = 0;
    double start = clg_now_seconds(), elapsed = 0.0;
    while (reps < 3 || elapsed < 0.3) {
        if (run(ctx, arg) != CLG_OK)
            return -1.0;
        reps++;
        if (clg_context_finish(ctx) != CLG_OK)
            return -1.0;
        elapsed = clg_now_seconds() - start;
    }
    return elapsed / reps;
}

typedef struct gemm_arg {
    size_t n;
    clg_buffer *a, *b, *c;
} gemm_arg;

static clg_status run_gemm(clg_context *ctx, void *p)
{
    gemm_arg *g = p;
    return clg_gemm(ctx, false, false, g->n, g->n, g->n, 1.0f, g->a, 0, g->n, g->b, 0,
                    g->n, 0.0f, g->c, 0, g->n);
}

static clg_status run_copy(clg_context *ctx, void *p)
{
    (void)ctx;
    gemm_arg *g = p;
    return clg_buffer_copy(g->b, 0, g->a, 0, clg_buffer_size(g->a));
}

static double gemm_gflops(clg_context *ctx, clg_gemm_path path, gemm_arg *g,
                          char *error, size_t error_len)
{
    clg_context_set_gemm_path(ctx, path);
    double t = time_runs(ctx, run_gemm, g);
    if (t < 0) {
        snprintf(error, error_len, "%s", clg_last_error());
        return -1.0;
    }
    return 2.0 * (double)g->n * (double)g->n * (double)g->n / t * 1e-9;
}

static void bench_device(clg_context *ctx, bench_result *r)
{
    const size_t n = 1024, copy_bytes = (size_t)64 << 20;
    gemm_arg g = {n, NULL, NULL, NULL};
    float *host = malloc(n * n * sizeof *host);
    r->ran = true;
    clg_status s = host ? CLG_OK : CLG_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; host && i < n * n; i++)
        host[i] = (float)((i * 7) % 13) * 0.1f;
    if (s == CLG_OK)
        s = clg_buffer_create(ctx, n * n * sizeof(float), &g.a);
    if (s == CLG_OK)
        s = clg_buffer_create(ctx, n * n * sizeof(float), &g.b);
    if (s == CLG_OK)
        s = clg_buffer_create(ctx, n * n * sizeof(float), &g.c);
    if (s == CLG_OK)
        s = clg_buffer_upload(g.a, 0, host, n * n * sizeof(float));
    if (s == CLG_OK)
        s = clg_buffer_upload(g.b, 0, host, n * n * sizeof(float));
    free(host);
    if (s != CLG_OK) {
        snprintf(r->error, sizeof r->error, "%s", clg_last_error());
        r->gemm_clblast_gflops = r->gemm_native_gflops = r->copy_gbps = -1.0;
    } else {
        clg_gemm_path before = clg_context_gemm_path(ctx);
        r->gemm_clblast_gflops =
            gemm_gflops(ctx, CLG_GEMM_CLBLAST, &g, r->error, sizeof r->error);
        r->gemm_native_gflops =
            gemm_gflops(ctx, CLG_GEMM_NATIVE, &g, r->error, sizeof r->error);
        clg_context_set_gemm_path(ctx, before);
    }
    clg_buffer_free(g.a);
    clg_buffer_free(g.b);
    clg_buffer_free(g.c);

    gemm_arg copy = {0, NULL, NULL, NULL};
    r->copy_gbps = -1.0;
    if (clg_buffer_create(ctx, copy_bytes, &copy.a) == CLG_OK &&
        clg_buffer_create(ctx, copy_bytes, &copy.b) == CLG_OK) {
        unsigned zero = 0;
        clg_buffer_fill(copy.a, 0, &zero, sizeof zero, copy_bytes);
        double t = time_runs(ctx, run_copy, &copy);
        /* A copy reads and writes every byte. */
        if (t > 0)
            r->copy_gbps = 2.0 * (double)copy_bytes / t * 1e-9;
    }
    if (r->copy_gbps < 0 && !r->error[0])
        snprintf(r->error, sizeof r->error, "%s", clg_last_error());
    clg_buffer_free(copy.a);
    clg_buffer_free(copy.b);
}

/* First line only: a build log may follow on the next lines. */
static void first_line(char *dst, size_t len, const char *msg)
{
    snprintf(dst, len, "%s", msg);
    char *nl = strchr(dst, '\n');
    if (nl)
        *nl = '\0';
}

static void check_device(device_report *rep, const options *opt)
{
    clg_context *ctx = NULL;
    clg_status s = clg_context_create(rep->info.index, &ctx);
    if (s == CLG_OK)
        s = clg_context_self_test(ctx);
    rep->works = s == CLG_OK;
    if (!rep->works) {
        first_line(rep->reason, sizeof rep->reason, clg_last_error());
        clg_context_free(ctx);
        return;
    }
    FILE *report = opt->json ? stderr : stdout;
    if (opt->tune && clg_gemm_tune(ctx, opt->tune_seconds, report) != CLG_OK)
        first_line(rep->tune_error, sizeof rep->tune_error, clg_last_error());
    bool clblast = opt->tune_clblast ||
                   (opt->tune && clg_context_gemm_path(ctx) == CLG_GEMM_CLBLAST);
    if (clblast && !rep->tune_error[0] &&
        clg_gemm_tune_clblast(ctx, opt->tune_effort, report) != CLG_OK)
        first_line(rep->tune_error, sizeof rep->tune_error, clg_last_error());
    rep->tuning = clg_context_gemm_tuning(ctx, &rep->tuning_source);
    for (int k = 0; k < 2; k++)
        if (clg_gemm_clblast_parameters(ctx, clblast_kernels[k], rep->clblast[k],
                                        sizeof rep->clblast[k],
                                        &rep->clblast_source[k]) != CLG_OK)
            rep->clblast[k][0] = '\0';
    if (clg_gemm_tuning_path(ctx, rep->cache, sizeof rep->cache) != CLG_OK)
        first_line(rep->cache, sizeof rep->cache, clg_last_error());
    if (opt->bench)
        bench_device(ctx, &rep->bench);
    clg_context_free(ctx);
}

static const char *tuning_source_str(clg_gemm_tuning_source s)
{
    return s == CLG_TUNING_CACHED ? "cached" : s == CLG_TUNING_SET ? "tuned" : "default";
}

static const char *clblast_source_str(clg_gemm_tuning_source s)
{
    return s == CLG_TUNING_DEFAULT ? "CLBlast's database"
           : s == CLG_TUNING_CACHED ? "cached"
                                    : "tuned now";
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            printf("\\n");
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_number(double v)
{
    if (v < 0)
        printf("null");
    else
        printf("%.2f", v);
}

static void print_json(const device_report *reps, int n, int default_index,
                       const char *error)
{
    printf("{\n  \"clgrad_version\": ");
    json_string(clg_version());
    printf(",\n  \"default_device\": ");
    if (default_index >= 0)
        printf("%d", default_index);
    else
        printf("null");
    if (error) {
        printf(",\n  \"error\": ");
        json_string(error);
    }
    printf(",\n  \"devices\": [");
    for (int i = 0; i < n; i++) {
        const clg_device_info *d = &reps[i].info;
        printf("%s\n    {\"index\": %d, \"name\": ", i ? "," : "", d->index);
        json_string(d->name);
        printf(", \"vendor\": ");
        json_string(d->vendor);
        printf(", \"platform\": ");
        json_string(d->platform_name);
        printf(", \"platform_index\": %d, \"type\": \"%s\", \"opencl_version\": ",
               d->platform_index, clg_device_type_str(d->type));
        json_string(d->version);
        printf(", \"opencl_c_version\": ");
        json_string(d->c_version);
        printf(", \"driver_version\": ");
        json_string(d->driver_version);
        printf(", \"compute_units\": %u, \"max_clock_mhz\": %u, "
               "\"global_mem_bytes\": %llu, \"local_mem_bytes\": %llu, "
               "\"max_alloc_bytes\": %llu, \"fp16\": %s, \"fp64\": %s, "
               "\"default\": %s, \"works\": %s",
               d->compute_units, d->max_clock_mhz,
               (unsigned long long)d->global_mem_bytes,
               (unsigned long long)d->local_mem_bytes,
               (unsigned long long)d->max_alloc_bytes, d->fp16 ? "true" : "false",
               d->fp64 ? "true" : "false", d->index == default_index ? "true" : "false",
               reps[i].works ? "true" : "false");
        if (!reps[i].works) {
            printf(", \"problem\": ");
            json_string(reps[i].reason);
        }
        if (reps[i].works) {
            const clg_gemm_tuning *t = &reps[i].tuning;
            printf(", \"gemm_tuning\": {\"rows\": %d, \"cols\": %d, \"group\": %d, "
                   "\"nt_rows\": %d, \"nt_cols\": %d, \"nt_group\": %d, \"source\": "
                   "\"%s\", \"cache\": ",
                   t->rows, t->cols, t->group, t->nt_rows, t->nt_cols, t->nt_group,
                   tuning_source_str(reps[i].tuning_source));
            json_string(reps[i].cache);
            for (int k = 0; k < 2; k++) {
                if (!reps[i].clblast[k][0])
                    continue;
                printf(", \"clblast_%s\": {\"source\": \"%s\", \"parameters\": ",
                       clblast_kernels[k],
                       reps[i].clblast_source[k] == CLG_TUNING_DEFAULT
                           ? "database"
                           : tuning_source_str(reps[i].clblast_source[k]));
                json_string(reps[i].clblast[k]);
                printf("}");
            }
            if (reps[i].tune_error[0]) {
                printf(", \"error\": ");
                json_string(reps[i].tune_error);
            }
            printf("}");
        }
        const bench_result *b = &reps[i].bench;
        if (b->ran) {
            printf(", \"bench\": {\"sgemm_1024_clblast_gflops\": ");
            json_number(b->gemm_clblast_gflops);
            printf(", \"sgemm_1024_native_gflops\": ");
            json_number(b->gemm_native_gflops);
            printf(", \"copy_gbps\": ");
            json_number(b->copy_gbps);
            if (b->error[0]) {
                printf(", \"error\": ");
                json_string(b->error);
            }
            printf("}");
        }
        printf("}");
    }
    printf("%s]\n}\n", n ? "\n  " : "");
}

static void print_rate(const char *label, double v, const char *unit)
{
    if (v < 0)
        printf("     %-15s failed\n", label);
    else
        printf("     %-15s %.1f %s\n", label, v, unit);
}

static void print_text(const device_report *reps, int n, int default_index)
{
    printf("clgrad %s: %d OpenCL device%s (* = default)\n", clg_version(), n,
           n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        const clg_device_info *d = &reps[i].info;
        char global[32], local[32], max_alloc[32];
        printf("\n%c %-2d %s\n", d->index == default_index ? '*' : ' ', d->index,
               d->name);
        printf("     %-15s %s (platform %d)\n", "platform", d->platform_name,
               d->platform_index);
        printf("     %-15s %s\n", "vendor", d->vendor);
        printf("     %-15s %s\n", "type", clg_device_type_str(d->type));
        printf("     %-15s %s; %s; driver %s\n", "version", d->version, d->c_version,
               d->driver_version);
        printf("     %-15s %u @ %u MHz\n", "compute units", d->compute_units,
               d->max_clock_mhz);
        printf("     %-15s global %s, local %s, max alloc %s\n", "memory",
               clg_format_bytes(d->global_mem_bytes, global, sizeof global),
               clg_format_bytes(d->local_mem_bytes, local, sizeof local),
               clg_format_bytes(d->max_alloc_bytes, max_alloc, sizeof max_alloc));
        printf("     %-15s fp16 %s, fp64 %s\n", "precision", d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no");
        if (reps[i].works)
            printf("     %-15s yes (kernels compile, smoke test passed)\n",
                   "clgrad works");
        else
            printf("     %-15s NO: %s\n", "clgrad works", reps[i].reason);
        if (reps[i].works) {
            const clg_gemm_tuning *t = &reps[i].tuning;
            clg_gemm_tuning_source src = reps[i].tuning_source;
            printf("     %-15s %d x %d group %d, A B^T %d x %d group %d (%s%s%s)\n",
                   "gemm tuning", t->rows, t->cols, t->group, t->nt_rows, t->nt_cols,
                   t->nt_group,
                   src == CLG_TUNING_DEFAULT ? "default: nothing cached in " :
                   src == CLG_TUNING_CACHED  ? "cached in "
                                             : "tuned now, saved to ",
                   reps[i].cache,
                   src == CLG_TUNING_DEFAULT ? "; clgrad-devices --tune" : "");
            if (reps[i].clblast[0][0] && reps[i].clblast[1][0])
                printf("     %-15s XgemmDirect %s, Xgemm %s\n", "clblast tuning",
                       clblast_source_str(reps[i].clblast_source[0]),
                       clblast_source_str(reps[i].clblast_source[1]));
            if (reps[i].tune_error[0])
                printf("     %-15s FAILED: %s\n", "tuning", reps[i].tune_error);
        }
        const bench_result *b = &reps[i].bench;
        if (b->ran) {
            print_rate("sgemm clblast", b->gemm_clblast_gflops, "GFLOP/s (1024^3)");
            print_rate("sgemm native", b->gemm_native_gflops, "GFLOP/s (1024^3)");
            print_rate("copy", b->copy_gbps, "GB/s");
            if (b->error[0])
                printf("     %-15s %s\n", "bench problem", b->error);
        }
    }
}

int main(int argc, char **argv)
{
    options opt = {.tune_effort = 1};
    int rc = parse_args(argc, argv, &opt);
    if (rc >= 0)
        return rc;

    int count = 0;
    clg_status s = clg_device_count(&count);
    if (s != CLG_OK) {
        if (opt.json)
            print_json(NULL, 0, -1, clg_last_error());
        fflush(stdout); /* the JSON first, then the sentence */
        fprintf(stderr, "clgrad-devices: %s\n", clg_last_error());
        return 2;
    }
    int default_index = -1;
    if (count > 0)
        clg_device_default(&default_index);

    int first = 0, last = count - 1;
    if (opt.device) {
        int only;
        if (clg_device_select(opt.device, &only) != CLG_OK) {
            fprintf(stderr, "clgrad-devices: %s\n", clg_last_error());
            return 2;
        }
        first = last = only;
    }
    int n = last - first + 1;
    device_report *reps = calloc(n > 0 ? (size_t)n : 1, sizeof *reps);
    if (!reps) {
        fprintf(stderr, "clgrad-devices: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        clg_device_info_get(first + i, &reps[i].info);
        check_device(&reps[i], &opt);
    }
    if (opt.json)
        print_json(reps, n, default_index, NULL);
    else
        print_text(reps, n, default_index);
    rc = opt.device && n == 1 && !reps[0].works ? 1 : 0;
    for (int i = 0; i < n; i++)
        if (reps[i].tune_error[0]) {
            fprintf(stderr, "clgrad-devices: tuning device %d: %s\n", reps[i].info.index,
                    reps[i].tune_error);
            rc = 1;
        }
    free(reps);
    return rc;
}
