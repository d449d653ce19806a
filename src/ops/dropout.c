/* Dropout. params.f[0] = p, params.seed = seed. */
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

static clg_status dropout_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                  bool training)
{
    size_t n = clg_numel_at(t, batch);
    cl_mem x = clg_val(p, t->src[0]), y = clg_val(p, t);
    float prob = t->params.f[0];
    if (!training || prob == 0.0f)
        return clg_rec_copy(p, s, y, x, n * 4);
    return clg_rec_kernel_stepped(
        p, s, "dropout", NULL, "dropout_forward", (n + 3) / 4,
        CLG_ARGS(KINT(n), KFLOAT(prob), KFLOAT(keep_scale(prob)),
                 KULONG(t->params.seed), KULONG(0), KULONG(first_element(p, t)),
                 KMEM(x), KMEM(y)),
        4);
}

static clg_status dropout_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                   int batch, const clg_grad_io *io)
{
    size_t n = clg_numel_at(t, batch);
    float prob = t->params.f[0];
    return clg_rec_kernel_stepped(
        p, s, "dropout", NULL, "dropout_backward", (n + 3) / 4,
        CLG_ARGS(KINT(n), KFLOAT(prob), KFLOAT(keep_scale(prob)),
                 KULONG(t->params.seed), KULONG(0), KULONG(first_element(p, t)),
                 KINT(io->accumulate[0]), KMEM(io->grad_out), KMEM(io->grad_src[0])),
        4);
}

static const clg_op_class dropout_class = {"dropout", dropout_forward, dropout_backward,
                                           NULL, 0};

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
