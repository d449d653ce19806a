/* Device enumeration and selection by index, type and name. */
#include <stdlib.h>

#include "test_util.h"

#include "runtime/runtime_internal.h"

static int device_count(void)
{
    int n = 0;
    assert_ok(clg_device_count(&n));
    return n;
}

static void test_enumeration_finds_a_described_device(void **state)
{
    (void)state;
    int n = device_count();
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        clg_device_info info;
        assert_ok(clg_device_info_get(i, &info));
        assert_int_equal(info.index, i);
        assert_true(strlen(info.name) > 0);
        assert_true(strlen(info.platform_name) > 0);
        assert_contains(info.version, "OpenCL");
        assert_contains(info.c_version, "OpenCL C");
        assert_true(info.c_major >= 1);
        assert_true(info.compute_units >= 1);
        assert_true(info.global_mem_bytes > 0);
        assert_true(info.max_alloc_bytes > 0);
        assert_true(info.max_alloc_bytes <= info.global_mem_bytes);
        assert_true(info.max_work_group_size >= 1);
    }
}

/* Indexes are stable from run to run because they follow the ICD loader's
 * order: platforms as clGetPlatformIDs lists them, devices of each as
 * clGetDeviceIDs does. Checked against OpenCL itself, queried here. */
static void test_enumeration_follows_opencl_order(void **state)
{
    (void)state;
    cl_uint np = 0;
    assert_int_equal(clGetPlatformIDs(0, NULL, &np), CL_SUCCESS);
    cl_platform_id platforms[16];
    if (np > 16)
        np = 16;
    assert_int_equal(clGetPlatformIDs(np, platforms, NULL), CL_SUCCESS);
    int index = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        cl_int err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (err == CL_DEVICE_NOT_FOUND)
            continue;
        assert_int_equal(err, CL_SUCCESS);
        cl_device_id ids[64];
        assert_true(nd <= 64);
        assert_int_equal(
            clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL),
            CL_SUCCESS);
        char platform_name[256] = "";
        clGetPlatformInfo(platforms[p], CL_PLATFORM_NAME, sizeof platform_name,
                          platform_name, NULL);
        for (cl_uint d = 0; d < nd; d++, index++) {
            char name[256] = "";
            clGetDeviceInfo(ids[d], CL_DEVICE_NAME, sizeof name, name, NULL);
            cl_ulong mem = 0;
            clGetDeviceInfo(ids[d], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
            clg_device_info info;
            assert_ok(clg_device_info_get(index, &info));
            assert_string_equal(info.name, name);
            assert_string_equal(info.platform_name, platform_name);
            assert_int_equal(info.global_mem_bytes, mem);
        }
    }
    assert_int_equal(device_count(), index);
}

static void test_info_rejects_an_index_out_of_range(void **state)
{
    (void)state;
    clg_device_info info;
    assert_int_equal(clg_device_info_get(device_count(), &info), CLG_NO_DEVICE);
    assert_int_equal(clg_device_info_get(-1, &info), CLG_NO_DEVICE);
}

static int first_of_type(clg_device_type type)
{
    for (int i = 0; i < device_count(); i++) {
        clg_device_info info;
        assert_ok(clg_device_info_get(i, &info));
        if (info.type == type)
            return i;
    }
    return -1;
}

static void test_default_prefers_gpu_then_cpu(void **state)
{
    (void)state;
    int want = first_of_type(CLG_DEVICE_GPU), got;
    if (want < 0)
        want = first_of_type(CLG_DEVICE_CPU);
    if (want < 0)
        want = 0;
    assert_ok(clg_device_default(&got));
    assert_int_equal(got, want);
}

