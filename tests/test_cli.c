/* clgrad-train, driven as a user would: spec files, flag groups, checkpoints,
 * resume, PyTorch interop, atomic saves under kill -9, and fine-tuning. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static char dir[] = "/tmp/clgrad-cli-XXXXXX";
static char out[1 << 16];
static int status;

static const char *at(const char *name)
{
    static char path[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* Runs a shell command line in the test directory; output and status in
 * `out` and `status`. */
static void run_line(const char *line)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && (%s) 2>&1", dir, line);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs clgrad-train with `args` (a shell fragment). */
static void train(const char *fmt, ...)
{
    char args[3000], line[3600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "'%s' %s", getenv("CLGRAD_TRAIN_BIN"), args);
    run_line(line);
}

/* Runs any shell command line. */
static void shell(const char *fmt, ...)
{
    char line[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    run_line(line);
}

#define EXPECT(code)                                                                   \
    do {                                                                               \
        if (status != (code))                                                          \
            fail_msg("expected exit %d, got %d:\n%s", code, status, out);              \
    } while (0)

static void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(at(name), "wb");
    assert_non_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

/* IDX images [n, 8, 8] where class c lights row 2c (plus noise), and labels. */
static void write_dataset(const char *prefix, int n, int classes, uint32_t seed)
{
    size_t len = 16 + (size_t)n * 64;
    unsigned char *img = malloc(len), lab[8 + 4096];
    unsigned char head[16] = {
        0, 0, 8, 3, 0, 0, (unsigned char)(n >> 8), (unsigned char)n, 0, 0,
        0, 8, 0, 0, 0, 8};
    memcpy(img, head, 16);
    unsigned char lh[8] = {0, 0, 8, 1, 0, 0, (unsigned char)(n >> 8), (unsigned char)n};
    memcpy(lab, lh, 8);
    for (int i = 0; i < n; i++) {
        int c = i % classes;
        lab[8 + i] = (unsigned char)c;
        for (int k = 0; k < 64; k++) {
            float v = (k / 8 == 2 * c ? 200.0f : 20.0f) + 30.0f * test_random(&seed);
            img[16 + (size_t)i * 64 + k] = (unsigned char)(v < 0     ? 0
                                                           : v > 255 ? 255
                                                                     : v);
        }
    }
    char name[128];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    write_file(name, img, len);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    write_file(name, lab, 8 + (size_t)n);
    free(img);
}

static const char *MLP =
    "input 1 8 8\nflatten\nlinear 16\nrelu\ndropout 0.2\nlinear 4\n";
static const char *CNN =
    "input 1 8 8\nconv2d 4 3 padding=1 bias=false\nbatchnorm2d\nrelu\n"
    "maxpool2d 2\nflatten\nlinear 4\n";

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    char sub[700];
    snprintf(sub, sizeof sub, "%s/data", dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/three", dir);
    mkdir(sub, 0777);
    write_dataset("data/train", 400, 4, 1);
    write_dataset("data/t10k", 100, 4, 2);
    write_dataset("three/train", 300, 3, 3); /* classes 0-2 only */
    write_dataset("three/t10k", 60, 3, 4);
    write_file("mlp.spec", MLP, strlen(MLP));
    write_file("cnn.spec", CNN, strlen(CNN));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("KEEP"))
        return 0;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

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
         "(options: stride, padding, dilation, bias)"},
        {"input 1 8 8\nconv2d four 3\n",
         "bad.spec:2: conv2d: 'four' is not a valid out_channels"},
        {"input 1 8 8\nconv2d 4\n", "bad.spec:2: conv2d: missing kernel"},
        {"flatten\nlinear 4\n", "bad.spec:1: the first line must be the input"},
        {"input 1 8 8\nresidual\nrelu\n", "bad.spec:2: residual block is never closed"},
        {"input 1 8 8\nend\n", "bad.spec:2: end without a residual block"},
        {"# only a comment\n", "no input line"},
        {"input 1 8 8\nlinear 4 bias=maybe\n",
         "bad.spec:2: linear: bad value 'maybe' for bias"},
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
        "--init xavier_uniform --loss cross_entropy --batch-size 50 --quiet",
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
    setenv("CLGRAD_MEMORY_LIMIT", "24K", 1);
    train("mlp.spec --data data --epochs 1 --batch-size 400");
    unsetenv("CLGRAD_MEMORY_LIMIT");
    EXPECT(1);
    assert_contains(out, "it may use (CLGRAD_MEMORY_LIMIT)");
    assert_true(strstr(out, "epoch 1/") == NULL);
    setenv("CLGRAD_MEMORY_LIMIT", "lots", 1);
    train("mlp.spec --data data --epochs 1");
    unsetenv("CLGRAD_MEMORY_LIMIT");
    EXPECT(2);
    assert_contains(out, "CLGRAD_MEMORY_LIMIT='lots' is not a size");
}

