/* Readers (good and bad files), datasets, transforms and the loader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "test_util.h"

/* after stdio.h: jpeglib.h needs FILE and size_t */
#include <jpeglib.h>
#include <png.h>

static char dir[] = "/tmp/clgrad-data-XXXXXX";

static int make_dir(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name)
{
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static void write_bytes(const char *path, const void *data, size_t len, bool gz)
{
    if (gz) {
        gzFile z = gzopen(path, "wb");
        assert_non_null(z);
        assert_int_equal(gzwrite(z, data, (unsigned)len), (int)len);
        gzclose(z);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        fclose(f);
    }
}

/* An IDX u8 file [n, h, w] (or [n] when h == 0) with values (i * 7) % 256. */
static size_t idx_u8(unsigned char *buf, int n, int h, int w)
{
    int ndim = h ? 3 : 1;
    unsigned char head[16] = {0, 0, 0x08, (unsigned char)ndim};
    int dims[3] = {n, h, w};
    for (int i = 0; i < ndim; i++) {
        head[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        head[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        head[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        head[7 + 4 * i] = (unsigned char)dims[i];
    }
    size_t header = 4 + 4 * (size_t)ndim, count = (size_t)n * (h ? h * w : 1);
    memcpy(buf, head, header);
    for (size_t i = 0; i < count; i++)
        buf[header + i] = (unsigned char)(h ? (i * 7) % 256 : i % 10);
    return header + count;
}

static void test_idx_reads_plain_and_gzip(void **state)
{
    (void)state;
    static unsigned char buf[4096];
    size_t len = idx_u8(buf, 5, 4, 3);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = path_of(gz ? "a.idx.gz" : "a.idx");
        write_bytes(p, buf, len, gz);
        clg_idx *idx;
        assert_ok(clg_idx_read(p, &idx));
        assert_int_equal(idx->type, CLG_IDX_U8);
        assert_int_equal(idx->ndim, 3);
        assert_int_equal(idx->dims[0], 5);
        assert_int_equal(idx->dims[2], 3);
        assert_int_equal(idx->count, 60);
        assert_int_equal(((unsigned char *)idx->data)[59], (59 * 7) % 256);
        clg_idx_free(idx);
    }
}

static void test_idx_reads_float32_big_endian(void **state)
{
    (void)state;
    unsigned char buf[8 + 8] = {0,    0,    0x0D, 1, 0,    0,    0, 2,
                                0x3f, 0x80, 0,    0, 0xc0, 0x40, 0, 0};
    const char *p = path_of("f.idx");
    write_bytes(p, buf, sizeof buf, false);
    clg_idx *idx;
    assert_ok(clg_idx_read(p, &idx));
    float *v = idx->data;
    assert_true(v[0] == 1.0f && v[1] == -3.0f);
    clg_idx_free(idx);
}

static void expect_bad(const void *data, size_t len, bool gz, const char *name,
                       const char *message)
{
    const char *p = path_of(name);
    write_bytes(p, data, len, gz);
    clg_idx *idx = (clg_idx *)1;
    assert_int_equal(clg_idx_read(p, &idx), CLG_BAD_FILE);
    assert_null(idx);
    assert_contains(clg_last_error(), p);
    assert_contains(clg_last_error(), message);
}

static void test_idx_rejects_bad_files(void **state)
{
    (void)state;
    static unsigned char buf[4096];
    size_t len = idx_u8(buf, 5, 4, 3);
    expect_bad(buf, len - 1, false, "truncated",
               "truncated: the header promises 60 bytes of "
               "data from byte 16, the file ends at byte 75");
    buf[len] = 9;
    expect_bad(buf, len + 1, false, "long", "1 bytes after the data end at byte 76");
    expect_bad(buf, 10, false, "short-header", "truncated header");
    expect_bad(buf, 2, false, "tiny", "an IDX header needs at least 4");
    unsigned char bad[16];
    memcpy(bad, buf, 16);
    bad[0] = 0x1f, bad[1] = 0x00;
    expect_bad(bad, 16, false, "magic", "byte 0: magic number starts 0x1f00");
    memcpy(bad, buf, 16);
    bad[2] = 0x07;
    expect_bad(bad, 16, false, "type", "byte 2: unknown element type 0x07");
    memcpy(bad, buf, 16);
    bad[3] = 0;
    expect_bad(bad, 16, false, "ndim", "byte 3: 0 dimensions");
    unsigned char huge[16] = {0,    0,    0x0D, 3,    0x7f, 0xff, 0xff, 0xff,
                              0x7f, 0xff, 0xff, 0xff, 0,    0,    0,    2};
    expect_bad(huge, 16, false, "overflow", "the dimensions multiply past");
    /* A gzip stream cut short, and one with its middle scrambled. */
    const char *p = path_of("good.gz");
    write_bytes(p, buf, len, true);
    FILE *f = fopen(p, "rb");
    unsigned char gz[4096];
    size_t gzlen = fread(gz, 1, sizeof gz, f);
    fclose(f);
    expect_bad(gz, gzlen - 12, false, "cut.gz", "the gzip stream ends early");
    expect_bad(gz, gzlen - 4, false, "cut-trailer.gz", "the gzip stream ends early");
    expect_bad(gz, gzlen - 1, false, "cut-byte.gz", "the gzip stream ends early");
    for (size_t i = 12; i < gzlen - 8; i++)
        gz[i] ^= 0x5a;
    expect_bad(gz, gzlen, false, "scrambled.gz", "corrupt gzip stream");
    clg_idx *idx;
    assert_int_equal(clg_idx_read(path_of("missing"), &idx), CLG_IO_ERROR);
    assert_contains(clg_last_error(), "cannot open");
}

static void test_dataset_checks_image_and_label_counts(void **state)
{
    (void)state;
    static unsigned char buf[4096];
    size_t len = idx_u8(buf, 5, 4, 3);
    write_bytes(path_of("img"), buf, len, true);
    len = idx_u8(buf, 4, 0, 0);
    write_bytes(path_of("lab4"), buf, len, false);
    clg_dataset *d = (clg_dataset *)1;
    assert_int_equal(clg_dataset_from_idx(path_of("img"), path_of("lab4"), &d),
                     CLG_BAD_FILE);
    assert_null(d);
    assert_contains(clg_last_error(), "has 5 images but");
    assert_contains(clg_last_error(), "has 4 labels");
    len = idx_u8(buf, 5, 0, 0);
    write_bytes(path_of("lab5"), buf, len, false);
    assert_ok(clg_dataset_from_idx(path_of("img"), path_of("lab5"), &d));
    assert_int_equal(d->count, 5);
    assert_int_equal(d->ndim, 3);
    assert_int_equal(d->shape[0], 1);
    assert_int_equal(d->sample, 12);
    assert_true(fabsf(d->x[13] - (13 * 7 % 256) / 255.0f) < 1e-7f);
    assert_int_equal(d->labels[4], 4);
    assert_int_equal(d->classes, 5);
    clg_dataset_free(d);
}

static void test_fashion_mnist_from_the_debian_package(void **state)
{
    (void)state;
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) !=
        0)
        skip();
    clg_dataset *d;
    assert_ok(clg_dataset_fashion_mnist(NULL, false, &d));
    assert_int_equal(d->count, 10000);
    assert_int_equal(d->classes, 10);
    assert_int_equal(d->sample, 784);
    int per_class[10] = {0};
    float lo = 1, hi = 0;
    for (int i = 0; i < d->count; i++)
        per_class[d->labels[i]]++;
    for (size_t i = 0; i < (size_t)d->count * 784; i++)
        lo = fminf(lo, d->x[i]), hi = fmaxf(hi, d->x[i]);
    for (int c = 0; c < 10; c++)
        assert_int_equal(per_class[c], 1000);
    assert_true(lo == 0.0f && hi == 1.0f);
    clg_dataset_free(d);
    assert_int_equal(clg_dataset_fashion_mnist("/nonexistent", true, &d),
                     CLG_NOT_FOUND);
    assert_contains(clg_last_error(),
                    "no train-images-idx3-ubyte[.gz] in /nonexistent");
}

static clg_dataset *counting(int n, int C, int H, int W)
{
    clg_dataset *d;
    assert_ok(clg_dataset_create(n, 3, (int[]){C, H, W}, true, &d));
    for (size_t i = 0; i < (size_t)n * d->sample; i++)
        d->x[i] = (float)i;
    for (int i = 0; i < n; i++)
        d->labels[i] = i;
    d->classes = n;
    return d;
}

/* A CIFAR record: label byte(s), then plane c's pixel (y, x) at 1 + c * 1024
 * + y * 32 + x, valued (record * 31 + c * 7 + y * 3 + x) % 256. */
static void cifar_record(unsigned char *r, int labels, const int *label, int record)
{
    for (int k = 0; k < labels; k++)
        r[k] = (unsigned char)label[k];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                r[labels + c * 1024 + y * 32 + x] =
                    (unsigned char)((record * 31 + c * 7 + y * 3 + x) % 256);
}

/* CIFAR-10 and -100's binary batches: every pixel in its plane and place,
 * scaled to [0, 1]; the fine label of CIFAR-100; the class names; files of
 * the wrong length, labels past the classes and missing files refused by
 * name. */
static void test_cifar_binary_batches(void **state)
{
    (void)state;
    enum { R10 = 3073, R100 = 3074 };
    static unsigned char buf[4 * R100];
    const char *batches[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                             "data_batch_4.bin", "data_batch_5.bin"};
    int record = 0;
    for (int f = 0; f < 5; f++) { /* two records a batch, labels 0, 1, 2, ... */
        for (int k = 0; k < 2; k++, record++)
            cifar_record(buf + k * R10, 1, (int[]){record % 10}, record);
        write_bytes(path_of(batches[f]), buf, 2 * R10, false);
    }
    cifar_record(buf, 1, (int[]){9}, 0);
    write_bytes(path_of("test_batch.bin"), buf, R10, false);
    const char names[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\n"
                         "ship\ntruck\n";
    write_bytes(path_of("batches.meta.txt"), names, strlen(names), false);
    clg_dataset *d;
    assert_ok(clg_dataset_cifar(dir, 10, true, &d));
    assert_int_equal(d->count, 10);
    assert_int_equal(d->classes, 10);
    assert_true(d->from_bytes);
    assert_int_equal(d->shape[0], 3);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(d->labels[i], i % 10);
        int c = i % 3, y = (i * 5) % 32, x = (i * 11) % 32;
        float want = (float)((i * 31 + c * 7 + y * 3 + x) % 256) / 255.0f;
        assert_true(d->x[(size_t)i * 3072 + (size_t)c * 1024 + (size_t)y * 32 + x] ==
                    want);
    }
    assert_string_equal(d->class_names[3], "cat");
    clg_dataset_free(d);
    assert_ok(clg_dataset_cifar(dir, 10, false, &d));
    assert_int_equal(d->count, 1);
    assert_int_equal(d->labels[0], 9);
    clg_dataset_free(d);
    /* CIFAR-100: coarse label, fine label */
    cifar_record(buf, 2, (int[]){3, 77}, 0);
    cifar_record(buf + R100, 2, (int[]){19, 99}, 1);
    write_bytes(path_of("train.bin"), buf, 2 * R100, false);
    assert_ok(clg_dataset_cifar(dir, 100, true, &d));
    assert_int_equal(d->count, 2);
    assert_int_equal(d->labels[0], 77);
    assert_int_equal(d->labels[1], 99);
    assert_null(d->class_names); /* no fine_label_names.txt */
    assert_true(d->x[3072 + 5] == (float)((31 + 5) % 256) / 255.0f);
    clg_dataset_free(d);
    /* bad files */
    write_bytes(path_of("train.bin"), buf, 2 * R100 - 1, false);
    assert_int_equal(clg_dataset_cifar(dir, 100, true, &d), CLG_BAD_FILE);
    assert_contains(clg_last_error(),
                    "train.bin: 6147 bytes are not whole records of 3074");
    cifar_record(buf, 1, (int[]){10}, 0);
    write_bytes(path_of("test_batch.bin"), buf, R10, false);
    assert_int_equal(clg_dataset_cifar(dir, 10, false, &d), CLG_BAD_FILE);
    assert_contains(clg_last_error(), "test_batch.bin: record 0 has label 10");
    assert_int_equal(clg_dataset_cifar(dir, 100, false, &d), CLG_NOT_FOUND);
    assert_contains(clg_last_error(), "test.bin: no such file");
    assert_null(d);
}

/* A gray (channels 1) or RGB PNG of w x h bytes at `name`. */
static void write_png(const char *name, int w, int h, int channels,
                      const unsigned char *px)
{
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    p.width = (unsigned)w, p.height = (unsigned)h;
    p.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    assert_true(png_image_write_to_file(&p, path_of(name), 0, px, 0, NULL));
}

static void write_jpeg(const char *name, int w, int h, const unsigned char *rgb)
{
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    struct jpeg_compress_struct j;
    struct jpeg_error_mgr e;
    j.err = jpeg_std_error(&e);
    jpeg_create_compress(&j);
    jpeg_stdio_dest(&j, f);
    j.image_width = (unsigned)w, j.image_height = (unsigned)h;
    j.input_components = 3, j.in_color_space = JCS_RGB;
    jpeg_set_defaults(&j);
    jpeg_set_quality(&j, 100, TRUE);
    jpeg_start_compress(&j, TRUE);
    while (j.next_scanline < j.image_height) {
        JSAMPROW r = (JSAMPROW)(rgb + (size_t)j.next_scanline * w * 3);
        jpeg_write_scanlines(&j, &r, 1);
    }
    jpeg_finish_compress(&j);
    jpeg_destroy_compress(&j);
    fclose(f);
}

/* Image folders: classes in sorted order with their names, files in sorted
 * order, PNG bytes exact, JPEG near, bilinear resizing as PyTorch's
 * interpolate (align_corners=False), the centre crop, and every refusal
 * named. */
static void test_image_folders(void **state)
{
    (void)state;
    mkdir(path_of("imgs"), 0777);
    mkdir(path_of("imgs/zebra"), 0777);
    mkdir(path_of("imgs/ant"), 0777);
    mkdir(path_of("imgs/.hidden"), 0777);
    unsigned char g[4 * 4], rgb[4 * 4 * 3];
    for (int i = 0; i < 16; i++)
        g[i] = (unsigned char)(i * 16);
    write_png("imgs/zebra/b.png", 4, 4, 1, g);
    g[0] = 255;
    write_png("imgs/zebra/a.PNG", 4, 4, 1, g);
    for (int i = 0; i < 48; i++)
        rgb[i] = (unsigned char)(i % 3 == 0 ? 250 : 10);
    write_jpeg("imgs/ant/x.jpg", 4, 4, rgb);
    write_bytes(path_of("imgs/ant/notes.txt"), "skip me", 7, false);
    clg_image_opts o = {1, 4, 4, CLG_RESIZE_NONE};
    clg_dataset *d;
    assert_ok(clg_dataset_from_image_folder(path_of("imgs"), &o, &d));
    assert_int_equal(d->count, 3);
    assert_int_equal(d->classes, 2);
    assert_string_equal(d->class_names[0], "ant");
    assert_string_equal(d->class_names[1], "zebra");
    assert_int_equal(d->labels[0], 0);
    assert_int_equal(d->labels[1], 1);
    assert_true(d->x[16] == 1.0f);               /* a.PNG first: its pixel 0 is 255 */
    assert_true(d->x[32 + 5] == 80 / 255.0f);    /* b.png, pixel 5 */
    assert_true(fabsf(d->x[0] - 0.37f) < 0.05f); /* the JPEG's gray, near */
    clg_dataset_free(d);
    /* RGB from a gray PNG; the JPEG's red plane */
    o.channels = 3;
    assert_ok(clg_dataset_from_image_folder(path_of("imgs"), &o, &d));
    assert_true(fabsf(d->x[0] - 250 / 255.0f) < 0.03f && d->x[16] < 0.1f);
    assert_true(d->x[48 + 5] == 80 / 255.0f && d->x[48 + 16 + 5] == 80 / 255.0f);
    clg_dataset_free(d);
    /* bilinear 4 x 4 -> 8 x 2 and a centre crop to 2 x 2 */
    o = (clg_image_opts){1, 8, 2, CLG_RESIZE_BILINEAR};
    assert_ok(clg_dataset_from_image_folder(path_of("imgs"), &o, &d));
    /* b.png rows are 16 y + 16 x / 4...: x scale 0.5, y scale 2: output (y,
     * x) reads source (2y + 0.5, 0.5x - 0.25 clamped at 0) */
    const float *b = d->x + 2 * 16;
    float want[2][8];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 8; x++) {
            float fy = (y + 0.5f) * 2 - 0.5f, fx = (x + 0.5f) * 0.5f - 0.5f;
            fx = fx < 0 ? 0 : fx;
            float v = 16 * (4 * fy + (fx > 3 ? 3 : fx)); /* g is linear in y and x */
            want[y][x] = v / 255.0f;
        }
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 8; x++)
            assert_true(fabsf(b[y * 8 + x] - want[y][x]) < 1e-5f);
    clg_dataset_free(d);
    o = (clg_image_opts){1, 2, 2, CLG_RESIZE_CROP};
    assert_ok(clg_dataset_from_image_folder(path_of("imgs"), &o, &d));
    assert_true(d->x[2 * 4 + 0] == 5 * 16 / 255.0f &&
                d->x[2 * 4 + 3] == 10 * 16 / 255.0f);
    clg_dataset_free(d);
    /* refusals */
    o = (clg_image_opts){1, 5, 4, CLG_RESIZE_NONE};
    assert_int_equal(clg_dataset_from_image_folder(path_of("imgs"), &o, &d),
                     CLG_SHAPE_MISMATCH);
    assert_contains(clg_last_error(), "x.jpg is 4 x 4 pixels, the model's input 5 x 4");
    o = (clg_image_opts){1, 4, 4, CLG_RESIZE_NONE};
    FILE *f = fopen(path_of("imgs/zebra/b.png"), "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 40), 0);
    fclose(f);
    assert_int_equal(clg_dataset_from_image_folder(path_of("imgs"), &o, &d),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(), "zebra/b.png");
    write_bytes(path_of("imgs/zebra/b.png"), "not a png at all", 16, false);
    assert_int_equal(clg_dataset_from_image_folder(path_of("imgs"), &o, &d),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(), "zebra/b.png: not a PNG image");
    write_bytes(path_of("imgs/zebra/b.png"), "\xff\xd8\xff junk", 9, false);
    write_bytes(path_of("imgs/ant/x.jpg"), "\xff\xd8\xff\xe0 junk", 9, false);
    assert_int_equal(clg_dataset_from_image_folder(path_of("imgs"), &o, &d),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(), "ant/x.jpg: not a JPEG image that decodes");
    mkdir(path_of("imgs/empty"), 0777);
    assert_int_equal(clg_dataset_from_image_folder(path_of("imgs"), &o, &d),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(),
                    "no PNG or JPEG file in the folder of class 'empty'");
    assert_int_equal(clg_dataset_from_image_folder(path_of("imgs/ant"), &o, &d),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(), "has no subfolders");
    assert_null(d);
}

