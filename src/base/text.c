/* Numbers and enum names from text. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/text.h"

bool clg_parse_int(const char *word, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(word, &end, 10);
    if (errno || *end || end == word || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool clg_parse_double(const char *word, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(word, &end);
    if (errno || *end || end == word || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

bool clg_parse_float(const char *word, double lo, double hi, float *out)
{
    double v;
    if (!clg_parse_double(word, lo, hi, &v))
        return false;
    *out = (float)v;
    return true;
}

bool clg_parse_bool(const char *word, bool *out)
{
    if (!strcmp(word, "true") || !strcmp(word, "1") || !strcmp(word, "yes"))
        *out = true;
    else if (!strcmp(word, "false") || !strcmp(word, "0") || !strcmp(word, "no"))
        *out = false;
    else
        return false;
    return true;
}

const char *clg_enum_list(const char *const *names, int count, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && used < len; i++)
        if (names[i])
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                     names[i]);
    return buf;
}

clg_status clg_enum_parse(const char *what, const char *name, const char *const *names,
                          int count, int *index)
{
    for (int i = 0; name && i < count; i++)
        if (names[i] && !strcmp(name, names[i])) {
            *index = i;
            return CLG_OK;
        }
    char list[512];
    return clg_fail(CLG_INVALID_ARGUMENT, "unknown %s '%s' (%s)", what,
                    name ? name : "(null)",
                    clg_enum_list(names, count, list, sizeof list));
}

size_t clg_utf8_invalid_at(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
        if (c < 0x80)
            need = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return i;
        if (need && i + need >= len)
            return i; /* cut short */
        if (need && (s[i + 1] < lo || s[i + 1] > hi))
            return i; /* overlong, a surrogate or past U+10FFFF */
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += need + 1;
    }
    return len;
}
