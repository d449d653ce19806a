/* The body of fuzz_png and fuzz_jpeg: clg_image_decode on the fuzzer's
 * bytes in a scratch file whose suffix picks the decoder, as gray and as
 * RGB, must return a status, never crash or overrun. */
#ifndef CLG_FUZZ_IMAGE_H
#define CLG_FUZZ_IMAGE_H

#include <clgrad/data.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"

static int fuzz_image(const uint8_t *data, size_t size, const char *suffix)
{
    const char *path = fuzz_scratch(data, size, suffix);
    for (int channels = 1; channels <= 3; channels += 2) {
        int w = 0, h = 0;
        unsigned char *px = NULL;
        if (clg_image_decode(path, channels, &w, &h, &px) == CLG_OK) {
            volatile unsigned sum = 0;
            for (size_t i = 0; i < (size_t)w * (size_t)h * (size_t)channels; i++)
                sum += px[i];
        }
        free(px);
    }
    return 0;
}

#endif
