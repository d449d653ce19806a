/* What the graph and plan tests share: graph_util.h. */
#include <math.h>
#include <stdlib.h>

#include "graph_util.h"

clg_graph *new_graph(clg_context *ctx)
{
    clg_graph *g;
    assert_ok(clg_graph_create(ctx, &g));
    return g;
}

/* check(ctx) in the forms of ctx's own kernel class and, on PoCL (the
 * default suite's device), in every other class's forms too, each on a
 * context of its own (clg_context_force_kernels): ties and NaNs that random
 * inputs never meet, in every kernel the library may choose. */
void in_every_kernel_class(clg_context *ctx, void (*check)(clg_context *))
{
    check(ctx);
    if (clg_kernel_class_of(clg_context_device(ctx)) != CLG_KERNELS_POCL_CPU)
        return;
    for (int k = 0; k < CLG_KERNEL_CLASS_COUNT; k++) {
        if (k == CLG_KERNELS_POCL_CPU)
            continue;
        clg_context *other;
        assert_ok(clg_context_create(clg_context_device(ctx)->index, &other));
        assert_ok(clg_context_force_kernels(other, (clg_kernel_class)k));
        check(other);
        clg_context_free(other);
    }
}

void fill_random(clg_tensor *t, uint32_t seed, float scale)
{
    size_t n = clg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * test_random(&seed);
    assert_ok(clg_tensor_upload(t, v, n));
    free(v);
}

bool on_simulator(clg_context *ctx)
{
    return test_on_simulator(clg_context_device(ctx));
}

/* A plan for loss = sum(y * r), r random: d loss / d y = r, returned in *r
 * (y's elements at the planned batch; the caller frees it). */
clg_plan *weighted_plan(clg_graph *g, clg_tensor *y, uint32_t seed, float **r)
{
    int shape[CLG_MAX_DIMS], nd = clg_tensor_ndim(y);
    for (int i = 0; i < nd; i++)
        shape[i] = clg_tensor_dim(y, i);
    clg_tensor *R = y->batched ? clg_input(g, "r", CLG_FLOAT32, nd, shape)
                               : clg_state(g, "r", nd, shape, 0.0f);
    clg_tensor *loss = clg_sum(g, clg_mul(g, y, R), -1);
    clg_plan *plan;
    assert_ok(clg_plan_create(g, loss, &y, 1, &plan));
    size_t n = clg_tensor_numel(y);
    *r = malloc(n * sizeof **r);
    for (size_t i = 0; i < n; i++)
        (*r)[i] = test_random(&seed);
    assert_ok(clg_tensor_upload(R, *r, n));
    return plan;
}

float *random_upload(clg_tensor *t, uint32_t seed)
{
    size_t n = clg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = test_random(&seed);
    assert_ok(clg_tensor_upload(t, v, n));
    return v;
}

/* got against a float sum whose terms' magnitudes add to `scale`: a sum
 * cut short misses thousands of terms, far past this bound. */
void assert_sum(const char *what, size_t i, float got, double want, double scale)
{
    if (!(fabs(got - want) <= 1e-6 * scale + 1e-6))
        fail_msg("%s[%zu] = %.9g, want %.9g (terms' magnitudes %.6g)", what, i,
                 (double)got, want, scale);
}
