/* clgrad-train on text: language models trained, saved, evaluated and
 * sampled; Hugging Face GPT-2 directories; PyTorch GPT state dicts; the
 * text flags' errors. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"

static void test_text_model_trains_saves_and_generates_repeatably(void **state)
{
    (void)state;
    write_text("train.txt", 400, 1);
    write_text("test.txt", 60, 2);
    write_file("gpt.spec", gpt_spec, strlen(gpt_spec));
    train("gpt.spec --text train.txt --test-text test.txt --val-split 0.1 --epochs 3 "
          "--batch-size 16 --optimizer adamw --lr 0.01 --no-decay-bias "
          "--weight-decay 0.1 --init gpt2 --save gpt.safetensors");
    EXPECT(0);
    assert_contains(out, "text: char tokenizer, 23 ids;");
    assert_contains(out, "bits/token");
    assert_contains(out, "tokens/s");
    float loss, bits, acc;
    const char *t = strstr(out, "test: loss ");
    assert_non_null(t);
    assert_int_equal(
        sscanf(t, "test: loss %f (%f bits/token), accuracy %f", &loss, &bits, &acc), 3);
    assert_float_equal(bits, loss / logf(2), 1e-3);
    /* 23 characters: guessing is 4.5 bits; the grammar leaves far less */
    if (!(bits < 2.5f && acc > 0.4f))
        fail_msg("the model learned little:\n%s", out);
    train("--generate 80 --init-from gpt.safetensors --seed 5 --prompt 'the '");
    EXPECT(0);
    static char first[sizeof out];
    snprintf(first, sizeof first, "%s", out);
    assert_true(strlen(first) >= 80);
    train("--generate 80 --init-from gpt.safetensors --seed 5 --prompt 'the '");
    EXPECT(0);
    assert_string_equal(out, first);
    train("--generate 80 --init-from gpt.safetensors --seed 6 --prompt 'the ' "
          "--top-k 3 --temperature 0.5");
    EXPECT(0);
    assert_true(strcmp(out, first) != 0);
    /* The tokenizer travels with the weights: resuming and evaluating need
     * no --tokenizer, and a character it never saw is an error. */
    train(
        "gpt.spec --text train.txt --resume gpt.safetensors --epochs 4 --batch-size 8 "
        "--accumulate 2 --optimizer adamw --lr 0.01 --no-decay-bias --weight-decay 0.1 "
        "--schedule cosine --warmup 1 --sync-every 3 --quiet");
    EXPECT(0);
    train("--evaluate gpt.safetensors --test-text test.txt");
    EXPECT(0);
    assert_contains(out, "test: loss");
    write_file("odd.txt", "the cat sat on the zebra.\n", 26);
    train("--evaluate gpt.safetensors --test-text odd.txt");
    EXPECT(2);
    assert_contains(out, "odd.txt: the character 'z' at byte 19 is not in the "
                         "tokenizer's vocabulary");
    train("--generate 10 --init-from gpt.safetensors --prompt 'zebra'");
    EXPECT(2);
    assert_contains(out, "--prompt: the character 'z' at byte 0");
    train("--generate 10 --init-from gpt.safetensors --prompt ''"); /* freed twice */
    EXPECT(2);
    assert_contains(out, "--prompt: encodes to no tokens");
}

/* The activations in "Device memory: ..., activations X, ..." in bytes. */
static double activations_in(const char *text)
{
    const char *a = strstr(text, "activations ");
    double v = 0;
    char unit[8] = "";
    assert_non_null(a);
    assert_int_equal(sscanf(a, "activations %lf %7[KMGi]B", &v, unit), 2);
    return v * (unit[0] == 'K' ? 1 << 10 : unit[0] == 'M' ? 1 << 20 : 1 << 30);
}

/* --recompute trains to the same weights and optimizer state, byte for
 * byte, holding less for activations (the memory line at start says how
 * much). */