/* Every batch of two loaders over datasets of the same samples, equal. */
static void same_batches(const clg_dataset *a, const clg_dataset *b, clg_augment aug)
{
    clg_loader_opts o = CLG_LOADER_DEFAULTS;
    o.batch_size = 4, o.seed = 11, o.augment = aug;
    clg_loader *la, *lb;
    assert_ok(clg_loader_create(a, &o, &la));
    assert_ok(clg_loader_create(b, &o, &lb));
    for (int epoch = 0; epoch < 2; epoch++) {
        assert_ok(clg_loader_start_epoch(la, epoch));
        assert_ok(clg_loader_start_epoch(lb, epoch));
        const clg_batch *ba, *bb;
        for (;;) {
            assert_ok(clg_loader_next(la, &ba));
            assert_ok(clg_loader_next(lb, &bb));
            assert_true((ba == NULL) == (bb == NULL));
            if (!ba)
                break;
            assert_int_equal(ba->count, bb->count);
            assert_memory_equal(ba->x, bb->x, (size_t)ba->count * a->sample * 4);
            assert_memory_equal(ba->labels, bb->labels, (size_t)ba->count * 4);
        }
    }
    clg_loader_free(la), clg_loader_free(lb);
}

/* A folder larger than its memory limit: a lazy dataset (headers checked
 * now, pixels decoded by the loader's threads, a cache of 3 samples) whose
 * reads, splits, statistics, normalisation and batches are the eagerly
 * decoded folder's to the bit; a file that stops decoding after it was
 * checked fails its batch, naming it. */
