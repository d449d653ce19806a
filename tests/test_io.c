/* Checkpoints as a C program uses them: a model rebuilt from a checkpoint
 * alone gives the saved model's outputs; checkpoints that cannot make the
 * model say what is missing; the file is safetensors byte for byte, its
 * training state comes back as saved, and damaged files are refused naming
 * the file and what is wrong. (Atomic writes, resume and PyTorch interop
 * are driven through clgrad-train in test_cli.) */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

static const char *MLP = "input 4\nlinear 3\nrelu\nlinear 2\n";

static clg_model *compiled(clg_context *ctx, const char *text, uint64_t seed)
{
    clg_spec *spec;
    assert_ok(clg_spec_parse(text, "test spec", &spec));
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = 2, mo.seed = seed;
    clg_model *m;
    assert_ok(clg_model_from_spec(ctx, spec, &mo, &m));
    clg_spec_free(spec);
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    return m;
}

static void outputs(clg_model *m, float out[4])
{
    const float x[8] = {0.5f, -1, 2, 0.25f, -0.5f, 1.5f, 0, -2};
    assert_ok(clg_tensor_upload(clg_model_input(m), x, 8));
    assert_ok(clg_plan_run(clg_model_plan(m), 2, CLG_RUN_EVAL));
    assert_ok(clg_plan_read(clg_model_plan(m), clg_model_output(m), out, 4));
}

static const char *scratch(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/clgrad_test_io_%ld_%s", (long)getpid(), name);
    return path;
}

static void test_model_from_checkpoint_gives_the_saved_outputs(void **state)
{
    clg_context *ctx = *state;
    clg_model *saved = compiled(ctx, MLP, 42);
    float want[4], got[4];
    outputs(saved, want);
    clg_train_state st = {.epoch = 1, .spec = MLP, .normalize = "0.25;2"};
    const char *path = scratch("mlp.safetensors");
    assert_ok(clg_save(path, saved, NULL, &st));

    clg_checkpoint *ck;
    assert_ok(clg_checkpoint_read(path, &ck));
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    mo.max_batch = 2,
    mo.seed = 7; /* another seed: the weights must come from the file */
    clg_model *m;
    clg_normalization norm;
    assert_ok(clg_model_from_checkpoint(ctx, ck, NULL, &mo, &m, &norm));
    clg_checkpoint_free(ck); /* the model needs nothing of it any more */
    assert_int_equal(norm.channels, 1);
    assert_true(norm.mean[0] == 0.25f && norm.std[0] == 2.0f);
    assert_ok(clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f));
    outputs(m, got);
    assert_memory_equal(got, want, sizeof want);
    clg_model_free(m);
    clg_model_free(saved);
    unlink(path);
}

static void test_model_from_checkpoint_names_what_is_missing(void **state)
{
    clg_context *ctx = *state;
    clg_model *saved = compiled(ctx, MLP, 1);
    const char *path = scratch("plain.safetensors");
    assert_ok(clg_save(path, saved, NULL, NULL)); /* weights only, no spec */
    clg_checkpoint *ck;
    assert_ok(clg_checkpoint_read(path, &ck));
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    clg_model *m = (clg_model *)&mo; /* must come back NULL */
    assert_int_equal(clg_model_from_checkpoint(ctx, ck, NULL, &mo, &m, NULL),
                     CLG_NOT_FOUND);
    assert_null(m);
    assert_contains(clg_last_error(), "carries no model spec");

    clg_spec *bigger;
    assert_ok(clg_spec_parse("input 4\nlinear 3\nrelu\nlinear 2\nrelu\nlinear 5\n",
                             "bigger.spec", &bigger));
    assert_int_equal(clg_model_from_checkpoint(ctx, ck, bigger, &mo, &m, NULL),
                     CLG_BAD_FILE);
    assert_null(m);
    assert_contains(clg_last_error(), "2 of the model's tensors are missing or differ");
    assert_contains(clg_last_error(), "4.weight");
    assert_contains(clg_last_error(), "4.bias");
    clg_spec_free(bigger);

    clg_spec *wider;
    assert_ok(
        clg_spec_parse("input 4\nlinear 6\nrelu\nlinear 2\n", "wider.spec", &wider));
    assert_int_equal(clg_model_from_checkpoint(ctx, ck, wider, &mo, &m, NULL),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(), "shape or dtype differs");
    assert_contains(clg_last_error(), "0.weight");
    clg_spec_free(wider);
    clg_checkpoint_free(ck);
    clg_model_free(saved);
    unlink(path);
}

