/* Batch, layer and RMS normalisation. Batch norm: src = {x, running_mean, running_var[,
 * gamma, beta]}; params.f = {momentum, eps}; params.i[0] = 1: a ReLU follows
 * in the same kernels (clg_batch_norm_fuse_relu). */

#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

#define AFFINE(t)     ((t)->nsrc == 5)
#define FUSED_RELU(t) ((t)->params.i[0] == 1)

/* The norm family's build options for batch norm node t. */
static const char *bn_options(const clg_tensor *t)
{
    return FUSED_RELU(t) ? "-DRELU=1" : NULL;
}

static void split(const clg_tensor *t, int batch, size_t *outer, int *C, size_t *inner)
{
    *outer = (size_t)clg_dim_at(t, 0, batch);
    *C = t->shape[1];
    *inner = clg_dims_product(t, 2, t->ndim, batch);
}

/* aux 0: mean and invstd [2C]; aux 1: sum(dy) and sum(dy xhat) [2C], and
 * synchronised over replicas (cl/norm.cl) first the forward sums and the
 * count [2C + 1]. */
static void bn_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    bytes[0] = 2 * (size_t)t->shape[1] * 4;
    bytes[1] = (2 * (size_t)t->shape[1] + 1) * 4;
}

/* Training statistics of the whole batch over every replica: local sums,
 * their sum over the replicas, the squares about the global mean, theirs. */
static clg_status bn_sync_stats(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                size_t outer, int C, size_t inner, cl_mem x,
                                cl_mem stats, cl_mem rm, cl_mem rv)
{
    cl_mem sums = clg_aux(p, t, 1);
    size_t group = clg_reduce_group(inner);
    clg_status st = clg_rec_kernel_groups(
        p, s, "norm", NULL, "bn_sync_sum", (size_t)C, group,
        CLG_ARGS(KINT(outer), KINT(C), KINT(inner), KMEM(x), KMEM(sums)));
    if (st == CLG_OK) /* the sums and the count */
        st = clg_rec_replica_sum(p, s, sums, 0, (size_t)C);
    if (st == CLG_OK)
        st = clg_rec_replica_sum(p, s, sums, 2 * (size_t)C, 1);
    if (st == CLG_OK)
        st = clg_rec_kernel_groups(
            p, s, "norm", NULL, "bn_sync_squares", (size_t)C, group,
            CLG_ARGS(KINT(outer), KINT(C), KINT(inner), KMEM(x), KMEM(sums)));
    if (st == CLG_OK)
        st = clg_rec_replica_sum(p, s, sums, (size_t)C, (size_t)C);
    if (st == CLG_OK)
        st = clg_rec_kernel(p, s, "norm", NULL, "bn_sync_finish", (size_t)C,
                            CLG_ARGS(KINT(C), KFLOAT(t->params.f[0]),
                                     KFLOAT(t->params.f[1]), KMEM(sums), KMEM(stats),
                                     KMEM(rm), KMEM(rv)));
    return st;
}

/* Whether sums over many rows go by blocks: batch norm's channel sums by
 * (o, c) planes (cl/norm.cl's bn_plane_sums) and layer norm's parameter
 * gradients by blocks of rows (ln_param_partials). On PoCL's CPU device,
 * which runs one-work-group-per-channel loops unvectorised and float sums
 * down a column one work-item each in a serial chain. Intel's runtime
 * vectorises the direct forms, and GPUs want their work-group trees
 * (docs/performance.md). */
static bool sums_by_blocks(const clg_tensor *t)
{
    return clg_is_pocl_cpu(t->graph->ctx);
}

/* Training statistics by planes: each plane's sum, the channels' means,
 * each plane's squares about its channel's mean, the channels' statistics. */
