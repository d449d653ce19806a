/* test_ops' cases: what each op case takes (op_case), the builders and
 * host references of each family (op_build.c) and the table of cases
 * (op_table.c). */
#ifndef CLGRAD_TEST_OP_CASE_H
#define CLGRAD_TEST_OP_CASE_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/ops_internal.h"
#include "reference.h"

enum { IN_X, IN_P, IN_S, IN_ID, IN_TARGET }; /* input kinds */

typedef struct input_spec {
    int kind; /* IN_X: batched float with gradient; IN_P: parameter; IN_S: state;
                 IN_ID: batched int32 in [0, limit); IN_TARGET: batched float */
    int ndim;
    int shape[4];
    int limit;
} input_spec;

typedef struct op_case op_case;
struct op_case {
    const char *name;
    int nin;
    input_spec in[5];
    clg_tensor *(*build)(clg_graph *g, clg_tensor **in, const op_case *c);
    /* out = op(in) on the host; y gives the output shape at the run batch. */
    void (*ref)(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
    /* What the op takes; each family reads its own fields. */
    clg_conv2d_opts conv;
    clg_conv_transpose2d_opts tconv;
    struct {
        int size[2]; /* upsampling's factors, adaptive pooling's output */
        bool bilinear, adaptive;
    } resample;
    struct {
        int kernel, stride, padding;
        bool max;
    } pool;
    clg_activation act;
    ref_binop binop;
    ref_reduction reduction;
    int axis;
    ref_loss loss;
    bool log;          /* log_softmax */
    bool sum;          /* losses: sum, not mean */
    float value;       /* slope, alpha, factor, smoothing, dropout p */
    uint64_t seed;     /* dropout */
    int batch;         /* run batch; 0: the planned one */
    bool unbatched;    /* the output has no batch dimension (a reduction over it) */
    bool on_both_gemm; /* also run on the CLBlast and the native GEMM path */
    int perm[4];       /* permute */
    bool ta, tb;       /* matmul transposes */
    int start, length; /* narrow, along `axis` */
    int heads;         /* attention (0: 2) */
    bool by_class;     /* its family's kernels differ by device class: run it
                          in every class's forms (clg_kernel_class) */
};

/* Each family's builder (the op on the case's inputs) and host reference. */
clg_tensor *b_linear(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_conv(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_convs(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_tconv(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_resample(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_pool(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_pools(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_gap(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_bn(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_bn_relu(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_unary(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_softmax(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_softmaxes(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_binary(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_residual(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_concat(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_flatten_linear(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_embedding(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_reduce(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_ce(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_pointwise(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_dropout(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_dropout_residual(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_layer_norm(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_rms_norm(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_causal(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_matmul(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_permute(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_narrow(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_attention(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_fused_attention(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_tiled_attention(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_tiled_attention_plus_q(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_recomputed_attention(clg_graph *g, clg_tensor **in, const op_case *c);
clg_tensor *b_recomputed_attention_plus_q(clg_graph *g, clg_tensor **in,
                                          const op_case *c);
void r_linear(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_conv(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_convs(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_tconv(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_resample(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_pool(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_pools(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_gap(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_bn(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_bn_relu(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_unary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_softmax(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_softmaxes(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_binary(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_residual(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_concat(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_flatten_linear(const op_case *c, ref_tensor *in, const ref_tensor *y,
                      double *out);
void r_embedding(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_reduce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_ce(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_pointwise(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_dropout(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_dropout_residual(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out);
void r_layer_norm(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_rms_norm(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_causal(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_matmul(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_permute(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_narrow(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_attention(const op_case *c, ref_tensor *in, const ref_tensor *y, double *out);
void r_attention_plus_q(const op_case *c, ref_tensor *in, const ref_tensor *y,
                        double *out);

/* The cases, in order. */
extern const op_case op_cases[];
extern const int op_case_count;

#endif
