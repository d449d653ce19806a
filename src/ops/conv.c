/* conv2d: im2col over the whole batch, then one GEMM per direction, or
 * for 3x3 windows at stride 1 Winograd's F(2x2, 3x3) (cl/winograd.cl).
 * params.i = {stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
 * algorithm}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"

typedef struct conv_geom {
    int C, H, W, OC, KH, KW, OH, OW;
    size_t P, CKK;
} conv_geom;

/* How a node computes (clg_conv_algorithm, never AUTO), fixed when it is
 * made: params.i[6]. */
static clg_conv_algorithm algorithm(const clg_tensor *t)
{
    return (clg_conv_algorithm)t->params.i[6];
}

static conv_geom geometry(const clg_tensor *t)
{
    const clg_tensor *x = t->src[0], *w = t->src[1];
    conv_geom g = {x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2],
                   w->shape[3], t->shape[2], t->shape[3], 0,           0};
    g.P = (size_t)g.OH * g.OW;
    g.CKK = (size_t)g.C * g.KH * g.KW;
    return g;
}

static void conv_options(const clg_tensor *t, char *buf, size_t len)
{
    conv_geom g = geometry(t);
    const int *q = t->params.i;
    snprintf(buf, len,
             "-DC=%d -DH=%d -DW=%d -DOC=%d -DKH=%d -DKW=%d -DSH=%d -DSW=%d -DPH=%d "
             "-DPW=%d -DDH=%d -DDW=%d -DOH=%d -DOW=%d",
             g.C, g.H, g.W, g.OC, g.KH, g.KW, q[0], q[1], q[2], q[3], q[4], q[5], g.OH,
             g.OW);
}

/* The four copies (im2col, col2im, the output and its gradient between
 * [OC, N, P] and [N, OC, P]) take a row per work-item on CPUs, an element
 * elsewhere (cl/conv.cl; clg_rows_per_item). A 2-d range (rows by
 * elements) was slower than rows on both CPU runtimes
 * (docs/performance.md). */
static bool by_rows(const clg_tensor *t)
{
    return clg_rows_per_item(t->graph->ctx);
}

/* col [CKK, N, P] from x. */
static clg_status rec_im2col(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                             const char *opts, size_t N, cl_mem x, cl_mem col)
{
    conv_geom g = geometry(t);
    bool rows = by_rows(t);
    size_t n = rows ? (size_t)g.C * N * g.OH : g.CKK * N * g.P;
    return clg_rec_kernel(p, s, "conv", opts, rows ? "im2col_rows" : "im2col", n,
                          CLG_ARGS(KINT(n), KINT(N), KMEM(x), KMEM(col)));
}

/* dx (=|+=) the sum of dcol's copies of each element. */
static clg_status rec_col2im(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                             const char *opts, size_t N, bool accumulate, cl_mem dcol,
                             cl_mem dx)
{
    conv_geom g = geometry(t);
    bool rows = by_rows(t);
    size_t n = N * g.C * g.H * (rows ? 1 : (size_t)g.W);
    return clg_rec_kernel(
        p, s, "conv", opts, rows ? "col2im_rows" : "col2im", n,
        CLG_ARGS(KINT(n), KINT(N), KINT(accumulate), KMEM(dcol), KMEM(dx)));
}

/* y [N, OC, P] from the GEMM's ym [OC, N, P], plus the bias when given. */
static clg_status rec_output(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                             const char *opts, size_t N, cl_mem ym, cl_mem bias,
                             cl_mem y)
{
    conv_geom g = geometry(t);
    bool rows = by_rows(t);
    int has_bias = bias != NULL;
    size_t n = N * g.OC * (rows ? 1 : g.P);
    return clg_rec_kernel(p, s, "conv", opts, rows ? "conv_output_rows" : "conv_output",
                          n,
                          CLG_ARGS(KINT(n), KINT(N), KINT(has_bias), KMEM(ym),
                                   KMEM(bias ? bias : ym), KMEM(y)));
}

