/* clgrad-train on several devices (threads) and MPI ranks: the same
 * training as one device, and ranks that disagree or stop. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"

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
        cmocka_unit_test(test_two_devices_train_as_one),
        cmocka_unit_test(test_mpi_ranks_train_as_one_process),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