/* Data that does not fit the model shows before training: test labels,
 * image shapes (naming the data), normalisation values, a spec that is a
 * directory. */
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
    assert_contains(out, "--normalize: 'nan,1' is not auto, none or MEAN,STD (a finite "
                         "MEAN");
    train("data --data data");
    EXPECT(2);
    assert_contains(out, "data: is a directory, not a file");
}

/* ---- Text models ----------------------------------------------------------- */

/* Sentences from a small grammar: text with something to learn. */
static void write_text(const char *name, int sentences, uint32_t seed)
{
    static const char *subject[] = {"the cat", "a dog", "my bird", "the fox"};
    static const char *verb[] = {"sat on", "ran to", "looked at", "slept by"};
    static const char *object[] = {"the mat", "a tree", "the door", "my bed"};
    FILE *f = fopen(at(name), "w");
    assert_non_null(f);
    for (int i = 0; i < sentences; i++) {
        int a = (int)((test_random(&seed) + 1) * 2) & 3,
            b = (int)((test_random(&seed) + 1) * 2) & 3,
            c = (int)((test_random(&seed) + 1) * 2) & 3;
        fprintf(f, "%s %s %s.\n", subject[a], verb[b], object[c]);
    }
    fclose(f);
}

static const char gpt_spec[] = "input tokens 16\n"
                               "tokpos 32 32\n"
                               "block 32 4\n"
                               "layernorm\n"
                               "linear 32\n";

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

/* ---- Data parallelism ----------------------------------------------------- */

/* The largest difference between the weights of two checkpoints, relative
 * to the largest weight. */
static double checkpoint_distance(const char *a, const char *b)
{
    clg_checkpoint *x, *y;
    assert_ok(clg_checkpoint_read(at(a), &x));
    assert_ok(clg_checkpoint_read(at(b), &y));
    double worst = 0, scale = 0;
    int compared = 0;
    for (int i = 0; i < clg_checkpoint_count(x); i++) {
        const char *name = clg_checkpoint_name(x, i);
        if (strcmp(clg_checkpoint_dtype(x, i), "F32") || !strncmp(name, "optim.", 6))
            continue;
        int j = 0;
        while (j < clg_checkpoint_count(y) && strcmp(clg_checkpoint_name(y, j), name))
            j++;
        assert_true(j < clg_checkpoint_count(y));
        int64_t shape[8];
        int nd = clg_checkpoint_shape(x, i, shape);
        size_t n = 1;
        for (int k = 0; k < nd; k++)
            n *= (size_t)shape[k];
        float *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v);
        assert_ok(clg_checkpoint_floats(x, i, u, n));
        assert_ok(clg_checkpoint_floats(y, j, v, n));
        for (size_t k = 0; k < n; k++) {
            scale = fmax(scale, fabsf(u[k]));
            worst = fmax(worst, fabsf(u[k] - v[k]));
        }
        free(u), free(v);
        compared++;
    }
    assert_true(compared > 0);
    clg_checkpoint_free(x), clg_checkpoint_free(y);
    return worst / (scale > 0 ? scale : 1);
}

static const char *MLP_PLAIN = "input 1 8 8\nflatten\nlinear 16\ntanh\nlinear 4\n";
#define DP_FLAGS                                                                       \
    "plain.spec --data data --epochs 1 --steps 20 --batch-size 16 --optimizer adam "   \
    "--lr 0.01 --quiet"

/* Two devices (here: device 0 twice, two contexts) at batch 8 each train as
 * one device at batch 16 does. */