static void test_recompute_gives_the_same_weights_in_less_memory(void **state)
{
    (void)state;
    write_text("train.txt", 200, 1);
    const char *spec = "input tokens 16\ntokpos 32 32\nblock 32 4\nblock 32 4\n"
                       "block 32 2\nlayernorm\nlinear 32\n";
    write_file("deep.spec", spec, strlen(spec));
    static char kept[sizeof out];
    const char *common = "deep.spec --text train.txt --epochs 1 --batch-size 16 "
                         "--optimizer adamw --seed 3";
    train("%s --save kept.safetensors", common);
    EXPECT(0);
    snprintf(kept, sizeof kept, "%s", out);
    train("%s --recompute --save redone.safetensors", common);
    EXPECT(0);
    if (!(activations_in(out) < activations_in(kept) * 0.75))
        fail_msg("recomputed:\n%s\nkept:\n%s", out, kept);
    /* the tensors, weights and AdamW's state, after headers that differ in
     * the command line they keep: about 489 KB */
    shell(
        "tail -c 400000 kept.safetensors > a && tail -c 400000 redone.safetensors > b "
        "&& cmp a b");
    EXPECT(0);
}

/* Outputs are regular files or new paths (a log or plot also a character
 * device), never a FIFO or an input of the run: refused before anything is
 * read and left as they were; a symbolic link's target is written and the
 * link stays. */
static void test_outputs_never_replace_devices_links_or_inputs(void **state)
{
    (void)state;
    write_text("train.txt", 50, 3);
    write_file("gpt.spec", gpt_spec, strlen(gpt_spec));
    shell("rm -f fifo && mkfifo fifo && cp train.txt kept.txt");
    const char *flags[] = {"--save", "--log", "--plot"};
    for (int i = 0; i < 3; i++) {
        train("gpt.spec --text train.txt --epochs 1 %s fifo", flags[i]);
        EXPECT(2);
        assert_contains(out, "fifo: exists and is not a regular file");
        shell("test -p fifo");
        EXPECT(0);
    }
    train("gpt.spec --text train.txt --epochs 1 --save /dev/null");
    EXPECT(2);
    assert_contains(out,
                    "--save /dev/null: exists and is not a regular file (a device");
    shell("test -c /dev/null");
    EXPECT(0);
    train("gpt.spec --text train.txt --epochs 1 --log train.txt");
    EXPECT(2);
    assert_contains(out, "--log train.txt is --text train.txt");
    train("gpt.spec --text train.txt --epochs 1 --save gpt.spec");
    EXPECT(2);
    assert_contains(out, "--save gpt.spec is the model spec gpt.spec");
    shell("ln -sf train.txt link.txt");
    train("gpt.spec --text train.txt --epochs 1 --plot link.txt");
    EXPECT(2);
    assert_contains(out, "is --text train.txt");
    shell("cmp train.txt kept.txt && test -f gpt.spec");
    EXPECT(0);
    /* a link to a checkpoint not yet there: written through */
    shell("rm -f real.safetensors && ln -sf real.safetensors ck.safetensors");
    train("gpt.spec --text train.txt --epochs 1 --batch-size 8 --quiet --save "
          "ck.safetensors");
    EXPECT(0);
    shell("test -L ck.safetensors && test -f real.safetensors && ! test -L "
          "real.safetensors");
    EXPECT(0);
    /* a run that diverges before any epoch ends says its directory holds
     * nothing of it */
    train("gpt.spec --text train.txt --lr 1000 --optimizer sgd --checkpoint-dir ckd "
          "--epochs 2 --batch-size 1 --quiet");
    EXPECT(1);
    assert_contains(out, "no epoch ended well: ckd holds no checkpoint of this run");
    shell("rmdir ckd");
    /* token ids are not normalised */
    train("gpt.spec --text train.txt --normalize -5,1");
    EXPECT(2);
    assert_contains(out, "--normalize -5,1: a text model's inputs are token ids");
    train("--generate 5 --init-from ck.safetensors --normalize 0.5,2");
    EXPECT(2);
    assert_contains(out, "are token ids");
    shell("rm -f fifo link.txt ck.safetensors real.safetensors kept.txt");
}