static clg_status bn_plane_stats(clg_plan *p, clg_cmdlist *s, clg_tensor *t,
                                 size_t outer, int C, size_t inner, cl_mem x,
                                 cl_mem stats, cl_mem rm, cl_mem rv)
{
    size_t planes = outer * (size_t)C;
    cl_mem partial;
    clg_status st = clg_rec_scratch(p, s, planes * 4, &partial);
    for (int pass = 0; st == CLG_OK && pass < 2; pass++) {
        st = clg_rec_kernel(p, s, "norm", pass ? "-DCENTERED=1" : NULL, "bn_plane_sums",
                            planes,
                            CLG_ARGS(KINT(planes), KINT(C), KINT(inner), KMEM(x),
                                     KMEM(stats), KMEM(partial)));
        if (st == CLG_OK)
            st = clg_rec_kernel(p, s, "norm", NULL, "bn_stats_planes", (size_t)C,
                                CLG_ARGS(KINT(outer), KINT(C), KINT(outer * inner),
                                         KINT(pass), KFLOAT(t->params.f[0]),
                                         KFLOAT(t->params.f[1]), KMEM(partial),
                                         KMEM(stats), KMEM(rm), KMEM(rv)));
    }
    return st;
}

static clg_status bn_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                             bool training)
{
    size_t outer, inner;
    int C;
    split(t, batch, &outer, &C, &inner);
    cl_mem x = clg_val(p, t->src[0]), rm = clg_val(p, t->src[1]),
           rv = clg_val(p, t->src[2]), stats = clg_aux(p, t, 0);
    cl_mem gamma = AFFINE(t) ? clg_val(p, t->src[3]) : stats;
    cl_mem beta = AFFINE(t) ? clg_val(p, t->src[4]) : stats;
    size_t planes = outer * (size_t)C;
    if (!training)
        return clg_rec_kernel(p, s, "norm", bn_options(t), "bn_eval", planes,
                              CLG_ARGS(KINT(planes), KINT(C), KINT(inner),
                                       KINT(AFFINE(t)), KFLOAT(t->params.f[1]), KMEM(x),
                                       KMEM(rm), KMEM(rv), KMEM(gamma), KMEM(beta),
                                       KMEM(clg_val(p, t))));
    clg_status st =
        clg_plan_syncs_replicas(p)
            ? bn_sync_stats(p, s, t, outer, C, inner, x, stats, rm, rv)
        : sums_by_blocks(t)
            ? bn_plane_stats(p, s, t, outer, C, inner, x, stats, rm, rv)
            : clg_rec_kernel_groups(
                  p, s, "norm", NULL, "bn_stats", (size_t)C, clg_reduce_group(inner),
                  CLG_ARGS(KINT(outer), KINT(C), KINT(inner), KFLOAT(t->params.f[0]),
                           KFLOAT(t->params.f[1]), KMEM(x), KMEM(stats), KMEM(rm),
                           KMEM(rv)));
    if (st == CLG_OK)
        st = clg_rec_kernel(p, s, "norm", bn_options(t), "bn_apply", planes,
                            CLG_ARGS(KINT(planes), KINT(C), KINT(inner),
                                     KINT(AFFINE(t)), KMEM(x), KMEM(stats), KMEM(gamma),
                                     KMEM(beta), KMEM(clg_val(p, t))));
    return st;
}

