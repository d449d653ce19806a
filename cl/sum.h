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
 * A per-channel reduction over [outer, C, inner] takes one work-group of L
 * work-items per channel (L a power of two up to CLG_GROUP_MAX; 16 on CPU
 * devices, src/runtime/cmdlist.c): in each plane o, work-item l adds
 * elements l, l + L, ... plainly, CLG_PLAIN_TERMS at a time, and each such
 * short sum into its clg_ksum; group_sum then adds the L results. With
 * CLG_MASKED_PASSES every work-item makes the same number of passes.
 * Where inner is 1 (bias gradients of [rows, C]) one work-item adds four
 * neighbouring columns, a clg_ksum4 down them, so neighbours read
 * neighbouring floats.
 * Every work-item of a group must reach group_sum (it has barriers). Built
 * without -cl-fast-relaxed-math, so the compiler keeps the compensation.
 */
#ifndef CLGRAD_SUM_H
#define CLGRAD_SUM_H

#define CLG_GROUP_MAX 64
/* 1 where the runtime asks for reductions whose work-items all make the
 * same number of passes, reading as 0 what lies past the end (the device's
 * compiler vectorises only those; src/runtime/program.c). Both forms add
 * the same terms in the same order; the masked one's passes past the end
 * add zeros, which may move the last bit. */
#ifndef CLG_MASKED_PASSES
#define CLG_MASKED_PASSES 0
#endif
/* Terms a work-item adds plainly before each compensated step. */
#define CLG_PLAIN_TERMS 8

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

/* clg_ksum on four lanes at once, each lane as ksum_add would do it. */
typedef struct clg_ksum4 {
    float4 sum, c;
} clg_ksum4;

static void ksum4_add(clg_ksum4 *k, const float4 v)
{
    const float4 y = v - k->c;
    const float4 t = k->sum + y;
    const float4 lost = (t - k->sum) - y;
    k->c = select((float4)(0.0f), lost, isfinite(lost));
    k->sum = t;
}

static float4 ksum4_value(const clg_ksum4 k)
{
    return k.sum - k.c;
}

