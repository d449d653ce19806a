/* The memory plan: every intermediate value, gradient and private buffer
 * lives over an interval of positions (plan_internal.h); a greedy interval
 * colouring lets those whose intervals do not overlap share a buffer. */
#include <stdlib.h>

#include "graph/plan_internal.h"

typedef struct interval {
    size_t bytes;
    int start, end;
    clg_buffer **target; /* where the chosen buffer goes */
    int slot;
} interval;

cl_mem clg_val(const clg_plan *p, const clg_tensor *t)
{
    const clg_tensor *r = clg_storage_root((clg_tensor *)t);
    if (r->buffer)
        return r->buffer->mem;
    return p->value[r->id] ? p->value[r->id]->mem : NULL;
}

cl_mem clg_aux(const clg_plan *p, const clg_tensor *t, int i)
{
    clg_buffer *b = p->aux[t->id * CLG_MAX_AUX + i];
    return b ? b->mem : NULL;
}

clg_buffer *clg_grad_storage(const clg_plan *p, const clg_tensor *t)
{
    const clg_tensor *r = clg_storage_root((clg_tensor *)t);
    if (r->kind == CLG_KIND_PARAMETER)
        return r->grad_buffer;
    return p->grad[r->id];
}

static int by_start(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static clg_status own_buffer(clg_plan *p, size_t bytes, clg_buffer **out)
{
    clg_status s = clg_buffer_create(p->ctx, bytes, out);
    if (s != CLG_OK)
        return clg_fail_prefix(s, "planning the graph's %zu intermediates",
                               (size_t)p->nfwd);
    p->owned[p->nowned++] = *out;
    return CLG_OK;
}

/* Greedy interval colouring: a buffer is reused once its last reader ran. */
static clg_status assign_buffers(clg_plan *p, interval *iv, int n)
{
    qsort(iv, (size_t)n, sizeof *iv, by_start);
    size_t *slot_bytes = calloc((size_t)n + 1, sizeof *slot_bytes);
    int *slot_free_at = calloc((size_t)n + 1, sizeof *slot_free_at);
    clg_buffer **slot_buf = calloc((size_t)n + 1, sizeof *slot_buf);
    if (!slot_bytes || !slot_free_at || !slot_buf) {
        free(slot_bytes), free(slot_free_at), free(slot_buf);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "planning memory");
    }
    int nslots = 0;
    for (int i = 0; i < n; i++) {
        int best = -1;
        for (int s = 0; s < nslots; s++) {
            if (slot_free_at[s] >= iv[i].start)
                continue; /* still in use */
            bool fits = slot_bytes[s] >= iv[i].bytes;
            if (best < 0)
                best = s;
            else if (fits && (slot_bytes[best] < iv[i].bytes ||
                              slot_bytes[s] < slot_bytes[best]))
                best = s; /* smallest that fits */
            else if (!fits && slot_bytes[best] < iv[i].bytes &&
                     slot_bytes[s] > slot_bytes[best])
                best = s; /* else the largest, to grow */
        }
        if (best < 0)
            best = nslots++;
        if (slot_bytes[best] < iv[i].bytes)
            slot_bytes[best] = iv[i].bytes;
        slot_free_at[best] = iv[i].end;
        iv[i].slot = best;
        p->unshared_bytes += iv[i].bytes;
    }
    clg_status s = CLG_OK;
    for (int k = 0; s == CLG_OK && k < nslots; k++) {
        s = own_buffer(p, slot_bytes[k], &slot_buf[k]);
        p->used_bytes += slot_bytes[k];
    }
    for (int i = 0; s == CLG_OK && i < n; i++)
        *iv[i].target = slot_buf[iv[i].slot];
    free(slot_bytes), free(slot_free_at), free(slot_buf);
    return s;
}

#define POS_END 0x3fffffff

/* ---- Parameter arenas ---------------------------------------------------- */

/* Parameters in arena order: weights (2 or more dims) first, then biases
 * and norm scales, each in creation order, so that an optimizer that treats
 * the two kinds differently (weight decay) still finds each one range. */
static int arena_rank(const clg_tensor *t)
{
    return t->ndim > 1 ? 0 : 1;
}

size_t clg_arena_align(const clg_context *ctx)
{
    size_t view = clg_buffer_view_align(ctx); /* both powers of two */
    return view > CLG_ARENA_ALIGN_FLOATS * 4 ? view : CLG_ARENA_ALIGN_FLOATS * 4;
}