/* The whole of file `path`; *len its size. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*len + 1);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spill(const char *path, const void *head, size_t n1, const void *rest,
                  size_t n2)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(head, 1, n1, f);
    fwrite(rest, 1, n2, f);
    fclose(f);
}

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* safetensors as its specification lays it out: 8 bytes of little-endian
 * header length, a JSON object of {dtype, shape, data_offsets} per tensor
 * (and __metadata__), then the tensors back to back, little-endian, each
 * where its offsets say: the bytes of 0.weight are the model's weights. */
static void test_checkpoint_is_safetensors_byte_for_byte(void **state)
{
    clg_context *ctx = *state;
    clg_model *m = compiled(ctx, MLP, 5);
    const char *path = scratch("layout.safetensors");
    assert_ok(clg_save(path, m, NULL, NULL));
    size_t len;
    unsigned char *b = slurp(path, &len);
    uint64_t hlen = le64(b);
    assert_true(8 + hlen <= len);
    cJSON *h = cJSON_ParseWithLength((const char *)b + 8, (size_t)hlen);
    assert_non_null(h);
    const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    const int shapes[4][2] = {{3, 4}, {3, 0}, {2, 3}, {2, 0}};
    size_t data = 8 + (size_t)hlen, covered = 0;
    for (int t = 0; t < 4; t++) {
        cJSON *e = cJSON_GetObjectItemCaseSensitive(h, names[t]);
        assert_non_null(e);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring,
                            "F32");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        assert_int_equal(cJSON_GetArraySize(shape), shapes[t][1] ? 2 : 1);
        for (int d = 0; d < cJSON_GetArraySize(shape); d++)
            assert_int_equal(cJSON_GetArrayItem(shape, d)->valueint, shapes[t][d]);
        cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        size_t begin = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble,
               end = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        size_t n = (size_t)shapes[t][0] * (shapes[t][1] ? (size_t)shapes[t][1] : 1);
        assert_int_equal(end - begin, 4 * n);
        covered += end - begin;
        float want[12];
        assert_ok(clg_tensor_download(clg_model_tensor(m, t), want, n));
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = b + data + begin + 4 * i;
            uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                            (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            float v;
            memcpy(&v, &bits, 4);
            assert_true(v == want[i]);
        }
    }
    assert_int_equal(data + covered, len); /* nothing else in the file */
    cJSON_Delete(h);
    free(b);
    clg_model_free(m);
    unlink(path);
}

