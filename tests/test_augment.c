/* Augmentation: flips, crops, cutout, rotation, noise and colour jitter,
 * each checked against what it must do to known images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* The first sample of a one-sample dataset after augmentation. */
static void augmented(const float *in, int H, int W, clg_augment aug, float *out)
{
    clg_dataset *d;
    assert_ok(clg_dataset_create(1, 3, (int[]){1, H, W}, false, &d));
    memcpy(d->x, in, (size_t)H * W * sizeof *in);
    clg_loader_opts o = CLG_LOADER_DEFAULTS;
    o.batch_size = 1, o.augment = aug;
    clg_loader *l;
    assert_ok(clg_loader_create(d, &o, &l));
    const clg_batch *b;
    assert_ok(clg_loader_start_epoch(l, 0));
    assert_ok(clg_loader_next(l, &b));
    memcpy(out, b->x, (size_t)H * W * sizeof *out);
    clg_loader_free(l);
    clg_dataset_free(d);
}

static void test_transforms_on_tiny_images(void **state)
{
    (void)state;
    const float img[6] = {1, 2, 3, 4, 5, 6}; /* 2 x 3 */
    float out[6], again[6];
    clg_augment a = CLG_AUGMENT_NONE;
    a.hflip = 1;
    augmented(img, 2, 3, a, out);
    const float h[6] = {3, 2, 1, 6, 5, 4};
    assert_memory_equal(out, h, sizeof h);
    a = (clg_augment)CLG_AUGMENT_NONE;
    a.vflip = 1;
    augmented(img, 2, 3, a, out);
    const float v[6] = {4, 5, 6, 1, 2, 3};
    assert_memory_equal(out, v, sizeof v);
    /* A crop after padding by 1 is a shift by at most one pixel, zero-filled. */
    float big[25];
    for (int i = 0; i < 25; i++)
        big[i] = (float)(i + 1);
    float shifted[25];
    a = (clg_augment)CLG_AUGMENT_NONE;
    a.crop_pad = 1;
    augmented(big, 5, 5, a, shifted);
    bool matched = false;
    for (int dy = -1; dy <= 1 && !matched; dy++)
        for (int dx = -1; dx <= 1 && !matched; dx++) {
            bool ok = true;
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 5; x++) {
                    int sy = y - dy, sx = x - dx;
                    float want =
                        sy >= 0 && sy < 5 && sx >= 0 && sx < 5 ? big[sy * 5 + sx] : 0;
                    ok &= shifted[y * 5 + x] == want;
                }
            matched = ok;
        }
    assert_true(matched);
    /* Cutout zeroes a 2 x 2 square (clipped at the border) and nothing else. */
    a = (clg_augment)CLG_AUGMENT_NONE;
    a.cutout = 2;
    augmented(big, 5, 5, a, shifted);
    int zeros = 0;
    for (int i = 0; i < 25; i++) {
        zeros += shifted[i] == 0;
        assert_true(shifted[i] == 0 || shifted[i] == big[i]);
    }
    assert_in_range(zeros, 1, 4);
    /* Rotation and noise: the same seed, the same result. */
    a = (clg_augment)CLG_AUGMENT_NONE;
    a.rotate = 15, a.noise = 0.1f;
    augmented(img, 2, 3, a, out);
    augmented(img, 2, 3, a, again);
    assert_memory_equal(out, again, sizeof out);
    assert_memory_not_equal(out, img, sizeof out);
}

/* Rotation by t about the centre turns the ramp f(y, x) = x into
 * cx - sin(t)(y - cy) + cos(t)(x - cx) wherever bilinear interpolation reads
 * only pixels inside the image: the gradients give cos t and sin t, which
 * must be a rotation (no scale, no shear) by at most the 15 degrees asked. */
