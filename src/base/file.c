/* Reading a whole file, for every reader that wants one. */
#define _XOPEN_SOURCE 700 /* readlink, lstat */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/file.h"

clg_status clg_read_file(const char *path, size_t limit, char **out, size_t *len)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return clg_fail(CLG_IO_ERROR, "%s: is a directory, not a file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return clg_fail(CLG_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    clg_status s = CLG_OK;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            char *grown = cap <= limit + 4096 ? realloc(buf, cap) : NULL;
            if (!grown) {
                s = cap > limit + 4096
                        ? clg_fail(CLG_BAD_FILE, "%s: larger than %zu bytes", path,
                                   limit)
                        : clg_fail(CLG_OUT_OF_HOST_MEMORY, "%s: reading %zu bytes",
                                   path, cap);
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (s == CLG_OK && ferror(f))
        s = clg_fail(CLG_IO_ERROR, "%s: read error", path);
    if (s == CLG_OK && n > limit)
        s = clg_fail(CLG_BAD_FILE, "%s: larger than %zu bytes", path, limit);
    fclose(f);
    if (s != CLG_OK) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return CLG_OK;
}

clg_status clg_read_json(const char *path, size_t limit, cJSON **json)
{
    char *text;
    size_t len;
    *json = NULL;
    clg_status s = clg_read_file(path, limit, &text, &len);
    if (s != CLG_OK)
        return s;
    const char *end = NULL;
    *json = cJSON_ParseWithOpts(text, &end, true);
    if (!*json)
        s = clg_fail(CLG_BAD_FILE, "%s: byte %zu: not valid JSON", path,
                     end ? (size_t)(end - text) : 0);
    free(text);
    return s;
}

clg_status clg_link_target(const char *path, char *out, size_t size)
{
    if (snprintf(out, size, "%s", path) >= (int)size)
        return clg_fail(CLG_IO_ERROR, "%s: path too long", path);
    struct stat st;
    for (int hops = 0; lstat(out, &st) == 0 && S_ISLNK(st.st_mode); hops++) {
        char link[PATH_MAX];
        ssize_t n = readlink(out, link, sizeof link - 1);
        if (n < 0 || hops == 16)
            return clg_fail(CLG_IO_ERROR, "%s: cannot follow the link: %s", path,
                            n < 0 ? strerror(errno) : "too many levels");
        link[n] = '\0';
        char *slash = strrchr(out, '/');
        if (link[0] != '/' && slash) { /* relative to the link's directory */
            slash[1] = '\0';
            if (strlen(out) + strlen(link) >= size)
                return clg_fail(CLG_IO_ERROR, "%s: path too long", path);
            strcat(out, link);
        } else if (snprintf(out, size, "%s", link) >= (int)size) {
            return clg_fail(CLG_IO_ERROR, "%s: path too long", path);
        }
    }
    return CLG_OK;
}

/* Removes FILE.tmp.PID beside path (dir/base) left by a process that is
 * gone: a write killed between its temporary file and the rename. */
static void remove_stale_temporaries(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    size_t n = strlen(base);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *tail = e->d_name + n;
        char *end;
        if (strncmp(e->d_name, base, n) != 0 || strncmp(tail, ".tmp.", 5) != 0)
            continue;
        long pid = strtol(tail + 5, &end, 10);
        if (*end || end == tail + 5 || pid <= 0 || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char stale[4500];
        snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name);
        unlink(stale);
    }
    if (d)
        closedir(d);
}

clg_status clg_write_file_atomic(const char *target, const clg_file_part *parts, int n)
{
    /* A symbolic link's target is what is replaced; anything but a regular
     * file (a device, FIFO, socket, directory) is refused, never renamed
     * over. */
    char path[PATH_MAX];
    struct stat st;
    clg_status s = clg_link_target(target, path, sizeof path);
    if (s != CLG_OK)
        return s;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return clg_fail(CLG_IO_ERROR,
                        "%s: exists and is not a regular file (a directory, device, "
                        "FIFO or socket): not replaced",
                        target);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return clg_fail(CLG_IO_ERROR, "%s: cannot create: %s", tmp, strerror(errno));
    bool ok = true;
    for (int i = 0; ok && i < n; i++)
        ok = fwrite(parts[i].data, 1, parts[i].bytes, f) == parts[i].bytes;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        unlink(tmp);
        return clg_fail(CLG_IO_ERROR, "%s: writing failed: %s", tmp, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return clg_fail(CLG_IO_ERROR, "%s: cannot replace it: %s", path, strerror(err));
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd); /* the rename itself survives a crash */
        close(fd);
    }
    const char *base = strrchr(path, '/');
    remove_stale_temporaries(dir, base ? base + 1 : path);
    return CLG_OK;
}

static clg_status cache_dir(char *dir, size_t len)
{
    const char *own = getenv("CLGRAD_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (own && *own)
        n = snprintf(dir, len, "%s", own);
    else if (xdg && *xdg)
        n = snprintf(dir, len, "%s/clgrad", xdg);
    else if (home && *home)
        n = snprintf(dir, len, "%s/.cache/clgrad", home);
    else
        return clg_fail(CLG_NOT_FOUND, "clgrad's cache: no CLGRAD_CACHE_DIR, "
                                       "XDG_CACHE_HOME or HOME to keep it under");
    if (n < 0 || (size_t)n >= len)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clgrad's cache: directory name too long");
    return CLG_OK;
}

clg_status clg_cache_file(const char *name, char *path, size_t len)
{
    char dir[3000];
    clg_status s = cache_dir(dir, sizeof dir);
    if (s != CLG_OK)
        return s;
    int n = snprintf(path, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len)
        return clg_fail(CLG_INVALID_ARGUMENT, "clgrad's cache: path too long (%s)",
                        dir);
    return CLG_OK;
}

/* Makes `dir` and its missing parents, as mkdir -p. */
static clg_status make_dirs(char *dir)
{
    for (char *p = dir + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(dir, 0777) != 0 && errno != EEXIST)
                return clg_fail(CLG_IO_ERROR, "cannot create %s: %s", dir,
                                strerror(errno));
            if (end)
                break;
            *p = '/';
        }
    }
    return CLG_OK;
}

clg_status clg_cache_write(const char *path, const clg_file_part *parts, int n)
{
    char dir[3000];
    clg_status s = cache_dir(dir, sizeof dir);
    if (s == CLG_OK)
        s = make_dirs(dir);
    return s == CLG_OK ? clg_write_file_atomic(path, parts, n) : s;
}