/* A clg_ksum4's four lanes added to k, lane 0 first. */
static void ksum_add_lanes(clg_ksum *k, const clg_ksum4 k4)
{
    const float4 lanes = ksum4_value(k4);
    ksum_add(k, lanes.s0);
    ksum_add(k, lanes.s1);
    ksum_add(k, lanes.s2);
    ksum_add(k, lanes.s3);
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

/* The sum of x[start, end) (of the squares where `square`, a constant at
 * each call) over the work-group that owns the range; every work-item gets
 * it. With CLG_MASKED_PASSES (Intel's CPU runtime) work-item l adds
 * elements l, l + L, ..., all in the same number of passes; else float4
 * blocks l, l + L, ... into four lanes, added in lane order, work-item 0
 * adding the floats that fill no block. CLG_PLAIN_TERMS at a time plainly,
 * then into a compensated sum, the work-items' results by group_sum. A
 * float per work-item and pass, in passes of differing counts, ran
 * unvectorised on both CPU runtimes: PoCL does not vectorise a loop of
 * float sums across work-items (it may not reorder them; a float a pass
 * took 2.5x the time of the float4 blocks), Intel's runtime ran the float4
 * form at twice the masked one's time. sumsq_chunks (gradient norms) and
 * sum_partials (sums over everything) use it. */
static float range_group_sum(__global const float *x, const int start, const int end,
                             const bool square, __local float *scratch)
{
    const int l = get_local_id(0), L = get_local_size(0);
    clg_ksum k = {0.0f, 0.0f};
#if CLG_MASKED_PASSES
    for (int base = start; base < end; base += L * CLG_PLAIN_TERMS) {
        float part = 0.0f;
        for (int m = 0; m < CLG_PLAIN_TERMS; m++) {
            const int i = base + m * L + l;
            const float v = i < end ? x[i] : 0.0f;
            part += square ? v * v : v;
        }
        ksum_add(&k, part);
    }
#else
    const int blocks = (end - start) / 4;
    __global const float *from = x + start;
    clg_ksum4 k4 = {(float4)(0.0f), (float4)(0.0f)};
    for (int base = 0; base < blocks; base += L * CLG_PLAIN_TERMS) {
        float4 part = (float4)(0.0f);
        for (int m = 0; m < CLG_PLAIN_TERMS; m++) {
            const int b = base + m * L + l;
            const float4 v = b < blocks ? vload4(b, from) : (float4)(0.0f);
            part += square ? v * v : v;
        }
        ksum4_add(&k4, part);
    }
    ksum_add_lanes(&k, k4);
    for (int i = start + 4 * blocks; l == 0 && i < end; i++)
        ksum_add(&k, square ? x[i] * x[i] : x[i]);
#endif
    return group_sum(ksum_value(k), scratch);
}

/* The sum of channel c of x [outer, C, inner] over the work-group that owns
 * the channel, as described above: in each plane a plain sum of every L-th
 * element, that into a compensated sum, the work-items' results by
 * group_sum. Every work-item gets it. */
static float channel_group_sum(__global const float *x, const int outer, const int C,
                               const int inner, const int c, __local float *scratch)
{
    const int l = get_local_id(0), L = get_local_size(0);
    clg_ksum k = {0.0f, 0.0f};
    for (int o = 0; o < outer; o++) {
        __global const float *plane = x + ((size_t)o * C + c) * inner;
#if CLG_MASKED_PASSES
        for (int base = 0; base < inner; base += L * CLG_PLAIN_TERMS) {
            float part = 0.0f;
            for (int m = 0; m < CLG_PLAIN_TERMS; m++) {
                const int i = base + m * L + l;
                part += i < inner ? plane[i] : 0.0f;
            }
            ksum_add(&k, part);
        }
#else
        for (int i = l; i < inner;) {
            float part = 0.0f;
            for (int m = 0; m < CLG_PLAIN_TERMS && i < inner; m++, i += L)
                part += plane[i];
            ksum_add(&k, part);
        }
#endif
    }
    return group_sum(ksum_value(k), scratch);
}

/* The row's maximum and the sum of exp(x - max): softmax = exp(x - m) / sum.
 * Four at a time as float4s (a vector exp: PoCL, which does not vectorise
 * float sums across work-items, ran every exp alone; cross-entropy's and
 * softmax's rows on PoCL), sums in four lanes of CLG_PLAIN_TERMS terms
 * plainly per compensated step (a compensated step per term cost PoCL
 * most of the loss's time; docs/performance.md), lane 0 first, then the
 * tail. */
static void softmax_terms(__global const float *x, const int C, float *m, float *sum)
{
    const int blocks = C / 4;
    float4 mx4 = (float4)(-INFINITY);
    for (int b = 0; b < blocks; b++)
        mx4 = fmax(mx4, vload4(b, x));
    float mx = fmax(fmax(mx4.x, mx4.y), fmax(mx4.z, mx4.w));
    for (int c = 4 * blocks; c < C; c++)
        mx = fmax(mx, x[c]);
    clg_ksum4 k4 = {(float4)(0.0f), (float4)(0.0f)};
    for (int b = 0; b < blocks;) {
        float4 part = (float4)(0.0f);
        for (int t = 0; t < CLG_PLAIN_TERMS && b < blocks; t++, b++)
            part += exp(vload4(b, x) - mx);
        ksum4_add(&k4, part);
    }
    clg_ksum s = {0.0f, 0.0f};
    ksum_add_lanes(&s, k4);
    for (int c = 4 * blocks; c < C; c++)
        ksum_add(&s, exp(x[c] - mx));
    *m = mx;
    *sum = ksum_value(s);
}

#endif