static void test_rotation_rotates_about_the_centre(void **state)
{
    (void)state;
    enum { N = 9, C = 4 };
    float ramp[N * N], rot[N * N];
    for (int i = 0; i < N * N; i++)
        ramp[i] = (float)(i % N);
    clg_augment a = CLG_AUGMENT_NONE;
    a.rotate = 15;
    augmented(ramp, N, N, a, rot);
    double c = (rot[C * N + C + 2] - rot[C * N + C - 2]) / 4.0;
    double s = -(rot[(C + 2) * N + C] - rot[(C - 2) * N + C]) / 4.0;
    assert_true(fabs(c * c + s * s - 1.0) < 1e-4);
    double degrees = fabs(atan2(s, c)) * 180.0 / 3.14159265358979;
    assert_true(degrees > 0.01 && degrees <= 15.0);
    for (int y = C - 2; y <= C + 2; y++)
        for (int x = C - 2; x <= C + 2; x++)
            assert_true(fabs(rot[y * N + x] - (C - s * (y - C) + c * (x - C))) < 1e-4);
    assert_true(rot[C * N + C] == (float)C); /* the centre stays */
}

/* Gaussian noise of the standard deviation asked, mean 0, on every pixel. */
static void test_noise_has_the_asked_deviation(void **state)
{
    (void)state;
    enum { N = 32 };
    static float flat[N * N], noisy[N * N];
    for (int i = 0; i < N * N; i++)
        flat[i] = 0.5f;
    clg_augment a = CLG_AUGMENT_NONE;
    a.noise = 0.1f;
    augmented(flat, N, N, a, noisy);
    double sum = 0, sq = 0;
    int unchanged = 0;
    for (int i = 0; i < N * N; i++) {
        double d = noisy[i] - 0.5;
        sum += d, sq += d * d;
        unchanged += noisy[i] == 0.5f;
    }
    double mean = sum / (N * N), sd = sqrt(sq / (N * N) - mean * mean);
    assert_true(fabs(mean) < 4 * 0.1 / N); /* four standard errors */
    assert_true(sd > 0.09 && sd < 0.11);
    assert_true(unchanged < 4);
}

/* n copies of one [C, H, W] image through the loader with `aug` (each copy
 * its own draw), normalised by `norm` first when given. */
static float *jittered(const float *img, int C, int H, int W, int n, clg_augment aug,
                       const clg_normalization *norm)
{
    size_t S = (size_t)C * H * W;
    clg_dataset *d;
    assert_ok(clg_dataset_create(n, 3, (int[]){C, H, W}, false, &d));
    for (int k = 0; k < n; k++)
        memcpy(d->x + k * S, img, S * sizeof *img);
    clg_loader_opts o = CLG_LOADER_DEFAULTS;
    o.batch_size = n, o.shuffle = false, o.augment = aug, o.seed = 5;
    if (norm) {
        assert_ok(clg_normalization_apply(norm, d));
        o.normalized = *norm;
    }
    clg_loader *l;
    assert_ok(clg_loader_create(d, &o, &l));
    const clg_batch *b;
    assert_ok(clg_loader_start_epoch(l, 0));
    assert_ok(clg_loader_next(l, &b));
    float *out = malloc((size_t)n * S * sizeof *out);
    memcpy(out, b->x, (size_t)n * S * sizeof *out);
    for (int k = 0; norm && k < n; k++) /* back to pixels */
        for (int c = 0; c < C; c++)
            for (size_t i = 0; i < (size_t)H * W; i++) {
                float *v = &out[k * S + c * (size_t)H * W + i];
                *v = *v * norm->std[c] + norm->mean[c];
            }
    clg_loader_free(l);
    clg_dataset_free(d);
    return out;
}

static float grey_at(const float *img, size_t P, size_t i)
{
    return 0.2989f * img[i] + 0.587f * img[P + i] + 0.114f * img[2 * P + i];
}

/* The factors' spread over 400 draws: uniform on [1 - v, 1 + v] has mean 1,
 * reaches within 0.1 of both ends, and a quarter of the draws below
 * 1 - v / 2. */
static void check_factors(const double *f, int n, double v)
{
    double sum = 0, lo = 9, hi = 0;
    int low = 0;
    for (int k = 0; k < n; k++) {
        assert_true(f[k] >= 1 - v - 1e-5 && f[k] <= 1 + v + 1e-5);
        sum += f[k], lo = fmin(lo, f[k]), hi = fmax(hi, f[k]);
        low += f[k] < 1 - v / 2;
    }
    assert_true(fabs(sum / n - 1) < 0.05);
    assert_true(lo < 1 - v + 0.1 && hi > 1 + v - 0.1);
    assert_in_range(low, n / 4 - 40, n / 4 + 40);
}

