/* The tools, driven as a user would: their text, JSON and exit codes. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test_util.h"

typedef struct run_result {
    int status;
    char out[65536];
} run_result;

/* Runs the tool named by environment variable `which` with ARGS and `env`
 * prefixed; stdout and stderr together. */
static void run_bin(const char *which, const char *env, const char *args, run_result *r)
{
    const char *bin = getenv(which);
    assert_non_null(bin);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>&1", env ? env : "", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void run_tool(const char *env, const char *args, run_result *r)
{
    run_bin("CLGRAD_DEVICES_BIN", env, args, r);
}

static void test_text_lists_the_device_as_working(void **state)
{
    (void)state;
    static run_result r;
    run_tool(NULL, "", &r);
    assert_int_equal(r.status, 0);
    clg_device_info info;
    assert_ok(clg_device_info_get(0, &info));
    assert_contains(r.out, info.name);
    assert_contains(r.out, "clgrad works    yes");
    assert_contains(r.out, "OpenCL C");
    assert_contains(r.out, "compute units");
    assert_contains(r.out, "max alloc");
    assert_contains(r.out, "fp16");
    int def;
    assert_ok(clg_device_default(&def));
    char marker[16];
    snprintf(marker, sizeof marker, "\n* %-2d ", def);
    assert_contains(r.out, marker);
}

static void test_json_parses_and_describes_devices(void **state)
{
    (void)state;
    static run_result r;
    run_tool(NULL, "--json", &r);
    assert_int_equal(r.status, 0);
    cJSON *root = cJSON_Parse(r.out);
    if (!root)
        fail_msg("--json output is not JSON:\n%s", r.out);
    cJSON *devices = cJSON_GetObjectItemCaseSensitive(root, "devices");
    assert_true(cJSON_IsArray(devices));
    int count;
    assert_ok(clg_device_count(&count));
    assert_int_equal(cJSON_GetArraySize(devices), count);
    int defaults = 0;
    cJSON *d;
    cJSON_ArrayForEach(d, devices)
    {
        const char *keys[] = {"index",
                              "name",
                              "vendor",
                              "platform",
                              "type",
                              "opencl_version",
                              "opencl_c_version",
                              "driver_version",
                              "compute_units",
                              "max_clock_mhz",
                              "global_mem_bytes",
                              "local_mem_bytes",
                              "max_alloc_bytes",
                              "fp16",
                              "fp64",
                              "default",
                              "works"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            if (!cJSON_HasObjectItem(d, keys[k]))
                fail_msg("device entry lacks \"%s\":\n%s", keys[k], r.out);
        defaults += cJSON_IsTrue(cJSON_GetObjectItem(d, "default"));
    }
    assert_int_equal(defaults, 1);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(devices, 0), "works")));
    cJSON_Delete(root);
}

static void test_no_platform_explains_and_exits_2(void **state)
{
    (void)state;
    static run_result r;
    run_tool("OCL_ICD_VENDORS=/nonexistent", "", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "no OpenCL platform found");
    assert_contains(r.out, "apt-get install pocl-opencl-icd");

    run_tool("OCL_ICD_VENDORS=/nonexistent", "--json", &r);
    assert_int_equal(r.status, 2);
    /* stdout still holds a JSON object, then the sentence on stderr. */
    cJSON *root = cJSON_ParseWithOpts(r.out, NULL, false);
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "devices")), 0);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(root, "error")));
    cJSON_Delete(root);
}

static void test_flags_help_version_and_errors(void **state)
{
    (void)state;
    static run_result r;
    run_tool(NULL, "--help", &r);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "usage: clgrad-devices");
    assert_contains(r.out, "--bench");
    run_tool(NULL, "--version", &r);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, CLG_VERSION);
    run_tool(NULL, "--frobnicate", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "unknown option '--frobnicate'");
    run_tool(NULL, "--device", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "--device needs a value");
    run_tool(NULL, "--device 999", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "no device 999");
    run_tool("CLGRAD_DEVICE=name:nothing-like-this", "", &r);
    assert_int_equal(r.status, 0); /* the listing ignores the default choice */
}

static void test_device_flag_limits_the_listing(void **state)
{
    (void)state;
    static run_result r;
    run_tool(NULL, "--device 0 --json", &r);
    assert_int_equal(r.status, 0);
    cJSON *root = cJSON_Parse(r.out);
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "devices")), 1);
    cJSON_Delete(root);
}

