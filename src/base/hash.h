/* FNV-1a over bytes: the hash of the tokenizer's maps and of the checks
 * that ranks hold the same spec, data and weights. Not for security. */
#ifndef CLGRAD_BASE_HASH_H
#define CLGRAD_BASE_HASH_H

#include "base/base.h"

#define CLG_FNV_START 0xCBF29CE484222325ull

/* h continued over n bytes at p; start from CLG_FNV_START. */
static inline uint64_t clg_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

#endif
