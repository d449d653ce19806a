/*
 * clgrad/optim.h — optimizers, gradient clipping, regularisation and
 * learning-rate schedules, with torch.optim's formulas.
 *
 *     clg_optim_opts o = CLG_OPTIM_DEFAULTS;   // SGD, lr 0.01
 *     o.type = CLG_OPTIM_ADAMW;
 *     o.lr = 1e-3f;
 *     o.weight_decay = 0.01f;
 *     o.clip_norm = 1.0f;
 *     clg_optimizer *opt;
 *     clg_optim_create(plan, &o, &opt);
 *     for each step:
 *         clg_plan_run(plan, batch, CLG_RUN_TRAIN);
 *         clg_optim_step(opt);                    // enqueued, no host wait
 *
 * An optimizer updates every unfrozen parameter of the plan's graph, one
 * fused kernel per parameter. Each step also computes every parameter's
 * gradient norm on the device; a step whose loss or gradients are not finite
 * leaves the weights as they were, and so does every step after it until
 * clg_optim_check() reports it, naming the step and the parameter that went
 * bad: a loop may check every few steps, not after each, and lose nothing.
 */
#ifndef CLGRAD_OPTIM_H
#define CLGRAD_OPTIM_H

#include "api.h"

#include <stdbool.h>

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_OPTIM_TYPE_LIST(X)                                                         \
    X(CLG_OPTIM_SGD, 0, "sgd")                                                         \
    X(CLG_OPTIM_ADAM, 1, "adam")                                                       \
    X(CLG_OPTIM_ADAMW, 2, "adamw")                                                     \
    X(CLG_OPTIM_RMSPROP, 3, "rmsprop")                                                 \
    X(CLG_OPTIM_ADAGRAD, 4, "adagrad")

typedef enum clg_optim_type { CLG_OPTIM_TYPE_LIST(CLG_ENUM_VALUE) } clg_optim_type;