static clg_status bn_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                              const clg_grad_io *io)
{
    size_t outer, inner;
    int C;
    split(t, batch, &outer, &C, &inner);
    cl_mem x = clg_val(p, t->src[0]), stats = clg_aux(p, t, 0), sums = clg_aux(p, t, 1);
    cl_mem y = clg_val(p, t); /* read with a fused ReLU */
    cl_mem gamma = AFFINE(t) ? clg_val(p, t->src[3]) : stats;
    bool want_g = AFFINE(t) && io->grad_src[3], want_b = AFFINE(t) && io->grad_src[4];
    cl_mem dgamma = want_g ? io->grad_src[3] : sums,
           dbeta = want_b ? io->grad_src[4] : sums;
    bool acc_g = want_g && io->accumulate[3], acc_b = want_b && io->accumulate[4];
    clg_status st = CLG_OK;
    size_t planes = outer * (size_t)C;
    if (sums_by_blocks(t)) {
        cl_mem partial;
        st = clg_rec_scratch(p, s, 2 * planes * 4, &partial);
        if (st == CLG_OK)
            st = clg_rec_kernel(
                p, s, "norm", bn_options(t), "bn_backward_plane_sums", planes,
                CLG_ARGS(KINT(planes), KINT(C), KINT(inner), KMEM(x),
                         KMEM(io->grad_out), KMEM(y), KMEM(stats), KMEM(partial)));
        if (st == CLG_OK)
            st = clg_rec_kernel(
                p, s, "norm", NULL, "bn_backward_planes_finish", (size_t)C,
                CLG_ARGS(KINT(outer), KINT(C), KMEM(partial), KMEM(sums), KINT(want_g),
                         KINT(acc_g), KMEM(dgamma), KINT(want_b), KINT(acc_b),
                         KMEM(dbeta)));
    } else {
        st = clg_rec_kernel_groups(
            p, s, "norm", bn_options(t), "bn_backward_reduce", (size_t)C,
            clg_reduce_group(inner),
            CLG_ARGS(KINT(outer), KINT(C), KINT(inner), KMEM(x), KMEM(io->grad_out),
                     KMEM(y), KMEM(stats), KMEM(sums), KINT(want_g), KINT(acc_g),
                     KMEM(dgamma), KINT(want_b), KINT(acc_b), KMEM(dbeta)));
    }
    bool sync = clg_plan_syncs_replicas(p);
    if (st == CLG_OK && sync) /* the whole batch's sums; the forward's count stays */
        st = clg_rec_replica_sum(p, s, sums, 0, 2 * (size_t)C);
    if (st == CLG_OK && io->grad_src[0])
        st = clg_rec_kernel(
            p, s, "norm", bn_options(t), "bn_backward_dx", outer * (size_t)C,
            CLG_ARGS(KINT(outer * (size_t)C), KINT(C), KINT(inner), KINT(outer * inner),
                     KINT(sync), KINT(AFFINE(t)), KINT(io->accumulate[0]), KMEM(x),
                     KMEM(io->grad_out), KMEM(y), KMEM(stats), KMEM(sums), KMEM(gamma),
                     KMEM(io->grad_src[0])));
    return st;
}

/* x, gamma and beta are differentiable; the running statistics are not. */
static const clg_op_class bn_class = {"batch_norm",
                                      bn_forward,
                                      bn_backward,
                                      bn_aux,
                                      (1u << 0) | (1u << 3) | (1u << 4),
                                      0,
                                      CLG_OP_FORWARD_UPDATES_STATE};

static bool is_channel_vector(const clg_tensor *v, int C)
{
    return v->ndim == 1 && v->shape[0] == C && v->dtype == CLG_FLOAT32 && !v->batched;
}

clg_tensor *clg_batch_norm(clg_graph *g, clg_tensor *x, clg_tensor *gamma,
                           clg_tensor *beta, clg_tensor *running_mean,
                           clg_tensor *running_var, float momentum, float eps)
{
    clg_tensor *src[5] = {x, running_mean, running_var, gamma, beta};
    bool affine = gamma || beta;
    if (clg_graph_bad_args(g, "batch_norm", affine ? 5 : 3, src))
        return NULL;
    char sx[64], sv[64];
    if ((x->ndim != 2 && x->ndim != 4) || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "batch_norm: input %s must be [N,C] or [N,C,H,W] float32",
                              clg_shape_str(x, sx, sizeof sx));
    int C = x->shape[1];
    for (int i = 1; i < (affine ? 5 : 3); i++)
        if (!is_channel_vector(src[i], C))
            return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                                  "batch_norm: '%s' is %s, input %s needs [%d]",
                                  src[i]->name, clg_shape_str(src[i], sv, sizeof sv),
                                  clg_shape_str(x, sx, sizeof sx), C);
    if (running_mean->kind != CLG_KIND_STATE || running_var->kind != CLG_KIND_STATE)
        return clg_graph_fail(
            g, CLG_INVALID_ARGUMENT,
            "batch_norm: running statistics must be clg_state tensors");
    if (!(momentum >= 0.0f && momentum <= 1.0f) || !(eps > 0.0f))
        return clg_graph_fail(
            g, CLG_INVALID_ARGUMENT,
            "batch_norm: momentum %g must lie in [0, 1] and eps %g be > 0",
            (double)momentum, (double)eps);
    /* a work-item per (n, c) plane applies and differentiates; the channels'
     * sums go by work-groups of up to 64, in three passes at most */
    size_t n = (size_t)x->shape[0], inner = clg_tensor_numel(x) / n / (size_t)C;
    size_t sums = 3 * (n * inner / 64 + n);
    if (!clg_loops_fit(g, "batch_norm", "a channel's values",
                       sums > inner ? sums : inner))
        return NULL;
    clg_tensor *t = clg_node(g, &bn_class, affine ? 5 : 3, src, x->ndim, x->shape);
    if (t) {
        t->params.f[0] = momentum;
        t->params.f[1] = eps;
        /* over [N, C] (or 1 x 1 planes) a batch of 1 has no variance */
        t->min_train_batch = inner == 1 ? 2 : 0;
        snprintf(t->name, sizeof t->name, "%.40s", running_mean->name);
        char *dot = strrchr(t->name, '.'); /* "3.running_mean": layer 3 */
        if (dot && !strcmp(dot, ".running_mean"))
            *dot = '\0';
    }
    return t;
}