static void test_training_state_comes_back_as_saved(void **state)
{
    clg_context *ctx = *state;
    clg_model *m = compiled(ctx, MLP, 5);
    const char *path = scratch("state.safetensors");
    clg_train_state st = {.epoch = 7,
                          .step = 1234567890123LL,
                          .plan_step = 99,
                          .schedule = {0.5f, 3, -1, 0.25f},
                          .best_val_loss = 0.125f,
                          .spec = MLP,
                          .normalize = "0.5;0.25",
                          .extra = "clgrad-train --epochs 7",
                          .tokenizer = "clgrad-tokenizer 1\ntype byte\nmerges 0\n"};
    assert_ok(clg_save(path, m, NULL, &st));
    clg_checkpoint *ck;
    assert_ok(clg_checkpoint_read(path, &ck));
    clg_train_state back;
    assert_ok(clg_checkpoint_train_state(ck, &back));
    assert_int_equal(back.epoch, 7);
    assert_true(back.step == 1234567890123LL);
    assert_true(back.plan_step == 99);
    assert_memory_equal(back.schedule, st.schedule, sizeof st.schedule);
    assert_true(back.best_val_loss == 0.125f);
    assert_string_equal(back.spec, MLP);
    assert_string_equal(back.normalize, st.normalize);
    assert_string_equal(back.extra, st.extra);
    assert_string_equal(back.tokenizer, st.tokenizer);
    clg_checkpoint_free(ck);
    /* weights only: no training state, and that is a NOT_FOUND */
    assert_ok(clg_save(path, m, NULL, NULL));
    assert_ok(clg_checkpoint_read(path, &ck));
    assert_int_equal(clg_checkpoint_train_state(ck, &back), CLG_NOT_FOUND);
    clg_checkpoint_free(ck);
    clg_model_free(m);
    unlink(path);
}

/* A good checkpoint's header changed by `edit`, written after a length
 * that says so, over the same data (or `cut` bytes fewer); reading it must
 * fail with CLG_BAD_FILE, naming the file and `why`. */
static void refused(const char *path, const unsigned char *good, size_t len,
                    void (*edit)(cJSON *h), size_t cut, const char *why)
{
    uint64_t hlen = le64(good);
    cJSON *h = cJSON_ParseWithLength((const char *)good + 8, (size_t)hlen);
    if (edit)
        edit(h);
    char *text = cJSON_PrintUnformatted(h);
    size_t n = strlen(text);
    unsigned char head[8];
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)((uint64_t)n >> (8 * i));
    unsigned char *both = malloc(8 + n);
    memcpy(both, head, 8);
    memcpy(both + 8, text, n);
    spill(path, both, 8 + n, good + 8 + hlen, len - 8 - (size_t)hlen - cut);
    clg_checkpoint *ck = (clg_checkpoint *)both;
    assert_int_equal(clg_checkpoint_read(path, &ck), CLG_BAD_FILE);
    assert_null(ck);
    assert_contains(clg_last_error(), path);
    assert_contains(clg_last_error(), why);
    free(both);
    free(text);
    cJSON_Delete(h);
}

static cJSON *offsets_of(cJSON *h, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, name),
                                            "data_offsets");
}

static void last_end_past_data(cJSON *h)
{ /* 2.bias is last: its end 4 bytes past the data */
    cJSON *end = cJSON_GetArrayItem(offsets_of(h, "2.bias"), 1);
    cJSON_SetNumberValue(end, end->valuedouble + 4);
}
static void last_moved_past_data(cJSON *h)
{ /* its span the right length, its last 4 bytes past the data */
    for (int i = 0; i < 2; i++) {
        cJSON *at = cJSON_GetArrayItem(offsets_of(h, "2.bias"), i);
        cJSON_SetNumberValue(at, at->valuedouble + 4);
    }
}
static void shape_disagrees(cJSON *h)
{
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(h, "0.weight"), "shape");
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 1), 5);
}
static void unknown_dtype(cJSON *h)
{
    cJSON *e = cJSON_GetObjectItemCaseSensitive(h, "0.bias");
    cJSON_ReplaceItemInObjectCaseSensitive(e, "dtype", cJSON_CreateString("Q7"));
}
static void no_offsets(cJSON *h)
{
    cJSON_DeleteItemFromObjectCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(h, "2.weight"), "data_offsets");
}
static void negative_begin(cJSON *h)
{
    cJSON_SetNumberValue(cJSON_GetArrayItem(offsets_of(h, "0.bias"), 0), -4);
}

