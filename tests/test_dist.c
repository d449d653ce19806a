/* Data parallelism in one process: ranks as threads, each with its own
 * context, model and shard of every batch. Two ranks at batch B/2 give the
 * losses and weights of one rank at batch B (SGD and Adam, an MLP and a CNN
 * without batch norm, 20 steps), the same bits from run to run, and a rank
 * that fails ends the others' training with an error naming it. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/clock.h"
#include "test_util.h"

enum { STEPS = 20, BATCH = 16, MAX_RANKS = 4, MAX_VALUES = 4096 };

/* Images [1, 8, 8] of 4 classes: class c lights row 2c. */
static clg_dataset *images(int n, uint32_t seed)
{
    clg_dataset *d;
    assert_ok(clg_dataset_create(n, 3, (int[]){1, 8, 8}, true, &d));
    for (int i = 0; i < n; i++) {
        d->labels[i] = i % 4;
        for (int k = 0; k < 64; k++)
            d->x[i * 64 + k] =
                (k / 8 == 2 * (i % 4) ? 1.0f : 0.0f) + 0.3f * test_random(&seed);
    }
    d->classes = 4;
    return d;
}

typedef struct job {
    int ranks;
    bool cnn, adam;
    bool poison_rank1; /* rank 1's data holds a NaN */
    bool rank1_absent; /* rank 1 never trains */
    bool rank1_drifts; /* rank 1 nudges a weight of its own after step 3 */
    int samples;       /* 0: 160 */
    size_t bucket_bytes;
    bool after;     /* sum after the backward pass */
    bool bn;        /* the CNN with batch norm */
    bool dropout;   /* the MLP with 15 hidden units and dropout */
    bool sync;      /* synchronised batch norm */
    int sync_every; /* clg_fit_opts.sync_every */
    /* results */
    float losses[STEPS];
    float weights[MAX_VALUES]; /* rank 0's, every tensor in order */
    size_t nweights;
    clg_status status[MAX_RANKS];
    char error[MAX_RANKS][512];
} job;

typedef struct rank_arg {
    job *j;
    clg_comm *comm;
    int rank;
    int steps;
    clg_model *m;
} rank_arg;

static bool on_step(const clg_step_info *s, void *user)
{
    rank_arg *a = user;
    if (a->rank == 0 && s->step >= 1 && s->step <= STEPS)
        a->j->losses[s->step - 1] = s->loss;
    if (a->j->rank1_drifts && a->rank == 1 && s->step == 3) {
        clg_tensor *w = clg_model_tensor(a->m, 0);
        float v;
        clg_tensor_download(w, &v, 1);
        v += 1e-3f;
        clg_tensor_upload(w, &v, 1);
    }
    return true;
}

