/* Device buffers: round trips, fill, copy, range checks and the pool. */
#include "test_util.h"

static void test_upload_download_round_trip(void **state)
{
    clg_context *ctx = *state;
    enum { N = 1013 };
    float in[N], out[N];
    uint32_t seed = 1;
    for (int i = 0; i < N; i++)
        in[i] = test_random(&seed);
    clg_buffer *b;
    assert_ok(clg_buffer_create(ctx, sizeof in, &b));
    assert_int_equal(clg_buffer_size(b), sizeof in);
    assert_ok(clg_buffer_upload(b, 0, in, sizeof in));
    memset(out, 0, sizeof out);
    assert_ok(clg_buffer_download(b, 0, out, sizeof out));
    assert_memory_equal(in, out, sizeof in);

    /* Part of the buffer, at an offset. */
    float part[3] = {7, 8, 9}, back[5];
    assert_ok(clg_buffer_upload(b, 10 * sizeof(float), part, sizeof part));
    assert_ok(clg_buffer_download(b, 9 * sizeof(float), back, sizeof back));
    assert_true(back[0] == in[9] && back[1] == 7 && back[2] == 8 && back[3] == 9 &&
                back[4] == in[13]);
    clg_buffer_free(b);
}

/* A download that runs while the host goes on: after the work enqueued
 * before it (here a fill), complete once waited for. */
static void test_downloads_in_the_background(void **state)
{
    clg_context *ctx = *state;
    enum { N = 4096 };
    static float out[N];
    clg_buffer *b;
    assert_ok(clg_buffer_create(ctx, N * sizeof(float), &b));
    const float v = 2.5f;
    assert_ok(clg_buffer_fill(b, 0, &v, sizeof v, N * sizeof(float)));
    clg_transfer *t;
    assert_ok(clg_buffer_download_start(b, 0, out, sizeof out, &t));
    assert_ok(clg_transfer_wait(t));
    for (int i = 0; i < N; i++)
        assert_true(out[i] == 2.5f);
    assert_int_equal(clg_buffer_download_start(b, 8, out, sizeof out, &t),
                     CLG_INVALID_ARGUMENT);
    assert_int_equal(clg_buffer_download_start(b, 0, NULL, 4, &t),
                     CLG_INVALID_ARGUMENT);
    clg_buffer_free(b);
}

static void test_fill_repeats_the_pattern(void **state)
{
    clg_context *ctx = *state;
    float out[64];
    clg_buffer *b;
    assert_ok(clg_buffer_create(ctx, sizeof out, &b));
    float zero = 0.0f, half = 0.5f;
    assert_ok(clg_buffer_fill(b, 0, &zero, sizeof zero, sizeof out));
    assert_ok(
        clg_buffer_fill(b, 16 * sizeof(float), &half, sizeof half, 8 * sizeof(float)));
    assert_ok(clg_buffer_download(b, 0, out, sizeof out));
    for (int i = 0; i < 64; i++)
        assert_true(out[i] == (i >= 16 && i < 24 ? 0.5f : 0.0f));
    /* A pattern that does not divide the range is refused. */
    assert_int_equal(clg_buffer_fill(b, 2, &half, sizeof half, 8),
                     CLG_INVALID_ARGUMENT);
    assert_int_equal(clg_buffer_fill(b, 0, &half, 3, 9), CLG_INVALID_ARGUMENT);
    clg_buffer_free(b);
}

static void test_copy_between_buffers(void **state)
{
    clg_context *ctx = *state;
    int in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = i * 3;
    clg_buffer *a, *b;
    assert_ok(clg_buffer_create(ctx, sizeof in, &a));
    assert_ok(clg_buffer_create(ctx, sizeof in, &b));
    assert_ok(clg_buffer_upload(a, 0, in, sizeof in));
    int minus_one = -1;
    assert_ok(clg_buffer_fill(b, 0, &minus_one, sizeof minus_one, sizeof in));
    assert_ok(
        clg_buffer_copy(b, 4 * sizeof(int), a, 10 * sizeof(int), 20 * sizeof(int)));
    assert_ok(clg_buffer_download(b, 0, out, sizeof out));
    for (int i = 0; i < 100; i++)
        assert_int_equal(out[i], i >= 4 && i < 24 ? in[i + 6] : -1);
    /* Overlapping ranges of one buffer are refused. */
    assert_int_equal(clg_buffer_copy(a, 0, a, 4, 64), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "overlap");
    clg_buffer_free(a);
    clg_buffer_free(b);
}

