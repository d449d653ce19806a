/* clgrad-train on images, driven as a user would: spec files, flag groups,
 * checkpoints, resume, PyTorch interop, atomic saves under kill -9, and
 * fine-tuning (text models: test_cli_text.c; several devices and ranks:
 * test_cli_dist.c). */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"

#include <png.h>

static void test_trains_and_reports_the_test_set(void **state)
{
    (void)state;
    train("mlp.spec --data data --epochs 3 --batch-size 32 --val-split 0.1 --log m.csv "
          "--plot m.svg --lr 0.01");
    EXPECT(0);
    assert_contains(out, "Total params");
    assert_contains(out, "epoch 3/3");
    assert_contains(out, "val loss");
    assert_contains(out, "test: loss");
    assert_contains(out, "confusion matrix");
    float acc = 0;
    const char *t = strstr(out, "accuracy ");
    assert_non_null(t);
    sscanf(t, "accuracy %f", &acc);
    assert_true(acc > 0.9f);
    FILE *f = fopen(at("m.csv"), "r");
    assert_non_null(f);
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, f))
        rows++;
    fclose(f);
    assert_int_equal(rows, 4);
    f = fopen(at("m.svg"), "r");
    assert_non_null(f);
    size_t n = fread(line, 1, sizeof line - 1, f);
    line[n] = '\0';
    fclose(f);
    assert_contains(line, "<svg");
    assert_contains(line, "polyline");
}