static void *train_rank(void *arg)
{
    rank_arg *a = arg;
    job *j = a->j;
    clg_status s = CLG_OK;
    if (j->rank1_absent && a->rank == 1)
        return NULL;
    clg_context *ctx = NULL;
    clg_model *m = NULL;
    clg_optimizer *opt = NULL;
    clg_loader *l = NULL;
    clg_dataset *d = images(j->samples ? j->samples : 160, 11);
    if (j->poison_rank1 && a->rank == 1)
        d->x[3 * 64 + 5] = NAN;
    int dev, count = 0;
    s = clg_device_select(NULL, &dev);
    /* Several devices (POCL_DEVICES="pthread pthread"): a rank each. */
    if (s == CLG_OK && clg_device_count(&count) == CLG_OK && count > 1)
        dev = a->rank % count;
    if (s == CLG_OK)
        s = clg_context_create(dev, &ctx);
    clg_model_opts mo = CLG_MODEL_DEFAULTS;
    /* Each rank its own initialisation: rank 0's wins. Dropout masks follow
     * the seed, which the ranks must share. */
    mo.max_batch = BATCH, mo.seed = j->dropout ? 5 : 5 + (uint64_t)a->rank;
    if (s == CLG_OK)
        s = clg_model_create(ctx, &mo, 3, (int[]){1, 8, 8}, &m);
    clg_layer conv = CLG_CONV2D(4, 3);
    conv.padding = 1;
    clg_layer cnn[] = {conv, CLG_RELU(), CLG_MAXPOOL2D(2), CLG_FLATTEN(),
                       CLG_LINEAR(4)};
    clg_layer plain = conv; /* a bias before batch norm only learns noise */
    plain.no_bias = true;
    clg_layer bn[] = {plain,         CLG_BATCHNORM2D(), CLG_RELU(), CLG_MAXPOOL2D(2),
                      CLG_FLATTEN(), CLG_LINEAR(4)};
    clg_layer mlp[] = {CLG_FLATTEN(), CLG_LINEAR(16), CLG_TANH(), CLG_LINEAR(4)};
    clg_layer drop[] = {CLG_FLATTEN(), CLG_LINEAR(15), CLG_TANH(), CLG_DROPOUT(0.3f),
                        CLG_LINEAR(4)};
    const clg_layer *layers = j->bn ? bn : j->cnn ? cnn : j->dropout ? drop : mlp;
    int nlayers = j->bn ? 6 : j->cnn ? 5 : j->dropout ? 5 : 4;
    for (int i = 0; s == CLG_OK && i < nlayers; i++)
        s = clg_model_add(m, layers[i]);
    if (s == CLG_OK)
        s = clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f);
    clg_optim_opts oo = CLG_OPTIM_DEFAULTS;
    if (j->adam)
        oo.type = CLG_OPTIM_ADAM, oo.lr = 0.01;
    else
        oo.lr = 0.1, oo.momentum = 0.9;
    if (s == CLG_OK)
        s = clg_optim_create(clg_model_plan(m), &oo, &opt);
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = BATCH, lo.seed = 3, lo.shard = a->rank, lo.shards = j->ranks;
    if (s == CLG_OK)
        s = clg_loader_create(d, &lo, &l);
    clg_fit_opts fo = CLG_FIT_DEFAULTS;
    fo.epochs = 10, fo.max_steps = STEPS, fo.comm = a->comm, fo.on_step = on_step;
    fo.bucket_bytes = j->bucket_bytes, fo.sum_after_backward = j->after;
    fo.sync_batch_norm = j->sync, fo.sync_every = j->sync_every;
    fo.user = a;
    a->m = m;
    clg_fit_report r;
    if (s == CLG_OK)
        s = clg_fit(m, opt, l, NULL, &fo, &r);
    else
        clg_comm_abort(a->comm, clg_last_error());
    j->status[a->rank] = s;
    snprintf(j->error[a->rank], sizeof j->error[a->rank], "%s",
             s == CLG_OK ? "" : clg_last_error());
    if (s == CLG_OK && a->rank == 0) {
        j->nweights = 0;
        for (int i = 0; i < clg_model_tensor_count(m); i++) {
            clg_tensor *t = clg_model_tensor(m, i);
            assert_ok(
                clg_tensor_download(t, j->weights + j->nweights, clg_tensor_numel(t)));
            j->nweights += clg_tensor_numel(t);
        }
    }
    clg_loader_free(l), clg_optim_free(opt), clg_model_free(m), clg_context_free(ctx);
    clg_dataset_free(d);
    return NULL;
}

static void run(job *j)
{
    clg_comm **comms;
    assert_ok(clg_comm_local_create(j->ranks, &comms));
    pthread_t threads[MAX_RANKS];
    rank_arg args[MAX_RANKS];
    for (int r = 0; r < j->ranks; r++) {
        args[r] = (rank_arg){j, comms[r], r, 0};
        assert_int_equal(pthread_create(&threads[r], NULL, train_rank, &args[r]), 0);
    }
    for (int r = 0; r < j->ranks; r++)
        pthread_join(threads[r], NULL);
    clg_comm_local_free(comms, j->ranks);
}