static void test_ranges_outside_the_buffer_are_refused(void **state)
{
    clg_context *ctx = *state;
    char data[64] = {0};
    clg_buffer *b;
    assert_ok(clg_buffer_create(ctx, 32, &b));
    assert_int_equal(clg_buffer_upload(b, 0, data, 33), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "outside the buffer of 32 bytes");
    assert_int_equal(clg_buffer_download(b, 30, data, 4), CLG_INVALID_ARGUMENT);
    assert_int_equal(clg_buffer_upload(b, SIZE_MAX, data, 2), CLG_INVALID_ARGUMENT);
    assert_int_equal(clg_buffer_upload(b, 0, NULL, 4), CLG_INVALID_ARGUMENT);
    clg_buffer_free(b);
    clg_buffer_free(NULL);
}

static void test_zero_bytes_is_refused(void **state)
{
    clg_buffer *b;
    assert_int_equal(clg_buffer_create(*state, 0, &b), CLG_INVALID_ARGUMENT);
    assert_null(b);
}

static void test_pool_reuses_a_freed_buffer_of_the_same_class(void **state)
{
    clg_context *ctx = *state;
    clg_context_pool_trim(ctx);
    clg_pool_stats before, after;
    clg_context_pool_stats(ctx, &before);

    clg_buffer *a, *b, *c;
    assert_ok(clg_buffer_create(ctx, 1000, &a));
    clg_buffer_free(a);
    assert_ok(clg_buffer_create(ctx, 900, &b)); /* same class as 1000 */
    assert_ptr_equal(a, b);
    assert_int_equal(clg_buffer_size(b), 900);
    assert_ok(clg_buffer_create(ctx, 100000, &c)); /* a new class */
    clg_context_pool_stats(ctx, &after);
    assert_int_equal(after.allocations - before.allocations, 2);
    assert_int_equal(after.reuses - before.reuses, 1);
    assert_int_equal(after.live_buffers - before.live_buffers, 2);

    clg_buffer_free(b);
    clg_buffer_free(c);
    clg_context_pool_stats(ctx, &after);
    assert_int_equal(after.pooled_buffers, 2);
    assert_true(after.device_bytes >= 100000 + 1000);
    clg_context_pool_trim(ctx);
    clg_context_pool_stats(ctx, &after);
    assert_int_equal(after.pooled_buffers, 0);
    assert_int_equal(after.device_bytes, before.device_bytes);
}

static void test_reused_buffer_keeps_its_data_contract(void **state)
{
    /* A reused buffer has the requested size, and a fresh upload reads back. */
    clg_context *ctx = *state;
    clg_buffer *a, *b;
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[6];
    assert_ok(clg_buffer_create(ctx, sizeof x, &a));
    clg_buffer_free(a);
    assert_ok(clg_buffer_create(ctx, sizeof y, &b));
    assert_int_equal(clg_buffer_size(b), sizeof y);
    assert_ok(clg_buffer_upload(b, 0, x, sizeof y));
    assert_ok(clg_buffer_download(b, 0, y, sizeof y));
    assert_memory_equal(x, y, sizeof y);
    assert_int_equal(clg_buffer_download(b, 0, y, sizeof x), CLG_INVALID_ARGUMENT);
    clg_buffer_free(b);
}

static void test_too_large_allocation_names_the_sizes(void **state)
{
    clg_context *ctx = *state;
    const clg_device_info *info = clg_context_device(ctx);
    clg_buffer *b;
    clg_status s = clg_buffer_create(ctx, (size_t)info->max_alloc_bytes + 1, &b);
    assert_int_equal(s, CLG_OUT_OF_DEVICE_MEMORY);
    assert_null(b);
    assert_contains(clg_last_error(), "cannot allocate");
    assert_contains(clg_last_error(), "largest single allocation");
    assert_contains(clg_last_error(), info->name);
    /* The context still works afterwards. */
    assert_ok(clg_buffer_create(ctx, 64, &b));
    clg_buffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_download_round_trip),
        cmocka_unit_test(test_fill_repeats_the_pattern),
        cmocka_unit_test(test_downloads_in_the_background),
        cmocka_unit_test(test_copy_between_buffers),
        cmocka_unit_test(test_ranges_outside_the_buffer_are_refused),
        cmocka_unit_test(test_zero_bytes_is_refused),
        cmocka_unit_test(test_pool_reuses_a_freed_buffer_of_the_same_class),
        cmocka_unit_test(test_reused_buffer_keeps_its_data_contract),
        cmocka_unit_test(test_too_large_allocation_names_the_sizes),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
