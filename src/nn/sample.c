/* Drawing a token from a row of logits (clg_sample_token), and text from a
 * language model (clg_generate). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "nn/nn_internal.h"

static int descending(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The k-th largest of the V logits. */
static clg_status kth_largest(const float *logits, int V, int k, float *cut)
{
    float *sorted = malloc((size_t)V * sizeof *sorted);
    if (!sorted)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "sampling: sorting %d logits", V);
    memcpy(sorted, logits, (size_t)V * sizeof *sorted);
    qsort(sorted, (size_t)V, sizeof *sorted, descending);
    *cut = sorted[k - 1];
    free(sorted);
    return CLG_OK;
}

clg_status clg_sample_token(const float *logits, int V, float temperature, int top_k,
                            uint64_t *rng, double *probs, int32_t *token)
{
    if (!logits || !rng || !token || V < 1)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_sample_token: NULL argument or %d logits", V);
    if (!(temperature > 0) || !isfinite(temperature) || top_k < 0)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_sample_token: temperature %g (must be > 0) or top-k %d "
                        "(must be >= 0)",
                        (double)temperature, top_k);
    double top = -INFINITY;
    for (int v = 0; v < V; v++) {
        if (!isfinite(logits[v]))
            return clg_fail(CLG_NOT_FINITE,
                            "sampling: logit %d of %d is %g: the model's output is not "
                            "finite",
                            v, V, (double)logits[v]);
        top = fmax(top, logits[v]);
    }
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) {
        clg_status s = kth_largest(logits, V, top_k, &cut);
        if (s != CLG_OK)
            return s;
    }
    double *p = probs ? probs : malloc((size_t)V * sizeof *p), sum = 0;
    if (!p)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "sampling: %d probabilities", V);
    for (int v = 0; v < V; v++) {
        p[v] = logits[v] >= cut ? exp(((double)logits[v] - top) / temperature) : 0;
        sum += p[v];
    }
    for (int v = 0; v < V; v++)
        p[v] /= sum;
    /* the first token whose cumulative probability passes u; where rounding
     * leaves u past the last, the last one possible */
    double u = clg_rng_uniform(rng);
    int32_t pick = -1;
    for (int v = 0; v < V && pick < 0; v++) {
        u -= p[v];
        if (u < 0 && p[v] > 0)
            pick = v;
    }
    for (int v = V - 1; pick < 0 && v >= 0; v--)
        if (p[v] > 0)
            pick = v;
    *token = pick;
    if (!probs)
        free(p);
    return CLG_OK;
}

clg_status clg_generate(clg_model *m, const int32_t *prompt, size_t n, int count,
                        const clg_generate_opts *o, int32_t *out, int *produced)
{
    if (produced)
        *produced = 0;
    if (!m || !prompt || !n || count < 0 || (count && !out) || !o)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_generate: %s",
                        !m || !o        ? "NULL model or options"
                        : !prompt || !n ? "an empty prompt (give at least one id)"
                        : count < 0     ? "a negative count"
                                        : "NULL output");
    clg_plan *plan = clg_model_plan(m);
    clg_tensor *in = clg_model_input(m), *logits_t = clg_model_output(m);
    if (!plan || clg_tensor_dtype(in) != CLG_INT32 || clg_tensor_ndim(in) != 2 ||
        clg_tensor_ndim(logits_t) != 3)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_generate: the model is not a compiled language model "
                        "(input tokens T, [N, T, V] logits)");
    int T = clg_tensor_dim(in, 1), V = clg_tensor_dim(logits_t, 2);
    int limit = o->vocab > 0 && o->vocab < V ? o->vocab : V;
    for (size_t i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return clg_fail(CLG_INVALID_ARGUMENT,
                            "clg_generate: prompt id %d at %zu is outside the model's "
                            "%d ids",
                            (int)prompt[i], i, V);
    int32_t *window = calloc((size_t)T, sizeof *window);
    float *logits = malloc((size_t)T * V * sizeof *logits);
    double *p = malloc((size_t)V * sizeof *p);
    clg_status s = window && logits && p ? CLG_OK
                                         : clg_fail(CLG_OUT_OF_HOST_MEMORY,
                                                    "clg_generate: %d logits", T * V);
    uint64_t rng = o->seed * CLG_RNG_GOLDEN + 1;
    for (int k = 0; s == CLG_OK && k < count; k++) {
        size_t have = n + (size_t)k, L = have < (size_t)T ? have : (size_t)T;
        for (size_t i = 0; i < L; i++) {
            size_t at = have - L + i;
            window[i] = at < n ? prompt[at] : out[at - n];
        }
        s = clg_tensor_upload(in, window, (size_t)T);
        if (s == CLG_OK)
            s = clg_plan_run(plan, 1, CLG_RUN_EVAL);
        if (s == CLG_OK)
            s = clg_plan_read(plan, logits_t, logits, (size_t)T * V);
        if (s == CLG_OK)
            s = clg_sample_token(logits + (L - 1) * (size_t)V, limit, o->temperature,
                                 o->top_k, &rng, p, &out[k]);
        if (s == CLG_OK && produced)
            *produced = k + 1;
        if (s == CLG_OK && o->on_token && !o->on_token(out, k + 1, o->user))
            break;
    }
    free(window), free(logits), free(p);
    return s;
}
