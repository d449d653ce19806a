/* Every op, forward against a double-precision host reference and backward
 * against central differences of that reference, on small odd shapes (7, 13)
 * that do not divide work-group sizes, at the full and at a partial batch. */
#include <math.h>
#include <stdlib.h>

#include "op_case.h"
#include "test_util.h"

#define NCASES ((size_t)op_case_count)

static bool batched(const input_spec *s)
{
    return s->kind == IN_X || s->kind >= IN_ID;
}

typedef struct host_case {
    const op_case *c;
    ref_tensor in[5];
    ref_tensor y; /* output shape at the run batch */
    double *r;    /* weights R of the scalar L = sum(y * R) */
    double *out;
} host_case;

static double host_loss(host_case *h)
{
    h->c->ref(h->c, h->in, &h->y, h->out);
    double L = 0;
    for (size_t i = 0; i < ref_numel(&h->y); i++)
        L += h->out[i] * h->r[i];
    return L;
}

static float random_value(const input_spec *s, uint32_t *seed, int i)
{
    if (s->kind == IN_ID)
        return (float)((uint32_t)(test_random(seed) * 1e6f + 1e6f) %
                       (uint32_t)s->limit);
    if (s->kind == IN_S)
        return i == 2 ? 1.0f : 0.0f; /* running mean 0, running var 1 */
    if (s->kind == IN_TARGET)
        return 0.5f * (test_random(seed) + 1.0f); /* in [0, 1) for BCE */
    return test_random(seed);
}

static void check_case(clg_context *ctx, const op_case *c)
{
    clg_graph *g;
    assert_ok(clg_graph_create(ctx, &g));
    clg_tensor *in[5] = {0};
    host_case h = {.c = c};
    int planned = 0, run;
    uint32_t seed = 7;
    for (int k = 0; k < c->nin; k++) {
        const input_spec *s = &c->in[k];
        if (batched(s))
            in[k] = clg_input(g, NULL, s->kind == IN_ID ? CLG_INT32 : CLG_FLOAT32,
                              s->ndim, s->shape);
        else if (s->kind == IN_P)
            in[k] = clg_parameter(g, NULL, s->ndim, s->shape);
        else
            in[k] = clg_state(g, NULL, s->ndim, s->shape, 0.0f);
        if (s->kind == IN_X)
            clg_tensor_set_requires_grad(in[k], true);
        if (batched(s))
            planned = s->shape[0];
    }
    run = c->batch ? c->batch : planned;
    clg_tensor *y = c->build(g, in, c);
    assert_ok(clg_graph_status(g));
    bool y_batched = planned && !c->unbatched && clg_tensor_dim(y, 0) == planned;
    int yshape[4];
    for (int i = 0; i < clg_tensor_ndim(y); i++)
        yshape[i] = clg_tensor_dim(y, i);
    clg_tensor *R = y_batched
                        ? clg_input(g, "R", CLG_FLOAT32, clg_tensor_ndim(y), yshape)
                        : clg_state(g, "R", clg_tensor_ndim(y), yshape, 0.0f);
    clg_tensor *loss = clg_sum(g, clg_mul(g, y, R), -1);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, &y, 1, &plan));

    /* Host copies at the run batch, and the uploads. */
    for (int k = 0; k < c->nin; k++) {
        const input_spec *s = &c->in[k];
        ref_tensor *t = &h.in[k];
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        if (batched(s))
            t->shape[0] = run;
        size_t n = ref_numel(t);
        t->v = malloc(n * sizeof(double));
        float *f = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            f[i] = random_value(s, &seed, k);
            t->v[i] = f[i];
        }
        if (s->kind == IN_ID) {
            int32_t *ids = malloc(n * sizeof *ids);
            for (size_t i = 0; i < n; i++)
                ids[i] = (int32_t)f[i];
            assert_ok(clg_tensor_upload(in[k], ids, n));
            free(ids);
        } else {
            assert_ok(clg_tensor_upload(in[k], f, n));
        }
        free(f);
    }
    h.y.ndim = clg_tensor_ndim(y);
    memcpy(h.y.shape, yshape, sizeof yshape);
    if (y_batched)
        h.y.shape[0] = run;
    size_t ny = ref_numel(&h.y);
    h.r = malloc(ny * sizeof(double));
    h.out = malloc(ny * sizeof(double));
    float *fr = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++)
        h.r[i] = fr[i] = test_random(&seed);
    assert_ok(clg_tensor_upload(R, fr, ny));

    assert_ok(clg_plan_run(plan, run, CLG_RUN_TRAIN));
    assert_ok(clg_plan_read(plan, y, got, ny));
    host_loss(&h);
    for (size_t i = 0; i < ny; i++)
        if (!(fabs(got[i] - h.out[i]) <= 2e-4 * (1 + fabs(h.out[i]))))
            fail_msg("%s: forward[%zu] = %.7g, reference %.7g", c->name, i, got[i],
                     h.out[i]);

    for (int k = 0; k < c->nin; k++) {
        if (c->in[k].kind != IN_X && c->in[k].kind != IN_P)
            continue;
        ref_tensor *t = &h.in[k];
        size_t n = ref_numel(t);
        float *grad = malloc(n * sizeof(float));
        assert_ok(clg_plan_read_grad(plan, in[k], grad, n));
        for (size_t i = 0; i < n; i++) {
            const double step = 1e-6, keep = t->v[i];
            t->v[i] = keep + step;
            double up = host_loss(&h);
            t->v[i] = keep - step;
            double down = host_loss(&h);
            t->v[i] = keep;
            double num = (up - down) / (2 * step);
            if (!(fabs(grad[i] - num) <= 1e-3 * (1 + fabs(num))))
                fail_msg("%s: d/d input %d [%zu] = %.7g, finite difference %.7g",
                         c->name, k, i, grad[i], num);
        }
        free(grad);
    }
    for (int k = 0; k < c->nin; k++)
        free(h.in[k].v);
    free(h.r), free(h.out), free(fr), free(got);
    clg_plan_free(plan);
    clg_graph_free(g);
}

