/* The per-thread sentence behind clg_last_error() (error.c). */
#ifndef CLGRAD_BASE_ERROR_H
#define CLGRAD_BASE_ERROR_H

#include "base/base.h"

/* Records the sentence for clg_last_error() and returns `status`. */
clg_status clg_fail(clg_status status, const char *fmt, ...) CLG_PRINTF(2, 3);

/* Puts "PREFIX: " before the current last error, for context added on the
 * way up ("CLGRAD_KERNEL_DIR=x: cannot open ..."). */
clg_status clg_fail_prefix(clg_status status, const char *fmt, ...) CLG_PRINTF(2, 3);

#endif
