/* Kernel sources, the program cache, build errors and profiling. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#include "runtime/runtime_internal.h"

static clg_context *new_context(void)
{
    int dev;
    clg_context *ctx = NULL;
    assert_ok(clg_device_select(NULL, &dev));
    assert_ok(clg_context_create(dev, &ctx));
    return ctx;
}

static void test_self_test_passes_on_the_default_device(void **state)
{
    (void)state;
    clg_context *ctx = new_context();
    assert_ok(clg_context_self_test(ctx));
    clg_context_free(ctx);
}

static void test_every_family_is_embedded(void **state)
{
    (void)state;
    assert_true(clg_kernel_family_count() >= 2);
    for (size_t i = 0; i < clg_kernel_family_count(); i++) {
        char *src = NULL;
        assert_ok(clg_kernel_source(clg_kernel_family_name(i), &src));
        assert_contains(src, "__kernel");
        free(src);
    }
    char *src;
    assert_int_equal(clg_kernel_source("no_such_family", &src), CLG_NOT_FOUND);
    assert_contains(clg_last_error(), "no_such_family");
}

/* The local memory clgrad says it needs is what its reductions declare. */
static void test_local_memory_requirement_matches_the_kernels(void **state)
{
    (void)state;
    char *src = NULL, want[64];
    assert_ok(clg_kernel_source("norm", &src));
    snprintf(want, sizeof want, "#define CLG_GROUP_MAX %d",
             CLG_KERNEL_LOCAL_BYTES / (int)sizeof(float));
    assert_contains(src, want);
    free(src);
}

static void test_compile_error_surfaces_device_and_build_log(void **state)
{
    (void)state;
    clg_context *ctx = new_context();
    cl_program program;
    const char *broken =
        "__kernel void k(__global float *x) { x[0] = undeclared_thing; }\n";
    clg_status s = clg_program_build(ctx, "broken", broken, "-DFOO=1", &program);
    assert_int_equal(s, CLG_BUILD_FAILED);
    assert_contains(clg_last_error(), "kernel family 'broken' failed to compile");
    assert_contains(clg_last_error(), clg_context_device(ctx)->name);
    assert_contains(clg_last_error(), "-DFOO=1");
    assert_contains(clg_last_error(), "CL_BUILD_PROGRAM_FAILURE");
    assert_contains(clg_last_error(), "undeclared_thing");
    clg_context_free(ctx);
}

static void test_programs_and_kernels_are_cached(void **state)
{
    (void)state;
    clg_context *ctx = new_context();
    cl_kernel a, b, c;
    assert_ok(clg_kernel_get(ctx, "smoke", NULL, "smoke_axpy", &a));
    assert_ok(clg_kernel_get(ctx, "smoke", "", "smoke_axpy", &b));
    assert_ptr_equal(a, b);
    /* Other options are another program, so another kernel object. */
    assert_ok(clg_kernel_get(ctx, "smoke", "-DUNUSED=1", "smoke_axpy", &c));
    assert_ptr_not_equal(a, c);
    assert_int_equal(clg_kernel_get(ctx, "smoke", NULL, "no_such_kernel", &c),
                     CLG_OPENCL_ERROR);
    assert_contains(clg_last_error(), "CL_INVALID_KERNEL_NAME");
    clg_context_free(ctx);
}

static void test_kernel_dir_overrides_the_embedded_sources(void **state)
{
    (void)state;
    char dir[] = "/tmp/clgrad-kernels-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    /* Copy the real families in, then break one. */
    for (size_t i = 0; i < clg_kernel_family_count(); i++) {
        const char *family = clg_kernel_family_name(i);
        char *src;
        assert_ok(clg_kernel_source(family, &src));
        snprintf(path, sizeof path, "%s/%s.cl", dir, family);
        test_write_file(path, src);
        free(src);
    }
    snprintf(path, sizeof path, "%s/smoke.cl", dir);
    test_write_file(path, "__kernel void smoke_axpy(int n) { n = oops_typo; }\n");
    setenv("CLGRAD_KERNEL_DIR", dir, 1);
    clg_context *ctx = new_context();
    assert_int_equal(clg_context_self_test(ctx), CLG_BUILD_FAILED);
    assert_contains(clg_last_error(), "oops_typo");
    clg_context_free(ctx);

    /* A directory without the file names the path it tried. */
    unlink(path);
    ctx = new_context();
    assert_int_equal(clg_context_self_test(ctx), CLG_NOT_FOUND);
    assert_contains(clg_last_error(), "CLGRAD_KERNEL_DIR");
    assert_contains(clg_last_error(), path);
    clg_context_free(ctx);
    unsetenv("CLGRAD_KERNEL_DIR");

    for (size_t i = 0; i < clg_kernel_family_count(); i++) {
        snprintf(path, sizeof path, "%s/%s.cl", dir, clg_kernel_family_name(i));
        unlink(path);
    }
    rmdir(dir);
}

