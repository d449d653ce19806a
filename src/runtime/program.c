/* The program and kernel cache, and where kernel sources come from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/hash.h"
#include "clgrad/version.h"
#include "runtime/embedded_kernels.h"
#include "runtime/runtime_internal.h"

struct clg_program_entry {
    clg_program_entry *next;
    char *label;
    char *options; /* the caller's options; "" for none */
    cl_program program;
};

struct clg_kernel_entry {
    clg_kernel_entry *next;
    cl_program program;
    char *name;
    cl_kernel kernel;
};

size_t clg_kernel_family_count(void)
{
    return clg_embedded_kernels_count;
}

const char *clg_kernel_family_name(size_t i)
{
    return i < clg_embedded_kernels_count ? clg_embedded_kernels[i].name : NULL;
}

/* The text of FILE ("conv.cl", "codes.h"): from CLGRAD_KERNEL_DIR when that
 * is set, else from the copies built into the library. Caller frees. */
static clg_status read_kernel_file(const char *file, char **text)
{
    const char *dir = getenv("CLGRAD_KERNEL_DIR");
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        clg_status s = clg_read_file(path, (size_t)16 << 20, text, NULL);
        if (s != CLG_OK) /* a file the directory lacks is "not found" */
            return clg_fail_prefix(s == CLG_IO_ERROR ? CLG_NOT_FOUND : s,
                                   "CLGRAD_KERNEL_DIR=%s", dir);
        return CLG_OK;
    }
    size_t len = strlen(file);
    bool header = len > 2 && !strcmp(file + len - 2, ".h");
    const clg_embedded_kernel *table =
        header ? clg_embedded_headers : clg_embedded_kernels;
    size_t count = header ? clg_embedded_headers_count : clg_embedded_kernels_count;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(table[i].name);
        if (!strncmp(table[i].name, file, n) &&
            !strcmp(file + n, header ? "" : ".cl")) {
            *text = strdup(table[i].source);
            return *text ? CLG_OK
                         : clg_fail(CLG_OUT_OF_HOST_MEMORY, "copying kernel source");
        }
    }
    if (header)
        return clg_fail(CLG_NOT_FOUND, "no kernel header '%s' is built into clgrad",
                        file);
    return clg_fail(CLG_NOT_FOUND, "no kernel family '%.*s' is built into clgrad",
                    (int)(len > 3 ? len - 3 : len), file);
}

/* Appends n bytes to the growing string *out. */
static bool append(char **out, size_t *len, size_t *cap, const char *text, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t grown_cap = (*len + n + 1) * 2;
        char *grown = realloc(*out, grown_cap);
        if (!grown)
            return false;
        *out = grown;
        *cap = grown_cap;
    }
    memcpy(*out + *len, text, n);
    *len += n;
    (*out)[*len] = '\0';
    return true;
}

/* Replaces each line #include "NAME.h" of `file` (whose text is `text`) with
 * that header's text, framed by #line directives so that build logs name the
 * right file and line. One level: headers include nothing themselves. */
static clg_status expand_includes(const char *file, const char *text, char **out)
{
    size_t len = 0, cap = 0;
    *out = NULL;
    int line = 1;
    bool ok = append(out, &len, &cap, "", 0);
    for (const char *p = text; ok && *p; line++) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
        char name[64];
        int used = 0;
        if (sscanf(p, " #include \"%63[^\"]\"%n", name, &used) == 1 && used > 0) {
            char *header = NULL, mark[160];
            clg_status s = read_kernel_file(name, &header);
            if (s != CLG_OK) {
                free(*out);
                *out = NULL;
                return clg_fail_prefix(s, "%s:%d: #include \"%s\"", file, line, name);
            }
            snprintf(mark, sizeof mark, "#line 1 \"%s\"\n", name);
            ok = append(out, &len, &cap, mark, strlen(mark)) &&
                 append(out, &len, &cap, header, strlen(header));
            snprintf(mark, sizeof mark, "\n#line %d \"%s\"\n", line + 1, file);
            ok = ok && append(out, &len, &cap, mark, strlen(mark));
            free(header);
        } else {
            ok = append(out, &len, &cap, p, n);
        }
        p += n;
    }
    if (!ok) {
        free(*out);
        *out = NULL;
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "expanding the includes of %s", file);
    }
    return CLG_OK;
}

clg_status clg_kernel_source(const char *family, char **source)
{
    char file[128], *text;
    snprintf(file, sizeof file, "%s.cl", family);
    clg_status s = read_kernel_file(file, &text);
    if (s != CLG_OK)
        return s;
    s = expand_includes(file, text, source);
    free(text);
    return s;
}

static clg_status build_failure(clg_context *ctx, cl_program program, const char *label,
                                const char *options, cl_int err)
{
    size_t len = 0;
    clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = calloc(len + 1, 1);
    if (log)
        clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, len, log,
                              NULL);
    clg_status s =
        clg_fail(CLG_BUILD_FAILED,
                 "kernel family '%s' failed to compile for device %d "
                 "(%s) with options '%s': %s (%d)\nbuild log:\n%s",
                 label, ctx->info.index, ctx->info.name, options,
                 clg_cl_error_name(err), (int)err, log && *log ? log : "(empty)");
    free(log);
    return s;
}