static void compare(const char *what, const job *one, const job *two)
{
    assert_int_equal(one->status[0], CLG_OK);
    for (int r = 0; r < two->ranks; r++)
        if (two->status[r] != CLG_OK)
            fail_msg("%s: rank %d: %s", what, r, two->error[r]);
    for (int s = 0; s < STEPS; s++)
        if (!(fabsf(one->losses[s] - two->losses[s]) <= 1e-5f * fabsf(one->losses[s])))
            fail_msg("%s: step %d: loss %.8g on one rank, %.8g on %d", what, s + 1,
                     one->losses[s], two->losses[s], two->ranks);
    double scale = 0, worst = 0;
    size_t at = 0;
    assert_int_equal(one->nweights, two->nweights);
    for (size_t i = 0; i < one->nweights; i++) {
        scale = fmax(scale, fabsf(one->weights[i]));
        if (fabsf(one->weights[i] - two->weights[i]) > worst) {
            worst = fabsf(one->weights[i] - two->weights[i]);
            at = i;
        }
    }
    if (!(worst <= 1e-5 * scale))
        print_message("%s: value %zu: %.8g against %.8g\n", what, at, one->weights[at],
                      two->weights[at]);
    print_message("%s: 20 steps, one rank at batch 16 against %d ranks: loss %.6g, "
                  "largest weight difference %.3g (scale %.3g)\n",
                  what, two->ranks, one->losses[STEPS - 1], worst, scale);
    if (!(worst <= 1e-5 * scale))
        fail_msg("%s: the weights of two ranks differ from one rank's by %.3g (scale "
                 "%.3g)",
                 what, worst, scale);
}

static void check_equivalence(bool cnn, bool adam, const char *what)
{
    job *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two),
        *again = calloc(1, sizeof *again);
    *one = (job){.ranks = 1, .cnn = cnn, .adam = adam};
    *two = (job){.ranks = 2, .cnn = cnn, .adam = adam};
    *again = *two;
    run(one);
    run(two);
    compare(what, one, two);
    run(again); /* the same bits, whatever the threads' timing */
    assert_memory_equal(two->weights, again->weights, two->nweights * sizeof(float));
    assert_memory_equal(two->losses, again->losses, sizeof two->losses);
    free(one), free(two), free(again);
}

static void test_two_ranks_sgd_mlp_match_one(void **state)
{
    (void)state;
    check_equivalence(false, false, "SGD MLP");
}
static void test_two_ranks_adam_mlp_match_one(void **state)
{
    (void)state;
    check_equivalence(false, true, "Adam MLP");
}
static void test_two_ranks_sgd_cnn_match_one(void **state)
{
    (void)state;
    check_equivalence(true, false, "SGD CNN");
}
static void test_two_ranks_adam_cnn_match_one(void **state)
{
    (void)state;
    check_equivalence(true, true, "Adam CNN");
}

/* Gradients summed a parameter at a time as backward completes them, or
 * all after it: the same bits as the default (one 25 MB bucket here). */
static void test_bucketed_sums_change_no_bit(void **state)
{
    (void)state;
    job *whole = calloc(1, sizeof *whole), *small = calloc(1, sizeof *small),
        *after = calloc(1, sizeof *after);
    *whole = (job){.ranks = 2, .cnn = true, .adam = true};
    *small = (job){.ranks = 2, .cnn = true, .adam = true, .bucket_bytes = 64};
    *after = (job){.ranks = 2, .cnn = true, .adam = true, .after = true};
    run(whole), run(small), run(after);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(small->status[r], CLG_OK);
        assert_int_equal(after->status[r], CLG_OK);
    }
    assert_memory_equal(whole->weights, small->weights,
                        whole->nweights * sizeof(float));
    assert_memory_equal(whole->weights, after->weights,
                        whole->nweights * sizeof(float));
    free(whole), free(small), free(after);
}

/* The host reading every rank's device every 3 steps: the same bits, and
 * the whole batch's loss (the ranks' tallies summed) at the steps it reads:
 * 3, 6, 9 and 10 of each epoch of 10 batches. */
static void test_sync_every_changes_no_bit(void **state)
{
    (void)state;
    job *each = calloc(1, sizeof *each), *every3 = calloc(1, sizeof *every3);
    *each = (job){.ranks = 2, .adam = true};
    *every3 = (job){.ranks = 2, .adam = true, .sync_every = 3};
    run(each), run(every3);
    for (int r = 0; r < 2; r++)
        assert_int_equal(every3->status[r], CLG_OK);
    assert_memory_equal(each->weights, every3->weights, each->nweights * sizeof(float));
    for (int s = 0; s < STEPS; s++) {
        int in_epoch = s % 10 + 1;
        if (in_epoch % 3 == 0 || in_epoch == 10)
            assert_true(each->losses[s] == every3->losses[s]);
        else
            assert_true(every3->losses[s] == 0.0f); /* no on_step there */
    }
    free(each), free(every3);
}