/* Each case is its own test, so that the first failure hides nothing; the
 * cases that run a GEMM run again on each GEMM path. */

typedef struct path_case {
    const op_case *c;
    clg_gemm_path path;
    char name[96];
} path_case;

static void run_case(void **state)
{
    check_case(test_shared_context, *state);
}

static void run_case_on_path(void **state)
{
    const path_case *pc = *state;
    clg_gemm_path before = clg_context_gemm_path(test_shared_context);
    assert_ok(clg_context_set_gemm_path(test_shared_context, pc->path));
    check_case(test_shared_context, pc->c);
    clg_context_set_gemm_path(test_shared_context, before);
}

/* On PoCL, the default suite's device, the cases of families whose kernels
 * differ by device class run again in each other class's forms, so that
 * every form the library chooses runs here too (elsewhere skipped: each
 * implementation runs its own). A context a class, made when first used. */
typedef struct class_case {
    const op_case *c;
    clg_kernel_class kernels;
    char name[112];
} class_case;

static clg_context *class_contexts[CLG_KERNEL_CLASS_COUNT];

static void run_case_in_class(void **state)
{
    const class_case *cc = *state;
    const clg_device_info *d = clg_context_device(test_shared_context);
    if (clg_kernel_class_of(d) != CLG_KERNELS_POCL_CPU)
        skip();
    clg_context **ctx = &class_contexts[cc->kernels];
    if (!*ctx) {
        assert_ok(clg_context_create(d->index, ctx));
        assert_ok(clg_context_force_kernels(*ctx, cc->kernels));
    }
    check_case(*ctx, cc->c);
}

static int teardown_all(void **state)
{
    for (int k = 0; k < CLG_KERNEL_CLASS_COUNT; k++)
        clg_context_free(class_contexts[k]);
    return test_shared_context_teardown(state);
}

int main(void)
{
    static const clg_kernel_class others[] = {CLG_KERNELS_GPU, CLG_KERNELS_INTEL_CPU,
                                              CLG_KERNELS_LLVMPIPE};
    struct CMUnitTest *tests = calloc(6 * NCASES, sizeof *tests);
    path_case *on_path = calloc(2 * NCASES, sizeof *on_path);
    class_case *in_class = calloc(3 * NCASES, sizeof *in_class);
    if (!tests || !on_path || !in_class)
        return 1;
    size_t n = 0, np = 0, nc = 0;
    for (size_t i = 0; i < NCASES; i++)
        tests[n++] = (struct CMUnitTest){op_cases[i].name, run_case, NULL, NULL,
                                         (void *)&op_cases[i]};
    for (size_t i = 0; i < NCASES; i++)
        for (int p = CLG_GEMM_CLBLAST; op_cases[i].on_both_gemm && p <= CLG_GEMM_NATIVE;
             p++) {
            path_case *pc = &on_path[np++];
            pc->c = &op_cases[i];
            pc->path = (clg_gemm_path)p;
            snprintf(pc->name, sizeof pc->name, "%s [%s GEMM]", op_cases[i].name,
                     clg_gemm_path_str(pc->path));
            tests[n++] =
                (struct CMUnitTest){pc->name, run_case_on_path, NULL, NULL, pc};
        }
    for (size_t i = 0; i < NCASES; i++)
        for (size_t k = 0; op_cases[i].by_class && k < CLG_COUNT_OF(others); k++) {
            class_case *cc = &in_class[nc++];
            cc->c = &op_cases[i];
            cc->kernels = others[k];
            snprintf(cc->name, sizeof cc->name, "%s [%s kernels]", op_cases[i].name,
                     clg_kernel_class_str(cc->kernels));
            tests[n++] =
                (struct CMUnitTest){cc->name, run_case_in_class, NULL, NULL, cc};
        }
    return _cmocka_run_group_tests("test_ops", tests, n, test_shared_context_setup,
                                   teardown_all);
}
