/* Helpers shared by the cmocka tests. */
#ifndef CLGRAD_TEST_UTIL_H
#define CLGRAD_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <clgrad.h>

/* Fails the test with clg_last_error() when a clgrad call does not return OK. */
#define assert_ok(call)                                                                \
    do {                                                                               \
        clg_status assert_ok_s = (call);                                               \
        if (assert_ok_s != CLG_OK)                                                     \
            fail_msg("%s -> %s: %s", #call, clg_status_str(assert_ok_s),               \
                     clg_last_error());                                                \
    } while (0)

#define assert_contains(haystack, needle)                                              \
    do {                                                                               \
        const char *ac_h = (haystack), *ac_n = (needle);                               \
        if (!ac_h || !strstr(ac_h, ac_n))                                              \
            fail_msg("expected \"%s\" in:\n%s", ac_n, ac_h ? ac_h : "(null)");         \
    } while (0)

/* cmocka group setup: a context on the default device in *state. */
static inline int test_context_setup(void **state)
{
    int dev;
    clg_context *ctx;
    if (clg_device_select(NULL, &dev) != CLG_OK ||
        clg_context_create(dev, &ctx) != CLG_OK) {
        fprintf(stderr, "test setup: %s\n", clg_last_error());
        return -1;
    }
    *state = ctx;
    return 0;
}

static inline int test_context_teardown(void **state)
{
    clg_context_free(*state);
    return 0;
}

/* For test programs whose tests carry their own state (a case each): the
 * context is kept in test_shared_context instead of the group state, because
 * cmocka hands a group state to every test in place of its own. */
static clg_context *test_shared_context;

static inline int test_shared_context_setup(void **state)
{
    int rc = test_context_setup(state);
    test_shared_context = rc == 0 ? *state : NULL;
    *state = NULL;
    return rc;
}

static inline int test_shared_context_teardown(void **state)
{
    (void)state;
    clg_context_free(test_shared_context);
    return 0;
}

/* Whether `d` is the oclgrind simulator (scripts/test.sh's last pass),
 * where each kernel's memory accesses are what is checked and every large
 * product or long axis costs minutes. */
static inline bool test_on_simulator(const clg_device_info *d)
{
    return strstr(d->platform_name, "Oclgrind") != NULL;
}

/* Writes `text` as the whole of file `path`. */
static inline void test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A deterministic pseudo-random float in [-1, 1). */
static inline float test_random(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return (float)(*seed >> 8) / 8388608.0f - 1.0f;
}

#endif