static void test_damaged_checkpoints_are_refused_by_name(void **state)
{
    clg_context *ctx = *state;
    clg_model *m = compiled(ctx, MLP, 5);
    const char *good_path = scratch("good.safetensors"),
               *path = scratch("bad.safetensors");
    assert_ok(clg_save(good_path, m, NULL, NULL));
    size_t len;
    unsigned char *good = slurp(good_path, &len);
    refused(path, good, len, NULL, 1, ""); /* one byte short */
    /* each by its own check, though the tiling check behind would refuse
     * them too: the sentence says what is wrong */
    refused(path, good, len, last_end_past_data, 0, "'2.bias': data_offsets [");
    refused(path, good, len, last_moved_past_data, 0, "'2.bias': data_offsets [");
    refused(path, good, len, shape_disagrees, 0, "0.weight");
    refused(path, good, len, unknown_dtype, 0, "0.bias");
    refused(path, good, len, no_offsets, 0, "2.weight");
    refused(path, good, len, negative_begin, 0, "0.bias");
    /* a header length past the end of the file, and one that is not JSON */
    unsigned char head[8] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
    spill(path, head, 8, good + 8, len - 8);
    clg_checkpoint *ck;
    assert_int_equal(clg_checkpoint_read(path, &ck), CLG_BAD_FILE);
    assert_contains(clg_last_error(), path);
    unsigned char junk[] = {5, 0, 0, 0, 0, 0, 0, 0, '{', 'n', 'o', 't', ' '};
    spill(path, junk, sizeof junk, "", 0);
    assert_int_equal(clg_checkpoint_read(path, &ck), CLG_BAD_FILE);
    assert_contains(clg_last_error(), path);
    spill(path, head, 4, "", 0); /* shorter than the length itself */
    assert_int_equal(clg_checkpoint_read(path, &ck), CLG_BAD_FILE);
    assert_contains(clg_last_error(), path);
    free(good);
    clg_model_free(m);
    unlink(good_path), unlink(path);
}

/* A save follows a symbolic link to its target (the link stays) and never
 * renames over what is not a regular file: a FIFO, a device, a directory. */
static void test_save_follows_links_and_replaces_only_files(void **state)
{
    clg_context *ctx = *state;
    clg_model *m = compiled(ctx, MLP, 5);
    char target[256], link[256], fifo[256];
    snprintf(target, sizeof target, "%s", scratch("target.safetensors"));
    snprintf(link, sizeof link, "%s", scratch("link.safetensors"));
    snprintf(fifo, sizeof fifo, "%s", scratch("fifo"));
    unlink(target), unlink(link), unlink(fifo);
    assert_int_equal(symlink(target, link), 0); /* to nothing yet */
    assert_ok(clg_save(link, m, NULL, NULL));
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(target, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    /* a temporary file of a killed write beside it goes with the next
     * write there; one of a live process (this one) and other names stay */
    char stale[300], live[300], other[300];
    snprintf(stale, sizeof stale, "%s.tmp.2147480001", target);
    snprintf(live, sizeof live, "%s.tmp.%ld", target, (long)getppid());
    snprintf(other, sizeof other, "%s.tmp.x1", target);
    test_write_file(stale, "half a checkpoint");
    test_write_file(live, "another run's");
    test_write_file(other, "not ours");
    assert_ok(clg_save(link, m, NULL, NULL)); /* and again, over the file */
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    unlink(live), unlink(other);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *bad[] = {fifo, "/dev/null", "/tmp"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(clg_save(bad[i], m, NULL, NULL), CLG_IO_ERROR);
        assert_contains(clg_last_error(), bad[i]);
        assert_contains(clg_last_error(), "not a regular file");
    }
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    unlink(target), unlink(link), unlink(fifo);
    clg_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_from_checkpoint_gives_the_saved_outputs),
        cmocka_unit_test(test_model_from_checkpoint_names_what_is_missing),
        cmocka_unit_test(test_checkpoint_is_safetensors_byte_for_byte),
        cmocka_unit_test(test_training_state_comes_back_as_saved),
        cmocka_unit_test(test_damaged_checkpoints_are_refused_by_name),
        cmocka_unit_test(test_save_follows_links_and_replaces_only_files),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
