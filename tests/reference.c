/* Host reference ops in double precision; see reference.h. */
#include "reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ref_numel(const ref_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

void ref_linear(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b,
                double *y)
{
    int in = w->shape[1], out = w->shape[0];
    size_t rows = ref_numel(x) / (size_t)in;
    for (size_t r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b->v[o] : 0.0;
            for (int i = 0; i < in; i++)
                acc += x->v[r * in + i] * w->v[(size_t)o * in + i];
            y[r * out + o] = acc;
        }
}

void ref_conv2d(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b,
                const int q[7], const ref_tensor *y, double *out)
{
    int N = x->shape[0], H = x->shape[2], W = x->shape[3];
    int OC = w->shape[0], CPG = w->shape[1], KH = w->shape[2], KW = w->shape[3];
    int OH = y->shape[2], OW = y->shape[3], G = q[6] ? q[6] : 1, C = CPG * G;
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double acc = b ? b->v[oc] : 0.0;
                    for (int ci = 0; ci < CPG; ci++)
                        for (int kh = 0; kh < KH; kh++)
                            for (int kw = 0; kw < KW; kw++) {
                                int h = oh * q[0] - q[2] + kh * q[4];
                                int ww = ow * q[1] - q[3] + kw * q[5];
                                int c = oc / (OC / G) * CPG + ci;
                                if (h < 0 || h >= H || ww < 0 || ww >= W)
                                    continue;
                                acc +=
                                    x->v[((size_t)(n * C + c) * H + h) * W + ww] *
                                    w->v[((size_t)(oc * CPG + ci) * KH + kh) * KW + kw];
                            }
                    out[((size_t)(n * OC + oc) * OH + oh) * OW + ow] = acc;
                }
}

void ref_conv_transpose2d(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b,
                          const int q[7], const ref_tensor *y, double *out)
{
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int OPG = w->shape[1], KH = w->shape[2], KW = w->shape[3], G = q[6] ? q[6] : 1;
    int OC = y->shape[1], OH = y->shape[2], OW = y->shape[3];
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int i = 0; i < OH * OW; i++)
                out[(size_t)(n * OC + oc) * OH * OW + i] = b ? b->v[oc] : 0.0;
    /* each input element scatters its weighted window */
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int v = 0; v < W; v++)
                    for (int o = 0; o < OPG; o++)
                        for (int kh = 0; kh < KH; kh++)
                            for (int kw = 0; kw < KW; kw++) {
                                int oh = h * q[0] - q[2] + kh * q[4];
                                int ow = v * q[1] - q[3] + kw * q[5];
                                int oc = c / (C / G) * OPG + o;
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                                    continue;
                                out[((size_t)(n * OC + oc) * OH + oh) * OW + ow] +=
                                    x->v[((size_t)(n * C + c) * H + h) * W + v] *
                                    w->v[((size_t)(c * OPG + o) * KH + kh) * KW + kw];
                            }
}

/* Along one axis: output o's two sources and the second's weight, as
 * PyTorch's bilinear interpolation with align_corners=False. */
static void bilinear_source(int o, int scale, int size, int *lo, int *hi, double *frac)
{
    double src = (o + 0.5) / scale - 0.5;
    if (src < 0)
        src = 0;
    *lo = (int)src;
    *hi = *lo < size - 1 ? *lo + 1 : *lo;
    *frac = src - *lo;
}

void ref_upsample(const ref_tensor *x, int sh, int sw, int bilinear,
                  const ref_tensor *y, double *out)
{
    int planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int OH = y->shape[2], OW = y->shape[3];
    for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                const double *xp = x->v + (size_t)p * H * W;
                double *o = &out[((size_t)p * OH + oh) * OW + ow];
                if (!bilinear) {
                    *o = xp[(oh / sh) * W + ow / sw];
                    continue;
                }
                int h0, h1, w0, w1;
                double fh, fw;
                bilinear_source(oh, sh, H, &h0, &h1, &fh);
                bilinear_source(ow, sw, W, &w0, &w1, &fw);
                *o = (1 - fh) * ((1 - fw) * xp[h0 * W + w0] + fw * xp[h0 * W + w1]) +
                     fh * ((1 - fw) * xp[h1 * W + w0] + fw * xp[h1 * W + w1]);
            }
}

void ref_adaptive_avg_pool(const ref_tensor *x, const ref_tensor *y, double *out)
{
    int planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int OH = y->shape[2], OW = y->shape[3];
    for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
                int w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                double acc = 0;
                for (int h = h0; h < h1; h++)
                    for (int v = w0; v < w1; v++)
                        acc += x->v[((size_t)p * H + h) * W + v];
                out[((size_t)p * OH + oh) * OW + ow] = acc / ((h1 - h0) * (w1 - w0));
            }
}