/* The files of a directory: how many, and the first one's path. */
static int files_in(const char *dir, char *first, size_t len)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char name[256];
    int n = 0;
    while (fscanf(p, "%255s", name) == 1)
        if (n++ == 0)
            snprintf(first, len, "%s/%s", dir, name);
    pclose(p);
    return n;
}

/* Built programs go to the cache directory and later contexts load them;
 * a damaged file is built from source again and replaced; =0 writes none. */
static void test_built_programs_are_cached_on_disk(void **state)
{
    (void)state;
    clg_device_info info;
    int dev;
    assert_ok(clg_device_select(NULL, &dev));
    assert_ok(clg_device_info_get(dev, &info));
    if (test_on_simulator(&info))
        skip(); /* no binaries worth keeping on a simulator */
    char dir[] = "/tmp/clgrad-programs-XXXXXX", sub[256], file[512], cmd[600];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/cache", dir);
    setenv("CLGRAD_CACHE_DIR", sub, 1);
    setenv("CLGRAD_PROGRAM_CACHE", "1", 1);
    clg_context *ctx = new_context();
    assert_ok(clg_context_self_test(ctx)); /* builds every family */
    clg_context_free(ctx);
    int n = files_in(sub, file, sizeof file);
    assert_int_equal(n, (int)clg_kernel_family_count());
    ctx = new_context();
    assert_ok(clg_context_self_test(ctx)); /* from the files */
    clg_context_free(ctx);
    assert_int_equal(files_in(sub, file, sizeof file), n);

    /* every file damaged: built again, and the files replaced */
    snprintf(cmd, sizeof cmd, "for f in '%s'/*; do echo damaged > \"$f\"; done", sub);
    assert_int_equal(system(cmd), 0);
    ctx = new_context();
    assert_ok(clg_context_self_test(ctx));
    clg_context_free(ctx);
    assert_int_equal(files_in(sub, file, sizeof file), n);
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    char head[32] = {0};
    assert_true(fread(head, 1, 16, f) == 16);
    fclose(f);
    assert_string_equal(head, "clgrad program 1");

    /* =0: nothing written */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
    assert_int_equal(system(cmd), 0);
    setenv("CLGRAD_PROGRAM_CACHE", "0", 1);
    ctx = new_context();
    assert_ok(clg_context_self_test(ctx));
    clg_context_free(ctx);
    assert_int_equal(files_in(sub, file, sizeof file), 0);

    unsetenv("CLGRAD_PROGRAM_CACHE");
    unsetenv("CLGRAD_CACHE_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The device's Philox 4x32-10 (cl/philox.h, dropout's generator) gives
 * Random123's published known answers (tests/kat_vectors of
 * github.com/DEShawResearch/random123): counter, key, result. */
static void test_philox_matches_random123_known_answers(void **state)
{
    (void)state;
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    const char *source =
        "#include \"philox.h\"\n"
        "__kernel void philox_kat(__global const uint *in, __global uint *out)\n"
        "{\n"
        "    const int i = get_global_id(0);\n"
        "    uint c[4];\n"
        "    for (int j = 0; j < 4; j++)\n"
        "        c[j] = in[10 * i + j];\n"
        "    philox4x32_10(c, in[10 * i + 4], in[10 * i + 5]);\n"
        "    for (int j = 0; j < 4; j++)\n"
        "        out[4 * i + j] = c[j];\n"
        "}\n";
    clg_context *ctx = new_context();
    cl_program program;
    assert_ok(clg_program_build(ctx, "philox_kat", source, NULL, &program));
    cl_int err;
    cl_kernel k = clCreateKernel(program, "philox_kat", &err);
    assert_int_equal(err, CL_SUCCESS);
    clg_buffer *in, *out;
    assert_ok(clg_buffer_create(ctx, sizeof kat, &in));
    assert_ok(clg_buffer_create(ctx, 3 * 4 * sizeof(uint32_t), &out));
    assert_ok(clg_buffer_upload(in, 0, kat, sizeof kat));
    cl_mem a = clg_buffer_mem(in), b = clg_buffer_mem(out);
    clSetKernelArg(k, 0, sizeof a, &a);
    clSetKernelArg(k, 1, sizeof b, &b);
    size_t global = 3;
    assert_int_equal(
        clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, NULL, 0, NULL, NULL),
        CL_SUCCESS);
    uint32_t got[3][4];
    assert_ok(clg_buffer_download(out, 0, got, sizeof got));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            if (got[i][j] != kat[i][6 + j])
                fail_msg("Philox vector %d word %d: 0x%08x, Random123 says 0x%08x", i,
                         j, got[i][j], kat[i][6 + j]);
    clReleaseKernel(k);
    clg_buffer_free(in), clg_buffer_free(out);
    clg_context_free(ctx);
}

