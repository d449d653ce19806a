/* Checkpoints as a C program uses them: a model rebuilt from a checkpoint
 * alone gives the saved model's outputs; checkpoints that cannot make the
 * model say what is missing. (The file format, atomic writes, resume and
 * PyTorch interop are driven through clgrad-train in test_cli.) */
#include <stdlib.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_from_checkpoint_gives_the_saved_outputs),
        cmocka_unit_test(test_model_from_checkpoint_names_what_is_missing),
    };
    return cmocka_run_group_tests(tests, test_context_setup, test_context_teardown);
}