void ref_pool(const ref_tensor *x, int k, int s, int pad, int is_max,
              const ref_tensor *y, double *out)
{
    int planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int OH = y->shape[2], OW = y->shape[3];
    for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                double acc = is_max ? -INFINITY : 0.0;
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++) {
                        int h = oh * s - pad + kh, w = ow * s - pad + kw;
                        if (h < 0 || h >= H || w < 0 || w >= W)
                            continue;
                        double v = x->v[((size_t)p * H + h) * W + w];
                        acc = is_max ? (v > acc ? v : acc) : acc + v;
                    }
                out[((size_t)p * OH + oh) * OW + ow] = is_max ? acc : acc / (k * k);
            }
}

void ref_batch_norm(const ref_tensor *x, const double *gamma, const double *beta,
                    double eps, double *y, double *mean_out, double *var_unbiased)
{
    int N = x->shape[0], C = x->shape[1];
    size_t inner = ref_numel(x) / ((size_t)N * C), m = (size_t)N * inner;
    for (int c = 0; c < C; c++) {
        double mean = 0, var = 0;
        for (int n = 0; n < N; n++)
            for (size_t i = 0; i < inner; i++)
                mean += x->v[((size_t)n * C + c) * inner + i];
        mean /= (double)m;
        for (int n = 0; n < N; n++)
            for (size_t i = 0; i < inner; i++) {
                double d = x->v[((size_t)n * C + c) * inner + i] - mean;
                var += d * d;
            }
        if (mean_out)
            mean_out[c] = mean;
        if (var_unbiased)
            var_unbiased[c] = var / (double)(m - 1);
        var /= (double)m;
        for (int n = 0; n < N; n++)
            for (size_t i = 0; i < inner; i++) {
                size_t k = ((size_t)n * C + c) * inner + i;
                double xhat = (x->v[k] - mean) / sqrt(var + eps);
                y[k] = gamma ? xhat * gamma[c] + beta[c] : xhat;
            }
    }
}

void ref_unary(clg_activation act, double a, const ref_tensor *x, double *y)
{
    for (size_t i = 0; i < ref_numel(x); i++) {
        double v = x->v[i];
        switch (act) {
        case CLG_ACT_RELU:
            y[i] = v > 0 ? v : 0;
            break;
        case CLG_ACT_LEAKYRELU:
            y[i] = v > 0 ? v : a * v;
            break;
        case CLG_ACT_ELU:
            y[i] = v > 0 ? v : a * (exp(v) - 1);
            break;
        case CLG_ACT_GELU:
            y[i] = 0.5 * v * (1 + erf(v / sqrt(2.0)));
            break;
        case CLG_ACT_GELU_TANH:
            y[i] =
                0.5 * v * (1 + tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
            break;
        case CLG_ACT_SIGMOID:
            y[i] = 1 / (1 + exp(-v));
            break;
        case CLG_ACT_TANH:
            y[i] = tanh(v);
            break;
        case CLG_ACT_SILU:
            y[i] = v / (1 + exp(-v));
            break;
        case CLG_ACT_HARDSWISH:
            y[i] = v * fmin(fmax(v + 3, 0), 6) / 6;
            break;
        case CLG_ACT_HARDSIGMOID:
            y[i] = fmin(fmax(v + 3, 0), 6) / 6;
            break;
        case CLG_ACT_SCALE:
            y[i] = a * v;
            break;
        default: /* a row of activations.h without its reference here */
            fprintf(stderr, "reference.c: no reference for activation %s\n",
                    clg_activation_str(act));
            abort();
        }
    }
}

void ref_softmax(const ref_tensor *x, int log_, double *y)
{
    int N = x->shape[0], C = x->shape[1];
    size_t inner = ref_numel(x) / ((size_t)N * C);
    for (int n = 0; n < N; n++)
        for (size_t i = 0; i < inner; i++) {
            double m = -INFINITY, sum = 0;
            for (int c = 0; c < C; c++)
                m = fmax(m, x->v[((size_t)n * C + c) * inner + i]);
            for (int c = 0; c < C; c++)
                sum += exp(x->v[((size_t)n * C + c) * inner + i] - m);
            for (int c = 0; c < C; c++) {
                size_t k = ((size_t)n * C + c) * inner + i;
                y[k] = log_ ? x->v[k] - m - log(sum) : exp(x->v[k] - m) / sum;
            }
        }
}

void ref_binary(ref_binop op, const ref_tensor *a, const ref_tensor *b, double *y)
{
    int ad[4], bd[4], pa = 4 - a->ndim, pb = 4 - b->ndim;
    for (int k = 0; k < 4; k++) {
        ad[k] = k < pa ? 1 : a->shape[k - pa];
        bd[k] = k < pb ? 1 : b->shape[k - pb];
    }
    size_t i = 0;
    for (int i0 = 0; i0 < ad[0]; i0++)
        for (int i1 = 0; i1 < ad[1]; i1++)
            for (int i2 = 0; i2 < ad[2]; i2++)
                for (int i3 = 0; i3 < ad[3]; i3++, i++) {
                    int j0 = bd[0] == 1 ? 0 : i0, j1 = bd[1] == 1 ? 0 : i1;
                    int j2 = bd[2] == 1 ? 0 : i2, j3 = bd[3] == 1 ? 0 : i3;
                    double bv = b->v[((j0 * bd[1] + j1) * bd[2] + j2) * bd[3] + j3];
                    y[i] = op == REF_ADD   ? a->v[i] + bv
                           : op == REF_SUB ? a->v[i] - bv
                                           : a->v[i] * bv;
                }
}

void ref_reduce(ref_reduction kind, int axis, const ref_tensor *x, double *y)
{
    size_t outer = 1, len, inner = 1;
    if (axis < 0) {
        len = ref_numel(x);
    } else {
        for (int i = 0; i < axis; i++)
            outer *= (size_t)x->shape[i];
        len = (size_t)x->shape[axis];
        for (int i = axis + 1; i < x->ndim; i++)
            inner *= (size_t)x->shape[i];
    }
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double acc = kind == REF_MAX ? -INFINITY : 0;
            for (size_t a = 0; a < len; a++) {
                double v = x->v[(o * len + a) * inner + i];
                acc = kind == REF_MAX ? fmax(acc, v) : acc + v;
            }
            y[o * inner + i] = kind == REF_MEAN ? acc / (double)len : acc;
        }
}