static void test_two_devices_train_as_one(void **state)
{
    (void)state;
    write_file("plain.spec", MLP_PLAIN, strlen(MLP_PLAIN));
    train(DP_FLAGS " --save one.safetensors");
    EXPECT(0);
    train(DP_FLAGS " --devices 0,0 --save two.safetensors");
    EXPECT(0);
    double d = checkpoint_distance("one.safetensors", "two.safetensors");
    print_message("--devices 0,0 against one device: %.3g relative\n", d);
    if (!(d <= 1e-5))
        fail_msg("two devices end %.3g (relative) from one", d);
    shell("CLGRAD_DEVICE=0,0 '%s' " DP_FLAGS " --save env.safetensors",
          getenv("CLGRAD_TRAIN_BIN"));
    EXPECT(0);
    assert_true(checkpoint_distance("two.safetensors", "env.safetensors") == 0.0);
    /* Unequal shares of each batch (devices of different speeds): the same
     * gradient, so the same weights. */
    train(DP_FLAGS " --devices 0,0 --device-weights 3,1 --save weighted.safetensors");
    EXPECT(0);
    d = checkpoint_distance("one.safetensors", "weighted.safetensors");
    if (!(d <= 1e-5))
        fail_msg("devices weighted 3:1 end %.3g (relative) from one", d);
    /* Batch norm synchronised over the devices: as one device, statistics
     * included. */
    train("cnn.spec --data data --epochs 1 --steps 20 --batch-size 16 --optimizer adam "
          "--lr 0.01 --quiet --save cnn1.safetensors");
    EXPECT(0);
    train("cnn.spec --data data --epochs 1 --steps 20 --batch-size 16 --optimizer adam "
          "--lr 0.01 --quiet --devices 0,0 --sync-bn --save cnn2.safetensors");
    EXPECT(0);
    d = checkpoint_distance("cnn1.safetensors", "cnn2.safetensors");
    print_message("--sync-bn on two devices against one: %.3g relative\n", d);
    if (!(d <= 1e-5))
        fail_msg("two devices with --sync-bn end %.3g (relative) from one", d);
        /* Resuming with the same devices continues where the run stopped. */
#define RESUME_FLAGS                                                                   \
    "plain.spec --data data --batch-size 16 --optimizer adam --lr 0.01 --quiet"
    train(RESUME_FLAGS " --epochs 2 --save whole.safetensors");
    EXPECT(0);
    train(RESUME_FLAGS " --epochs 1 --devices 0,0 --save half.safetensors");
    EXPECT(0);
    train(RESUME_FLAGS " --epochs 2 --devices 0,0 --resume half.safetensors "
                       "--save resumed.safetensors");
    EXPECT(0);
    d = checkpoint_distance("whole.safetensors", "resumed.safetensors");
    if (!(d <= 1e-5))
        fail_msg("two devices resumed end %.3g (relative) from one device's 2 epochs",
                 d);
    train(DP_FLAGS " --devices 0,0 --device-weights 3,1,1");
    EXPECT(2);
    assert_contains(out, "--device-weights: 3 weights for 2 devices");
    train(DP_FLAGS " --devices 0,9");
    EXPECT(2);
    assert_contains(out, "9");
    train(DP_FLAGS " --devices 0,0 --device 0");
    EXPECT(2);
    assert_contains(out, "--device and --devices do not mix");
}

/* mpirun from Debian's openmpi-bin, as root too; NULL where absent. */
static const char *mpirun(void)
{
    static char cmd[600];
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        return NULL;
    snprintf(cmd, sizeof cmd,
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
             "OMPI_MCA_btl=self,vader "
             "timeout 120 mpirun --oversubscribe");
    return cmd;
}

