/* libFuzzer target: clg_idx_parse on arbitrary bytes must return a status,
 * never crash or read out of bounds. Build and run with scripts/fuzz.sh. */
#include <clgrad/data.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clg_idx *idx = NULL;
    if (clg_idx_parse(data, size, "fuzz", &idx) == CLG_OK) {
        /* A parsed file's data must be all there. */
        volatile unsigned char sum = 0;
        const unsigned char *p = idx->data;
        size_t bytes =
            idx->count * (idx->type == CLG_IDX_F64                               ? 8
                          : idx->type == CLG_IDX_I32 || idx->type == CLG_IDX_F32 ? 4
                          : idx->type == CLG_IDX_I16                             ? 2
                                                                                 : 1);
        for (size_t i = 0; i < bytes; i++)
            sum ^= p[i];
        clg_idx_free(idx);
    }
    return 0;
}
