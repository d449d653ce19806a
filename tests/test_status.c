/* Status codes, their names and the last-error sentence. */
#include "test_util.h"

#include "runtime/runtime_internal.h"

static void test_status_str_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(clg_status_str(CLG_OK), "success");
    assert_string_equal(clg_status_str(CLG_OUT_OF_DEVICE_MEMORY),
                        "out of device memory");
    assert_string_equal(clg_status_str(CLG_BUILD_FAILED), "kernel failed to compile");
#define CHECK_NAMED(name, value, text)                                                 \
    assert_int_equal(name, value);                                                     \
    assert_string_equal(clg_status_str(name), text);
    CLG_STATUS_LIST(CHECK_NAMED)
#undef CHECK_NAMED
    assert_string_equal(clg_status_str((clg_status)999), "unknown status");
}

static void test_last_error_keeps_the_sentence(void **state)
{
    (void)state;
    clg_status s = clg_fail(CLG_SHAPE_MISMATCH, "conv2d: weight [%d,%d,3,3]", 32, 16);
    assert_int_equal(s, CLG_SHAPE_MISMATCH);
    assert_string_equal(clg_last_error(), "conv2d: weight [32,16,3,3]");
}

static void test_cl_errors_are_named_not_numbered(void **state)
{
    (void)state;
    assert_string_equal(clg_cl_error_name(CL_INVALID_VALUE), "CL_INVALID_VALUE");
    assert_string_equal(clg_cl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    assert_string_equal(clg_cl_error_name(-12345), "CL_UNKNOWN_ERROR");
    clg_status s = clg_fail_cl(CL_INVALID_VALUE, "uploading to %s", "dev");
    assert_int_equal(s, CLG_OPENCL_ERROR);
    assert_string_equal(clg_last_error(), "uploading to dev: CL_INVALID_VALUE (-30)");
}

static void test_cl_memory_errors_map_to_out_of_device_memory(void **state)
{
    (void)state;
    assert_int_equal(clg_fail_cl(CL_MEM_OBJECT_ALLOCATION_FAILURE, "x"),
                     CLG_OUT_OF_DEVICE_MEMORY);
    assert_int_equal(clg_fail_cl(CL_OUT_OF_RESOURCES, "x"), CLG_OUT_OF_DEVICE_MEMORY);
    assert_int_equal(clg_fail_cl(CL_OUT_OF_HOST_MEMORY, "x"), CLG_OUT_OF_HOST_MEMORY);
}

static void test_long_messages_are_cut_not_overflowed(void **state)
{
    (void)state;
    static char big[40000];
    memset(big, 'x', sizeof big - 1);
    clg_fail(CLG_BUILD_FAILED, "log: %s", big);
    size_t len = strlen(clg_last_error());
    assert_true(len < sizeof big);
    assert_contains(clg_last_error(), "(message truncated)");
}

static void test_format_bytes_reads_well(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(clg_format_bytes(512, buf, sizeof buf), "512 B");
    assert_string_equal(clg_format_bytes(1536, buf, sizeof buf), "1.5 KiB");
    assert_string_equal(clg_format_bytes(3ull << 30, buf, sizeof buf), "3.0 GiB");
}

static void test_version_matches_header(void **state)
{
    (void)state;
    assert_string_equal(clg_version(), CLG_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_str_names_every_code),
        cmocka_unit_test(test_last_error_keeps_the_sentence),
        cmocka_unit_test(test_cl_errors_are_named_not_numbered),
        cmocka_unit_test(test_cl_memory_errors_map_to_out_of_device_memory),
        cmocka_unit_test(test_long_messages_are_cut_not_overflowed),
        cmocka_unit_test(test_format_bytes_reads_well),
        cmocka_unit_test(test_version_matches_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