/* ---- Built programs on disk --------------------------------------------
 *
 * Intel's CPU runtime takes seconds to build clgrad's kernels in every new
 * process (a one-step training run: 7.1 s, against 2.5 s on PoCL, which
 * keeps its own cache of builds). So the binary of each program build goes
 * to clgrad's cache directory, named by the hash of the device, platform,
 * driver, clgrad version, options and source: any change builds afresh.
 * CLGRAD_PROGRAM_CACHE=0 turns it off, =1 on; unset, it is on but for
 * PoCL and oclgrind (which cache builds themselves, or build in no time).
 * A file that does not load is built from source and replaced; one that
 * cannot be written is skipped: the cache only ever saves time. */

static bool cache_wanted(const clg_context *ctx)
{
    if (ctx->program_cache >= 0) /* CLGRAD_PROGRAM_CACHE, read with the context */
        return ctx->program_cache;
    const char *p = ctx->info.platform_name;
    return !strstr(p, "Portable Computing Language") && !strstr(p, "Oclgrind");
}

static bool cache_path(const clg_context *ctx, const char *options, const char *source,
                       char *path, size_t len)
{
    const char *parts[] = {ctx->info.name,
                           ctx->info.platform_name,
                           ctx->info.driver_version,
                           clg_version(),
                           options,
                           source};
    uint64_t h = CLG_FNV_START;
    for (size_t i = 0; i < CLG_COUNT_OF(parts); i++)
        h = clg_fnv1a(h, parts[i], strlen(parts[i]) + 1); /* with the NUL */
    char name[64];
    snprintf(name, sizeof name, "program-%016llx.bin", (unsigned long long)h);
    return clg_cache_file(name, path, len) == CLG_OK;
}

#define BINARY_HEADER "clgrad program 1"

/* The program from a cached binary, or NULL. */
static cl_program cached_program(clg_context *ctx, const char *path,
                                 const char *options)
{
    char *data = NULL;
    size_t len = 0;
    if (clg_read_file(path, (size_t)256 << 20, &data, &len) != CLG_OK)
        return NULL;
    unsigned long long size = 0, sum = 0;
    int at = 0;
    cl_program program = NULL;
    if (sscanf(data, BINARY_HEADER " %llu %llx\n%n", &size, &sum, &at) == 2 && at > 0 &&
        (size_t)at + size == len &&
        clg_fnv1a(CLG_FNV_START, data + at, (size_t)size) == sum) {
        const unsigned char *bin = (const unsigned char *)data + at;
        size_t bytes = (size_t)size;
        cl_int err, status;
        program = clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &bytes, &bin,
                                            &status, &err);
        if (err != CL_SUCCESS || status != CL_SUCCESS) {
            if (program)
                clReleaseProgram(program);
            program = NULL;
        } else if (clBuildProgram(program, 1, &ctx->device, options, NULL, NULL) !=
                   CL_SUCCESS) {
            clReleaseProgram(program);
            program = NULL;
        }
    }
    free(data);
    return program;
}

static void cache_program(cl_program program, const char *path)
{
    size_t size = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    char header[96];
    if (bin && clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) ==
                   CL_SUCCESS) {
        int n = snprintf(header, sizeof header, BINARY_HEADER " %zu %llx\n", size,
                         (unsigned long long)clg_fnv1a(CLG_FNV_START, bin, size));
        clg_file_part parts[] = {{header, (size_t)n}, {bin, size}};
        clg_cache_write(path, parts, 2);
    }
    free(bin);
}

/* Whether the device's compiler wants reductions whose work-items all make
 * the same number of passes over their share, masking what lies past the
 * end (CLG_MASKED_PASSES in cl/sum.h): Intel's CPU runtime vectorises those
 * across work-items and not a loop whose count differs between them; PoCL
 * runs the masked form slower and vectorises neither (docs/performance.md).
 * Measured on those two; the others keep the plain form. */
static bool masked_passes(const clg_context *ctx)
{
    return ctx->kernel_class == CLG_KERNELS_INTEL_CPU;
}

static clg_status compile(clg_context *ctx, const char *label, const char *source,
                          const char *options, cl_program *out)
{
    char full[2048], path[4200];
    bool cl12 = ctx->info.c_major > 1 || ctx->info.c_minor >= 2;
    int n = snprintf(full, sizeof full, "%s%s%s", cl12 ? "-cl-std=CL1.2 " : "",
                     masked_passes(ctx) ? "-DCLG_MASKED_PASSES=1 " : "", options);
    if (n < 0 || (size_t)n >= sizeof full)
        return clg_fail(CLG_INVALID_ARGUMENT, "build options for '%s' too long", label);
    bool cached = cache_wanted(ctx) && cache_path(ctx, full, source, path, sizeof path);
    if (cached && (*out = cached_program(ctx, path, full)) != NULL)
        return CLG_OK;
    cl_int err;
    cl_program program =
        clCreateProgramWithSource(ctx->context, 1, &source, NULL, &err);
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "creating program '%s'", label);
    err = clBuildProgram(program, 1, &ctx->device, full, NULL, NULL);
    if (err != CL_SUCCESS) {
        clg_status s = build_failure(ctx, program, label, full, err);
        clReleaseProgram(program);
        return s;
    }
    if (cached)
        cache_program(program, path);
    *out = program;
    return CLG_OK;
}

