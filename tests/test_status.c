/* Status codes, their names and the last-error sentence. */
#include "test_util.h"

#include "runtime/runtime_internal.h"

/* Codes are ABI: numbers and texts are written out here by hand, not taken
 * from CLG_STATUS_LIST, so a renumbered or renamed code fails this test. */
static const struct {
    clg_status status;
    int value;
    const char *text;
} expected_codes[] = {
    {CLG_OK, 0, "success"},
    {CLG_INVALID_ARGUMENT, 1, "invalid argument"},
    {CLG_NO_PLATFORM, 2, "no OpenCL platform found"},
    {CLG_NO_DEVICE, 3, "no matching OpenCL device"},
    {CLG_OUT_OF_HOST_MEMORY, 4, "out of host memory"},
    {CLG_OUT_OF_DEVICE_MEMORY, 5, "out of device memory"},
    {CLG_OPENCL_ERROR, 6, "OpenCL call failed"},
    {CLG_BUILD_FAILED, 7, "kernel failed to compile"},
    {CLG_IO_ERROR, 8, "input/output error"},
    {CLG_BAD_FILE, 9, "malformed file"},
    {CLG_SHAPE_MISMATCH, 10, "tensor shapes do not fit"},
    {CLG_UNSUPPORTED, 11, "not supported on this device"},
    {CLG_NOT_FOUND, 12, "not found"},
    {CLG_BLAS_ERROR, 13, "CLBlast call failed"},
    {CLG_INTERNAL, 14, "internal error"},
    {CLG_NOT_FINITE, 15, "loss or gradient is not finite"},
    {CLG_RANK_FAILED, 16, "another rank of the job failed"},
};

static void test_status_str_names_every_code(void **state)
{
    (void)state;
#define COUNT_ONE(name, value, text) +1
    const int listed = 0 CLG_STATUS_LIST(COUNT_ONE);
#undef COUNT_ONE
    const int n = (int)(sizeof expected_codes / sizeof expected_codes[0]);
    assert_int_equal(listed, n); /* a new code needs a line above */
    for (int i = 0; i < n; i++) {
        assert_int_equal((int)expected_codes[i].status, expected_codes[i].value);
        assert_string_equal(clg_status_str(expected_codes[i].status),
                            expected_codes[i].text);
    }
    /* Numbers run 0..n-1 without gaps; anything else is unknown. */
    for (int v = 0; v < n; v++)
        assert_string_not_equal(clg_status_str((clg_status)v), "unknown status");
    assert_string_equal(clg_status_str((clg_status)n), "unknown status");
    assert_string_equal(clg_status_str((clg_status)-1), "unknown status");
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