static void test_profile_table_printed_on_free(void **state)
{
    (void)state;
    setenv("CLGRAD_PROFILE", "1", 1);
    clg_context *ctx = new_context();
    unsetenv("CLGRAD_PROFILE");
    assert_ok(clg_context_self_test(ctx));
    assert_ok(clg_context_self_test(ctx));
    char platform[256];
    snprintf(platform, sizeof platform, "%s", clg_context_device(ctx)->platform_name);

    char path[] = "/tmp/clgrad-profile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    clg_context_free(ctx);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);

    char text[4096] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    assert_contains(text, "clgrad profile");
    assert_contains(text, "total ms");
    assert_contains(text, "smoke_axpy");
    /* Two self tests, one launch each. */
    const char *row = strstr(text, "smoke_axpy");
    unsigned long count = 0;
    assert_int_equal(sscanf(row, "smoke_axpy %lu", &count), 1);
    assert_int_equal(count, 2);
    /* Rusticl (Mesa 22.3) answers every event with stand-in times: the
     * table says so rather than show 0 ms as if measured. */
    if (strstr(platform, "rusticl"))
        assert_contains(text, "2 launches came back from the implementation without "
                              "usable times");
    else if (strstr(text, "without usable times"))
        fail_msg("%s gave usable event times, yet the table says:\n%s", platform, text);
}

/* The memory a scratch request got: its buffer, or the one it is a view of. */
static cl_mem holder(cl_mem m)
{
    cl_mem parent = NULL;
    assert_int_equal(clGetMemObjectInfo(m, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent,
                                        &parent, NULL),
                     CL_SUCCESS);
    return parent ? parent : m;
}

/* A pooled list's ops share scratch (a later op's requests are views of an
 * earlier op's buffers, the smallest that holds them), one op's requests
 * never; a list that never marks its ops shares nothing; a borrowing list
 * takes distinct donor buffers within one op. */
static void test_scratch_is_shared_between_ops_never_within_one(void **state)
{
    (void)state;
    clg_context *ctx = new_context();
    clg_cmdlist list = {0}, plain = {0}, borrower = {0};
    cl_mem a, b, c, d, e;
    clg_cmdlist_next_op(&list);
    assert_ok(clg_cmd_scratch(&list, ctx, 4096, &a));
    assert_ok(clg_cmd_scratch(&list, ctx, 1024, &b));
    assert_true(holder(a) != holder(b));
    clg_cmdlist_next_op(&list);
    assert_ok(clg_cmd_scratch(&list, ctx, 1000, &c)); /* the 1024 bytes' */
    assert_ok(clg_cmd_scratch(&list, ctx, 1000, &d)); /* then the 4096's */
    assert_ptr_equal(holder(c), b);
    assert_ptr_equal(holder(d), a);
    assert_ok(clg_cmd_scratch(&list, ctx, 16, &e)); /* both are this op's */
    assert_true(holder(e) == e && e != a && e != b);
    clg_cmdlist_next_op(&list);
    assert_ok(clg_cmd_scratch(&list, ctx, 8192, &c)); /* none holds it */
    assert_true(holder(c) == c && c != a && c != b);
    size_t held = clg_cmdlist_scratch_bytes(&list);
    assert_true(held >= 4096 + 1024 + 16 + 8192 &&
                held < 2 * (4096 + 1024 + 16 + 8192));

    assert_ok(clg_cmd_scratch(&plain, ctx, 64, &a));
    assert_ok(clg_cmd_scratch(&plain, ctx, 64, &b));
    assert_true(holder(a) == a && holder(b) == b && a != b);

    clg_cmdlist_borrow(&borrower, &list, 0);
    assert_ok(clg_cmd_scratch(&borrower, ctx, 512, &a));
    assert_ok(clg_cmd_scratch(&borrower, ctx, 512, &b));
    assert_true(holder(a) != holder(b) && holder(a) != a && holder(b) != b);
    clg_cmdlist_borrow(&borrower, NULL, 0);
    assert_int_equal(clg_cmdlist_scratch_bytes(&borrower), 0);
    clg_cmdlist_clear(&borrower);
    clg_cmdlist_clear(&plain);
    clg_cmdlist_clear(&list);
    clg_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_test_passes_on_the_default_device),
        cmocka_unit_test(test_every_family_is_embedded),
        cmocka_unit_test(test_local_memory_requirement_matches_the_kernels),
        cmocka_unit_test(test_compile_error_surfaces_device_and_build_log),
        cmocka_unit_test(test_programs_and_kernels_are_cached),
        cmocka_unit_test(test_kernel_dir_overrides_the_embedded_sources),
        cmocka_unit_test(test_built_programs_are_cached_on_disk),
        cmocka_unit_test(test_philox_matches_random123_known_answers),
        cmocka_unit_test(test_profile_table_printed_on_free),
        cmocka_unit_test(test_scratch_is_shared_between_ops_never_within_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
