/* libFuzzer target: the JPEG decoder (clg_image_decode) on arbitrary bytes
 * (fuzz_image.h). */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_image(data, size, ".jpg");
}
