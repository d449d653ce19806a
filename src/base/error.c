/* Status names and the per-thread last-error sentence. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* Big enough for a kernel build log; longer messages are cut. */
#define CLG_ERROR_CAPACITY 16384

static _Thread_local char last_error[CLG_ERROR_CAPACITY];

const char *clg_status_str(clg_status status)
{
    switch (status) {
#define CLG_STATUS_CASE(name, value, text)                                             \
    case name:                                                                         \
        return text;
        CLG_STATUS_LIST(CLG_STATUS_CASE)
#undef CLG_STATUS_CASE
    }
    return "unknown status";
}

const char *clg_last_error(void)
{
    return last_error;
}

static void mark_truncated(int written)
{
    static const char tail[] = " ... (message truncated)";
    if (written >= CLG_ERROR_CAPACITY)
        memcpy(last_error + CLG_ERROR_CAPACITY - sizeof tail, tail, sizeof tail);
}

clg_status clg_fail(clg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    mark_truncated(n);
    return status;
}

clg_status clg_fail_prefix(clg_status status, const char *fmt, ...)
{
    static _Thread_local char previous[CLG_ERROR_CAPACITY];
    memcpy(previous, last_error, sizeof previous);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < CLG_ERROR_CAPACITY)
        n += snprintf(last_error + n, sizeof last_error - (size_t)n, ": %s", previous);
    mark_truncated(n);
    return status;
}