double ref_cross_entropy(const ref_tensor *logits, const double *labels, double eps,
                         int mean)
{
    int C = logits->shape[logits->ndim - 1], N = (int)(ref_numel(logits) / (size_t)C);
    double total = 0;
    for (int n = 0; n < N; n++) {
        const double *x = logits->v + (size_t)n * C;
        double m = -INFINITY, sum = 0, avg = 0;
        for (int c = 0; c < C; c++)
            m = fmax(m, x[c]);
        for (int c = 0; c < C; c++) {
            sum += exp(x[c] - m);
            avg += x[c] / C;
        }
        double lse = m + log(sum);
        total += (1 - eps) * (lse - x[(int)labels[n]]) + eps * (lse - avg);
    }
    return mean ? total / N : total;
}

double ref_pointwise_loss(ref_loss kind, const ref_tensor *pred, const double *target,
                          int mean)
{
    size_t n = ref_numel(pred);
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double x = pred->v[i], t = target[i];
        if (kind == REF_MSE)
            total += (x - t) * (x - t);
        else if (kind == REF_L1)
            total += fabs(x - t);
        else
            total += fmax(x, 0) - x * t + log1p(exp(-fabs(x)));
    }
    return mean ? total / (double)n : total;
}

void ref_embedding(const ref_tensor *ids, const ref_tensor *w, double *y)
{
    int D = w->shape[1];
    for (size_t k = 0; k < ref_numel(ids); k++)
        for (int d = 0; d < D; d++)
            y[k * D + d] = w->v[(size_t)ids->v[k] * D + d];
}

void ref_concat(int count, const ref_tensor *const *src, double *y)
{
    int N = src[0]->shape[0], Cd = 0;
    size_t inner = ref_numel(src[0]) / ((size_t)N * src[0]->shape[1]);
    for (int k = 0; k < count; k++)
        Cd += src[k]->shape[1];
    int offset = 0;
    for (int k = 0; k < count; k++) {
        int Cs = src[k]->shape[1];
        for (int n = 0; n < N; n++)
            for (int c = 0; c < Cs; c++)
                for (size_t i = 0; i < inner; i++)
                    y[((size_t)n * Cd + offset + c) * inner + i] =
                        src[k]->v[((size_t)n * Cs + c) * inner + i];
        offset += Cs;
    }
}