/* A Hugging Face GPT-2 directory (tests/hf_gpt2_model.py) is a model and a
 * tokenizer to clgrad-train: evaluated, sampled from, fine-tuned on a text
 * with no spec, saved and resumed as clgrad's own. */
static void test_gpt2_directory_evaluates_generates_and_fine_tunes(void **state)
{
    (void)state;
    char hf[1024];
    snprintf(hf, sizeof hf, "%s/hf_gpt2", getenv("CLGRAD_FIXTURES"));
    shell("head -c 20000 /usr/share/games/fortunes/cookie > cookie.txt");
    train("--evaluate '%s' --test-text cookie.txt", hf);
    EXPECT(0);
    float before, after;
    const char *t = strstr(out, "test: loss ");
    assert_true(t && sscanf(t, "test: loss %f", &before) == 1);
    assert_true(before > 7.0f && before < 8.2f); /* random weights: ln 2000 = 7.6 */
    train("--generate 20 --init-from '%s' --seed 3 --prompt 'The '", hf);
    EXPECT(0);
    assert_true(strlen(out) > 5);
    train("--init-from '%s' --text cookie.txt --epochs 2 --batch-size 8 --optimizer "
          "adamw "
          "--lr 0.002 --save hfft.st",
          hf);
    EXPECT(0);
    assert_contains(out, "loaded every weight of the GPT-2 in");
    assert_contains(out, "text: gpt2 tokenizer, 2000 ids");
    train("--evaluate hfft.st --test-text cookie.txt");
    EXPECT(0);
    t = strstr(out, "test: loss ");
    assert_true(t && sscanf(t, "test: loss %f", &after) == 1);
    if (!(after < before - 0.5f))
        fail_msg("fine-tuning took the loss from %g to %g only", before, after);
    train("--resume hfft.st --text cookie.txt --epochs 3 --batch-size 8 --optimizer "
          "adamw "
          "--lr 0.002 --quiet");
    EXPECT(0);
    train("--generate 20 --init-from hfft.st --seed 3 --prompt 'The '");
    EXPECT(0);
    train("gpt.spec --evaluate '%s' --test-text cookie.txt", hf);
    EXPECT(2);
    assert_contains(out, "is a GPT-2 directory, whose config.json makes the model");
    /* saved in Hugging Face's layout: the same model, evaluated as a
     * directory and through the clgrad state beside it; resumed from it */
    train("--resume hfft.st --text cookie.txt --epochs 4 --batch-size 8 --optimizer "
          "adamw "
          "--lr 0.002 --quiet --save hfdir --format hf");
    EXPECT(0);
    shell("ls hfdir");
    assert_contains(out, "config.json");
    assert_contains(out, "model.safetensors");
    assert_contains(out, "vocab.json");
    assert_contains(out, "merges.txt");
    assert_contains(out, "clgrad_state.safetensors");
    train("--evaluate hfdir --test-text cookie.txt");
    EXPECT(0);
    static char as_dir[256];
    t = strstr(out, "test: loss ");
    assert_non_null(t);
    snprintf(as_dir, sizeof as_dir, "%.*s", (int)strcspn(t, "\n"), t);
    train("--evaluate hfdir/clgrad_state.safetensors --test-text cookie.txt");
    EXPECT(0);
    assert_contains(out, as_dir);
    train(
        "--resume hfdir --text cookie.txt --epochs 5 --batch-size 8 --optimizer adamw "
        "--lr 0.002 --quiet");
    EXPECT(0);
    write_file("plain.txt", "x", 1);
    train("--resume hfft.st --text cookie.txt --epochs 5 --quiet --save plain.txt "
          "--format hf");
    EXPECT(2);
    assert_contains(out, "--save plain.txt --format hf: a GPT-2 directory's path");
    write_text("small.txt", 50, 5);
    train("gpt.spec --text small.txt --epochs 1 --quiet --save nothf --format hf");
    EXPECT(2);
    assert_contains(out,
                    "--save nothf --format hf: the model is not a GPT-2 (its last "
                    "layer is not a linear layer of the vocabulary without a bias)");
    shell("test -e nothf");
    EXPECT(1); /* refused before training: nothing made */
    shell("rm -rf hfft.st cookie.txt hfdir plain.txt small.txt");
}