/* Brightness scales every pixel of an image by one factor; on normalised
 * data it does so to the pixels, not to the normalised values. */
static void test_brightness_scales_the_pixels(void **state)
{
    (void)state;
    enum { C = 3, H = 4, W = 5, N = 400 };
    size_t S = C * H * W;
    float img[C * H * W];
    uint32_t seed = 3;
    for (size_t i = 0; i < S; i++)
        img[i] = 0.1f + 0.5f * (test_random(&seed) + 1) / 2;
    clg_augment a = CLG_AUGMENT_NONE;
    a.brightness = 0.5f;
    clg_normalization norm = {3, {0.4f, 0.5f, 0.3f}, {0.2f, 0.25f, 0.3f}};
    for (int way = 0; way < 2; way++) {
        float *out = jittered(img, C, H, W, N, a, way ? &norm : NULL);
        double f[N];
        for (int k = 0; k < N; k++) {
            f[k] = out[k * S] / img[0];
            for (size_t i = 0; i < S; i++)
                if (fabs(out[k * S + i] - f[k] * img[i]) > 1e-5)
                    fail_msg("copy %d, pixel %zu: %g is not %g x %g", k, i,
                             out[k * S + i], f[k], img[i]);
        }
        check_factors(f, N, 0.5);
        free(out);
    }
}

/* Contrast blends with the image's mean grey; saturation with each pixel's
 * grey, which it keeps; values past 1 are clamped. */
static void test_contrast_and_saturation_blend_with_grey(void **state)
{
    (void)state;
    enum { C = 3, H = 3, W = 3, N = 400 };
    size_t P = H * W, S = C * P;
    float img[C * H * W];
    uint32_t seed = 8;
    double mean = 0;
    for (size_t i = 0; i < S; i++)
        img[i] = 0.3f + 0.4f * (test_random(&seed) + 1) / 2;
    for (size_t i = 0; i < P; i++)
        mean += grey_at(img, P, i) / P;
    clg_augment a = CLG_AUGMENT_NONE;
    a.contrast = 0.6f;
    float *out = jittered(img, C, H, W, N, a, NULL);
    double f[N];
    for (int k = 0; k < N; k++) {
        f[k] = (out[k * S] - mean) / (img[0] - mean);
        for (size_t i = 0; i < S; i++)
            assert_true(fabs(out[k * S + i] - (f[k] * img[i] + (1 - f[k]) * mean)) <
                        1e-5);
    }
    check_factors(f, N, 0.6);
    free(out);
    a = (clg_augment)CLG_AUGMENT_NONE;
    a.saturation = 0.6f;
    out = jittered(img, C, H, W, N, a, NULL);
    for (int k = 0; k < N; k++) {
        float g0 = grey_at(img, P, 0);
        f[k] = (out[k * S] - g0) / (img[0] - g0);
        for (size_t i = 0; i < P; i++) {
            float g = grey_at(img, P, i);
            assert_true(fabs(grey_at(out + k * S, P, i) - g) < 1e-4);
            for (int c = 0; c < C; c++)
                assert_true(fabs(out[k * S + c * P + i] -
                                 (f[k] * img[c * P + i] + (1 - f[k]) * g)) < 1e-5);
        }
    }
    check_factors(f, N, 0.6);
    free(out);
    /* bright pixels clamp at 1 */
    float white[C * H * W];
    for (size_t i = 0; i < S; i++)
        white[i] = 0.95f;
    a = (clg_augment)CLG_AUGMENT_NONE;
    a.brightness = 0.5f;
    out = jittered(white, C, H, W, N, a, NULL);
    int clamped = 0;
    for (size_t i = 0; i < N * S; i++) {
        assert_true(out[i] <= 1.0f);
        clamped += out[i] == 1.0f;
    }
    assert_true(clamped > N * (int)S / 3);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transforms_on_tiny_images),
        cmocka_unit_test(test_rotation_rotates_about_the_centre),
        cmocka_unit_test(test_noise_has_the_asked_deviation),
        cmocka_unit_test(test_brightness_scales_the_pixels),
        cmocka_unit_test(test_contrast_and_saturation_blend_with_grey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
