/* Autograd: which tensors require a gradient, the order of the backward
 * pass (reverse creation order), and which op writes each gradient first
 * (it overwrites; later ones accumulate). */
#include <stdlib.h>

#include "graph/plan_internal.h"

bool clg_differentiable(const clg_tensor *t, int i)
{
    return t->op->backward && (t->op->grad_mask == 0 || (t->op->grad_mask >> i) & 1u);
}

/* Requires-grad, reachability from the loss, backward order, first writers. */
clg_status clg_plan_autograd(clg_plan *p, const bool *needed)
{
    clg_graph *g = p->g;
    for (int i = 0; i < p->ntensors; i++) {
        clg_tensor *t = g->tensors[i];
        if (!needed[i])
            continue;
        if (t->kind == CLG_KIND_PARAMETER)
            p->rg[i] = !t->frozen;
        else if (t->kind == CLG_KIND_INPUT)
            p->rg[i] = t->wants_grad && t->dtype == CLG_FLOAT32;
        else if (t->view_of)
            p->rg[i] = p->rg[t->view_of->id];
        else if (t->op)
            for (int k = 0; k < t->nsrc; k++)
                p->rg[i] |= clg_differentiable(t, k) && p->rg[t->src[k]->id];
    }
    if (!p->loss)
        return CLG_OK;
    if (clg_tensor_numel(p->loss) != 1 || p->loss->batched)
        return clg_fail(CLG_SHAPE_MISMATCH,
                        "clg_plan_create: the loss '%s' must be a [1] scalar",
                        p->loss->name);

    bool *reach = calloc((size_t)p->ntensors, sizeof *reach);
    bool *written = calloc((size_t)p->ntensors, sizeof *written);
    if (!reach || !written) {
        free(reach);
        free(written);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "planning backward");
    }
    reach[p->loss->id] = p->rg[p->loss->id];
    written[p->loss->id] = true; /* seeded with 1 */
    for (int i = p->ntensors - 1; i >= 0; i--) {
        clg_tensor *t = g->tensors[i];
        if (!needed[i] || !reach[i] || !p->rg[i])
            continue;
        if (t->view_of) { /* gradient already lands in the root's storage */
            reach[clg_storage_root(t)->id] = true;
            continue;
        }
        if (!t->op)
            continue;
        p->bwd_order[p->nbwd++] = i;
        for (int k = 0; k < t->nsrc; k++) {
            clg_tensor *src = t->src[k];
            if (!clg_differentiable(t, k) || !p->rg[src->id])
                continue;
            int root = clg_storage_root(src)->id;
            reach[src->id] = reach[root] = true;
            p->io[i].accumulate[k] = written[root];
            written[root] = true;
        }
    }
    /* Parameters (and inputs that asked) that the loss does not reach still
     * get a gradient: zero. */
    for (int i = 0; i < p->ntensors; i++)
        if (needed[i] && p->rg[i] && !g->tensors[i]->op && !g->tensors[i]->view_of &&
            !written[i])
            p->zero_grads[p->nzero++] = i;
    free(reach);
    free(written);
    return CLG_OK;
}