/* Philox 4x32-10, as cl/dropout.cl. */
static void philox(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1, n3 = (uint32_t)p0;
        c[0] = n0, c[1] = n1, c[2] = n2, c[3] = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

void ref_dropout(const ref_tensor *x, double p, uint64_t seed, uint64_t step, double *y)
{
    double scale = p < 1 ? 1 / (1 - p) : 0;
    for (size_t i = 0; i < ref_numel(x); i++) {
        uint32_t c[4] = {(uint32_t)(i / 4), 0, (uint32_t)step, (uint32_t)(step >> 32)};
        philox(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        double u = (double)(c[i % 4] >> 8) / 16777216.0;
        y[i] = u >= p ? x->v[i] * (float)scale : 0.0;
    }
}

void ref_layer_norm(const ref_tensor *x, const double *gamma, const double *beta,
                    double eps, double *y)
{
    int C = x->shape[x->ndim - 1];
    size_t rows = ref_numel(x) / (size_t)C;
    for (size_t r = 0; r < rows; r++) {
        const double *in = x->v + r * C;
        double mean = 0, var = 0;
        for (int c = 0; c < C; c++)
            mean += in[c] / C;
        for (int c = 0; c < C; c++)
            var += (in[c] - mean) * (in[c] - mean) / C;
        for (int c = 0; c < C; c++) {
            double xhat = (in[c] - mean) / sqrt(var + eps);
            y[r * C + c] = gamma ? xhat * gamma[c] + beta[c] : xhat;
        }
    }
}

void ref_rms_norm(const ref_tensor *x, const double *gamma, double eps, double *y)
{
    int C = x->shape[x->ndim - 1];
    size_t rows = ref_numel(x) / (size_t)C;
    for (size_t r = 0; r < rows; r++) {
        const double *in = x->v + r * C;
        double ms = 0;
        for (int c = 0; c < C; c++)
            ms += in[c] * in[c] / C;
        for (int c = 0; c < C; c++)
            y[r * C + c] = in[c] / sqrt(ms + eps) * (gamma ? gamma[c] : 1);
    }
}

void ref_causal_softmax(const ref_tensor *x, double scale, double *y)
{
    int Tq = x->shape[x->ndim - 2], Tk = x->shape[x->ndim - 1];
    size_t rows = ref_numel(x) / (size_t)Tk;
    for (size_t r = 0; r < rows; r++) {
        const double *in = x->v + r * Tk;
        int seen = (int)(r % (size_t)Tq) + Tk - Tq + 1;
        double m = -INFINITY, sum = 0;
        for (int j = 0; j < seen; j++)
            m = fmax(m, scale * in[j]);
        for (int j = 0; j < seen; j++)
            sum += exp(scale * in[j] - m);
        for (int j = 0; j < Tk; j++)
            y[r * Tk + j] = j < seen ? exp(scale * in[j] - m) / sum : 0;
    }
}

void ref_matmul(const ref_tensor *a, const ref_tensor *b, int ta, int tb, double *y)
{
    int nd = a->ndim;
    int M = a->shape[nd - (ta ? 1 : 2)], K = a->shape[nd - (ta ? 2 : 1)];
    int N = b->shape[nd - (tb ? 2 : 1)];
    size_t batch = ref_numel(a) / ((size_t)M * K);
    for (size_t q = 0; q < batch; q++) {
        const double *A = a->v + q * M * K, *B = b->v + q * K * N;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double sum = 0;
                for (int k = 0; k < K; k++)
                    sum += (ta ? A[k * M + i] : A[i * K + k]) *
                           (tb ? B[j * K + k] : B[k * N + j]);
                y[q * M * N + i * N + j] = sum;
            }
    }
}

void ref_permute(const ref_tensor *x, const int *perm, double *y)
{
    int nd = x->ndim, d[4] = {1, 1, 1, 1}, s[4] = {0, 0, 0, 0}, xs[4];
    int stride = 1;
    for (int k = nd - 1; k >= 0; k--) {
        xs[k] = stride;
        stride *= x->shape[k];
    }
    for (int k = 0; k < nd; k++) {
        d[4 - nd + k] = x->shape[perm[k]];
        s[4 - nd + k] = xs[perm[k]];
    }
    size_t i = 0;
    for (int a = 0; a < d[0]; a++)
        for (int b = 0; b < d[1]; b++)
            for (int c = 0; c < d[2]; c++)
                for (int e = 0; e < d[3]; e++)
                    y[i++] = x->v[a * s[0] + b * s[1] + c * s[2] + e * s[3]];
}

void ref_narrow(const ref_tensor *x, int axis, int start, int length, double *y)
{
    size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
        outer *= (size_t)x->shape[k];
    for (int k = axis + 1; k < x->ndim; k++)
        inner *= (size_t)x->shape[k];
    int C = x->shape[axis];
    size_t i = 0;
    for (size_t o = 0; o < outer; o++)
        for (int c = start; c < start + length; c++)
            for (size_t k = 0; k < inner; k++)
                y[i++] = x->v[(o * C + c) * inner + k];
}
