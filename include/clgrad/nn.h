/*
 * clgrad/nn.h — layers, Sequential models and initialisation.
 *
 * A model is an nn.Sequential: layers numbered from 0 in the order added,
 * parameters named and laid out as its state_dict names them ("0.weight"
 * [out, in], "1.running_mean"), so weights move between clgrad and PyTorch.
 *
 *     clg_model_opts mo = CLG_MODEL_DEFAULTS;   // batch 64, PyTorch init, seed 0
 *     clg_model *m;
 *     clg_model_create(ctx, &mo, 1, (int[]){784}, &m);
 *     clg_model_add(m, CLG_LINEAR(256));
 *     clg_model_add(m, CLG_RELU());
 *     clg_model_add(m, CLG_LINEAR(10));
 *     clg_model_compile(m, CLG_LOSS_CROSS_ENTROPY, 0.0f);
 *     clg_model_summary(m, stdout);
 *
 * A residual block wraps the layers added between clg_model_begin_residual()
 * and clg_model_end_residual(): output = body(x) + x, or body(x) + proj(x)
 * when the shapes differ, proj being a 1x1 convolution (4-d) or a linear
 * layer (2-d). The block takes one index i; its layers are named
 * "i.body.j.weight", the projection "i.proj.weight" and "i.proj.bias" (in
 * PyTorch: a module with attributes body = nn.Sequential(...) and proj).
 */
#ifndef CLGRAD_NN_H
#define CLGRAD_NN_H

#include "api.h"

#include <stdint.h>
#include <stdio.h>

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_LAYER_TYPE_LIST(X)                                                         \
    X(CLG_LAYER_LINEAR, 0, "linear")                                                   \
    X(CLG_LAYER_CONV2D, 1, "conv2d")                                                   \
    X(CLG_LAYER_BATCHNORM1D, 2, "batchnorm1d")                                         \
    X(CLG_LAYER_BATCHNORM2D, 3, "batchnorm2d")                                         \
    X(CLG_LAYER_DROPOUT, 4, "dropout")                                                 \
    X(CLG_LAYER_MAXPOOL2D, 5, "maxpool2d")                                             \
    X(CLG_LAYER_AVGPOOL2D, 6, "avgpool2d")                                             \
    X(CLG_LAYER_GLOBALAVGPOOL, 7, "globalavgpool")                                     \
    X(CLG_LAYER_FLATTEN, 8, "flatten")                                                 \
    CLG_ACTIVATION_LIST(CLG_ACT_LAYER_TYPE_, X) /* relu, leakyrelu, ... */             \
    X(CLG_LAYER_SOFTMAX, 15, "softmax")                                                \
    X(CLG_LAYER_LOGSOFTMAX, 16, "logsoftmax")                                          \
    X(CLG_LAYER_EMBEDDING, 17, "embedding")                                            \
    X(CLG_LAYER_RESIDUAL, 18, "residual") /* a block, as clg_model_layer reports it */ \
    X(CLG_LAYER_LAYERNORM, 19, "layernorm")                                            \
    X(CLG_LAYER_TOKPOS, 20, "tokpos")                                                  \
    X(CLG_LAYER_ATTENTION, 21, "attention")                                            \
    X(CLG_LAYER_BLOCK, 22, "block")                                                    \
    X(CLG_LAYER_RMSNORM, 23, "rmsnorm")                                                \
    X(CLG_LAYER_CONVTRANSPOSE2D, 27, "convtranspose2d")                                \
    X(CLG_LAYER_UPSAMPLE, 28, "upsample")                                              \
    X(CLG_LAYER_ADAPTIVEAVGPOOL2D, 29, "adaptiveavgpool2d")