/* Batch norm synchronised over the ranks: two ranks at batch 8 normalise
 * by the statistics of the whole 16, as one rank does, and end with its
 * weights and running statistics; each rank's own statistics do not. */
static void test_synchronised_batch_norm_matches_one_rank(void **state)
{
    (void)state;
    job *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two),
        *own = calloc(1, sizeof *own);
    *one = (job){.ranks = 1, .bn = true, .adam = true};
    *two = (job){.ranks = 2, .bn = true, .adam = true, .sync = true};
    *own = (job){.ranks = 2, .bn = true, .adam = true};
    run(one), run(two), run(own);
    compare("Adam CNN with synchronised batch norm", one, two);
    double worst = 0;
    for (size_t i = 0; i < one->nweights; i++)
        worst = fmax(worst, fabsf(one->weights[i] - own->weights[i]));
    assert_true(worst > 1e-4); /* per-rank statistics: another training */
    free(one), free(two), free(own);
}

/* Dropout draws, for each rank's samples, the masks the whole batch draws
 * for them: 2 and 3 ranks train as one (with 3, shards start at samples 5
 * and 10: 75 and 150 elements in, not a multiple of Philox's 4). */
static void test_dropout_masks_follow_the_whole_batch(void **state)
{
    (void)state;
    job *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two),
        *three = calloc(1, sizeof *three);
    *one = (job){.ranks = 1, .dropout = true, .adam = true};
    *two = (job){.ranks = 2, .dropout = true, .adam = true};
    *three = (job){.ranks = 3, .dropout = true, .adam = true};
    run(one), run(two), run(three);
    compare("Adam MLP with dropout, 2 ranks", one, two);
    compare("Adam MLP with dropout, 3 ranks", one, three);
    free(one), free(two), free(three);
}

/* Synchronised batch norm needs every rank's samples: a batch of 1 over 3
 * ranks is an error naming the rank, not a hang. */
static void test_synchronised_batch_norm_refuses_an_empty_shard(void **state)
{
    (void)state;
    job *j = calloc(1, sizeof *j);
    *j = (job){.ranks = 3, .bn = true, .sync = true, .samples = 161};
    run(j);
    assert_int_equal(j->status[0], CLG_INVALID_ARGUMENT);
    assert_contains(j->error[0], "synchronised batch norm: rank 0 has no samples of "
                                 "batch 11 (of 1)");
    assert_true(j->status[2] != CLG_OK);
    free(j);
}

/* Three ranks over batches of 16 (shards of 5, 5 and 6 samples), and an
 * epoch's last batch of 1 sample, which leaves ranks 0 and 1 nothing: every
 * shard weighs by its share of the batch. */
static void test_three_uneven_shards_match_one(void **state)
{
    (void)state;
    job *one = calloc(1, sizeof *one), *three = calloc(1, sizeof *three);
    *one = (job){.ranks = 1, .samples = 161};
    *three = (job){.ranks = 3, .samples = 161};
    run(one);
    run(three);
    compare("SGD MLP, 3 ranks", one, three);
    free(one), free(three);
}

static void test_a_failing_rank_stops_the_others(void **state)
{
    (void)state;
    job *j = calloc(1, sizeof *j);
    *j = (job){.ranks = 2, .poison_rank1 = true};
    run(j);
    assert_int_equal(j->status[1], CLG_INVALID_ARGUMENT);
    assert_int_equal(j->status[0], CLG_RANK_FAILED);
    assert_contains(j->error[0],
                    "rank 1 failed: training: sample 3 holds a non-finite");
    free(j);
}

/* Ranks whose weights part (a bug, or a device computing otherwise) are
 * caught at the end of the epoch, by a checksum of every parameter. */