/* dym [OC, N, P] from dy [N, OC, P]. */
static clg_status rec_output_grad(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                                  const char *opts, size_t N, cl_mem dy, cl_mem dym)
{
    conv_geom g = geometry(t);
    bool rows = by_rows(t);
    size_t n = N * g.OC * (rows ? 1 : g.P);
    return clg_rec_kernel(p, s, "conv", opts,
                          rows ? "conv_output_grad_rows" : "conv_output_grad", n,
                          CLG_ARGS(KINT(n), KINT(N), KMEM(dy), KMEM(dym)));
}

/* dW [OC, CKK] (=|+=) dym [OC, N P] col^T [N P, CKK]. */
static clg_status rec_weight_grad(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                                  size_t N, const clg_grad_io *io, cl_mem col,
                                  cl_mem dym)
{
    conv_geom g = geometry(t);
    size_t NP = N * g.P;
    clg_gemm_call dw = {.trans_b = true,
                        .M = (size_t)g.OC,
                        .N = g.CKK,
                        .K = NP,
                        .batch = 1,
                        .alpha = 1.0f,
                        .beta = io->accumulate[1] ? 1.0f : 0.0f,
                        .A = dym,
                        .lda = NP,
                        .B = col,
                        .ldb = NP,
                        .C = io->grad_src[1],
                        .ldc = g.CKK};
    return clg_rec_gemm(p, s, &dw);
}

/* Winograd's tiles over a batch of N: 2x2 of the output each. */
static size_t wino_tiles(const conv_geom *g, size_t N)
{
    return N * (size_t)((g->OH + 1) / 2) * (size_t)((g->OW + 1) / 2);
}

/* The tiles of the input gradient's convolution (its output is x's size). */
static size_t wino_grad_tiles(const conv_geom *g, size_t N)
{
    return N * (size_t)((g->H + 1) / 2) * (size_t)((g->W + 1) / 2);
}

/* im2col: aux 0: col [CKK, N * P], reused for dcol; aux 1: the GEMM's
 * output [OC, N * P] in forward, the output's gradient in that layout in
 * backward. One GEMM over N * P columns instead of N over P each: P (196
 * at the CNN's second layer) need not be a multiple of the native kernel's
 * 16 columns, and one large product runs nearer the GEMM's peak
 * (docs/performance.md).
 * Winograd: aux 0 is V [16, C, T], then col, then the input gradient's M;
 * aux 1 M [16, OC, T], then the output's gradient as im2col's, then the
 * input gradient's V; aux 2 U [16, OC, C], then the input gradient's. */
static void conv_aux(const clg_tensor *t, size_t bytes[CLG_MAX_AUX])
{
    conv_geom g = geometry(t);
    size_t n = (size_t)t->shape[0];
    if (algorithm(t) == CLG_CONV_WINOGRAD) {
        size_t T = wino_tiles(&g, n), Tg = wino_grad_tiles(&g, n);
        size_t most = T > Tg ? T : Tg;
        size_t col = n * g.CKK * g.P, dym = n * (size_t)g.OC * g.P;
        size_t v = 16 * (size_t)g.C * most, m = 16 * (size_t)g.OC * most;
        bytes[0] = 4 * (v > col ? v : col);
        bytes[1] = 4 * (m > dym ? m : dym);
        bytes[2] = 4 * 16 * (size_t)g.OC * g.C;
        return;
    }
    bytes[0] = n * g.CKK * g.P * 4;
    bytes[1] = n * (size_t)g.OC * g.P * 4;
}

/* Winograd's kernels' options: the convolution's geometry and the batch
 * (a constant: the tiles' index arithmetic is most of the transforms'
 * work); for the input gradient, the geometry of the convolution that
 * computes it: dy [N, OC, OH, OW] padded by 2 - PH, 2 - PW under the
 * turned windows of w's transpose gives dx [N, C, H, W]. */