#define CLG_ACT_LAYER_TYPE_(X, ID, fn, name, code, layer, ...)                         \
    X(CLG_LAYER_##ID, layer, name)

typedef enum clg_layer_type { CLG_LAYER_TYPE_LIST(CLG_ENUM_VALUE) } clg_layer_type;

/* "linear", "conv2d", "batchnorm1d", ... as the model spec files spell them. */
CLG_API const char *clg_layer_type_str(clg_layer_type value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_layer_type_parse(const char *name, clg_layer_type *value);

typedef struct clg_layer {
    clg_layer_type type;
    int out;    /* linear out_features, conv out_channels, embedding dim,
                   adaptive pooling's output height */
    int kernel; /* conv, pools */
    int stride; /* conv (default 1), pools (0: = kernel) */
    int padding;
    int dilation;          /* conv; 0 means 1 */
    int groups;            /* conv; 0 means 1 */
    int output_padding;    /* convtranspose2d */
    int scale;             /* upsample's factor */
    bool bilinear;         /* upsample: mode=bilinear, not nearest */
    int out_w;             /* adaptive pooling's output width (0: = out) */
    bool no_bias;          /* linear, conv */
    float value;           /* dropout p, leaky slope, elu alpha, batchnorm momentum */
    float eps;             /* batchnorm, layernorm (0 means 1e-5), rmsnorm (0: 2^-23) */
    int vocab;             /* embedding, tokpos */
    int heads;             /* attention, block (out: their width) */
    bool approximate_tanh; /* gelu: GELU(approximate="tanh") */
    bool tie; /* linear: its weight is the model's token embedding's (the first
                 tokpos or embedding layer's, [out, in]), not its own: GPT-2's
                 lm_head; one tensor, saved once, its gradient both uses' sum */
} clg_layer;

#define CLG_LINEAR(n) ((clg_layer){.type = CLG_LAYER_LINEAR, .out = (n)})
#define CLG_CONV2D(c, k)                                                               \
    ((clg_layer){.type = CLG_LAYER_CONV2D, .out = (c), .kernel = (k), .stride = 1})
#define CLG_BATCHNORM1D()   ((clg_layer){.type = CLG_LAYER_BATCHNORM1D, .value = 0.1f})
#define CLG_BATCHNORM2D()   ((clg_layer){.type = CLG_LAYER_BATCHNORM2D, .value = 0.1f})
#define CLG_DROPOUT(p)      ((clg_layer){.type = CLG_LAYER_DROPOUT, .value = (p)})
#define CLG_MAXPOOL2D(k)    ((clg_layer){.type = CLG_LAYER_MAXPOOL2D, .kernel = (k)})
#define CLG_AVGPOOL2D(k)    ((clg_layer){.type = CLG_LAYER_AVGPOOL2D, .kernel = (k)})
#define CLG_GLOBALAVGPOOL() ((clg_layer){.type = CLG_LAYER_GLOBALAVGPOOL})
#define CLG_CONVTRANSPOSE2D(c, k)                                                      \
    ((clg_layer){                                                                      \
        .type = CLG_LAYER_CONVTRANSPOSE2D, .out = (c), .kernel = (k), .stride = 1})
#define CLG_UPSAMPLE(s) ((clg_layer){.type = CLG_LAYER_UPSAMPLE, .scale = (s)})
#define CLG_ADAPTIVEAVGPOOL2D(h)                                                       \
    ((clg_layer){.type = CLG_LAYER_ADAPTIVEAVGPOOL2D, .out = (h)})
#define CLG_FLATTEN()    ((clg_layer){.type = CLG_LAYER_FLATTEN})
#define CLG_RELU()       ((clg_layer){.type = CLG_LAYER_RELU})
#define CLG_LEAKYRELU(s) ((clg_layer){.type = CLG_LAYER_LEAKYRELU, .value = (s)})
#define CLG_ELU(a)       ((clg_layer){.type = CLG_LAYER_ELU, .value = (a)})
#define CLG_GELU()       ((clg_layer){.type = CLG_LAYER_GELU})
#define CLG_SIGMOID()    ((clg_layer){.type = CLG_LAYER_SIGMOID})
#define CLG_TANH()       ((clg_layer){.type = CLG_LAYER_TANH})
#define CLG_SOFTMAX()    ((clg_layer){.type = CLG_LAYER_SOFTMAX})
#define CLG_LOGSOFTMAX() ((clg_layer){.type = CLG_LAYER_LOGSOFTMAX})
#define CLG_EMBEDDING(v, d)                                                            \
    ((clg_layer){.type = CLG_LAYER_EMBEDDING, .vocab = (v), .out = (d)})
#define CLG_LAYERNORM() ((clg_layer){.type = CLG_LAYER_LAYERNORM})
#define CLG_RMSNORM()   ((clg_layer){.type = CLG_LAYER_RMSNORM})
#define CLG_TOKPOS(v, d)                                                               \
    ((clg_layer){.type = CLG_LAYER_TOKPOS, .vocab = (v), .out = (d)})
#define CLG_ATTENTION(d, h)                                                            \
    ((clg_layer){.type = CLG_LAYER_ATTENTION, .out = (d), .heads = (h)})
#define CLG_BLOCK(d, h) ((clg_layer){.type = CLG_LAYER_BLOCK, .out = (d), .heads = (h)})

/* The text layers, named as these PyTorch modules name their parameters
 * (GPT-2's layout, as in nanoGPT), over [N, T, C]:
 *
 *   tokpos V d     wte = nn.Embedding(V, d), wpe = nn.Embedding(T, d):
 *                  wte(ids) + wpe(arange(T)); "i.wte.weight", "i.wpe.weight"
 *   attention d h  causal multi-head self-attention: c_attn = nn.Linear(d, 3d)
 *                  gives q, k, v; softmax(q k^T / sqrt(d / h)) v per head;
 *                  c_proj = nn.Linear(d, d)
 *   block d h      x + attn(ln_1(x)), then x + mlp(ln_2(x)) with mlp =
 *                  nn.Sequential(nn.Linear(d, 4d), nn.GELU("tanh"),
 *                  nn.Linear(4d, d)); "i.ln_1.weight", "i.attn.c_attn.weight",
 *                  "i.mlp.0.weight", ...
 *   layernorm      nn.LayerNorm over the last dim (bias=false: no bias)
 *   rmsnorm        nn.RMSNorm over the last dim (eps default: float32's) */

/* Initialisation schemes. pytorch: what nn.Linear and nn.Conv2d do,
 * kaiming_uniform(a = sqrt 5) weights and U(+-1/sqrt fan_in) biases;
 * kaiming_*: He, ReLU gain, zero biases; xavier_*: Glorot, zero biases;
 * gpt2: GPT-2's, N(0, 0.02) weights and embeddings, zero biases, and the
 * residual projections of blocks (attn.c_proj, mlp.2) N(0, 0.02 /
 * sqrt(2 blocks)); layer norms start at 1 and 0 under every scheme. */
#define CLG_INIT_LIST(X)                                                               \
    X(CLG_INIT_PYTORCH, 0, "pytorch")                                                  \
    X(CLG_INIT_KAIMING_UNIFORM, 1, "kaiming_uniform")                                  \
    X(CLG_INIT_KAIMING_NORMAL, 2, "kaiming_normal")                                    \
    X(CLG_INIT_XAVIER_UNIFORM, 3, "xavier_uniform")                                    \
    X(CLG_INIT_XAVIER_NORMAL, 4, "xavier_normal")                                      \
    X(CLG_INIT_ZEROS, 5, "zeros")                                                      \
    X(CLG_INIT_ONES, 6, "ones")                                                        \
    X(CLG_INIT_GPT2, 7, "gpt2")

typedef enum clg_init { CLG_INIT_LIST(CLG_ENUM_VALUE) } clg_init;

/* "pytorch", "kaiming_uniform", ... as clgrad-train --init spells them. */
CLG_API const char *clg_init_str(clg_init value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_init_parse(const char *name, clg_init *value);

/* Losses: cross-entropy takes int labels [N]; the others float targets
 * shaped like the output. */
#define CLG_LOSS_TYPE_LIST(X)                                                          \
    X(CLG_LOSS_CROSS_ENTROPY, 0, "cross_entropy")                                      \
    X(CLG_LOSS_MSE, 1, "mse")                                                          \
    X(CLG_LOSS_L1, 2, "l1")                                                            \
    X(CLG_LOSS_BCE_WITH_LOGITS, 3, "bce")

typedef enum clg_loss_type { CLG_LOSS_TYPE_LIST(CLG_ENUM_VALUE) } clg_loss_type;

/* "cross_entropy", "mse", "l1", "bce". */
CLG_API const char *clg_loss_type_str(clg_loss_type value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_loss_type_parse(const char *name, clg_loss_type *value);

typedef struct clg_model_opts {
    int max_batch;         /* the largest batch the model runs */
    clg_dtype input_dtype; /* CLG_INT32 for token ids */
    clg_init init;
    uint64_t seed; /* initialisation and dropout masks */
    /* Each GPT block a recomputation segment (clg_graph_recompute_begin):
     * its activations computed again in backward, not kept. */
    bool recompute;
} clg_model_opts;

#define CLG_MODEL_DEFAULTS                                                             \
    {                                                                                  \
        .max_batch = 64, .input_dtype = CLG_FLOAT32, .init = CLG_INIT_PYTORCH,         \
        .seed = 0, .recompute = false                                                  \
    }

typedef struct clg_model clg_model;

/* A model whose samples have `ndim` dims `shape` (C H W for images, one
 * number for features or a sequence length). The model owns its graph, its
 * plan and its parameters; ctx must outlive it, and it must outlive the
 * optimizers made on its plan. Free with clg_model_free. */
CLG_API clg_status clg_model_create(clg_context *ctx, const clg_model_opts *opts,
                                    int ndim, const int *shape, clg_model **model);
CLG_API void clg_model_free(clg_model *model); /* accepts NULL */

/* Appends a layer, creating and initialising its parameters. A layer that
 * does not fit the current output is CLG_SHAPE_MISMATCH naming the layer's
 * index and both shapes. */
CLG_API clg_status clg_model_add(clg_model *model, clg_layer layer);
CLG_API clg_status clg_model_begin_residual(clg_model *model);
CLG_API clg_status clg_model_end_residual(clg_model *model);

/* Adds the loss and plans training (forward + backward). Once compiled,
 * layers cannot be added. */
CLG_API clg_status clg_model_compile(clg_model *model, clg_loss_type loss,
                                     float label_smoothing);

/* Freezes layers 0 .. count-1 (no gradients for their parameters); call
 * before clg_model_compile. */
CLG_API clg_status clg_model_freeze(clg_model *model, int count);

/* Prints each layer's index, type, output shape and parameter count, and the
 * totals, like Keras' model.summary(). */
CLG_API clg_status clg_model_summary(const clg_model *model, FILE *out);

/* Pieces, owned by the model. */
CLG_API clg_graph *clg_model_graph(const clg_model *model);
CLG_API clg_plan *clg_model_plan(const clg_model *model); /* NULL before compile */
CLG_API clg_tensor *clg_model_input(const clg_model *model);
/* The output: read it (clg_plan_read) after an evaluation run; after a
 * training run its buffer holds the loss's gradient (one [N, T, V] buffer
 * for GPT logits, not two), and clg_plan_read says so. */
CLG_API clg_tensor *clg_model_output(const clg_model *model);
CLG_API clg_tensor *clg_model_target(const clg_model *model); /* labels or targets */
CLG_API clg_tensor *clg_model_loss(const clg_model *model);
CLG_API clg_context *clg_model_context(const clg_model *model);
CLG_API int clg_model_max_batch(const clg_model *model);
CLG_API int clg_model_layer_count(const clg_model *model); /* top-level layers */
CLG_API const clg_layer *clg_model_layer(const clg_model *model, int index);
/* Scalars in the parameters (all, or only the unfrozen ones), as Keras'
 * count_params(); clg_model_tensor_count counts tensors. */
CLG_API size_t clg_model_parameter_numel(const clg_model *model, bool trainable_only);

/* Weights, running statistics and their names: every parameter and state
 * tensor of the model in creation order. */
CLG_API int clg_model_tensor_count(const clg_model *model);
CLG_API clg_tensor *clg_model_tensor(const clg_model *model, int i);

/* ---- Sampling ------------------------------------------------------------ */

/* Draws one token from a row of V logits as language models are sampled:
 * each logit divided by `temperature` (> 0; below 1 sharpens), all but the
 * `top_k` largest dropped (0, or V and more: none dropped; logits equal to
 * the k-th largest are all kept, as Hugging Face's top-k filter keeps
 * them), a softmax in double precision, and one uniform draw from *rng (a
 * splitmix64 state, advanced by one draw). `probs` (V doubles, or NULL)
 * receives the distribution drawn from. A non-finite logit fails with
 * CLG_NOT_FINITE naming its index; a bad argument with
 * CLG_INVALID_ARGUMENT. */
CLG_API clg_status clg_sample_token(const float *logits, int V, float temperature,
                                    int top_k, uint64_t *rng, double *probs,
                                    int32_t *token);

/* Generation from a causal language model (input `tokens T`, output [N, T,
 * V] logits, compiled): `count` tokens after the n >= 1 ids of `prompt`,
 * each drawn by clg_sample_token from the logits at the last position of
 * the last T tokens (a shorter context runs in the whole window: the
 * model is causal, so the positions after it change nothing), among the
 * first `vocab` ids (0: all V; fewer where the tokenizer has fewer ids than
 * the model's rows). The same seed gives the same tokens. on_token (or
 * NULL) is called after each token with out[0 .. k]; returning false stops.
 * *produced (or NULL) receives how many were drawn. */
typedef struct clg_generate_opts {
    float temperature;
    int top_k;
    uint64_t seed;
    int vocab;
    bool (*on_token)(const int32_t *tokens, int count, void *user);
    void *user;
} clg_generate_opts;

#define CLG_GENERATE_DEFAULTS                                                          \
    {                                                                                  \
        .temperature = 1.0f, .top_k = 0, .seed = 0, .vocab = 0, .on_token = NULL,      \
        .user = NULL                                                                   \
    }

CLG_API clg_status clg_generate(clg_model *model, const int32_t *prompt, size_t n,
                                int count, const clg_generate_opts *opts, int32_t *out,
                                int *produced);

/* ---- Model spec files --------------------------------------------------- */

/* A model described in text, one layer per line (see docs in the README):
 *
 *     input 1 28 28            # C H W; one number for features; tokens T
 *     conv2d 32 3 padding=1    # out_channels kernel [stride= padding= dilation=
 *                              # groups= bias=]
 *     batchnorm2d              # [momentum= eps=]
 *     relu
 *     maxpool2d 2              # kernel [stride= padding=]
 *     flatten
 *     dropout 0.25
 *     linear 10                # out_features [bias=]
 *     residual                 # a residual block, closed by `end`
 *
 * and for text (see the text layers above):
 *
 *     input tokens 64          # T, the context
 *     tokpos 96 128            # vocabulary dim
 *     block 128 4              # dim heads
 *     layernorm                # [eps=]
 *     linear 96
 *
 * Layers are numbered from 0 in file order, as in nn.Sequential. */
typedef struct clg_spec clg_spec;

/* Parses spec text; `source` names it in errors ("model.spec:4: conv2d:
 * unknown option 'pading' (options: stride, padding, dilation, bias)"). The
 * spec keeps a copy of the text; free it with clg_spec_free, which a model
 * built from it does not need. */
CLG_API clg_status clg_spec_parse(const char *text, const char *source,
                                  clg_spec **spec);
CLG_API clg_status clg_spec_load(const char *path, clg_spec **spec);
CLG_API void clg_spec_free(clg_spec *spec);

/* The text the spec was parsed from. */
CLG_API const char *clg_spec_text(const clg_spec *spec);

/* Sample shape and dtype of the spec's input line. */
CLG_API int clg_spec_input(const clg_spec *spec, int shape[3], clg_dtype *dtype);

/* Sets the output size of the last linear layer (the head) to `outputs` and
 * returns CLG_OK, or CLG_NOT_FOUND when the spec has no linear layer. */
CLG_API clg_status clg_spec_replace_head(clg_spec *spec, int outputs);

/* Builds the spec's layers into a new model; opts->input_dtype is taken from
 * the spec. A layer that does not fit is an error naming the file and line. */
CLG_API clg_status clg_model_from_spec(clg_context *ctx, const clg_spec *spec,
                                       const clg_model_opts *opts, clg_model **model);

#ifdef __cplusplus
}
#endif

#endif
