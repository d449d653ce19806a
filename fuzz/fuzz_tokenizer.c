/* libFuzzer target: the tokenizer loader on arbitrary bytes must return a
 * status, never crash. A tokenizer it accepts encodes the same bytes into
 * ids inside its vocabulary, decodes them (for byte and BPE tokenizers, back
 * into exactly those bytes), and refuses ids outside it. */
#include <clgrad/data.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clg_tokenizer *t = NULL;
    if (clg_tokenizer_load(fuzz_scratch(data, size, ".tok"), &t) != CLG_OK)
        return 0;
    static const char byte_head[] = "clgrad-tokenizer 1\ntype byte\n",
                      bpe_head[] = "clgrad-tokenizer 1\ntype bpe\n";
    bool lossless =
        (size >= sizeof byte_head - 1 &&
         !memcmp(data, byte_head, sizeof byte_head - 1)) ||
        (size >= sizeof bpe_head - 1 && !memcmp(data, bpe_head, sizeof bpe_head - 1));
    int vocab = clg_tokenizer_vocab_size(t);
    int32_t *ids = NULL;
    size_t count = 0;
    if (clg_tokenizer_encode(t, (const char *)data, size, &ids, &count) == CLG_OK) {
        for (size_t i = 0; i < count; i++)
            if (ids[i] < 0 || ids[i] >= vocab)
                abort();
        char *text = NULL;
        size_t len = 0;
        if (clg_tokenizer_decode(t, ids, count, &text, &len) != CLG_OK)
            abort(); /* its own ids */
        if (lossless && (len != size || memcmp(text, data, size) != 0))
            abort();
        free(text);
    }
    free(ids);
    int32_t outside[2] = {vocab, -1};
    char *text = NULL;
    size_t len = 0;
    if (clg_tokenizer_decode(t, outside, 2, &text, &len) == CLG_OK)
        abort();
    free(text);
    clg_tokenizer_free(t);
    return 0;
}