static void wino_options(const clg_tensor *t, size_t N, bool input_grad, char *buf,
                         size_t len)
{
    conv_geom g = geometry(t);
    const int *q = t->params.i;
    if (input_grad)
        snprintf(buf, len,
                 "-DC=%d -DH=%d -DW=%d -DOC=%d -DPH=%d -DPW=%d -DOH=%d -DOW=%d "
                 "-DBATCH=%zu -DFLIP=1",
                 g.OC, g.OH, g.OW, g.C, 2 - q[2], 2 - q[3], g.H, g.W, N);
    else
        snprintf(buf, len,
                 "-DC=%d -DH=%d -DW=%d -DOC=%d -DPH=%d -DPW=%d -DOH=%d -DOW=%d "
                 "-DBATCH=%zu",
                 g.C, g.H, g.W, g.OC, q[2], q[3], g.OH, g.OW, N);
}

/* Winograd's 16 products as one strided batch: M[xi] = U[xi] V[xi]. */
static clg_status rec_wino_gemm(clg_plan *p, clg_cmdlist *s, size_t M, size_t N,
                                size_t K, cl_mem A, cl_mem B, cl_mem C)
{
    clg_gemm_call c = {.M = M,
                       .N = N,
                       .K = K,
                       .batch = 16,
                       .alpha = 1.0f,
                       .beta = 0.0f,
                       .A = A,
                       .lda = K,
                       .a_stride = M * K,
                       .B = B,
                       .ldb = N,
                       .b_stride = K * N,
                       .C = C,
                       .ldc = N,
                       .c_stride = M * N};
    return clg_rec_gemm(p, s, &c);
}

/* Whether Winograd's output transform takes a row of tiles per work-item
 * (wino_output_rows) rather than a tile: on Intel's CPU runtime. */
static bool wino_rows(const clg_tensor *t)
{
    return clg_rows_per_item(t->graph->ctx) && !clg_is_pocl_cpu(t->graph->ctx);
}

/* out (=|+=) the convolution of in [N, CI, ...] into CO channels over T
 * tiles, TW to a row, as opts describe it (wino_options): U = G w G^T, V =
 * B^T in B, M = U V, out = A^T M A (+ bias). */
static clg_status wino_conv(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                            const char *opts, size_t CI, size_t CO, size_t T, size_t TW,
                            cl_mem w, cl_mem in, cl_mem bias, bool accumulate, cl_mem U,
                            cl_mem V, cl_mem M, cl_mem out)
{
    bool rows = wino_rows(t);
    size_t nf = CO * CI, nv = CI * T, nm = CO * (rows ? T / TW : T);
    int has_bias = bias != NULL, acc = accumulate;
    clg_status st = clg_rec_kernel(p, s, "winograd", opts, "wino_filter", nf,
                                   CLG_ARGS(KINT(nf), KMEM(w), KMEM(U)));
    if (st == CLG_OK)
        st = clg_rec_kernel(p, s, "winograd", opts, "wino_input", nv,
                            CLG_ARGS(KINT(nv), KMEM(in), KMEM(V)));
    if (st == CLG_OK)
        st = rec_wino_gemm(p, s, CO, T, CI, U, V, M);
    if (st == CLG_OK)
        st = clg_rec_kernel(p, s, "winograd", opts,
                            rows ? "wino_output_rows" : "wino_output", nm,
                            CLG_ARGS(KINT(nm), KINT(has_bias), KINT(acc), KMEM(M),
                                     KMEM(bias ? bias : M), KMEM(out)));
    return st;
}

static clg_status wino_forward(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                               size_t N)
{
    conv_geom g = geometry(t);
    char opts[256];
    wino_options(t, N, false, opts, sizeof opts);
    return wino_conv(p, s, t, opts, (size_t)g.C, (size_t)g.OC, wino_tiles(&g, N),
                     (size_t)(g.OW + 1) / 2, clg_val(p, t->src[1]),
                     clg_val(p, t->src[0]), t->nsrc == 3 ? clg_val(p, t->src[2]) : NULL,
                     false, clg_aux(p, t, 2), clg_aux(p, t, 0), clg_aux(p, t, 1),
                     clg_val(p, t));
}

/* dw (=|+=) by im2col's GEMM (col and the output's gradient in its layout,
 * over aux 0 and 1: the forward's V and M are done with): the weight
 * gradient by Winograd's transforms transposed (Z = A dy A^T, dU = Z V^T,
 * G^T dU G) was 19-21x further from float64 than PyTorch float32 after 4
 * Adam steps of a CNN with 3x3 layers of 16 and 32 channels (torch_diff's
 * Winograd regression, then), im2col's 0.4-1.9x. The bias's gradient as
 * im2col's. dx (=|+=) dy's convolution by w's turned
 * windows, itself by Winograd (its output tiles do not overlap, where the
 * input tiles' gradients B dV B^T would), over aux 1, then aux 0. */
