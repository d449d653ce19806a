/* libFuzzer target: the safetensors checkpoint reader on arbitrary bytes
 * must return a status, never crash or read outside the file; every tensor
 * of a file it accepts can be read, and its training state parsed. */
#include <clgrad/io.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clg_checkpoint *c = NULL;
    if (clg_checkpoint_read(fuzz_scratch(data, size, ".safetensors"), &c) != CLG_OK)
        return 0;
    for (int i = 0; i < clg_checkpoint_count(c); i++) {
        if (!clg_checkpoint_name(c, i) || !clg_checkpoint_dtype(c, i))
            abort();
        int64_t shape[8];
        int ndim = clg_checkpoint_shape(c, i, shape);
        if (ndim < 0 || ndim > 8)
            abort();
        size_t count = 1;
        for (int d = 0; d < ndim && count <= (1u << 20); d++)
            count *=
                shape[d] < 0 || shape[d] > (1 << 20) ? (1u << 21) : (size_t)shape[d];
        if (count > (1u << 20))
            continue; /* the file is at most a few KiB: the reader refuses it */
        float *v = malloc((count ? count : 1) * sizeof *v);
        if (v)
            clg_checkpoint_floats(c, i, v, count);
        free(v);
    }
    clg_checkpoint_meta(c, "epoch");
    clg_train_state st;
    clg_checkpoint_train_state(c, &st);
    clg_checkpoint_free(c);
    return 0;
}
