/* Dropout. params.f[0] = p, params.seed = seed. */
#include <stdio.h>

#include "base/rng.h"
#include "ops/ops_internal.h"

static float keep_scale(float p)
{
    return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
}

/* Element 0's index within the whole batch: the plan's first sample (a data
 * parallel shard's) times the elements of a sample. */
static unsigned long long first_element(const clg_plan *p, const clg_tensor *t)
{
    size_t per = t->batched ? clg_tensor_numel(t) / (size_t)t->shape[0] : 0;
    return (unsigned long long)clg_plan_sample_offset(p) * per;
}

/* Records `kernel` over the n elements: one work-item per whole block of
 * four, then the partial block at the end, if any, as one work-item of the
 * kernel built with TAIL (cl/dropout.cl). args: the kernel's arguments, the
 * step (argument 4) set by the plan at every run. SHIFT: where the batch's
 * element 0 lies in the generator's block of four. */
static clg_status rec_dropout(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                              const char *kernel, bool accumulate, size_t n,
                              const clg_karg *args, int nargs)
{
    char whole[48], tail[64];
    int shift = (int)(first_element(p, t) % 4);
    snprintf(whole, sizeof whole, "-DSHIFT=%d -DACCUMULATE=%d", shift, accumulate);
    snprintf(tail, sizeof tail, "%s -DTAIL=1", whole);
    clg_status st = CLG_OK;
    if (n >= 4)
        st = clg_rec_kernel_stepped(p, s, "dropout", whole, kernel, n / 4, args, nargs,
                                    4);
    if (st == CLG_OK && n % 4)
        st = clg_rec_kernel_stepped(p, s, "dropout", tail, kernel, 1, args, nargs, 4);
    return st;
}

static clg_status dropout_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  bool training)
{
    size_t n = clg_numel_at(t, batch);
    cl_mem x = clg_val(p, t->src[0]), y = clg_val(p, t);
    float prob = t->params.f[0];
    if (!training || prob == 0.0f)
        return clg_rec_copy(p, s, y, x, n * 4);
    return rec_dropout(p, s, t, "dropout_forward", false, n,
                       CLG_ARGS(KINT(n), KFLOAT(prob), KFLOAT(keep_scale(prob)),
                                KULONG(t->params.seed), KULONG(0),
                                KULONG(first_element(p, t) / 4), KMEM(x), KMEM(y)));
}

static clg_status dropout_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                   int batch, const clg_grad_io *io)
{
    size_t n = clg_numel_at(t, batch);
    float prob = t->params.f[0];
    return rec_dropout(p, s, t, "dropout_backward", io->accumulate[0], n,
                       CLG_ARGS(KINT(n), KFLOAT(prob), KFLOAT(keep_scale(prob)),
                                KULONG(t->params.seed), KULONG(0),
                                KULONG(first_element(p, t) / 4), KMEM(io->grad_out),
                                KMEM(io->grad_src[0])));
}

static const clg_op_class dropout_class = {
    "dropout", dropout_forward, dropout_backward, NULL, 0, 0, 0};

clg_tensor *clg_dropout(clg_graph *g, clg_tensor *x, float p, unsigned long long seed)
{
    if (clg_graph_bad_args(g, "dropout", 1, &x))
        return NULL;
    if (!(p >= 0.0f && p <= 1.0f))
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "dropout: probability %g must lie in [0, 1]", (double)p);
    if (x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                              "dropout: input '%s' is not float32", x->name);
    clg_tensor *t = clg_node(g, &dropout_class, 1, &x, x->ndim, x->shape);
    if (t) {
        t->params.f[0] = p;
        /* Mix in the node id so two dropouts with one seed differ. */
        t->params.seed = seed ^ ((unsigned long long)t->id * CLG_RNG_GOLDEN);
    }
    return t;
}