static void test_mpi_ranks_train_as_one_process(void **state)
{
    (void)state;
    if (!clg_comm_mpi_built() || !mpirun()) {
        print_message("skipped: %s\n",
                      clg_comm_mpi_built() ? "no mpirun" : "built without MPI");
        skip();
    }
    const char *bin = getenv("CLGRAD_TRAIN_BIN");
    write_file("plain.spec", MLP_PLAIN, strlen(MLP_PLAIN));
    train(DP_FLAGS " --save one.safetensors");
    EXPECT(0);
    shell("%s -np 2 '%s' " DP_FLAGS " --save mpi.safetensors", mpirun(), bin);
    EXPECT(0);
    double d = checkpoint_distance("one.safetensors", "mpi.safetensors");
    print_message("2 MPI ranks against one process: %.3g relative\n", d);
    if (!(d <= 1e-5))
        fail_msg("2 MPI ranks end %.3g (relative) from one process:\n%s", d, out);
    /* Flags that differ between ranks: exit 2 naming them. */
    shell("%s -np 1 '%s' " DP_FLAGS " : -np 1 '%s' " DP_FLAGS " --lr 0.02", mpirun(),
          bin, bin);
    EXPECT(2);
    assert_contains(out, "rank 1 was started with other flags than rank 0");
    /* The same flags, another spec in rank 1's directory. */
    mkdir(at("r0"), 0777), mkdir(at("r1"), 0777);
    shell("cp plain.spec r0/ && cp -r data r0/ && cp -r data r1/ && "
          "sed 's/linear 16/linear 17/' plain.spec > r1/plain.spec");
    shell("%s -np 1 -wdir r0 '%s' " DP_FLAGS " : -np 1 -wdir r1 '%s' " DP_FLAGS,
          mpirun(), bin, bin);
    EXPECT(2);
    assert_contains(out, "rank 1's model spec plain.spec differs from rank 0's");
    /* A rank killed mid-training ends the job with an error, not a hang (the
     * ranks' command lines start with the binary; mpirun's does not). */
    shell("%s -np 2 '%s' plain.spec --data data --epochs 100000 --batch-size 16 "
          "--quiet & "
          "sleep 4; pkill -9 -n -f '^%s'; wait $!; echo \"mpirun exit $?\"",
          mpirun(), bin, bin);
    assert_contains(out, "exited on signal 9");
    assert_contains(out, "mpirun exit ");
    assert_true(strstr(out, "mpirun exit 0") == NULL);
    assert_true(strstr(out, "mpirun exit 124") == NULL); /* timeout: a hang */
    /* A rank that stops answering (SIGSTOP: alive, silent) ends the job
     * within CLGRAD_COMM_TIMEOUT, the waiting rank naming the collective. */
    shell(
        "CLGRAD_COMM_TIMEOUT=3 %s -x CLGRAD_COMM_TIMEOUT -np 2 '%s' plain.spec --data "
        "data --epochs 100000 --batch-size 16 --quiet & "
        "sleep 4; pkill -STOP -n -f '^%s'; start=$(date +%%s); wait $!; "
        "echo \"mpirun exit $? after $(( $(date +%%s) - start )) s\"",
        mpirun(), bin, bin);
    assert_contains(out, "waited 3 s for the other ranks at a gradient sum "
                         "(CLGRAD_COMM_TIMEOUT): one of them stopped answering");
    assert_true(strstr(out, "mpirun exit 0") == NULL);
    assert_true(strstr(out, "mpirun exit 124") == NULL); /* timeout: a hang */
    int waited = -1;
    const char *after = strstr(out, " after ");
    assert_true(after && sscanf(after, " after %d s", &waited) == 1 && waited < 30);
    shell("pkill -9 -f '^%s' ; true", bin); /* a stopped rank mpirun left */
    /* --devices is for one process; generation runs once, on rank 0 */
    shell("%s -np 2 '%s' " DP_FLAGS " --devices 0,0", mpirun(), bin);
    EXPECT(2);
    assert_contains(out, "--devices and MPI ranks do not mix");
    write_text("mpi.txt", 50, 4);
    write_file("gpt.spec", gpt_spec, strlen(gpt_spec));
    train("gpt.spec --text mpi.txt --epochs 1 --batch-size 8 --quiet --save mpigpt.st");
    EXPECT(0);
    shell("%s -np 2 '%s' --generate 40 --init-from mpigpt.st --seed 2 --prompt 'the '",
          mpirun(), bin);
    EXPECT(0);
    static char once[sizeof out];
    snprintf(once, sizeof once, "%s", out);
    train("--generate 40 --init-from mpigpt.st --seed 2 --prompt 'the '");
    EXPECT(0);
    assert_string_equal(once, out); /* the same text, printed once */
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
        cmocka_unit_test(test_text_model_trains_saves_and_generates_repeatably),
        cmocka_unit_test(test_outputs_never_replace_devices_links_or_inputs),
        cmocka_unit_test(test_gpt2_directory_evaluates_generates_and_fine_tunes),
        cmocka_unit_test(test_text_usage_errors_exit_2),
        cmocka_unit_test(test_pytorch_gpt_state_dict_evaluates_on_text),
        cmocka_unit_test(test_two_devices_train_as_one),
        cmocka_unit_test(test_mpi_ranks_train_as_one_process),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