clg_tensor *clg_batch_norm_fuse_relu(clg_tensor *t)
{
    if (!t || t->op != &bn_class || FUSED_RELU(t))
        return NULL;
    t->params.i[0] = 1;
    return t;
}

/* ---- Layer and RMS normalisation: src = {x[, gamma[, beta]]};
 * params.f[0] = eps, params.i[0] = 1 for RMS (gamma only) --------------------- */

/* Rows per block of the parameters' gradient sums by blocks. */
#define LN_PART_ROWS 64

#define LN_GAMMA(t) ((t)->nsrc >= 2)
#define LN_BETA(t)  ((t)->nsrc == 3)

static const char *ln_options(const clg_tensor *t)
{
    return t->params.i[0] ? "-DRMS=1" : NULL;
}

static void ln_rows(const clg_tensor *t, int batch, size_t *rows, int *C)
{
    *C = t->shape[t->ndim - 1];
    *rows = clg_numel_at(t, batch) / (size_t)*C;
}

/* aux 0: mean and invstd of each row [2 rows]. */
static void ln_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    bytes[0] = 2 * (clg_tensor_numel(t) / (size_t)t->shape[t->ndim - 1]) * 4;
}

static clg_status ln_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                             bool training)
{
    (void)training;
    size_t rows;
    int C;
    ln_rows(t, batch, &rows, &C);
    cl_mem stats = clg_aux(p, t, 0);
    cl_mem gamma = LN_GAMMA(t) ? clg_val(p, t->src[1]) : stats;
    cl_mem beta = LN_BETA(t) ? clg_val(p, t->src[2]) : stats;
    /* affine: 1 scales (and shifts by beta when there is one); RMS has none */
    return clg_rec_kernel(p, s, "norm", ln_options(t), "ln_forward", rows,
                          CLG_ARGS(KINT(rows), KINT(C), KINT(LN_GAMMA(t)),
                                   KINT(LN_BETA(t)), KFLOAT(t->params.f[0]),
                                   KMEM(clg_val(p, t->src[0])), KMEM(gamma), KMEM(beta),
                                   KMEM(stats), KMEM(clg_val(p, t))));
}

