/* libFuzzer target: the model spec parser on arbitrary text must return a
 * status, never crash; a spec it accepts keeps its text, which parses again,
 * and its head can be replaced. */
#include <clgrad/nn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    clg_spec *spec = NULL;
    if (clg_spec_parse(text, "fuzz.spec", &spec) == CLG_OK) {
        int shape[3];
        clg_dtype dtype;
        clg_spec_input(spec, shape, &dtype);
        clg_spec *again = NULL;
        if (clg_spec_parse(clg_spec_text(spec), "again.spec", &again) != CLG_OK)
            abort(); /* accepted once, refused the second time */
        clg_spec_free(again);
        clg_spec_replace_head(spec, 3);
        clg_spec_free(spec);
    }
    free(text);
    return 0;
}
