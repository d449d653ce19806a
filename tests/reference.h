/* Host reference implementations of clgrad's ops, in double precision, for
 * the gradient checks: every op's forward is compared with these, and its
 * backward with central differences of these. */
#ifndef CLGRAD_TEST_REFERENCE_H
#define CLGRAD_TEST_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/graph.h"

typedef struct ref_tensor {
    int ndim;
    int shape[4];
    double *v;
} ref_tensor;

size_t ref_numel(const ref_tensor *t);

/* Which function of a family the reference computes (activations by their
 * clg_activation value). */
typedef enum ref_binop { REF_ADD = 1, REF_SUB, REF_MUL } ref_binop;
typedef enum ref_reduction { REF_SUM = 1, REF_MEAN, REF_MAX } ref_reduction;
typedef enum ref_loss { REF_MSE = 1, REF_L1, REF_BCE } ref_loss;

void ref_linear(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b,
                double *y);
/* q = {stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups}
 * (groups 0 means 1). */
void ref_conv2d(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b,
                const int q[7], const ref_tensor *y, double *out);
void ref_conv_transpose2d(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b,
                          const int q[7], const ref_tensor *y, double *out);
void ref_upsample(const ref_tensor *x, int sh, int sw, int bilinear,
                  const ref_tensor *y, double *out);
void ref_adaptive_avg_pool(const ref_tensor *x, const ref_tensor *y, double *out);
void ref_pool(const ref_tensor *x, int k, int s, int pad, int is_max,
              const ref_tensor *y, double *out);
void ref_batch_norm(const ref_tensor *x, const double *gamma, const double *beta,
                    double eps, double *y, double *mean, double *var_unbiased);
void ref_unary(clg_activation act, double a, const ref_tensor *x, double *y);
void ref_softmax(const ref_tensor *x, int log, double *y);
void ref_binary(ref_binop op, const ref_tensor *a, const ref_tensor *b, double *y);
void ref_reduce(ref_reduction kind, int axis, const ref_tensor *x, double *y);
double ref_cross_entropy(const ref_tensor *logits, const double *labels, double eps,
                         int mean);
double ref_pointwise_loss(ref_loss kind, const ref_tensor *pred, const double *target,
                          int mean);
void ref_embedding(const ref_tensor *ids, const ref_tensor *w, double *y);
void ref_concat(int count, const ref_tensor *const *src, double *y);
void ref_dropout(const ref_tensor *x, double p, uint64_t seed, uint64_t step,
                 double *y);

/* Layer norm over the last dim (gamma, beta NULL: no affine). */
void ref_layer_norm(const ref_tensor *x, const double *gamma, const double *beta,
                    double eps, double *y);
void ref_rms_norm(const ref_tensor *x, const double *gamma, double eps, double *y);
void ref_causal_softmax(const ref_tensor *x, double scale, double *y);
void ref_matmul(const ref_tensor *a, const ref_tensor *b, int ta, int tb, double *y);
void ref_permute(const ref_tensor *x, const int *perm, double *y);
void ref_narrow(const ref_tensor *x, int axis, int start, int length, double *y);

#endif