static void test_select_by_index_type_and_name(void **state)
{
    (void)state;
    clg_device_info first;
    assert_ok(clg_device_info_get(0, &first));
    int got = -1;
    assert_ok(clg_device_select("0", &got));
    assert_int_equal(got, 0);

    const char *type = clg_device_type_str(first.type);
    assert_ok(clg_device_select(type, &got));
    assert_int_equal(got, 0);

    /* Upper-case type and a case-changed piece of the name still match. */
    char spec[64], upper[16];
    size_t i = 0;
    for (; type[i] && i < sizeof upper - 1; i++)
        upper[i] = (char)(type[i] - 'a' + 'A');
    upper[i] = '\0';
    assert_ok(clg_device_select(upper, &got));
    assert_int_equal(got, 0);

    snprintf(spec, sizeof spec, "name:%.6s", first.name);
    for (char *p = spec + 5; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
        else if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    assert_ok(clg_device_select(spec, &got));
    assert_int_equal(got, 0);
}

static void test_select_unknown_name_lists_devices(void **state)
{
    (void)state;
    clg_device_info first;
    assert_ok(clg_device_info_get(0, &first));
    int got = 42;
    assert_int_equal(clg_device_select("name:no-such-device-xyz", &got), CLG_NO_DEVICE);
    assert_int_equal(got, 42); /* untouched on failure */
    assert_contains(clg_last_error(), "no-such-device-xyz");
    assert_contains(clg_last_error(), first.name);
}

static void test_select_index_out_of_range_is_no_device(void **state)
{
    (void)state;
    int got;
    assert_int_equal(clg_device_select("4096", &got), CLG_NO_DEVICE);
    assert_contains(clg_last_error(), "4096");
}

static void test_select_rejects_malformed_specs(void **state)
{
    (void)state;
    int got;
    const char *bad[] = {"-1", "1.5", "fastest", "name:", "gpu0", " 0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(clg_device_select(bad[i], &got), CLG_INVALID_ARGUMENT);
        assert_contains(clg_last_error(), "is not a device spec");
        assert_contains(clg_last_error(), "name:SUBSTRING");
    }
}

static void test_select_missing_type_is_no_device(void **state)
{
    (void)state;
    int got;
    if (first_of_type(CLG_DEVICE_ACCELERATOR) >= 0)
        skip();
    assert_int_equal(clg_device_select("accelerator", &got), CLG_NO_DEVICE);
    assert_contains(clg_last_error(), "no accelerator device");
}

static void test_select_reads_clgrad_device(void **state)
{
    (void)state;
    int got;
    setenv("CLGRAD_DEVICE", "0", 1);
    assert_ok(clg_device_select(NULL, &got));
    assert_int_equal(got, 0);
    setenv("CLGRAD_DEVICE", "bogus", 1);
    assert_int_equal(clg_device_select("", &got), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "CLGRAD_DEVICE 'bogus'");
    setenv("CLGRAD_DEVICE", "name:zzz-nothing", 1);
    assert_int_equal(clg_device_select(NULL, &got), CLG_NO_DEVICE);
    assert_contains(clg_last_error(), "CLGRAD_DEVICE");
    /* An explicit spec wins over the environment. */
    assert_ok(clg_device_select("0", &got));
    unsetenv("CLGRAD_DEVICE");
}

static void test_context_reports_its_device(void **state)
{
    (void)state;
    clg_context *ctx;
    assert_ok(clg_context_create(0, &ctx));
    clg_device_info info;
    assert_ok(clg_device_info_get(0, &info));
    assert_string_equal(clg_context_device(ctx)->name, info.name);
    assert_ok(clg_context_finish(ctx));
    clg_context_free(ctx);
    clg_context_free(NULL);
    assert_int_equal(clg_context_create(device_count(), &ctx), CLG_NO_DEVICE);
}

/* What clgrad needs of a device, said as "needs ..." (clgrad-devices prints
 * it as the reason clgrad does not work there). */
static void test_requirements_name_what_a_device_lacks(void **state)
{
    (void)state;
    clg_device_info info;
    assert_ok(clg_device_info_get(0, &info));
    assert_ok(clg_device_requirements(&info, true));
    clg_device_info old = info;
    snprintf(old.version, sizeof old.version, "OpenCL 1.1 Ancient");
    assert_int_equal(clg_device_requirements(&old, true), CLG_UNSUPPORTED);
    assert_contains(clg_last_error(), "needs OpenCL 1.2");
    assert_contains(clg_last_error(), "'OpenCL 1.1 Ancient'");
    assert_int_equal(clg_device_requirements(&info, false), CLG_UNSUPPORTED);
    assert_contains(clg_last_error(), "needs an OpenCL C compiler");
    clg_device_info small = info;
    small.local_mem_bytes = 128;
    assert_int_equal(clg_device_requirements(&small, true), CLG_UNSUPPORTED);
    assert_contains(clg_last_error(), "needs 256 bytes of local memory");
    assert_contains(clg_last_error(), "has 128");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enumeration_finds_a_described_device),
        cmocka_unit_test(test_enumeration_follows_opencl_order),
        cmocka_unit_test(test_requirements_name_what_a_device_lacks),
        cmocka_unit_test(test_info_rejects_an_index_out_of_range),
        cmocka_unit_test(test_default_prefers_gpu_then_cpu),
        cmocka_unit_test(test_select_by_index_type_and_name),
        cmocka_unit_test(test_select_unknown_name_lists_devices),
        cmocka_unit_test(test_select_index_out_of_range_is_no_device),
        cmocka_unit_test(test_select_rejects_malformed_specs),
        cmocka_unit_test(test_select_missing_type_is_no_device),
        cmocka_unit_test(test_select_reads_clgrad_device),
        cmocka_unit_test(test_context_reports_its_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
