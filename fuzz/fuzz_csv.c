/* libFuzzer target: the CSV reader on arbitrary bytes, with and without a
 * header and label column, must return a status, never crash. */
#include <clgrad/data.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clg_csv_opts opts[3] = {CLG_CSV_DEFAULTS, CLG_CSV_DEFAULTS, CLG_CSV_DEFAULTS};
    opts[1].header = 1, opts[1].label_name = "label";
    opts[2].header = 0, opts[2].label_index = -2, opts[2].delimiter = ';';
    for (int k = 0; k < 3; k++) {
        clg_dataset *d = NULL;
        if (clg_dataset_from_csv_text((const char *)data, size, "fuzz", &opts[k], &d) ==
            CLG_OK) {
            volatile float sum = 0;
            for (size_t i = 0; i < (size_t)d->count * d->sample; i++)
                sum += d->x[i];
            for (int i = 0; d->labels && i < d->count; i++)
                sum += (float)d->labels[i];
            clg_dataset_free(d);
        }
    }
    return 0;
}