static clg_status program_locked(clg_context *ctx, const char *label,
                                 const char *source, const char *options,
                                 cl_program *out)
{
    for (clg_program_entry *e = ctx->programs; e; e = e->next) {
        if (strcmp(e->label, label) == 0 && strcmp(e->options, options) == 0) {
            *out = e->program;
            return CLG_OK;
        }
    }
    char *own_source = NULL;
    clg_status s = source ? expand_includes(label, source, &own_source)
                          : clg_kernel_source(label, &own_source);
    if (s != CLG_OK)
        return s;
    source = own_source;
    cl_program program;
    s = compile(ctx, label, source, options, &program);
    free(own_source);
    if (s != CLG_OK)
        return s;
    clg_program_entry *e = calloc(1, sizeof *e);
    if (e) {
        e->label = strdup(label);
        e->options = strdup(options);
    }
    if (!e || !e->label || !e->options) {
        if (e) {
            free(e->label);
            free(e->options);
        }
        free(e);
        clReleaseProgram(program);
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "caching program '%s'", label);
    }
    e->program = program;
    e->next = ctx->programs;
    ctx->programs = e;
    *out = program;
    return CLG_OK;
}

clg_status clg_program_build(clg_context *ctx, const char *label, const char *source,
                             const char *options, cl_program *program)
{
    if (!ctx || !label || !program)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_program_build: NULL argument");
    pthread_mutex_lock(&ctx->lock);
    clg_status s = program_locked(ctx, label, source, options ? options : "", program);
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

clg_status clg_kernel_get(clg_context *ctx, const char *family, const char *options,
                          const char *name, cl_kernel *kernel)
{
    if (!ctx || !family || !name || !kernel)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_kernel_get: NULL argument");
    pthread_mutex_lock(&ctx->lock);
    cl_program program;
    clg_status s = program_locked(ctx, family, NULL, options ? options : "", &program);
    for (clg_kernel_entry *e = ctx->kernels; s == CLG_OK && e; e = e->next) {
        if (e->program == program && strcmp(e->name, name) == 0) {
            *kernel = e->kernel;
            pthread_mutex_unlock(&ctx->lock);
            return CLG_OK;
        }
    }
    if (s == CLG_OK) {
        cl_int err;
        cl_kernel k = clCreateKernel(program, name, &err);
        clg_kernel_entry *e = err == CL_SUCCESS ? calloc(1, sizeof *e) : NULL;
        if (err != CL_SUCCESS) {
            s = clg_fail_cl(err, "kernel %s in family '%s'", name, family);
        } else if (!e || !(e->name = strdup(name))) {
            free(e);
            clReleaseKernel(k);
            s = clg_fail(CLG_OUT_OF_HOST_MEMORY, "caching kernel %s", name);
        } else {
            e->program = program;
            e->kernel = k;
            e->next = ctx->kernels;
            ctx->kernels = e;
            *kernel = k;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

clg_status clg_kernel_create(clg_context *ctx, const char *family, const char *options,
                             const char *name, cl_kernel *kernel)
{
    cl_kernel shared;
    clg_status s = clg_kernel_get(ctx, family, options, name, &shared);
    if (s != CLG_OK)
        return s;
    cl_program program;
    clGetKernelInfo(shared, CL_KERNEL_PROGRAM, sizeof program, &program, NULL);
    cl_int err;
    *kernel = clCreateKernel(program, name, &err);
    return err == CL_SUCCESS ? CLG_OK : clg_fail_cl(err, "creating kernel %s", name);
}

size_t clg_kernel_group(const clg_context *ctx, cl_kernel kernel, size_t want)
{
    size_t kernel_max = 0;
    clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                             sizeof kernel_max, &kernel_max, NULL);
    if (kernel_max && kernel_max < want)
        want = kernel_max;
    if (ctx->info.max_work_group_size < want)
        want = ctx->info.max_work_group_size;
    return want;
}

void clg_program_cache_free(clg_context *ctx)
{
    for (clg_kernel_entry *e = ctx->kernels, *next; e; e = next) {
        next = e->next;
        clReleaseKernel(e->kernel);
        free(e->name);
        free(e);
    }
    for (clg_program_entry *e = ctx->programs, *next; e; e = next) {
        next = e->next;
        clReleaseProgram(e->program);
        free(e->label);
        free(e->options);
        free(e);
    }
    ctx->kernels = NULL;
    ctx->programs = NULL;
}
