/* Learning-rate schedules with torch.optim.lr_scheduler's formulas, as pure
 * functions of the epoch (or step), plus the one stateful schedule: plateau. */
#include <math.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/text.h"
#include "clgrad/optim.h"

struct clg_schedule {
    clg_schedule_opts o;
    float base_lr;
    /* plateau: current lr, best loss, bad epochs, cooldown left */
    float lr, best;
    int bad, cooldown_left;
};

CLG_DEFINE_ENUM_NAMES(clg_schedule_type, CLG_SCHEDULE_TYPE_LIST, "schedule")

static clg_status check(const clg_schedule_opts *o, float base_lr)
{
#define BAD(cond, ...)                                                                 \
    if (cond)                                                                          \
    return clg_fail(CLG_INVALID_ARGUMENT, "schedule " __VA_ARGS__)
    BAD((unsigned)o->type > CLG_SCHEDULE_PLATEAU, "type %d is unknown", (int)o->type);
    BAD(!(base_lr >= 0.0f), "base learning rate %g must be >= 0", (double)base_lr);
    BAD(o->type == CLG_SCHEDULE_STEP && o->step_size < 1,
        "step: step_size %d must be >= 1", o->step_size);
    BAD(!(o->gamma > 0.0f), "gamma %g must be > 0", (double)o->gamma);
    BAD(o->milestone_count < 0 || o->milestone_count > CLG_MAX_MILESTONES,
        "multistep: %d milestones (at most %d)", o->milestone_count,
        CLG_MAX_MILESTONES);
    for (int i = 1; i < o->milestone_count; i++)
        BAD(o->milestones[i] <= o->milestones[i - 1],
            "multistep: milestones must increase (%d after %d)", o->milestones[i],
            o->milestones[i - 1]);
    BAD(o->type == CLG_SCHEDULE_COSINE && o->t_max < 1, "cosine: t_max %d must be >= 1",
        o->t_max);
    BAD(o->type == CLG_SCHEDULE_ONECYCLE &&
            (o->total_steps < 2 || !(o->pct_start > 0.0f && o->pct_start < 1.0f) ||
             !(o->max_lr > 0.0f) || !(o->div_factor > 0.0f) ||
             !(o->final_div_factor > 0.0f)),
        "onecycle: needs total_steps >= 2, pct_start in (0, 1), max_lr, div factors > "
        "0");
    BAD(o->type == CLG_SCHEDULE_PLATEAU && (!(o->factor > 0.0f && o->factor < 1.0f) ||
                                            o->patience < 0 || o->cooldown < 0),
        "plateau: factor %g must lie in (0, 1), patience and cooldown >= 0",
        (double)o->factor);
    BAD(o->warmup < 0 || !(o->warmup_start > 0.0f && o->warmup_start <= 1.0f),
        "warm-up: length %d must be >= 0 and start factor %g in (0, 1]", o->warmup,
        (double)o->warmup_start);
#undef BAD
    return CLG_OK;
}

clg_status clg_schedule_create(const clg_schedule_opts *opts, float base_lr,
                               clg_schedule **out)
{
    if (!opts || !out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_schedule_create: NULL argument");
    *out = NULL;
    clg_status s = check(opts, base_lr);
    if (s != CLG_OK)
        return s;
    clg_schedule *sc = calloc(1, sizeof *sc);
    if (!sc)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_schedule_create");
    sc->o = *opts;
    sc->base_lr = base_lr;
    sc->lr = base_lr;
    sc->best = INFINITY;
    *out = sc;
    return CLG_OK;
}

void clg_schedule_free(clg_schedule *s)
{
    free(s);
}

static double anneal_cos(double start, double end, double pct)
{
    return end + (start - end) / 2.0 * (cos(CLG_PI * pct) + 1.0);
}

/* torch's OneCycleLR, two phases, cosine annealing. */
static double onecycle(const clg_schedule_opts *o, long long step)
{
    double initial = o->max_lr / o->div_factor, min = initial / o->final_div_factor;
    double end1 = (double)o->pct_start * o->total_steps - 1, end2 = o->total_steps - 1;
    if (step <= end1)
        return anneal_cos(initial, o->max_lr, (double)step / end1);
    return anneal_cos(o->max_lr, min, ((double)step - end1) / (end2 - end1));
}

float clg_schedule_lr(const clg_schedule *s, int epoch, long long step)
{
    if (!s)
        return 0.0f;
    const clg_schedule_opts *o = &s->o;
    double lr = s->base_lr;
    switch (o->type) {
    case CLG_SCHEDULE_CONSTANT:
        break;
    case CLG_SCHEDULE_STEP:
        lr *= pow(o->gamma, epoch / o->step_size);
        break;
    case CLG_SCHEDULE_MULTISTEP: {
        int passed = 0;
        while (passed < o->milestone_count && o->milestones[passed] <= epoch)
            passed++;
        lr *= pow(o->gamma, passed);
        break;
    }
    case CLG_SCHEDULE_EXPONENTIAL:
        lr *= pow(o->gamma, epoch);
        break;
    case CLG_SCHEDULE_COSINE:
        lr = o->eta_min +
             (lr - o->eta_min) * (1.0 + cos(CLG_PI * epoch / o->t_max)) / 2.0;
        break;
    case CLG_SCHEDULE_ONECYCLE:
        lr = onecycle(o, step);
        break;
    case CLG_SCHEDULE_PLATEAU:
        lr = s->lr;
        break;
    }
    /* Linear warm-up multiplies whatever the schedule says, counted in steps
     * for onecycle and epochs otherwise: torch's LinearLR chained with the
     * schedule (ChainedScheduler), exactly so for step, multistep,
     * exponential and plateau. With cosine, torch applies its recursive
     * cosine formula to the warmed-up rate, which strays up to 2e-5 (relative)
     * from this closed-form product during the warm-up. */
    long long t = o->type == CLG_SCHEDULE_ONECYCLE ? step : epoch;
    if (o->warmup > 0 && t < o->warmup)
        lr *= o->warmup_start + (1.0 - o->warmup_start) * (double)t / o->warmup;
    return (float)lr;
}

void clg_schedule_observe(clg_schedule *s, float val_loss)
{
    if (!s || s->o.type != CLG_SCHEDULE_PLATEAU)
        return;
    const clg_schedule_opts *o = &s->o;
    if (val_loss < s->best * (1.0f - o->threshold)) {
        s->best = val_loss;
        s->bad = 0;
    } else {
        s->bad++;
    }
    if (s->cooldown_left > 0) {
        s->cooldown_left--;
        s->bad = 0;
    }
    if (s->bad > o->patience) {
        float reduced = fmaxf(s->lr * o->factor, o->min_lr);
        if (s->lr - reduced > 1e-8f)
            s->lr = reduced;
        s->cooldown_left = o->cooldown;
        s->bad = 0;
    }
}

void clg_schedule_state(const clg_schedule *s, float state[4])
{
    state[0] = s->lr, state[1] = s->best;
    state[2] = (float)s->bad, state[3] = (float)s->cooldown_left;
}

void clg_schedule_set_state(clg_schedule *s, const float state[4])
{
    s->lr = state[0], s->best = state[1];
    s->bad = (int)state[2], s->cooldown_left = (int)state[3];
}