/* "sgd", "adam", "adamw", "rmsprop", "adagrad". */
CLG_API const char *clg_optim_type_str(clg_optim_type value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_optim_type_parse(const char *name, clg_optim_type *value);

/* Hyperparameters are doubles, as torch.optim's are Python floats: every
 * one-minus and quotient the update needs (1 - beta2, lr / (1 - beta1^t))
 * is computed from them in double and rounded once, as torch computes it,
 * not from a float already rounded (1 - 0.999f is off by 1.3e-5). */
typedef struct clg_optim_opts {
    clg_optim_type type;
    double lr;
    double momentum;            /* SGD, RMSprop */
    double dampening;           /* SGD */
    bool nesterov;              /* SGD */
    double weight_decay;        /* L2, added to the gradient; AdamW: decoupled */
    double l1;                  /* L1 penalty: adds l1 * sign(w) to the gradient */
    bool decay_biases;          /* false: 1-d parameters (biases, norm scales) get no
                                   weight decay and no L1 */
    double beta1, beta2;        /* Adam, AdamW */
    double eps;                 /* Adam, AdamW, RMSprop, Adagrad */
    double alpha;               /* RMSprop smoothing */
    bool centered;              /* RMSprop */
    double lr_decay;            /* Adagrad */
    double initial_accumulator; /* Adagrad */
    double clip_norm;  /* > 0: scale gradients to this global L2 norm at most */
    double clip_value; /* > 0: clamp each gradient element to [-v, v] */
} clg_optim_opts;

/* torch.optim's defaults; eps is set per type when left at 0 (1e-8, Adagrad
 * 1e-10). */
#define CLG_OPTIM_DEFAULTS                                                             \
    {                                                                                  \
        .type = CLG_OPTIM_SGD, .lr = 0.01, .momentum = 0.0, .dampening = 0.0,          \
        .nesterov = false, .weight_decay = 0.0, .l1 = 0.0, .decay_biases = true,       \
        .beta1 = 0.9, .beta2 = 0.999, .eps = 0.0, .alpha = 0.99, .centered = false,    \
        .lr_decay = 0.0, .initial_accumulator = 0.0, .clip_norm = 0.0,                 \
        .clip_value = 0.0                                                              \
    }

typedef struct clg_optimizer clg_optimizer;

/* An optimizer over the unfrozen parameters of the plan's graph; the plan
 * must have a loss. Checks the options (negative rates, betas outside
 * [0, 1), Nesterov without momentum, ...). It updates the parameters'
 * buffers and reads the plan's gradients and loss: the plan (or the model
 * that owns it) must outlive it. Free with clg_optim_free. */
CLG_API clg_status clg_optim_create(clg_plan *plan, const clg_optim_opts *opts,
                                    clg_optimizer **optim);
CLG_API void clg_optim_free(clg_optimizer *optim); /* accepts NULL */

/* Bytes the device holds for the optimizer: its state (momentum, Adam's
 * moments) and its norms' buffers (clg_memory_report's optimizer). */
CLG_API uint64_t clg_optim_memory(const clg_optimizer *optim);

/* Enqueues one update from the gradients of the plan's last training run:
 * gradient norms, clipping, regularisation, the update. */
CLG_API clg_status clg_optim_step(clg_optimizer *optim);

/* Waits for the steps enqueued and reports: CLG_OK when every step since
 * the last check had a finite loss and finite gradients and was applied;
 * otherwise CLG_NOT_FINITE with a sentence naming the first bad step, the
 * first parameter whose gradient was not finite there (or the loss), and
 * that the weights were left unchanged. That step and the ones after it
 * were skipped: the optimizer goes on from the step before it
 * (clg_optim_steps counts the steps applied again), and the next step is
 * applied if it is finite. */
CLG_API clg_status clg_optim_check(clg_optimizer *optim);

/* Global gradient L2 norm of the last step (before clipping), and each
 * parameter's, in clg_graph_parameter order of the optimized ones; these
 * wait for the device. */
CLG_API clg_status clg_optim_grad_norm(clg_optimizer *optim, float *norm);
CLG_API clg_status clg_optim_grad_norms(clg_optimizer *optim, float *norms, int count);
/* Each parameter's gradient norm summed over the steps applied since the
 * last call (or the optimizer's creation), and the sums start again from
 * zero: diagnostics over an epoch without a read per step. Waits. */
CLG_API clg_status clg_optim_take_grad_norm_sums(clg_optimizer *optim, float *sums,
                                                 int count);
CLG_API int clg_optim_param_count(const clg_optimizer *optim);
CLG_API clg_tensor *clg_optim_param(const clg_optimizer *optim, int i);

/* The options in force (eps filled in, lr as last set). */
CLG_API const clg_optim_opts *clg_optim_options(const clg_optimizer *optim);
CLG_API float clg_optim_lr(const clg_optimizer *optim);
CLG_API void clg_optim_set_lr(clg_optimizer *optim, float lr);
CLG_API long long clg_optim_steps(const clg_optimizer *optim); /* updates applied */

/* Optimizer state of parameter i (moments, momentum buffers), for
 * checkpoints: slot 0..2, NULL where the type keeps none. Names as in
 * torch.optim's state_dict: "momentum_buffer", "exp_avg", "exp_avg_sq",
 * "square_avg", "grad_avg", "sum". */
CLG_API clg_buffer *clg_optim_state(const clg_optimizer *optim, int i, int slot,
                                    const char **name);
CLG_API void clg_optim_set_steps(clg_optimizer *optim, long long steps);

/* ---- Learning-rate schedules -------------------------------------------- */

/* constant; step: lr * gamma^(epoch / step_size); multistep: lr *
 * gamma^(milestones passed); exp: lr * gamma^epoch; cosine: to eta_min over
 * t_max epochs; onecycle: per step, torch's OneCycleLR (cosine); plateau:
 * times factor on a stalled validation loss. */
#define CLG_SCHEDULE_TYPE_LIST(X)                                                      \
    X(CLG_SCHEDULE_CONSTANT, 0, "constant")                                            \
    X(CLG_SCHEDULE_STEP, 1, "step")                                                    \
    X(CLG_SCHEDULE_MULTISTEP, 2, "multistep")                                          \
    X(CLG_SCHEDULE_EXPONENTIAL, 3, "exp")                                              \
    X(CLG_SCHEDULE_COSINE, 4, "cosine")                                                \
    X(CLG_SCHEDULE_ONECYCLE, 5, "onecycle")                                            \
    X(CLG_SCHEDULE_PLATEAU, 6, "plateau")

typedef enum clg_schedule_type {
    CLG_SCHEDULE_TYPE_LIST(CLG_ENUM_VALUE)
} clg_schedule_type;

/* "constant", "step", "multistep", "exp", "cosine", "onecycle", "plateau". */
CLG_API const char *clg_schedule_type_str(clg_schedule_type value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_schedule_type_parse(const char *name, clg_schedule_type *value);

#define CLG_MAX_MILESTONES 16

typedef struct clg_schedule_opts {
    clg_schedule_type type;
    int step_size;                      /* step */
    float gamma;                        /* step, multistep, exponential */
    int milestones[CLG_MAX_MILESTONES]; /* multistep, increasing epochs */
    int milestone_count;
    int t_max;                                     /* cosine: epochs */
    float eta_min;                                 /* cosine */
    float max_lr;                                  /* onecycle */
    int total_steps;                               /* onecycle */
    float pct_start, div_factor, final_div_factor; /* onecycle */
    float factor;                                  /* plateau */
    int patience, cooldown;                        /* plateau */
    float threshold;                               /* plateau, relative */
    float min_lr;                                  /* plateau */
    int warmup;         /* linear warm-up length (epochs; steps for onecycle) */
    float warmup_start; /* its first factor, rising linearly to 1 */
} clg_schedule_opts;

#define CLG_SCHEDULE_DEFAULTS                                                          \
    {                                                                                  \
        .type = CLG_SCHEDULE_CONSTANT, .step_size = 30, .gamma = 0.1f,                 \
        .milestones = {0}, .milestone_count = 0, .t_max = 10, .eta_min = 0.0f,         \
        .max_lr = 0.1f, .total_steps = 1000, .pct_start = 0.3f, .div_factor = 25.0f,   \
        .final_div_factor = 1e4f, .factor = 0.1f, .patience = 10, .cooldown = 0,       \
        .threshold = 1e-4f, .min_lr = 0.0f, .warmup = 0, .warmup_start = 1.0f / 3.0f   \
    }

typedef struct clg_schedule clg_schedule;

/* A schedule from base_lr; it is host-side state of its own, borrowed by
 * clg_fit through clg_fit_opts. Free with clg_schedule_free. */
CLG_API clg_status clg_schedule_create(const clg_schedule_opts *opts, float base_lr,
                                       clg_schedule **schedule);
CLG_API void clg_schedule_free(clg_schedule *schedule);

/* The learning rate for an epoch (0-based) and a global step (0-based, for
 * per-step schedules). */
CLG_API float clg_schedule_lr(const clg_schedule *schedule, int epoch, long long step);

/* Tells a plateau schedule the epoch's validation loss; no-op otherwise. */
CLG_API void clg_schedule_observe(clg_schedule *schedule, float val_loss);

/* Plateau state, for checkpoints. */
CLG_API void clg_schedule_state(const clg_schedule *schedule, float state[4]);
CLG_API void clg_schedule_set_state(clg_schedule *schedule, const float state[4]);

#ifdef __cplusplus
}
#endif

#endif
