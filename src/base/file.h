/* Whole files (file.c). */
#ifndef CLGRAD_BASE_FILE_H
#define CLGRAD_BASE_FILE_H

#include "base/base.h"

/* Reads all of `path` (at most `limit` bytes) into a malloc'd buffer with a
 * NUL after the *len bytes; the caller frees it. Errors name the file. */
clg_status clg_read_file(const char *path, size_t limit, char **data, size_t *len);

/* All of `path` (at most `limit` bytes) parsed as JSON into *json (the
 * caller frees it with cJSON_Delete); JSON that does not parse is
 * CLG_BAD_FILE naming the file and the byte where it stops. */
struct cJSON;
clg_status clg_read_json(const char *path, size_t limit, struct cJSON **json);

/* What `path` names once every symbolic link at its end is followed (a
 * link's relative target taken from the link's directory), in out; the
 * file need not exist. Errors name the path. */
clg_status clg_link_target(const char *path, char *out, size_t size);

/* One piece of a file to write. */
typedef struct clg_file_part {
    const void *data;
    size_t bytes;
} clg_file_part;

/* Writes the parts, in order, as the whole of `path`, so that a reader (or a
 * crash) sees the old file or the new one, never part of it: a temporary
 * file beside it, fsync, rename, fsync of the directory. A symbolic link's
 * target is what is replaced; a path that is not a regular file (a device,
 * FIFO, socket, directory) is refused, not renamed over. Errors name the
 * file and the reason. */
clg_status clg_write_file_atomic(const char *path, const clg_file_part *parts, int n);

/* The path of file `name` in clgrad's cache directory: $CLGRAD_CACHE_DIR,
 * else $XDG_CACHE_HOME/clgrad, else ~/.cache/clgrad (CLG_NOT_FOUND without
 * HOME either). */
clg_status clg_cache_file(const char *name, char *path, size_t len);

/* Writes the parts as the whole of `path`, a file of the cache directory, as
 * clg_write_file_atomic does, making the directory and its parents first. */
clg_status clg_cache_write(const char *path, const clg_file_part *parts, int n);

#endif
