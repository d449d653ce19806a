/* Writes the seed corpora of fuzz_png and fuzz_jpeg: gray and RGB images
 * of odd sizes through libpng's and libjpeg's writers, and a truncation of
 * each kind. usage: make_image_seeds fuzz/corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

static unsigned char px[64 * 64 * 3];

static void pattern(int n)
{
    for (int i = 0; i < n; i++)
        px[i] = (unsigned char)(i * 37 % 251);
}

static int png(const char *dir, const char *name, int w, int h, int channels)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/png/%s", dir, name);
    pattern(w * h * channels);
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    p.width = (unsigned)w, p.height = (unsigned)h;
    p.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    return png_image_write_to_file(&p, path, 0, px, 0, NULL) ? 0 : 1;
}

static int jpeg(const char *dir, const char *name, int w, int h, int channels)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/jpeg/%s", dir, name);
    pattern(w * h * channels);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    struct jpeg_compress_struct j;
    struct jpeg_error_mgr e;
    j.err = jpeg_std_error(&e);
    jpeg_create_compress(&j);
    jpeg_stdio_dest(&j, f);
    j.image_width = (unsigned)w, j.image_height = (unsigned)h;
    j.input_components = channels;
    j.in_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&j);
    jpeg_set_quality(&j, 85, TRUE);
    jpeg_start_compress(&j, TRUE);
    while (j.next_scanline < j.image_height) {
        JSAMPROW r = px + (size_t)j.next_scanline * w * channels;
        jpeg_write_scanlines(&j, &r, 1);
    }
    jpeg_finish_compress(&j);
    jpeg_destroy_compress(&j);
    return fclose(f) != 0;
}

/* The first `keep` bytes of a seed, as another seed. */
static int truncated(const char *dir, const char *from, const char *to, long keep)
{
    char in[1024], out[1024];
    unsigned char buf[8192];
    snprintf(in, sizeof in, "%s/%s", dir, from);
    snprintf(out, sizeof out, "%s/%s", dir, to);
    FILE *f = fopen(in, "rb"), *g = fopen(out, "wb");
    size_t n = f ? fread(buf, 1, (size_t)keep, f) : 0;
    int rc = !f || !g || fwrite(buf, 1, n, g) != n;
    if (f)
        fclose(f);
    if (g)
        rc |= fclose(g) != 0;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_image_seeds CORPUS_DIR\n");
        return 2;
    }
    const char *d = argv[1];
    int rc = png(d, "gray-8x9.png", 8, 9, 1) | png(d, "rgb-5x3.png", 5, 3, 3) |
             jpeg(d, "gray-9x16.jpg", 9, 16, 1) | jpeg(d, "rgb-13x7.jpg", 13, 7, 3);
    rc |= truncated(d, "png/gray-8x9.png", "png/truncated.png", 60);
    rc |= truncated(d, "jpeg/rgb-13x7.jpg", "jpeg/truncated.jpg", 200);
    return rc;
}
