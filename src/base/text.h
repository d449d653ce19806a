/* Numbers and enum names read from text (text.c): spec files, flags,
 * metadata. Each parse takes the whole word: "12x" is not 12. */
#ifndef CLGRAD_BASE_TEXT_H
#define CLGRAD_BASE_TEXT_H

#include "base/base.h"

/* A whole number in [lo, hi]; false for anything else. */
bool clg_parse_int(const char *word, long long lo, long long hi, long long *out);

/* A finite or infinite decimal number in [lo, hi] (NaN never is). */
bool clg_parse_float(const char *word, double lo, double hi, float *out);
bool clg_parse_double(const char *word, double lo, double hi, double *out);

/* The offset of the first byte of s[0 .. len) that does not begin a valid
 * UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF, nothing cut short), or len when all of it is valid. */
size_t clg_utf8_invalid_at(const char *s, size_t len);

/* true/1/yes or false/0/no. */
bool clg_parse_bool(const char *word, bool *out);

/* The index of `name` in names[0 .. count) (NULL entries are gaps), or
 * CLG_INVALID_ARGUMENT with "unknown WHAT 'NAME' (a, b, c)". */
clg_status clg_enum_parse(const char *what, const char *name, const char *const *names,
                          int count, int *index);

/* "a, b, c": the names of a table, for help texts and errors. */
const char *clg_enum_list(const char *const *names, int count, char *buf, size_t len);

/* Defines TYPE_str and TYPE_parse for a public enum from its X-macro list
 * X(NAME, VALUE, "text") (see clgrad/status.h), so the names a user types
 * and the names clgrad prints come from one table. */
#define CLG_ENUM_TEXT(name, value, text) [value] = text,
#define CLG_DEFINE_ENUM_NAMES(type, LIST, what)                                        \
    static const char *const type##_names[] = {LIST(CLG_ENUM_TEXT)};                   \
    const char *type##_str(type value)                                                 \
    {                                                                                  \
        return (unsigned)value < CLG_COUNT_OF(type##_names) && type##_names[value]     \
                   ? type##_names[value]                                               \
                   : "?";                                                              \
    }                                                                                  \
    clg_status type##_parse(const char *name, type *value)                             \
    {                                                                                  \
        int index;                                                                     \
        clg_status s = clg_enum_parse(what, name, type##_names,                        \
                                      (int)CLG_COUNT_OF(type##_names), &index);        \
        if (s == CLG_OK && value)                                                      \
            *value = (type)index;                                                      \
        return s;                                                                      \
    }

#endif