static void test_lazy_image_folder_equals_the_decoded_one(void **state)
{
    (void)state;
    const char *classes[3] = {"lazy/a", "lazy/b", "lazy/c"};
    mkdir(path_of("lazy"), 0777);
    unsigned char px[6 * 5];
    for (int k = 0; k < 3; k++) {
        mkdir(path_of(classes[k]), 0777);
        for (int i = 0; i < 10; i++) {
            char name[64];
            for (int p = 0; p < 30; p++)
                px[p] = (unsigned char)(37 * k + 11 * i + 5 * p);
            snprintf(name, sizeof name, "%s/%02d.png", classes[k], i);
            write_png(name, 6, 5, 1, px);
        }
    }
    clg_image_opts o = {1, 6, 5, CLG_RESIZE_NONE, 0, 0};
    clg_dataset *eager, *lazy, *ev, *lv;
    assert_ok(clg_dataset_from_image_folder(path_of("lazy"), &o, &eager));
    o.memory_limit = 3 * 30 * sizeof(float) + 7;
    assert_ok(clg_dataset_from_image_folder(path_of("lazy"), &o, &lazy));
    assert_null(lazy->x);
    assert_non_null(lazy->lazy);
    assert_null(eager->lazy);
    float all[30 * 30];
    for (int pass = 0; pass < 2; pass++) { /* the second from the cache, in part */
        assert_ok(clg_dataset_read(lazy, 0, 30, all));
        assert_memory_equal(all, eager->x, sizeof all);
    }
    assert_memory_equal(lazy->labels, eager->labels, 30 * sizeof(int32_t));
    assert_ok(clg_dataset_split(eager, 0.3f, 4, &ev));
    assert_ok(clg_dataset_split(lazy, 0.3f, 4, &lv));
    assert_int_equal(lv->count, 9);
    assert_int_equal(lazy->count, 21);
    assert_ok(clg_dataset_read(lv, 0, 9, all));
    assert_memory_equal(all, ev->x, 9 * 30 * sizeof(float));
    assert_memory_equal(lv->labels, ev->labels, 9 * sizeof(int32_t));
    clg_normalization ne, nl;
    assert_ok(clg_normalization_of(eager, &ne));
    assert_ok(clg_normalization_of(lazy, &nl));
    assert_memory_equal(&ne, &nl, sizeof ne);
    assert_ok(clg_normalization_apply(&ne, eager));
    assert_ok(clg_normalization_apply(&nl, lazy));
    assert_ok(clg_dataset_read(lazy, 0, 21, all));
    assert_memory_equal(all, eager->x, 21 * 30 * sizeof(float));
    clg_augment flip = CLG_AUGMENT_NONE;
    flip.hflip = 0.5f;
    same_batches(eager, lazy, flip);
    assert_ok(clg_dataset_select(eager, (int[]){2, 0}, 2, 3));
    assert_ok(clg_dataset_select(lazy, (int[]){2, 0}, 2, 3));
    assert_int_equal(lazy->count, 6);
    assert_string_equal(lazy->class_names[0], "c"); /* the names follow */
    assert_string_equal(lazy->class_names[1], "a");
    assert_ok(clg_dataset_read(lazy, 0, 6, all));
    assert_memory_equal(all, eager->x, 6 * 30 * sizeof(float));
    /* c/07.png's pixel data corrupted after its header passed: the batch
     * holding it fails, naming it */
    FILE *f = fopen(path_of("lazy/c/07.png"), "r+b");
    assert_non_null(f);
    unsigned char file[512];
    size_t len = fread(file, 1, sizeof file, f);
    size_t idat = 0;
    while (idat + 4 < len && memcmp(file + idat, "IDAT", 4))
        idat++;
    assert_true(idat + 12 < len);
    assert_int_equal(fseek(f, (long)idat + 6, SEEK_SET), 0); /* into its data */
    fputs("\x13\x37\x13\x37\x13\x37", f);
    fclose(f);
    clg_dataset_free(lv), clg_dataset_free(lazy);
    o.memory_limit = 1;
    assert_ok(clg_dataset_from_image_folder(path_of("lazy"), &o, &lazy));
    clg_loader_opts lo = CLG_LOADER_DEFAULTS;
    lo.batch_size = 8, lo.shuffle = false;
    clg_loader *l;
    assert_ok(clg_loader_create(lazy, &lo, &l));
    assert_ok(clg_loader_start_epoch(l, 0));
    const clg_batch *b;
    for (int k = 0; k < 3; k++)
        assert_ok(clg_loader_next(l, &b));
    assert_int_equal(clg_loader_next(l, &b), CLG_BAD_FILE); /* samples 24-29 */
    assert_contains(clg_last_error(), "batch 4: ");
    assert_contains(clg_last_error(), "lazy/c/07.png");
    clg_loader_free(l);
    /* a file that is not an image is refused when the folder is read */
    write_bytes(path_of("lazy/b/03.png"), "no image", 8, false);
    clg_dataset_free(lazy);
    assert_int_equal(clg_dataset_from_image_folder(path_of("lazy"), &o, &lazy),
                     CLG_BAD_FILE);
    assert_contains(clg_last_error(), "lazy/b/03.png: not a PNG image");
    clg_dataset_free(eager), clg_dataset_free(ev);
}

