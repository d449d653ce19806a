/* Drawing a token from a row of logits (clg_sample_token). */
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