static clg_status ln_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                              const clg_grad_io *io)
{
    size_t rows;
    int C;
    ln_rows(t, batch, &rows, &C);
    cl_mem x = clg_val(p, t->src[0]), stats = clg_aux(p, t, 0);
    cl_mem gamma = LN_GAMMA(t) ? clg_val(p, t->src[1]) : stats;
    clg_status st = CLG_OK;
    bool want_g = LN_GAMMA(t) && io->grad_src[1],
         want_b = LN_BETA(t) && io->grad_src[2];
    cl_mem dgamma = want_g ? io->grad_src[1] : stats,
           dbeta = want_b ? io->grad_src[2] : stats;
    bool acc_g = want_g && io->accumulate[1], acc_b = want_b && io->accumulate[2];
    /* by blocks also where loops are limited: ln_param_grads loops over
     * every row, the blocks over 64 and then over rows / 64 */
    bool blocks = sums_by_blocks(t) || clg_loop_limit(t->graph->ctx) != 0;
    if ((want_g || want_b) && blocks) {
        size_t parts = (rows + LN_PART_ROWS - 1) / LN_PART_ROWS;
        cl_mem partial;
        st = clg_rec_scratch(p, s, 2 * parts * (size_t)C * 4, &partial);
        if (st == CLG_OK)
            st = clg_rec_kernel(
                p, s, "norm", ln_options(t), "ln_param_partials",
                parts * (((size_t)C + 3) / 4),
                CLG_ARGS(KINT(rows), KINT(C), KINT(parts), KINT(LN_PART_ROWS), KMEM(x),
                         KMEM(io->grad_out), KMEM(stats), KMEM(partial)));
        if (st == CLG_OK)
            st = clg_rec_kernel(
                p, s, "norm", ln_options(t), "ln_param_blocks_finish", (size_t)C,
                CLG_ARGS(KINT(C), KINT(parts), KMEM(partial), KINT(want_g), KINT(acc_g),
                         KMEM(dgamma), KINT(want_b), KINT(acc_b), KMEM(dbeta)));
    } else if (want_g || want_b) {
        st = clg_rec_kernel(p, s, "norm", ln_options(t), "ln_param_grads", (size_t)C,
                            CLG_ARGS(KINT(rows), KINT(C), KMEM(x), KMEM(io->grad_out),
                                     KMEM(stats), KINT(want_g), KINT(acc_g),
                                     KMEM(dgamma), KINT(want_b), KINT(acc_b),
                                     KMEM(dbeta)));
    }
    if (st == CLG_OK && io->grad_src[0])
        st = clg_rec_kernel(p, s, "norm", ln_options(t), "ln_backward_dx", rows,
                            CLG_ARGS(KINT(rows), KINT(C), KINT(LN_GAMMA(t)),
                                     KINT(io->accumulate[0]), KMEM(x),
                                     KMEM(io->grad_out), KMEM(stats), KMEM(gamma),
                                     KMEM(io->grad_src[0])));
    return st;
}

static const clg_op_class ln_class = {
    "layer_norm", ln_forward, ln_backward, ln_aux, 0, 0, 0};
static const clg_op_class rms_class = {"rms_norm", ln_forward, ln_backward, ln_aux, 0,
                                       0,          0};

static clg_tensor *norm_node(clg_graph *g, const clg_op_class *op, clg_tensor *x,
                             int nsrc, clg_tensor **src, float eps, bool rms)
{
    if (clg_graph_bad_args(g, op->name, nsrc, src))
        return NULL;
    char sx[64], sv[64];
    if (x->ndim < 1 || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH, "%s: input %s must be float32",
                              op->name, clg_shape_str(x, sx, sizeof sx));
    int C = x->shape[x->ndim - 1];
    for (int i = 1; i < nsrc; i++)
        if (!is_channel_vector(src[i], C))
            return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                                  "%s: '%s' is %s, input %s needs [%d]", op->name,
                                  src[i]->name, clg_shape_str(src[i], sv, sizeof sv),
                                  clg_shape_str(x, sx, sizeof sx), C);
    if (!(eps > 0.0f))
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "%s: eps %g must be > 0",
                              op->name, (double)eps);
    /* a work-item per row: three passes over it forward (and its
     * compensated steps), two backward */
    if (!clg_loops_fit(g, op->name, "a row of features", 4 * (size_t)C))
        return NULL;
    clg_tensor *t = clg_node(g, op, nsrc, src, x->ndim, x->shape);
    if (t) {
        t->params.f[0] = eps;
        t->params.i[0] = rms;
    }
    return t;
}

clg_tensor *clg_layer_norm(clg_graph *g, clg_tensor *x, clg_tensor *gamma,
                           clg_tensor *beta, float eps)
{
    clg_tensor *src[3] = {x, gamma, beta};
    /* beta without gamma is a NULL source: refused */
    return norm_node(g, &ln_class, x, beta ? 3 : gamma ? 2 : 1, src, eps, false);
}

clg_tensor *clg_rms_norm(clg_graph *g, clg_tensor *x, clg_tensor *gamma, float eps)
{
    clg_tensor *src[2] = {x, gamma};
    return norm_node(g, &rms_class, x, gamma ? 2 : 1, src, eps, true);
}