static void test_split_is_seeded_and_disjoint(void **state)
{
    (void)state;
    clg_dataset *a = counting(100, 1, 1, 2), *b = counting(100, 1, 1, 2), *va, *vb;
    assert_ok(clg_dataset_split(a, 0.2f, 9, &va));
    assert_ok(clg_dataset_split(b, 0.2f, 9, &vb));
    assert_int_equal(a->count, 80);
    assert_int_equal(va->count, 20);
    assert_memory_equal(va->labels, vb->labels, 20 * sizeof(int32_t));
    bool seen[100] = {false};
    for (int i = 0; i < 80; i++)
        seen[a->labels[i]] = true;
    for (int i = 0; i < 20; i++) {
        assert_false(seen[va->labels[i]]);
        seen[va->labels[i]] = true;
        assert_true(va->x[2 * i] == 2.0f * (float)va->labels[i]);
    }
    for (int i = 0; i < 100; i++)
        assert_true(seen[i]);
    clg_dataset *v;
    assert_int_equal(clg_dataset_split(a, 1.5f, 0, &v), CLG_INVALID_ARGUMENT);
    clg_dataset_free(a), clg_dataset_free(b), clg_dataset_free(va),
        clg_dataset_free(vb);
}

static void test_stats_and_normalize_per_channel(void **state)
{
    (void)state;
    clg_dataset *d;
    assert_ok(clg_dataset_create(2, 3, (int[]){2, 1, 2}, false, &d));
    float v[8] = {1, 3, 10, 30, 5, 7, 50, 70};
    memcpy(d->x, v, sizeof v);
    float mean[2], std[2];
    assert_ok(clg_dataset_stats(d, mean, std, 2));
    assert_true(fabsf(mean[0] - 4) < 1e-6f && fabsf(mean[1] - 40) < 1e-5f);
    assert_true(fabsf(std[0] - sqrtf(5)) < 1e-5f);
    assert_ok(clg_dataset_normalize(d, mean, std, 2));
    assert_true(fabsf(d->x[0] - (1 - 4) / sqrtf(5)) < 1e-6f);
    float zero[2] = {0, 0};
    clg_dataset *l = counting(3, 1, 1, 1);
    float *hot;
    assert_ok(clg_dataset_one_hot(l, 4, &hot));
    const float want[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    assert_memory_equal(hot, want, sizeof want);
    free(hot);
    assert_int_equal(clg_dataset_one_hot(l, 2, &hot), CLG_INVALID_ARGUMENT);
    clg_dataset_free(l);
    assert_int_equal(clg_dataset_normalize(d, mean, zero, 2), CLG_INVALID_ARGUMENT);
    assert_int_equal(clg_dataset_stats(d, mean, std, 3), CLG_INVALID_ARGUMENT);
    clg_dataset_free(d);
}

static void test_normalization_text_round_trips_and_refuses_bad_values(void **state)
{
    (void)state;
    clg_dataset *d;
    assert_ok(clg_dataset_create(2, 3, (int[]){2, 1, 2}, false, &d));
    float v[8] = {1, 3, 10, 30, 5, 7, 50, 70};
    memcpy(d->x, v, sizeof v);
    clg_normalization n, back;
    assert_ok(clg_normalization_of(d, &n));
    assert_int_equal(n.channels, 2);
    char text[128];
    clg_normalization_format(&n, text, sizeof text);
    assert_ok(clg_normalization_parse(text, &back));
    assert_int_equal(back.channels, 2);
    assert_memory_equal(back.mean, n.mean, sizeof n.mean);
    assert_memory_equal(back.std, n.std, sizeof n.std);
    assert_ok(clg_normalization_apply(&back, d));
    assert_true(fabsf(d->x[0] - (1 - 4) / sqrtf(5)) < 1e-6f);
    const char *bad[] = {"",
                         "0.5",
                         "nan;1",
                         "0.5;0",
                         "0.5;-1",
                         "0.5;inf",
                         "0.5,0.4;0.2",
                         "0.5;0.2;0.1",
                         "0.5,;0.2",
                         "a;b",
                         "1,2,3,4,5;1,1,1,1,1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (clg_normalization_parse(bad[i], &back) != CLG_BAD_FILE)
            fail_msg("normalisation '%s' was accepted", bad[i]);
        assert_int_equal(back.channels, 0);
    }
    assert_contains(clg_last_error(), "is not MEAN,..;STD,..");
    clg_normalization one = {.channels = 1, .mean = {0.5f}, .std = {2.0f}};
    assert_int_equal(clg_normalization_apply(&one, d), CLG_INVALID_ARGUMENT);
    assert_contains(clg_last_error(), "the data has 2 channels, the normalisation 1");
    clg_normalization none = {0};
    assert_ok(clg_normalization_apply(&none, d));
    assert_string_equal(clg_normalization_format(&none, text, sizeof text), "");
    clg_dataset_free(d);
}

/* All batches of one epoch, labels concatenated. */
static int epoch_labels(clg_loader *l, int epoch, int32_t *out)
{
    assert_ok(clg_loader_start_epoch(l, epoch));
    const clg_batch *b;
    int n = 0;
    for (;;) {
        assert_ok(clg_loader_next(l, &b));
        if (!b)
            break;
        memcpy(out + n, b->labels, (size_t)b->count * sizeof *out);
        n += b->count;
    }
    return n;
}

static void test_loader_order_is_seeded_and_complete(void **state)
{
    (void)state;
    clg_dataset *d = counting(103, 1, 2, 2);
    clg_loader_opts o = CLG_LOADER_DEFAULTS;
    o.batch_size = 10, o.seed = 5;
    clg_loader *a, *b;
    assert_ok(clg_loader_create(d, &o, &a));
    o.prefetch = false;
    assert_ok(clg_loader_create(d, &o, &b));
    assert_int_equal(clg_loader_batches(a), 11);
    int32_t e0[103], e0b[103], e1[103];
    assert_int_equal(epoch_labels(a, 0, e0), 103);
    assert_int_equal(epoch_labels(b, 0, e0b), 103); /* prefetch changes nothing */
    assert_memory_equal(e0, e0b, sizeof e0);
    assert_int_equal(epoch_labels(a, 1, e1), 103);
    assert_memory_not_equal(e0, e1, sizeof e0); /* a new epoch, a new order */
    bool seen[103] = {false};
    for (int i = 0; i < 103; i++)
        seen[e0[i]] = true;
    for (int i = 0; i < 103; i++)
        assert_true(seen[i]);
    clg_loader_free(a), clg_loader_free(b);
    o.drop_last = true, o.shuffle = false;
    assert_ok(clg_loader_create(d, &o, &a));
    assert_int_equal(epoch_labels(a, 0, e0), 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(e0[i], i);
    clg_loader_free(a);
    clg_dataset_free(d);
}

/* The shuffle is Fisher-Yates driven by splitmix64 from (seed, epoch): the
 * order of a fixed seed, pinned (computed apart from the loader, by the
 * algorithm), and over 6,000 epochs every ordering of 5 samples equally
 * likely: each of the 120 about 50 times (chi-square bound 200 on 119
 * degrees of freedom, p < 1e-6 for a fair shuffle), each sample in each
 * place (a shuffle that never leaves a sample in place fails both). */
static void test_loader_shuffle_is_fisher_yates_and_uniform(void **state)
{
    (void)state;
    clg_dataset *d = counting(10, 1, 1, 1);
    clg_loader_opts o = CLG_LOADER_DEFAULTS;
    o.batch_size = 4, o.seed = 5, o.prefetch = false;
    clg_loader *l;
    assert_ok(clg_loader_create(d, &o, &l));
    int32_t got[10];
    assert_int_equal(epoch_labels(l, 0, got), 10);
    assert_memory_equal(got, ((int32_t[]){6, 0, 1, 8, 2, 4, 9, 3, 7, 5}), sizeof got);
    assert_int_equal(epoch_labels(l, 3, got), 10);
    assert_memory_equal(got, ((int32_t[]){7, 3, 0, 1, 5, 2, 9, 4, 8, 6}), sizeof got);
    clg_loader_free(l);
    clg_dataset_free(d);

    enum { N = 5, EPOCHS = 6000, ORDERS = 120 };
    d = counting(N, 1, 1, 1);
    o.batch_size = N, o.seed = 11;
    assert_ok(clg_loader_create(d, &o, &l));
    int orders[ORDERS] = {0}, places[N][N] = {{0}};
    for (int e = 0; e < EPOCHS; e++) {
        int32_t p[N];
        assert_int_equal(epoch_labels(l, e, p), N);
        int rank = 0; /* the permutation's Lehmer code, 0 .. 119 */
        for (int i = 0; i < N; i++) {
            int smaller = 0;
            for (int j = i + 1; j < N; j++)
                smaller += p[j] < p[i];
            rank = rank * (N - i) + smaller;
            places[p[i]][i]++;
        }
        orders[rank]++;
    }
    double chi2 = 0, want = (double)EPOCHS / ORDERS;
    for (int r = 0; r < ORDERS; r++)
        chi2 += (orders[r] - want) * (orders[r] - want) / want;
    if (!(chi2 < 200))
        fail_msg("chi-square %.1f over the 120 orderings of 5 samples", chi2);
    for (int s = 0; s < N; s++)
        for (int i = 0; i < N; i++)
            if (places[s][i] < EPOCHS / N - 150 || places[s][i] > EPOCHS / N + 150)
                fail_msg("sample %d took place %d in %d of %d epochs", s, i,
                         places[s][i], EPOCHS);
    clg_loader_free(l);
    clg_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_reads_plain_and_gzip),
        cmocka_unit_test(test_normalization_text_round_trips_and_refuses_bad_values),
        cmocka_unit_test(test_idx_reads_float32_big_endian),
        cmocka_unit_test(test_idx_rejects_bad_files),
        cmocka_unit_test(test_dataset_checks_image_and_label_counts),
        cmocka_unit_test(test_fashion_mnist_from_the_debian_package),
        cmocka_unit_test(test_cifar_binary_batches),
        cmocka_unit_test(test_image_folders),
        cmocka_unit_test(test_lazy_image_folder_equals_the_decoded_one),
        cmocka_unit_test(test_split_is_seeded_and_disjoint),
        cmocka_unit_test(test_stats_and_normalize_per_channel),
        cmocka_unit_test(test_loader_order_is_seeded_and_complete),
        cmocka_unit_test(test_loader_shuffle_is_fisher_yates_and_uniform),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