static size_t arena_bytes(const clg_tensor *t, size_t align)
{
    size_t bytes = clg_tensor_numel(t) * 4;
    return (bytes + align - 1) / align * align;
}

/* Moves the storage `which` (0: values, 1: gradients) of the parameters
 * `pick` marks into one new buffer, each at an offset aligned for a view,
 * zeros between them; each tensor's buffer becomes a view of it (values are
 * copied over). One buffer lets an optimizer update every parameter in one
 * launch. Nothing changes for fewer than two parameters. */
static clg_status pack(clg_graph *g, const bool *pick, int which)
{
    size_t align = clg_arena_align(g->ctx), total = 0, largest = 0;
    int count = 0;
    const char *largest_name = "";
    for (int i = 0; i < g->count; i++)
        if (pick[i]) {
            size_t bytes = arena_bytes(g->tensors[i], align);
            total += bytes;
            count++;
            if (bytes > largest)
                largest = bytes, largest_name = g->tensors[i]->name;
        }
    if (count < 2)
        return CLG_OK;
    clg_buffer **grown = realloc(g->arenas, (size_t)(g->narenas + 1) * sizeof *grown);
    if (!grown)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "packing the parameters");
    g->arenas = grown;
    clg_buffer *arena = NULL;
    clg_status s = clg_buffer_create(g->ctx, total, &arena);
    float zero = 0.0f;
    if (s == CLG_OK)
        s = clg_buffer_fill(arena, 0, &zero, sizeof zero, total);
    if (s != CLG_OK) {
        clg_buffer_free(arena);
        return clg_fail_prefix(s,
                               "packing %d parameters (%zu bytes; the largest, '%s', "
                               "%zu) into one buffer",
                               count, total, largest_name, largest);
    }
    g->arenas[g->narenas++] = arena;
    size_t at = 0;
    for (int rank = 0; rank < 2; rank++)
        for (int i = 0; s == CLG_OK && i < g->count; i++) {
            clg_tensor *t = g->tensors[i];
            if (!pick[i] || arena_rank(t) != rank)
                continue;
            clg_buffer **slot = which ? &t->grad_buffer : &t->buffer, *view = NULL;
            size_t bytes = clg_tensor_numel(t) * 4;
            s = clg_buffer_view(arena, at, bytes, &view);
            if (s == CLG_OK && *slot)
                s = clg_buffer_copy(view, 0, *slot, 0, bytes);
            if (s != CLG_OK) {
                clg_buffer_free(view);
                break;
            }
            clg_buffer_free(*slot);
            *slot = view;
            at += arena_bytes(t, align);
        }
    /* The parameters' own buffers, pooled as they were freed, would stay
     * held beside the arena (a model's size again) where nothing of their
     * size classes comes to reuse them. */
    if (which == 0)
        clg_context_pool_trim(g->ctx);
    return s;
}

/* The first plan of a graph packs its parameters' values, and every plan
 * the gradients it is the first to need (a graph's parameters unfrozen
 * later get an arena of their own). Parameters made after the first plan
 * keep buffers of their own; optimizers handle both. */
static clg_status pack_parameters(clg_plan *p)
{
    clg_graph *g = p->g;
    bool *pick = calloc((size_t)g->count + 1, sizeof *pick);
    if (!pick)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "packing the parameters");
    clg_status s = CLG_OK;
    if (!g->packed) {
        for (int i = 0; i < g->count; i++)
            pick[i] = g->tensors[i]->kind == CLG_KIND_PARAMETER;
        s = pack(g, pick, 0);
        g->packed = true;
    }
    for (int i = 0; i < g->count; i++) {
        clg_tensor *t = g->tensors[i];
        pick[i] = i < p->ntensors && p->loss && p->rg[i] &&
                  t->kind == CLG_KIND_PARAMETER && !t->grad_buffer;
    }
    if (s == CLG_OK)
        s = pack(g, pick, 1);
    free(pick);
    return s;
}

/* ---- Recomputation --------------------------------------------------------- */

/* The first backward position of each segment (rpos, by segment id; -1:
 * none), and which values a training plan recomputes (p->inner): those of
 * a segment with a backward that the plan does not keep and that no node
 * outside their segment reads. */