/* --tune measures, says where it saved, and later listings read it back;
 * a cache that cannot be written is exit 1 naming it. */
static void test_tune_saves_and_lists_the_tuning(void **state)
{
    (void)state;
    clg_device_info info;
    assert_ok(clg_device_info_get(0, &info));
    if (test_on_simulator(&info))
        skip();
    static run_result r;
    char dir[] = "/tmp/clgrad-devices-XXXXXX", env[256], cmd[300], want[128];
    assert_non_null(mkdtemp(dir));
    snprintf(env, sizeof env, "CLGRAD_CACHE_DIR='%s/cache'", dir);
    run_tool(env, "--device 0", &r);
    assert_int_equal(r.status, 0);
    /* the device's default: 8 x 16 group 4, or 4 x 16 group 16 on AVX2 */
    clg_gemm_tuning t = clg_gemm_default_tuning(&info);
    snprintf(want, sizeof want,
             "gemm tuning     %d x %d group %d, A B^T %d x %d group %d (default: "
             "nothing cached in",
             t.rows, t.cols, t.group, t.nt_rows, t.nt_cols, t.nt_group);
    assert_contains(r.out, want);
    /* On a GPU --tune runs CLBlast's tuner too: a small sample of it. */
    run_tool(env, "--device 0 --tune --tune-seconds 0.001 --tune-effort 0.01", &r);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "tuning the native GEMM on");
    assert_contains(r.out, "others 12 x 16 group 16");
    assert_contains(r.out, "A B^T   2 x 8  group 1");
    assert_contains(r.out, "tuned now, saved to");
    run_tool(env, "--device 0 --json", &r);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\"source\": \"cached\"");
    snprintf(cmd, sizeof cmd, "touch '%s/file'", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(env, sizeof env, "CLGRAD_CACHE_DIR='%s/file/cache'", dir);
    run_tool(env, "--device 0 --tune --tune-seconds 0.001", &r);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "clgrad-devices: tuning device 0: GEMM tuning cache: "
                           "cannot create");
    run_tool(NULL, "--tune-seconds 0", &r);
    assert_int_equal(r.status, 2);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_bench_ops_prints_every_row(void **state)
{
    (void)state;
    static run_result r;
    run_bin("CLGRAD_BENCH_BIN", NULL, "ops --seconds 0.01 --no-numpy", &r);
    if (r.status != 0)
        fail_msg("clgrad-bench ops exited %d:\n%s", r.status, r.out);
    const char *rows[] = {"linear fwd",
                          "square",
                          "conv2d 3x3 (CNN 1)",
                          "conv2d 3x3 (CNN 2)",
                          "conv2d 64 im2col",
                          "conv2d 64 Winograd",
                          "linear + bias",
                          "max_pool2d",
                          "batch_norm2d",
                          "relu",
                          "silu",
                          "hardswish",
                          "dropout",
                          "log_softmax"};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        assert_contains(r.out, rows[i]);
    assert_contains(r.out, "GF/s");
    assert_contains(r.out, "GB/s");
    assert_true(strstr(r.out, "failed") == NULL);
}

/* Every op row has its PyTorch peer (tools/bench/peers.py), where the
 * Python has torch: a time and a ratio, never n/a. */
static void test_bench_ops_has_every_peer(void **state)
{
    (void)state;
    static run_result r;
    if (system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0)
        skip();
    run_bin("CLGRAD_BENCH_BIN", NULL, "ops --seconds 0.01", &r);
    if (r.status != 0)
        fail_msg("clgrad-bench ops exited %d:\n%s", r.status, r.out);
    const char *ops = strstr(r.out, "Graph ops");
    assert_non_null(ops);
    int rows = 0;
    for (const char *line = strchr(ops, '\n') + 1; *line != '\n' && *line;
         line = strchr(line, '\n') + 1) {
        const char *end = strchr(line, '\n');
        char text[256];
        snprintf(text, sizeof text, "%.*s", (int)(end - line), line);
        if (end[-1] != 'x' || strstr(text, "n/a"))
            fail_msg("an op without its PyTorch figure:\n%s", text);
        rows++;
    }
    assert_int_equal(rows, 18);
    assert_non_null(strstr(r.out, "torch best/torch")); /* GEMM's peer: torch */
}