static clg_status wino_backward(clg_plan *p, clg_cmdlist *s, const clg_tensor *t,
                                size_t N, const clg_grad_io *io)
{
    conv_geom g = geometry(t);
    cl_mem col = clg_aux(p, t, 0), dym = clg_aux(p, t, 1), U = clg_aux(p, t, 2);
    clg_status st = CLG_OK;
    if (io->grad_src[1]) {
        char opts[256];
        conv_options(t, opts, sizeof opts);
        st = rec_output_grad(p, s, t, opts, N, io->grad_out, dym);
        if (st == CLG_OK)
            st = rec_im2col(p, s, t, opts, N, clg_val(p, t->src[0]), col);
        if (st == CLG_OK)
            st = rec_weight_grad(p, s, t, N, io, col, dym);
    }
    if (st == CLG_OK && t->nsrc == 3 && io->grad_src[2])
        st = clg_rec_channel_sum(p, s, io->grad_out, io->grad_src[2], N, g.OC, g.P,
                                 io->accumulate[2]);
    if (st == CLG_OK && io->grad_src[0]) {
        char opts[256];
        wino_options(t, N, true, opts, sizeof opts);
        st = wino_conv(p, s, t, opts, (size_t)g.OC, (size_t)g.C, wino_grad_tiles(&g, N),
                       (size_t)(g.W + 1) / 2, clg_val(p, t->src[1]), io->grad_out, NULL,
                       io->accumulate[0], U, dym, col, io->grad_src[0]);
    }
    return st;
}

static clg_status conv_forward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                               bool training)
{
    (void)training;
    conv_geom g = geometry(t);
    char opts[256];
    conv_options(t, opts, sizeof opts);
    size_t N = (size_t)clg_dim_at(t, 0, batch), NP = N * g.P;
    if (algorithm(t) == CLG_CONV_WINOGRAD)
        return wino_forward(p, s, t, N);
    cl_mem col = clg_aux(p, t, 0), ym = clg_aux(p, t, 1);
    clg_status st = rec_im2col(p, s, t, opts, N, clg_val(p, t->src[0]), col);
    /* ym [OC, N P] = W [OC, CKK] col [CKK, N P] */
    clg_gemm_call y = {.M = (size_t)g.OC,
                       .N = NP,
                       .K = g.CKK,
                       .batch = 1,
                       .alpha = 1.0f,
                       .beta = 0.0f,
                       .A = clg_val(p, t->src[1]),
                       .lda = g.CKK,
                       .B = col,
                       .ldb = NP,
                       .C = ym,
                       .ldc = NP};
    if (st == CLG_OK)
        st = clg_rec_gemm(p, s, &y);
    if (st == CLG_OK)
        st = rec_output(p, s, t, opts, N, ym,
                        t->nsrc == 3 ? clg_val(p, t->src[2]) : NULL, clg_val(p, t));
    return st;
}