static clg_status find_inner(clg_plan *p, int *rpos)
{
    clg_graph *g = p->g;
    for (int s = 0; s <= g->nsegments; s++)
        rpos[s] = -1;
    if (!p->loss)
        return CLG_OK;
    for (int j = p->nbwd - 1; j >= 0; j--) /* the smallest position wins */
        rpos[g->tensors[p->bwd_order[j]]->segment] = p->nfwd + j;
    for (int k = 0; k < p->nfwd; k++) {
        const clg_tensor *t = g->tensors[p->fwd_order[k]];
        p->inner[t->id] = t->segment && rpos[t->segment] >= 0;
    }
    for (int k = 0; k < p->nfwd; k++) {
        const clg_tensor *t = g->tensors[p->fwd_order[k]];
        for (int s = 0; s < t->nsrc; s++) {
            const clg_tensor *r = clg_storage_root(t->src[s]);
            if (r->segment != t->segment)
                p->inner[r->id] = false;
        }
    }
    for (int i = 0; i < p->ntensors; i++)
        if (p->kept[i])
            p->inner[clg_storage_root(g->tensors[i])->id] = false;
    for (int k = 0; k < p->nfwd; k++) {
        const clg_tensor *t = g->tensors[p->fwd_order[k]];
        if (p->inner[t->id] && (t->op->flags & CLG_OP_FORWARD_UPDATES_STATE))
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "recomputation: %s '%s' is in recomputed segment %d, whose "
                            "second forward would update its state twice (batch norm: "
                            "its running statistics)",
                            t->op->name, t->name, t->segment);
    }
    return CLG_OK;
}

