/*
 * Sums that keep float32's precision however many terms they add, in a fixed
 * order so that the same inputs give the same bits on a device:
 *
 * - clg_ksum, Kahan's compensated sum: its error stays within a few ulp of
 *   the exact sum instead of growing with the number of terms, as a plain
 *   serial float sum's does (12,544 terms of a batch norm channel lost
 *   three decimal digits of the gradient that way);
 * - group_sum, a work-group's values added in a fixed binary tree.
 *
 * A reduction over many values takes one work-group of L work-items (a
 * power of two up to CLG_GROUP_MAX): work-item l adds terms l, l + L, ...
 * with clg_ksum, then group_sum adds the L partial sums. Every work-item of
 * the group must reach group_sum (it has barriers). Built without
 * -cl-fast-relaxed-math, so the compiler keeps the compensation.
 */
#ifndef CLGRAD_SUM_H
#define CLGRAD_SUM_H

#define CLG_GROUP_MAX 64

typedef struct clg_ksum {
    float sum, c; /* c: what the last additions lost, to take back */
} clg_ksum;

static void ksum_add(clg_ksum *k, const float v)
{
    const float y = v - k->c;
    const float t = k->sum + y;
    const float lost = (t - k->sum) - y;
    k->c = isfinite(lost) ? lost : 0.0f; /* inf and NaN sums stay what they are */
    k->sum = t;
}

static float ksum_value(const clg_ksum k)
{
    return k.sum - k.c;
}

/* The sum of v over the work-group, in a fixed tree; every work-item gets
 * it. scratch holds CLG_GROUP_MAX floats of local memory. */
static float group_sum(const float v, __local float *scratch)
{
    const int l = get_local_id(0), L = get_local_size(0);
    scratch[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = L / 2; width > 0; width /= 2) {
        if (l < width)
            scratch[l] += scratch[l + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch may be used again at once */
    return total;
}

/* This work-item's share of the elements (o, i), o < outer, i < inner, of
 * one channel: k = l, l + L, ... with o = k / inner, i = k % inner.
 *     for (walk_start(inner, &o, &i); o < outer; walk_next(inner, &o, &i)) */
static void walk_start(const int inner, int *o, int *i)
{
    const int k = get_local_id(0);
    *o = k / inner;
    *i = k % inner;
}

static void walk_next(const int inner, int *o, int *i)
{
    const int L = get_local_size(0);
    *o += L / inner;
    *i += L % inner;
    if (*i >= inner) {
        *i -= inner;
        *o += 1;
    }
}

#endif
