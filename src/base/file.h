/* Whole files (file.c). */
#ifndef CLGRAD_BASE_FILE_H
#define CLGRAD_BASE_FILE_H

#include "base/base.h"

/* Reads all of `path` (at most `limit` bytes) into a malloc'd buffer with a
 * NUL after the *len bytes; the caller frees it. Errors name the file. */
clg_status clg_read_file(const char *path, size_t limit, char **data, size_t *len);

#endif