static clg_status conv_backward(clg_plan *p, clg_cmdlist *s, clg_tensor *t, int batch,
                                const clg_grad_io *io)
{
    conv_geom g = geometry(t);
    char opts[256];
    conv_options(t, opts, sizeof opts);
    size_t N = (size_t)clg_dim_at(t, 0, batch), NP = N * g.P;
    if (algorithm(t) == CLG_CONV_WINOGRAD)
        return wino_backward(p, s, t, N, io);
    cl_mem col = clg_aux(p, t, 0), dym = clg_aux(p, t, 1);
    clg_status st = CLG_OK;
    if (io->grad_src[0] || io->grad_src[1])
        st = rec_output_grad(p, s, t, opts, N, io->grad_out, dym);
    if (st == CLG_OK && io->grad_src[1])
        st = rec_weight_grad(p, s, t, N, io, col, dym);
    if (st == CLG_OK && t->nsrc == 3 && io->grad_src[2])
        st = clg_rec_channel_sum(p, s, io->grad_out, io->grad_src[2], N, g.OC, g.P,
                                 io->accumulate[2]);
    if (st == CLG_OK && io->grad_src[0]) {
        /* dcol [CKK, N P] = W^T [CKK, OC] dym [OC, N P], over col (dW is done) */
        clg_gemm_call dcol = {.trans_a = true,
                              .M = g.CKK,
                              .N = NP,
                              .K = (size_t)g.OC,
                              .batch = 1,
                              .alpha = 1.0f,
                              .beta = 0.0f,
                              .A = clg_val(p, t->src[1]),
                              .lda = g.CKK,
                              .B = dym,
                              .ldb = NP,
                              .C = col,
                              .ldc = NP};
        st = clg_rec_gemm(p, s, &dcol);
        if (st == CLG_OK)
            st = rec_col2im(p, s, t, opts, N, io->accumulate[0], col, io->grad_src[0]);
    }
    return st;
}

static const clg_op_class conv_class = {
    "conv2d", conv_forward, conv_backward, conv_aux, 0, 0, 0};

/* The algorithm of a new node (clg_conv_algorithm's AUTO, or CLGRAD_CONV
 * for AUTO; a value of it that is not im2col, winograd or auto is
 * refused). Measured, a training step of two 3x3 layers at batch 64 (C ->
 * OC -> OC), Winograd (forward and input gradient; the weight gradient is
 * im2col's) against im2col, on PoCL and Intel's CPU runtime: 64 -> 64 at
 * 14x14 0.77-0.96x and 1.0x, 64 -> 128 at 8x8 0.59-0.65x and 0.53-0.57x,
 * 128 -> 128 0.52-0.58x and 0.49x, 256 -> 256 at 4x4 0.77-0.81x and 0.74x;
 * 32 -> 64 0.68-0.79x and 0.98-1.12x, 16 -> 16 at 28x28 1.03x and 1.08x.
 * GPUs are not measured yet. */
static bool choose_algorithm(clg_graph *g, const clg_tensor *x, const clg_tensor *w,
                             const clg_conv2d_opts *o, clg_conv_algorithm *out)
{
    bool fits = w->shape[2] == 3 && w->shape[3] == 3 && o->stride_h == 1 &&
                o->stride_w == 1 && o->dilation_h == 1 && o->dilation_w == 1 &&
                o->pad_h <= 2 && o->pad_w <= 2;
    clg_conv_algorithm a = o->algorithm;
    if ((unsigned)a > CLG_CONV_WINOGRAD) {
        clg_graph_fail(g, CLG_INVALID_ARGUMENT, "conv2d: unknown algorithm %d", (int)a);
        return false;
    }
    const char *v = getenv("CLGRAD_CONV");
    if (a == CLG_CONV_AUTO && v && *v && strcmp(v, "auto") != 0) {
        if (strcmp(v, "im2col") == 0)
            a = CLG_CONV_IM2COL;
        else if (strcmp(v, "winograd") == 0)
            a = CLG_CONV_WINOGRAD;
        else {
            clg_graph_fail(g, CLG_INVALID_ARGUMENT,
                           "CLGRAD_CONV='%s' is not a convolution algorithm: use "
                           "im2col, winograd or auto",
                           v);
            return false;
        }
    }
    if (a == CLG_CONV_AUTO)
        a = g->ctx->info.type == CLG_DEVICE_CPU && x->shape[1] >= 64 &&
                    w->shape[0] >= 64
                ? CLG_CONV_WINOGRAD
                : CLG_CONV_IM2COL;
    *out = fits && a == CLG_CONV_WINOGRAD ? CLG_CONV_WINOGRAD : CLG_CONV_IM2COL;
    return true;
}