static void test_text_usage_errors_exit_2(void **state)
{
    (void)state;
    write_text("train.txt", 50, 3);
    write_file("gpt.spec", gpt_spec, strlen(gpt_spec));
    const char small[] = "input tokens 16\ntokpos 8 32\nblock 32 4\nlinear 8\n";
    write_file("small.spec", small, strlen(small));
    train("small.spec --text train.txt");
    EXPECT(2);
    assert_contains(out, "the char tokenizer has 23 ids; the model's vocabulary is 8");
    train("gpt.spec --text train.txt --tokenizer byte");
    EXPECT(2);
    assert_contains(out,
                    "the byte tokenizer has 256 ids; the model's vocabulary is 32");
    train("gpt.spec --text train.txt --tokenizer words");
    EXPECT(2);
    assert_contains(out, "--tokenizer: 'words' is not char, byte, bpe=N or gpt2bpe=N");
    const char mlp[] = "input 16\nlinear 32\n";
    write_file("mlp.spec", mlp, strlen(mlp));
    train("mlp.spec --text train.txt");
    EXPECT(2);
    assert_contains(out, "text data needs a model whose input is tokens");
    train("gpt.spec --test-text train.txt");
    EXPECT(2);
    assert_contains(out, "training a text model needs --text FILE");
    train("gpt.spec --text train.txt --data data");
    EXPECT(2);
    assert_contains(out, "--text/--test-text and image data do not mix");
    train("gpt.spec --text train.txt --accumulate 0");
    EXPECT(2);
    assert_contains(out, "--accumulate");
    train("gpt.spec --text train.txt --sync-every 0");
    EXPECT(2);
    assert_contains(out, "--sync-every");
    train("gpt.spec --text train.txt --top-k 3");
    EXPECT(2);
    assert_contains(out, "--prompt and --top-k go with --generate");
    train("gpt.spec --text train.txt --distributed tcp");
    EXPECT(2);
    assert_contains(out, "--distributed: 'tcp' is not auto, mpi or none");
    train("gpt.spec --text train.txt --tokenizer bpe=many");
    EXPECT(2);
    assert_contains(out,
                    "--tokenizer: 'bpe=many' is not char, byte, bpe=N or gpt2bpe=N");
    train("--generate 5");
    EXPECT(2);
    assert_contains(out, "--generate needs the model: --init-from CHECKPOINT");
    const char block[] = "input tokens 16\ntokpos 32 30\nblock 32 4\nlinear 32\n";
    write_file("block.spec", block, strlen(block));
    train("block.spec --text train.txt");
    EXPECT(2);
    assert_contains(out, "block.spec:3: layer 1 (block): block 32 4 needs an input "
                         "[N, T, 32]");
}

/* The reference GPT of tests/torch_gpt.py, saved by PyTorch, evaluated on
 * text whose characters the spec's 50 ids cover. */
static void test_pytorch_gpt_state_dict_evaluates_on_text(void **state)
{
    (void)state;
    write_text("train.txt", 100, 4);
    const char *fixtures = getenv("CLGRAD_FIXTURES");
    train("'%s/torch_gpt.spec' --evaluate '%s/torch_gpt_init.safetensors' "
          "--text train.txt --test-text train.txt",
          fixtures, fixtures);
    EXPECT(0);
    assert_contains(out, "test: loss ");
    assert_contains(out, "bits/token");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_model_trains_saves_and_generates_repeatably),
        cmocka_unit_test(test_outputs_never_replace_devices_links_or_inputs),
        cmocka_unit_test(test_gpt2_directory_evaluates_generates_and_fine_tunes),
        cmocka_unit_test(test_text_usage_errors_exit_2),
        cmocka_unit_test(test_recompute_gives_the_same_weights_in_less_memory),
        cmocka_unit_test(test_pytorch_gpt_state_dict_evaluates_on_text),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