clg_status clg_plan_assign_memory(clg_plan *p, const bool *needed)
{
    clg_status packed = pack_parameters(p);
    if (packed != CLG_OK)
        return packed;
    clg_graph *g = p->g;
    int n = p->ntensors;
    int *fwd_pos = malloc((size_t)n * sizeof *fwd_pos);
    int *bwd_pos = malloc((size_t)n * sizeof *bwd_pos);
    int *value_end = malloc((size_t)n * sizeof *value_end);
    int *grad_start = malloc((size_t)n * sizeof *grad_start);
    int *fwd_end = malloc((size_t)n * sizeof *fwd_end);
    int *bwd_read = malloc((size_t)n * sizeof *bwd_read);
    int *rpos = malloc((size_t)(g->nsegments + 1) * sizeof *rpos);
    interval *iv = calloc((size_t)n * (3 + CLG_MAX_AUX), sizeof *iv);
    clg_status st = fwd_pos && bwd_pos && value_end && grad_start && fwd_end &&
                            bwd_read && rpos && iv
                        ? find_inner(p, rpos)
                        : clg_fail(CLG_OUT_OF_HOST_MEMORY, "planning memory");
    if (st != CLG_OK) {
        free(fwd_pos), free(bwd_pos), free(value_end), free(grad_start);
        free(fwd_end), free(bwd_read), free(rpos), free(iv);
        return st;
    }
    for (int i = 0; i < n; i++)
        fwd_pos[i] = bwd_pos[i] = value_end[i] = grad_start[i] = fwd_end[i] =
            bwd_read[i] = -1;
    for (int k = 0; k < p->nfwd; k++)
        fwd_pos[p->fwd_order[k]] = value_end[p->fwd_order[k]] =
            fwd_end[p->fwd_order[k]] = k;
    for (int j = 0; j < p->nbwd; j++)
        bwd_pos[p->bwd_order[j]] = p->nfwd + j;

    /* A value lives until its last forward reader, and through the backward
     * of its readers (backward kernels read their inputs) and of itself,
     * unless that never reads it (CLG_OP_BACKWARD_SKIPS_OUTPUT). bwd_read:
     * the last backward position that reads it. */
    for (int k = 0; k < p->nfwd; k++) {
        clg_tensor *t = g->tensors[p->fwd_order[k]];
        int last = bwd_pos[t->id] > k ? bwd_pos[t->id] : k;
        /* a recomputed node reads its sources again in backward */
        if (p->inner[t->id] && last < rpos[t->segment])
            last = rpos[t->segment];
        for (int s = 0; s < t->nsrc; s++) {
            int r = clg_storage_root(t->src[s])->id;
            if (value_end[r] < last)
                value_end[r] = last;
            if (fwd_end[r] < k)
                fwd_end[r] = k;
            if (last >= p->nfwd && bwd_read[r] < last)
                bwd_read[r] = last;
        }
        int r = clg_storage_root(t)->id;
        if (t->op->flags & CLG_OP_BACKWARD_SKIPS_OUTPUT) /* to its recomputation */
            last = p->inner[t->id] ? rpos[t->segment] : k;
        if (value_end[r] < last)
            value_end[r] = last;
        if (last >= p->nfwd && bwd_read[r] < last)
            bwd_read[r] = last;
    }
    for (int i = 0; i < n; i++)
        if (p->kept[i])
            value_end[clg_storage_root(g->tensors[i])->id] = POS_END;
    /* A gradient lives from its first writer to its own node's backward. */
    for (int j = 0; j < p->nbwd; j++) {
        clg_tensor *t = g->tensors[p->bwd_order[j]];
        for (int s = 0; s < t->nsrc; s++) {
            int r = clg_storage_root(t->src[s])->id;
            if (p->rg[t->src[s]->id] && clg_differentiable(t, s) && grad_start[r] < 0)
                grad_start[r] = p->nfwd + j;
        }
    }
    if (p->loss)
        grad_start[p->loss->id] = p->nfwd - 1;
    /* A gradient over its value (CLG_OP_GRAD_OVER_SRC0): where the node
     * writes it first, no later backward reads the value, and the value is
     * no output read after training runs. */
    for (int j = 0; j < p->nbwd; j++) {
        clg_tensor *t = g->tensors[p->bwd_order[j]];
        if (!(t->op->flags & CLG_OP_GRAD_OVER_SRC0) || t->nsrc < 1)
            continue;
        const clg_tensor *r = clg_storage_root(t->src[0]);
        int here = p->nfwd + j;
        if (r->op && needed[r->id] && !p->inner[r->id] && grad_start[r->id] == here &&
            bwd_read[r->id] == here &&
            (value_end[r->id] < POS_END || p->outputs_after_eval))
            p->aliased[r->id] = true;
    }

    int count = 0;
    for (int i = 0; st == CLG_OK && i < n; i++) {
        clg_tensor *t = g->tensors[i];
        if (!needed[i] || t->view_of)
            continue;
        size_t bytes = clg_tensor_numel(t) * 4;
        /* A recomputed value: its forward's life, then its backward's from
         * the recomputation on, in two buffers. */
        if (t->op && p->inner[i]) {
            iv[count++] = (interval){bytes, fwd_pos[i], fwd_end[i], &p->value[i], 0};
            iv[count++] =
                (interval){bytes, rpos[t->segment], value_end[i], &p->value_bwd[i], 0};
        } else if (p->aliased[i]) /* through its gradient's life too */
            iv[count++] = (interval){
                bytes, fwd_pos[i],
                value_end[i] > bwd_pos[i] ? value_end[i] : bwd_pos[i], &p->value[i], 0};
        else if (t->op)
            iv[count++] = (interval){bytes, fwd_pos[i], value_end[i], &p->value[i], 0};
        if (t->op && grad_start[i] >= 0 && !p->aliased[i])
            iv[count++] = (interval){bytes, grad_start[i],
                                     bwd_pos[i] >= 0 ? bwd_pos[i] : grad_start[i],
                                     &p->grad[i], 0};
        if (t->op && t->op->aux_bytes) {
            size_t aux[CLG_MAX_AUX] = {0};
            t->op->aux_bytes(t, aux);
            for (int a = 0; a < CLG_MAX_AUX; a++) {
                bool backward_only = t->op->backward_aux & (1u << a);
                if (!aux[a] || (backward_only && bwd_pos[i] < 0))
                    continue; /* a backward's buffer, and no backward here */
                iv[count++] =
                    (interval){aux[a], backward_only ? bwd_pos[i] : fwd_pos[i],
                               bwd_pos[i] >= 0 ? bwd_pos[i] : fwd_pos[i],
                               &p->aux[i * CLG_MAX_AUX + a], 0};
            }
        }
        /* Leaves' gradients are not shared: the optimizer reads them. */
        if (!t->op && p->loss && p->rg[i]) {
            if (t->kind == CLG_KIND_PARAMETER && !t->grad_buffer)
                st = clg_buffer_create(p->ctx, bytes, &t->grad_buffer);
            else if (t->kind == CLG_KIND_INPUT)
                st = own_buffer(p, bytes, &p->grad[i]);
        }
    }
    if (st == CLG_OK)
        st = assign_buffers(p, iv, count);
    for (int i = 0; st == CLG_OK && i < n; i++)
        if (p->aliased[i])
            p->grad[i] = p->value[i];
    free(fwd_pos), free(bwd_pos), free(value_end), free(grad_start);
    free(fwd_end), free(bwd_read), free(rpos), free(iv);
    return st;
}