clg_tensor *clg_conv2d(clg_graph *g, clg_tensor *x, clg_tensor *w, clg_tensor *b,
                       const clg_conv2d_opts *opts)
{
    clg_conv2d_opts o = CLG_CONV2D_DEFAULTS;
    if (opts)
        o = *opts;
    clg_tensor *src[3] = {x, w, b};
    int nsrc = b ? 3 : 2;
    if (clg_graph_bad_args(g, "conv2d", nsrc, src))
        return NULL;
    char sx[64], sw[64], sb[64];
    if (x->ndim != 4 || w->ndim != 4 || x->dtype != CLG_FLOAT32)
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "conv2d: input %s and weight %s must both be 4-d float32 "
                              "([N,C,H,W] and [OC,C,KH,KW])",
                              clg_shape_str(x, sx, sizeof sx),
                              clg_shape_str(w, sw, sizeof sw));
    int groups = o.groups ? o.groups : 1;
    if (groups < 1)
        return clg_graph_fail(g, CLG_INVALID_ARGUMENT, "conv2d: groups %d must be >= 1",
                              groups);
    if (groups > 1 && (w->shape[1] * groups != x->shape[1] || w->shape[0] % groups))
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "conv2d: weight %s in %d groups expects %d input channels "
            "and output channels divisible by %d, input is %s",
            clg_shape_str(w, sw, sizeof sw), groups, w->shape[1] * groups, groups,
            clg_shape_str(x, sx, sizeof sx));
    if (w->shape[1] * groups != x->shape[1])
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "conv2d: weight %s expects %d input channels, input is %s",
            clg_shape_str(w, sw, sizeof sw), w->shape[1],
            clg_shape_str(x, sx, sizeof sx));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return clg_graph_fail(g, CLG_SHAPE_MISMATCH,
                              "conv2d: bias %s does not match weight %s (expects [%d])",
                              clg_shape_str(b, sb, sizeof sb),
                              clg_shape_str(w, sw, sizeof sw), w->shape[0]);
    if (o.stride_h < 1 || o.stride_w < 1 || o.dilation_h < 1 || o.dilation_w < 1 ||
        o.pad_h < 0 || o.pad_w < 0)
        return clg_graph_fail(
            g, CLG_INVALID_ARGUMENT,
            "conv2d: stride (%d,%d) and dilation (%d,%d) must be >= 1 and "
            "padding (%d,%d) >= 0",
            o.stride_h, o.stride_w, o.dilation_h, o.dilation_w, o.pad_h, o.pad_w);
    int span_h = o.dilation_h * (w->shape[2] - 1) + 1;
    int span_w = o.dilation_w * (w->shape[3] - 1) + 1;
    int oh = (x->shape[2] + 2 * o.pad_h - span_h) / o.stride_h + 1;
    int ow = (x->shape[3] + 2 * o.pad_w - span_w) / o.stride_w + 1;
    if (x->shape[2] + 2 * o.pad_h < span_h || x->shape[3] + 2 * o.pad_w < span_w)
        return clg_graph_fail(
            g, CLG_SHAPE_MISMATCH,
            "conv2d: kernel %dx%d (dilated %dx%d) is larger than input "
            "%s padded by (%d,%d)",
            w->shape[2], w->shape[3], span_h, span_w, clg_shape_str(x, sx, sizeof sx),
            o.pad_h, o.pad_w);
    /* the bias's gradient: a channel's sum by a work-group of up to 64 */
    size_t n = (size_t)x->shape[0], p = (size_t)oh * ow;
    if (b && !clg_loops_fit(g, "conv2d", "an output channel (the bias's gradient)",
                            2 * (n * p / 64 + n)))
        return NULL;
    int shape[4] = {x->shape[0], w->shape[0], oh, ow};
    if (groups > 1) {
        int q[7] = {o.stride_h,   o.stride_w,   o.pad_h, o.pad_w,
                    o.dilation_h, o.dilation_w, groups};
        return clg_gconv_node(g, x, w, b, q, false, shape);
    }
    clg_conv_algorithm algo;
    if (!choose_algorithm(g, x, w, &o, &algo))
        return NULL;
    clg_tensor *t = clg_node(g, &conv_class, nsrc, src, 4, shape);
    if (t) {
        int q[7] = {o.stride_h,   o.stride_w,   o.pad_h,  o.pad_w,
                    o.dilation_h, o.dilation_w, (int)algo};
        for (int i = 0; i < 7; i++)
            t->params.i[i] = q[i];
    }
    return t;
}