static void test_bad_usage_exits_2_with_one_clear_line(void **state)
{
    (void)state;
    struct {
        const char *args, *message;
    } cases[] = {
        {"mlp.spec --data data --frobnicate", "unknown option '--frobnicate'"},
        {"mlp.spec --data data --epochs zero",
         "--epochs: 'zero' is not a whole number"},
        {"mlp.spec --data data --epochs 100001",
         "--epochs: '100001' is not a whole number in [1, 100000]"},
        {"mlp.spec --data data --batch-size 0",
         "--batch-size: '0' is not a whole number in [1, 65536]"},
        {"mlp.spec --data data --lr -1", "--lr: '-1' is not a number"},
        {"mlp.spec --data data --optimizer lion", "--optimizer: unknown value 'lion'"},
        {"mlp.spec --data data --schedule wavy", "--schedule: unknown value 'wavy'"},
        {"mlp.spec --data data --augment blur", "--augment: unknown transform 'blur'"},
        {"mlp.spec --data data --betas 0.9", "--betas: '0.9' is not B1,B2"},
        {"mlp.spec --data data --nesterov", "--nesterov needs --momentum > 0"},
        {"mlp.spec --data nowhere", "no train-images-idx3-ubyte[.gz] in nowhere"},
        {"missing.spec --data data", "missing.spec: cannot open"},
        {"mlp.spec", "no data"},
        {"", "give a model spec file"},
        {"mlp.spec --data data --device name:no-such-device", "no-such-device"},
        {"mlp.spec --data data --evaluate nothing.safetensors", "nothing.safetensors"},
        {"mlp.spec --train-images data/train-images-idx3-ubyte", "go together"},
        {"mlp.spec --data data --loss hinge", "--loss: unknown loss 'hinge'"},
        {"mlp.spec --data data --loss mse --label-smoothing 0.1",
         "--label-smoothing goes with --loss cross_entropy, not mse"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        train("%s", cases[i].args);
        if (status != 2)
            fail_msg("'%s': expected exit 2, got %d:\n%s", cases[i].args, status, out);
        assert_contains(out, cases[i].message);
        assert_true(strstr(out, "Segmentation") == NULL);
    }
}

static void test_spec_errors_name_file_and_line(void **state)
{
    (void)state;
    struct {
        const char *text, *message;
    } cases[] = {
        {"input 1 8 8\nflatten\nlinaer 4\n", "bad.spec:3: unknown layer 'linaer'"},
        {"input 1 8 8\nconv2d 4 3 pading=1\n",
         "bad.spec:2: conv2d: unknown option 'pading' "
         "(options: stride, padding, dilation, groups, bias)"},
        {"input 1 8 8\nconv2d four 3\n",
         "bad.spec:2: conv2d: 'four' is not a valid out_channels"},
        {"input 1 8 8\nconv2d 4\n", "bad.spec:2: conv2d: missing kernel"},
        {"flatten\nlinear 4\n", "bad.spec:1: the first line must be the input"},
        {"input 1 8 8\nresidual\nrelu\n", "bad.spec:2: residual block is never closed"},
        {"input 1 8 8\nend\n", "bad.spec:2: end without a residual block"},
        {"# only a comment\n", "no input line"},
        {"input 1 8 8\nlinear 4 bias=maybe\n",
         "bad.spec:2: linear: bad value 'maybe' for bias"},
        {"input 1 8 8\nupsample 2 mode=cubic\n",
         "bad.spec:2: upsample: bad value 'cubic' for mode (nearest or bilinear)"},
        {"input 1 8 8\nconv2d 4 3 groups=3\nflatten\nlinear 4\n",
         "groups=3: the groups must divide the 1 input and 4 output channels"},
        /* fits the syntax, not the data: 8 channels expected, 1 given */
        {"input 1 8 8\nflatten\nconv2d 4 3\n", "bad.spec:3: layer 1 (conv2d)"},
        {"input 3 8 8\nflatten\nlinear 4\n",
         "the data's samples are [1,8,8], the model's "
         "input is [3,8,8]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_file("bad.spec", cases[i].text, strlen(cases[i].text));
        train("bad.spec --data data --epochs 1 --quiet");
        if (status != 2)
            fail_msg("spec %zu: expected exit 2, got %d:\n%s", i, status, out);
        assert_contains(out, cases[i].message);
    }
}

static void test_every_flag_group_runs(void **state)
{
    (void)state;
    const char *groups[] = {
        "--optimizer sgd --lr 0.05 --momentum 0.9 --nesterov --weight-decay 1e-4 "
        "--schedule step "
        "--step-size 1 --gamma 0.5",
        "--optimizer adamw --lr 0.01 --weight-decay 0.05 --betas 0.8,0.99 --eps 1e-7 "
        "--clip-norm 1 --schedule cosine --warmup 1 --no-decay-bias",
        "--optimizer rmsprop --lr 0.005 --alpha 0.9 --centered --momentum 0.5 "
        "--clip-value 0.5 "
        "--schedule multistep --milestones 1,2",
        "--optimizer adagrad --lr 0.1 --l1 1e-5 --schedule exp --gamma 0.9 "
        "--label-smoothing 0.1",
        "--optimizer adam --lr 0.01 --schedule onecycle --max-lr 0.02 --no-shuffle "
        "--seed 7",
        "--optimizer adam --lr 0.01 --schedule plateau --patience 0 --factor 0.5 "
        "--val-split 0.2 "
        "--early-stop 2 --normalize 0.2,0.3",
        "--augment flip,crop=1,rotate=5,noise=0.02,cutout=2 --normalize none --steps "
        "10",
        "--augment brightness,contrast=0.3,saturation=0.4 --steps 10",
        "--init xavier_uniform --loss cross_entropy --batch-size 50 --quiet",
        "--loss mse --optimizer sgd --lr 0.1",
        "--loss bce",
    };
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) {
        train("cnn.spec --data data --epochs 3 %s", groups[i]);
        if (status != 0)
            fail_msg("flags '%s': exit %d:\n%s", groups[i], status, out);
        assert_contains(out, "test: loss");
    }
}

/* The float32 tensor `name` of a checkpoint, malloc'd. */
static float *tensor(const char *file, const char *name, size_t *n)
{
    clg_checkpoint *ck;
    assert_ok(clg_checkpoint_read(at(file), &ck));
    float *v = NULL;
    for (int i = 0; i < clg_checkpoint_count(ck); i++) {
        if (strcmp(clg_checkpoint_name(ck, i), name))
            continue;
        int64_t shape[8];
        int nd = clg_checkpoint_shape(ck, i, shape);
        *n = 1;
        for (int k = 0; k < nd; k++)
            *n *= (size_t)shape[k];
        v = malloc(*n * sizeof *v);
        assert_ok(clg_checkpoint_floats(ck, i, v, *n));
    }
    clg_checkpoint_free(ck);
    if (!v)
        fail_msg("%s has no tensor %s", file, name);
    return v;
}

static void test_checkpoint_round_trip_and_evaluate(void **state)
{
    (void)state;
    train("cnn.spec --data data --epochs 2 --save c.safetensors --quiet");
    EXPECT(0);
    char trained[256];
    const char *t = strstr(out, "test: loss");
    assert_non_null(t);
    snprintf(trained, sizeof trained, "%.*s", (int)(strchr(t, '\n') - t), t);
    train("--evaluate c.safetensors --data data --quiet");
    EXPECT(0);
    assert_contains(out, trained); /* the same numbers from the file alone */
    /* Corrupt copies are refused clearly. */
    FILE *f = fopen(at("c.safetensors"), "rb");
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_file("cut.safetensors", buf, n - 10);
    train("--evaluate cut.safetensors --data data");
    EXPECT(2);
    assert_contains(out, "cut.safetensors");
    buf[0] = 0xff, buf[7] = 0x7f;
    write_file("len.safetensors", buf, n);
    train("--evaluate len.safetensors --data data");
    EXPECT(2);
    assert_contains(out, "header length");
}

static void test_resume_matches_an_uninterrupted_run(void **state)
{
    (void)state;
    const char *flags =
        "--data data --batch-size 32 --optimizer adam --lr 0.01 --seed 3 "
        "--schedule step --step-size 1 --gamma 0.5 --quiet";
    train("mlp.spec %s --epochs 2 --save full.safetensors --log full.csv", flags);
    EXPECT(0);
    train("mlp.spec %s --epochs 1 --save half.safetensors --log half.csv", flags);
    EXPECT(0);
    train("%s --epochs 2 --resume half.safetensors --save resumed.safetensors --log "
          "half.csv",
          flags);
    EXPECT(0);
    const char *names[] = {"1.weight", "1.bias", "4.weight", "4.bias",
                           "optim.1.weight.exp_avg"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t a, b;
        float *x = tensor("full.safetensors", names[i], &a);
        float *y = tensor("resumed.safetensors", names[i], &b);
        assert_int_equal(a, b);
        assert_memory_equal(x, y, a * sizeof *x);
        free(x), free(y);
    }
    /* The logged losses of both epochs agree too. */
    char full[2][256], half[2][256], line[256];
    FILE *f = fopen(at("full.csv"), "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(fgets(full[0], 256, f));
    assert_non_null(fgets(full[1], 256, f));
    fclose(f);
    f = fopen(at("half.csv"), "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(fgets(half[0], 256, f));
    assert_non_null(fgets(half[1], 256, f));
    fclose(f);
    for (int e = 0; e < 2; e++) /* all but the timing columns */
        assert_memory_equal(full[e], half[e],
                            (size_t)(strstr(full[e], ",") - full[e]) + 40);
}

static void test_pytorch_state_dict_loads_and_predicts_like_pytorch(void **state)
{
    (void)state;
    const char *fx = getenv("CLGRAD_FIXTURES");
    train("%s/torch_cnn.spec --predict %s/torch_cnn_inputs.idx --init-from "
          "%s/torch_cnn.safetensors --batch-size 4",
          fx, fx, fx);
    EXPECT(0);
    char path[600];
    snprintf(path, sizeof path, "%s/torch_cnn_predictions.csv", fx);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char want[2048];
    size_t n = fread(want, 1, sizeof want - 1, f);
    want[n] = '\0';
    fclose(f);
    /* Same classes; probabilities within 1e-5. The fixture's model is
     * trained: it predicts every class, none with certainty. */
    const char *g = strstr(out, "index,class,probability\n"), *w = want;
    assert_non_null(g);
    int predicted[3] = {0, 0, 0};
    for (int i = 0; i < 10; i++) {
        g = strchr(g, '\n') + 1, w = strchr(w, '\n') + 1;
        int gi, gc, wi, wc;
        float gp, wp;
        assert_int_equal(sscanf(g, "%d,%d,%f", &gi, &gc, &gp), 3);
        assert_int_equal(sscanf(w, "%d,%d,%f", &wi, &wc, &wp), 3);
        assert_int_equal(gc, wc);
        assert_true(fabsf(gp - wp) < 1e-5f);
        assert_in_range(wc, 0, 2);
        predicted[wc]++;
        assert_true(wp < 0.9f);
    }
    assert_true(predicted[0] > 0 && predicted[1] > 0 && predicted[2] > 0);
}

/* Kills clgrad-train at moments spread over its save cycle (it saves every
 * epoch, a few milliseconds apart); the last checkpoint must always read. */
static void test_kill_during_saves_leaves_a_whole_checkpoint(void **state)
{
    (void)state;
    char ckdir[700], last[760];
    snprintf(ckdir, sizeof ckdir, "%s/ck", dir);
    snprintf(last, sizeof last, "%s/last.safetensors", ckdir);
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            char spec[700], data[700];
            snprintf(spec, sizeof spec, "%s/mlp.spec", dir);
            snprintf(data, sizeof data, "%s/data", dir);
            if (!freopen("/dev/null", "w", stdout) ||
                !freopen("/dev/null", "w", stderr))
                _exit(126);
            execl(getenv("CLGRAD_TRAIN_BIN"), "clgrad-train", spec, "--data", data,
                  "--epochs", "100000", "--batch-size", "100", "--checkpoint-dir",
                  ckdir, "--quiet", (char *)NULL);
            _exit(127);
        }
        /* Wait for the first save of this run (kernels may still be compiling). */
        if (round == 0)
            for (int k = 0; k < 600 && access(last, F_OK) != 0; k++) {
                struct timespec poll = {0, 100 * 1000000L};
                nanosleep(&poll, NULL);
            }
        struct timespec wait = {0, (200 + 37 * round) * 1000000L};
        nanosleep(&wait, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        clg_checkpoint *ck;
        if (clg_checkpoint_read(last, &ck) != CLG_OK)
            fail_msg("round %d: %s", round, clg_last_error());
        assert_non_null(clg_checkpoint_meta(ck, "epoch"));
        clg_checkpoint_free(ck);
    }
}

static void test_freeze_and_replace_head(void **state)
{
    (void)state;
    /* Train on 4 classes, then fine-tune only the head on a 3-class task. */
    train("cnn.spec --data data --epochs 2 --save base.safetensors --quiet");
    EXPECT(0);
    train("cnn.spec --data three --init-from base.safetensors --replace-head 3 "
          "--freeze 5 "
          "--epochs 2 --save tuned.safetensors");
    EXPECT(0);
    assert_contains(
        out, "base.safetensors: loaded 5 tensors, skipped 2, left 2 at initialisation");
    assert_contains(out, "shape or dtype differs (left at initialisation): 5.weight");
    assert_contains(out, "trainable 195, frozen 44"); /* 3 x 64 + 3 trainable */
    size_t a, b;
    float *before = tensor("base.safetensors", "0.weight", &a);
    float *after = tensor("tuned.safetensors", "0.weight", &b);
    assert_memory_equal(before, after, a * sizeof *before); /* frozen */
    free(before), free(after);
    before = tensor("tuned.safetensors", "5.weight", &a);
    assert_int_equal(a, 3 * 64);
    free(before);
    train("cnn.spec --data three --init-from base.safetensors --freeze 99");
    EXPECT(2);
    assert_contains(out, "clg_model_freeze: 99 layers, the model has 6");
    train("cnn.spec --data three --freeze 6");
    EXPECT(2);
    assert_contains(out, "no trainable parameters");
    /* A few examples of some classes, relabelled from 0. */
    train("cnn.spec --data data --classes 2-3 --train-samples 10 --batch-size 8 "
          "--epochs 2");
    EXPECT(0);
    assert_contains(out, "(50 samples)");
    assert_contains(out, "epoch 2/2");
    train("cnn.spec --data data --classes 7-9 --epochs 1");
    EXPECT(2);
    assert_contains(out, "no sample has those labels");
    train("cnn.spec --data data --classes x");
    EXPECT(2);
    assert_contains(out, "--classes: 'x'");
}

static void test_divergence_exits_1_keeping_the_last_good_checkpoint(void **state)
{
    (void)state;
    train("mlp.spec --data data --optimizer sgd --lr 1000 --epochs 30 --checkpoint-dir "
          "nan_ck "
          "--quiet");
    EXPECT(1);
    assert_contains(out, "training stopped in epoch");
    assert_contains(out, "is not finite");
    assert_contains(out, "last finite loss");
    assert_contains(out, "the checkpoints in nan_ck hold the last good epoch");
    /* It diverges after the first epoch, so there is a checkpoint, and it
     * is the epoch before the one that failed. */
    int stopped = 0;
    assert_int_equal(sscanf(strstr(out, "training stopped in epoch"),
                            "training stopped in epoch %d", &stopped),
                     1);
    assert_true(stopped >= 2);
    clg_checkpoint *ck;
    assert_ok(clg_checkpoint_read(at("nan_ck/last.safetensors"), &ck));
    clg_train_state st;
    assert_ok(clg_checkpoint_train_state(ck, &st));
    assert_int_equal(st.epoch, stopped - 1);
    clg_checkpoint_free(ck);
    size_t n;
    float *w = tensor("nan_ck/last.safetensors", "1.weight", &n);
    for (size_t i = 0; i < n; i++)
        assert_true(isfinite(w[i]));
    free(w);
    /* Training data alone (no t10k files) is fine: there is no test report. */
    char sub[700];
    snprintf(sub, sizeof sub, "%s/only", dir);
    mkdir(sub, 0777);
    char cmd[1600];
    snprintf(
        cmd, sizeof cmd,
        "cp '%s/data/train-images-idx3-ubyte' '%s/data/train-labels-idx1-ubyte' '%s/'",
        dir, dir, sub);
    assert_int_equal(system(cmd), 0);
    train("mlp.spec --data only --epochs 1 --quiet");
    EXPECT(0);
    assert_true(strstr(out, "test:") == NULL);
}

/* Byte offset of the data section of a safetensors file. */
static long data_start(const char *file)
{
    FILE *f = fopen(at(file), "rb");
    assert_non_null(f);
    unsigned char len8[8];
    assert_int_equal(fread(len8, 1, 8, f), 8);
    fclose(f);
    long hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen * 256 + len8[i];
    return 8 + hlen;
}

/* Copies `from` to `to`, then writes `len` bytes at offset `at_byte`. */
static void patched_copy(const char *from, const char *to, long at_byte,
                         const void *bytes, size_t len)
{
    static unsigned char buf[1 << 20];
    FILE *f = fopen(at(from), "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true((size_t)at_byte + len <= n);
    memcpy(buf + at_byte, bytes, len);
    write_file(to, buf, n);
}

/* A checkpoint that does not fit the run, holds NaN, or carries a nonsense
 * training state is refused with exit 2 naming what is wrong. */
static void test_checkpoints_that_do_not_fit_are_refused(void **state)
{
    (void)state;
    train("mlp.spec --data data --epochs 1 --save mlp.safetensors --quiet");
    EXPECT(0);
    train("cnn.spec --data data --resume mlp.safetensors --epochs 2");
    EXPECT(2);
    assert_contains(out, "mlp.safetensors cannot resume this run");
    assert_contains(out, "missing (left at initialisation): 0.weight");
    assert_true(strstr(out, "epoch 2/") == NULL);
    train("cnn.spec --evaluate mlp.safetensors --data data");
    EXPECT(2);
    assert_contains(out, "of the model's tensors are missing or differ");
    train("cnn.spec --predict data/t10k-images-idx3-ubyte --init-from mlp.safetensors");
    EXPECT(2);
    assert_contains(out, "of the model's tensors are missing or differ");

    /* NaN in the first tensor of the data section. */
    const unsigned char nan_bytes[4] = {0x00, 0x00, 0xc0, 0x7f};
    patched_copy("mlp.safetensors", "nan.safetensors", data_start("mlp.safetensors"),
                 nan_bytes, 4);
    train("--predict data/t10k-images-idx3-ubyte --init-from nan.safetensors");
    EXPECT(2);
    assert_contains(out, "holds a non-finite value (nan at 0)");
    train("mlp.spec --data data --resume nan.safetensors --epochs 2");
    EXPECT(2);
    assert_contains(out, "holds a non-finite value");

    /* An epoch that is not a number. */
    FILE *f = fopen(at("mlp.safetensors"), "rb");
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *epoch = NULL;
    for (size_t i = 0; i + 11 <= n && !epoch; i++)
        if (memcmp(buf + i, "\"epoch\":\"1\"", 11) == 0)
            epoch = buf + i;
    assert_non_null(epoch);
    epoch[9] = 'x';
    write_file("epoch.safetensors", buf, n);
    train("mlp.spec --data data --resume epoch.safetensors --epochs 2");
    EXPECT(2);
    assert_contains(out, "training state 'epoch' is 'x', not a whole number");

    /* Images with a NaN pixel: float32 IDX [3, 8, 8]. */
    unsigned char idx[16 + 3 * 64 * 4] = {0, 0, 0x0d, 3, 0, 0, 0, 3,
                                          0, 0, 0,    8, 0, 0, 0, 8};
    for (int i = 0; i < 3 * 64; i++) {
        float v = i == 2 * 64 + 5 ? NAN : 0.5f;
        unsigned char *p = idx + 16 + 4 * i, *b = (unsigned char *)&v;
        p[0] = b[3], p[1] = b[2], p[2] = b[1], p[3] = b[0]; /* big-endian */
    }
    write_file("nan-images.idx", idx, sizeof idx);
    train("--predict nan-images.idx --init-from mlp.safetensors");
    EXPECT(2);
    assert_contains(out,
                    "predict: sample 2 holds a non-finite value (nan at element 5)");
}

/* Output paths are checked before any data is read, and writes that fail
 * during training end it with exit 1 naming the file. */
static void test_output_paths_and_writes_are_checked(void **state)
{
    (void)state;
    train("mlp.spec --data data --epochs 1 --save nodir/m.safetensors");
    EXPECT(2);
    assert_contains(out, "--save nodir/m.safetensors: directory nodir: No such file");
    assert_true(strstr(out, "epoch 1/") == NULL);
    train("mlp.spec --data data --epochs 1 --save data");
    EXPECT(2);
    assert_contains(out, "--save data: is a directory, not a file");
    train("mlp.spec --data data --epochs 1 --checkpoint-dir mlp.spec");
    EXPECT(2);
    assert_contains(out, "--checkpoint-dir mlp.spec: exists and is not a directory");
    train("mlp.spec --data data --epochs 1 --log /dev/full --quiet");
    assert_true(status != 0);
    assert_contains(out, "--log /dev/full: writing failed: No space left on device");
    train("mlp.spec --data data --epochs 3 --plot /dev/full --quiet");
    EXPECT(1);
    assert_contains(out, "--plot /dev/full: writing failed: No space left on device");
}

/* A run that needs more memory than the device has (here, than
 * CLGRAD_MEMORY_LIMIT allows) stops before the first step with exit 1 and a
 * sentence, never an abort. */
static void test_device_memory_is_checked_before_training(void **state)
{
    (void)state;
    train("mlp.spec --data data --epochs 1 --batch-size 400");
    EXPECT(0);
    assert_contains(out, "Device memory: "); /* the report, at start */
    assert_contains(out, "; batches up to ");
    setenv("CLGRAD_MEMORY_LIMIT", "64K", 1);
    train("mlp.spec --data data --epochs 1 --batch-size 400");
    unsetenv("CLGRAD_MEMORY_LIMIT");
    EXPECT(1);
    assert_contains(out, "it may use (CLGRAD_MEMORY_LIMIT)");
    assert_contains(out, "a batch of 400 needs about ");
    assert_contains(out, "grows with each sample");
    assert_true(strstr(out, "epoch 1/") == NULL);
    /* the largest batch it names trains under the limit; one more does not */
    const char *at = strstr(out, "the largest batch that fits is ");
    assert_non_null(at);
    int largest = atoi(at + strlen("the largest batch that fits is "));
    assert_in_range(largest, 2, 399);
    for (int more = 0; more < 2; more++) {
        setenv("CLGRAD_MEMORY_LIMIT", "64K", 1);
        train("mlp.spec --data data --epochs 1 --batch-size %d --quiet",
              largest + more);
        unsetenv("CLGRAD_MEMORY_LIMIT");
        EXPECT(more ? 1 : 0);
    }
    setenv("CLGRAD_MEMORY_LIMIT", "16K", 1); /* not even one sample */
    train("mlp.spec --data data --epochs 1");
    unsetenv("CLGRAD_MEMORY_LIMIT");
    EXPECT(1);
    assert_contains(out, "(not even a batch of 1 fits)");
    setenv("CLGRAD_MEMORY_LIMIT", "lots", 1);
    train("mlp.spec --data data --epochs 1");
    unsetenv("CLGRAD_MEMORY_LIMIT");
    EXPECT(2);
    assert_contains(out, "CLGRAD_MEMORY_LIMIT='lots' is not a size");
}

/* Data that does not fit the model shows before training: test labels,
 * image shapes (naming the data), normalisation values, a spec that is a
 * directory. */
/* CSV from the command line: named classes in the confusion matrix, the
 * label column by name or index. */
static void test_csv_trains_with_named_classes(void **state)
{
    (void)state;
    char csv[16384];
    int n = snprintf(csv, sizeof csv, "a,b,kind,c\n");
    uint32_t seed = 9;
    const char *names[] = {"cat", "dog", "emu"};
    for (int i = 0; i < 240; i++) {
        int c = i % 3;
        n += snprintf(csv + n, sizeof csv - (size_t)n, "%.3f,%.3f,%s,%.3f\n",
                      (c == 0 ? 2.0 : 0.0) + test_random(&seed),
                      (c == 1 ? 2.0 : 0.0) + test_random(&seed), names[c],
                      (c == 2 ? 2.0 : 0.0) + test_random(&seed));
    }
    write_file("kinds.csv", csv, (size_t)n);
    const char *spec = "input 3\nlinear 8\nrelu\nlinear 3\n";
    write_file("csv.spec", spec, strlen(spec));
    train(
        "csv.spec --csv kinds.csv --test-csv kinds.csv --label-column kind --epochs 40 "
        "--lr 0.01 --quiet");
    EXPECT(0);
    assert_contains(out, "cat ");
    assert_contains(out, "columns: 0 cat, 1 dog, 2 emu");
    assert_true(test_accuracy() > 0.95f);
    train("csv.spec --csv kinds.csv --label-column 2 --epochs 1 --quiet");
    EXPECT(0);
    train("csv.spec --csv kinds.csv --epochs 1 --quiet"); /* the last column: numbers */
    EXPECT(2);
    assert_contains(out, "kinds.csv");
}

/* --data cifar10:DIR: CIFAR's binary batches, classes named from
 * batches.meta.txt in the confusion matrix. */
static void test_cifar10_batches_train_with_named_classes(void **state)
{
    (void)state;
    static unsigned char batch[8 * 3073];
    shell("mkdir -p cifar");
    const char *files[] = {"cifar/data_batch_1.bin", "cifar/data_batch_2.bin",
                           "cifar/data_batch_3.bin", "cifar/data_batch_4.bin",
                           "cifar/data_batch_5.bin", "cifar/test_batch.bin"};
    for (int f = 0; f < 6; f++) {
        for (int r = 0; r < 8; r++) { /* class c: plane c % 3 bright */
            int c = (f * 8 + r) % 10;
            batch[r * 3073] = (unsigned char)c;
            for (int i = 0; i < 3072; i++)
                batch[r * 3073 + 1 + i] =
                    (unsigned char)(i / 1024 == c % 3 ? 200 + c : 20);
        }
        write_file(files[f], batch, sizeof batch);
    }
    const char *names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\n"
                        "ship\ntruck\n";
    write_file("cifar/batches.meta.txt", names, strlen(names));
    const char *spec = "input 3 32 32\nflatten\nlinear 10\n";
    write_file("cifar.spec", spec, strlen(spec));
    train("cifar.spec --data cifar10:cifar --epochs 1 --batch-size 8 --quiet");
    EXPECT(0);
    assert_contains(out, "test: loss");
    assert_contains(out, "airplane ");
    assert_contains(out, "9 truck");
}

/* --images / --test-images: a folder per class of PNGs trains, the classes
 * named; another model size takes --resize. */
static void test_image_folders_train_with_named_classes(void **state)
{
    (void)state;
    const char *classes[] = {"bag", "shoe", "tee"};
    uint32_t seed = 5;
    for (int split = 0; split < 2; split++)
        for (int c = 0; c < 3; c++) {
            char sub[64];
            snprintf(sub, sizeof sub, "mkdir -p pics/%s/%s", split ? "test" : "train",
                     classes[c]);
            shell("%s", sub);
            for (int i = 0; i < 20; i++) {
                unsigned char px[9 * 8];
                for (int k = 0; k < 72; k++) /* class c: rows 3c .. 3c + 2 bright */
                    px[k] = (unsigned char)((k / 8) / 3 == c ? 200 : 20) +
                            (unsigned char)(30 * test_random(&seed));
                char name[96];
                snprintf(name, sizeof name, "pics/%s/%s/%02d.png",
                         split ? "test" : "train", classes[c], i);
                png_image p;
                memset(&p, 0, sizeof p);
                p.version = PNG_IMAGE_VERSION;
                p.width = 8, p.height = 9, p.format = PNG_FORMAT_GRAY;
                assert_true(png_image_write_to_file(&p, at(name), 0, px, 0, NULL));
            }
        }
    const char *spec = "input 1 9 8\nflatten\nlinear 16\nrelu\nlinear 3\n";
    write_file("pics.spec", spec, strlen(spec));
    train("pics.spec --images pics/train --test-images pics/test --epochs 30 --lr 0.01 "
          "--quiet");
    EXPECT(0);
    assert_contains(out, "columns: 0 bag, 1 shoe, 2 tee");
    assert_true(test_accuracy() > 0.95f);
    const char *big = "input 3 18 16\nflatten\nlinear 3\n";
    write_file("pics3.spec", big, strlen(big));
    train("pics3.spec --images pics/train --resize bilinear --epochs 1 --quiet");
    EXPECT(0);
    train("pics3.spec --images pics/train --epochs 1 --quiet");
    EXPECT(2);
    assert_contains(out, "is 8 x 9 pixels, the model's input 16 x 18");
}

static void test_data_problems_show_before_training(void **state)
{
    (void)state;
    char sub[700];
    snprintf(sub, sizeof sub, "%s/mixed", dir);
    mkdir(sub, 0777);
    write_dataset("mixed/train", 300, 3, 5);
    write_dataset("mixed/t10k", 80, 4, 6); /* a class the model lacks */
    write_file("three.spec", "input 1 8 8\nflatten\nlinear 3\n", 29);
    train("three.spec --data mixed --epochs 2");
    EXPECT(2);
    assert_contains(out, "test data (mixed): the data has 4 classes, the model's "
                         "output has 3");
    assert_true(strstr(out, "epoch 1/") == NULL);
    write_file("nine.spec", "input 1 9 9\nflatten\nlinear 4\n", 29);
    train("nine.spec --data data --epochs 1");
    EXPECT(2);
    assert_contains(out, "training data (data): the data's samples are [1,8,8], the "
                         "model's input is [1,9,9]");
    train("mlp.spec --data data --normalize nan,1");
    EXPECT(2);
    assert_contains(out, "--normalize: 'nan,1' is not auto, none, MEAN,STD (a finite "
                         "MEAN");
    train("mlp.spec --data data --normalize '0.1,0.2;0.3,0.4'");
    EXPECT(2);
    assert_contains(out,
                    "--normalize: '0.1,0.2;0.3,0.4' gives 2 channels, the data has 1");
    train("data --data data");
    EXPECT(2);
    assert_contains(out, "data: is a directory, not a file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trains_and_reports_the_test_set),
        cmocka_unit_test(test_bad_usage_exits_2_with_one_clear_line),
        cmocka_unit_test(test_spec_errors_name_file_and_line),
        cmocka_unit_test(test_every_flag_group_runs),
        cmocka_unit_test(test_checkpoint_round_trip_and_evaluate),
        cmocka_unit_test(test_resume_matches_an_uninterrupted_run),
        cmocka_unit_test(test_pytorch_state_dict_loads_and_predicts_like_pytorch),
        cmocka_unit_test(test_kill_during_saves_leaves_a_whole_checkpoint),
        cmocka_unit_test(test_freeze_and_replace_head),
        cmocka_unit_test(test_divergence_exits_1_keeping_the_last_good_checkpoint),
        cmocka_unit_test(test_checkpoints_that_do_not_fit_are_refused),
        cmocka_unit_test(test_output_paths_and_writes_are_checked),
        cmocka_unit_test(test_device_memory_is_checked_before_training),
        cmocka_unit_test(test_data_problems_show_before_training),
        cmocka_unit_test(test_csv_trains_with_named_classes),
        cmocka_unit_test(test_cifar10_batches_train_with_named_classes),
        cmocka_unit_test(test_image_folders_train_with_named_classes),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