/* --device all runs the benchmark on every device clgrad-devices lists (two
 * PoCL devices where PoCL is the implementation). */
static void test_bench_runs_on_every_device(void **state)
{
    (void)state;
    static run_result r, list;
    const char *env = "POCL_DEVICES='pthread pthread'";
    run_tool(env, "--json", &list);
    assert_int_equal(list.status, 0);
    cJSON *root = cJSON_Parse(list.out);
    assert_non_null(root);
    int devices = cJSON_GetArraySize(cJSON_GetObjectItem(root, "devices"));
    cJSON_Delete(root);
    run_bin("CLGRAD_BENCH_BIN", env, "ops --device all --seconds 0.01 --no-numpy", &r);
    if (r.status != 0)
        fail_msg("clgrad-bench ops --device all exited %d:\n%s", r.status, r.out);
    int headers = 0;
    for (const char *at = r.out; (at = strstr(at, "ops benchmark on device")); at++) {
        char want[64];
        snprintf(want, sizeof want, "ops benchmark on device %d:", headers);
        assert_true(strncmp(at, want, strlen(want)) == 0); /* in order */
        headers++;
    }
    assert_int_equal(headers, devices);
}

/* Data parallel scaling on two PoCL devices: the MLP's rows for one and
 * two ranks (the sums during and after backward), every rank's steps
 * succeeding. */
static void test_bench_scale_runs_one_and_two_ranks(void **state)
{
    (void)state;
    static run_result r;
    run_bin("CLGRAD_BENCH_BIN", "POCL_DEVICES='pthread pthread'",
            "scale --steps 2 --model mlp", &r);
    if (r.status != 0)
        fail_msg("clgrad-bench scale exited %d:\n%s", r.status, r.out);
    assert_contains(r.out, "data parallel benchmark");
    assert_contains(r.out, "comm ms/step");
    const char *at = strstr(r.out, "MLP 784-256-128-10");
    assert_non_null(at);
    int ranks = 0;
    double rate = 0;
    assert_int_equal(sscanf(at + strlen("MLP 784-256-128-10"), "%d %lf", &ranks, &rate),
                     2);
    assert_int_equal(ranks, 1);
    assert_true(rate > 0);
    assert_non_null(strstr(at + 1, "MLP 784-256-128-10, sums after"));
    assert_null(strstr(r.out, "CNN conv32-conv64-fc128"));
}

static void test_bench_flags_are_checked(void **state)
{
    (void)state;
    static run_result r;
    run_bin("CLGRAD_BENCH_BIN", NULL, "", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "name a benchmark");
    run_bin("CLGRAD_BENCH_BIN", NULL, "opz", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "'opz' is not one of");
    run_bin("CLGRAD_BENCH_BIN", NULL, "ops --seconds -1", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "--seconds: '-1' is not a number");
    run_bin("CLGRAD_BENCH_BIN", NULL, "ops --device name:nothing-here", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "nothing-here");
    run_bin("CLGRAD_BENCH_BIN", NULL, "scale --model rnn", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "--model: 'rnn' is not a model of 'scale' (scale: mlp or cnn");
    run_bin("CLGRAD_BENCH_BIN", NULL, "train --model gpt2-large", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "train: gpt2-mini or gpt2-small");
    run_bin("CLGRAD_BENCH_BIN", NULL, "ops --model gpt2-mini", &r);
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "ops: gpt2-small)");
    run_bin("CLGRAD_BENCH_BIN", NULL, "--help", &r);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "usage: clgrad-bench");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_lists_the_device_as_working),
        cmocka_unit_test(test_json_parses_and_describes_devices),
        cmocka_unit_test(test_no_platform_explains_and_exits_2),
        cmocka_unit_test(test_flags_help_version_and_errors),
        cmocka_unit_test(test_device_flag_limits_the_listing),
        cmocka_unit_test(test_tune_saves_and_lists_the_tuning),
        cmocka_unit_test(test_bench_ops_prints_every_row),
        cmocka_unit_test(test_bench_ops_has_every_peer),
        cmocka_unit_test(test_bench_runs_on_every_device),
        cmocka_unit_test(test_bench_flags_are_checked),
        cmocka_unit_test(test_bench_scale_runs_one_and_two_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