static void test_ranks_whose_weights_differ_are_caught(void **state)
{
    (void)state;
    job *j = calloc(1, sizeof *j);
    *j = (job){.ranks = 2, .rank1_drifts = true};
    run(j);
    assert_int_equal(j->status[0], CLG_INTERNAL);
    assert_contains(j->error[0], "after epoch 1 rank 1's weights differ from rank 0's");
    free(j);
}

static void test_a_missing_rank_times_out(void **state)
{
    (void)state;
    setenv("CLGRAD_COMM_TIMEOUT", "2", 1);
    job *j = calloc(1, sizeof *j);
    *j = (job){.ranks = 2, .rank1_absent = true};
    run(j);
    unsetenv("CLGRAD_COMM_TIMEOUT");
    assert_int_equal(j->status[0], CLG_RANK_FAILED);
    assert_contains(j->error[0], "rank 0 waited 2 s for the other ranks");
    free(j);
}

/* A timeout of a fraction of a second waits that long; one that is not a
 * number of seconds in range is refused by name, not taken as 600. */
static void test_comm_timeout_is_parsed_strictly(void **state)
{
    (void)state;
    setenv("CLGRAD_COMM_TIMEOUT", "0.5", 1);
    job *j = calloc(1, sizeof *j);
    *j = (job){.ranks = 2, .rank1_absent = true};
    double start = clg_now_seconds();
    run(j);
    double waited = clg_now_seconds() - start;
    assert_int_equal(j->status[0], CLG_RANK_FAILED);
    assert_contains(j->error[0], "rank 0 waited 0.5 s for the other ranks");
    assert_true(waited >= 0.45 && waited < 30);
    free(j);
    const char *bad[] = {"0", "-1", "abc", "nan", "1e999", "1e19", "5s", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("CLGRAD_COMM_TIMEOUT", bad[i], 1);
        clg_comm **c = NULL;
        if (clg_comm_local_create(2, &c) != CLG_INVALID_ARGUMENT)
            fail_msg("CLGRAD_COMM_TIMEOUT=%s was taken", bad[i]);
        assert_null(c);
        assert_contains(clg_last_error(), "CLGRAD_COMM_TIMEOUT=");
        assert_contains(clg_last_error(), bad[i]);
    }
    unsetenv("CLGRAD_COMM_TIMEOUT");
}

static void test_collectives_sum_in_rank_order(void **state)
{
    (void)state;
    clg_comm **c;
    assert_ok(clg_comm_local_create(1, &c));
    float v[3] = {1, 2, 3};
    assert_ok(clg_comm_allreduce_sum(c[0], v, 3));
    assert_float_equal(v[2], 3.0f, 0.0f);
    assert_int_equal(clg_comm_size(c[0]), 1);
    assert_string_equal(clg_comm_kind(c[0]), "threads");
    clg_comm_local_free(c, 1);
    assert_int_equal(clg_comm_local_create(0, &c), CLG_INVALID_ARGUMENT);
    if (!clg_comm_mpi_built()) {
        clg_comm *mpi;
        assert_int_equal(clg_comm_mpi_create(&mpi), CLG_UNSUPPORTED);
        assert_contains(clg_last_error(), "built without MPI");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collectives_sum_in_rank_order),
        cmocka_unit_test(test_two_ranks_sgd_mlp_match_one),
        cmocka_unit_test(test_two_ranks_adam_mlp_match_one),
        cmocka_unit_test(test_two_ranks_sgd_cnn_match_one),
        cmocka_unit_test(test_two_ranks_adam_cnn_match_one),
        cmocka_unit_test(test_three_uneven_shards_match_one),
        cmocka_unit_test(test_bucketed_sums_change_no_bit),
        cmocka_unit_test(test_sync_every_changes_no_bit),
        cmocka_unit_test(test_dropout_masks_follow_the_whole_batch),
        cmocka_unit_test(test_synchronised_batch_norm_matches_one_rank),
        cmocka_unit_test(test_synchronised_batch_norm_refuses_an_empty_shard),
        cmocka_unit_test(test_a_failing_rank_stops_the_others),
        cmocka_unit_test(test_ranks_whose_weights_differ_are_caught),
        cmocka_unit_test(test_a_missing_rank_times_out),
        cmocka_unit_test(test_comm_timeout_is_parsed_strictly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
