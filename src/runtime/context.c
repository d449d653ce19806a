/* Contexts: one device's OpenCL context and queue, launches, self test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "runtime/runtime_internal.h"

/* CLGRAD_MEMORY_LIMIT: bytes, or KiB, MiB, GiB with a K, M or G after the
 * number; the device's global memory when unset. */
static clg_status memory_budget(const clg_device_info *info, uint64_t *budget)
{
    *budget = info->global_mem_bytes;
    const char *v = getenv("CLGRAD_MEMORY_LIMIT");
    if (!v || !*v)
        return CLG_OK;
    char *end;
    double n = strtod(v, &end);
    double unit = *end == 'K'   ? 1024.0
                  : *end == 'M' ? 1048576.0
                  : *end == 'G' ? 1073741824.0
                                : 1.0;
    if (unit > 1.0)
        end++;
    if (end == v || *end || !(n > 0) || n * unit > 1e18)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "CLGRAD_MEMORY_LIMIT='%s' is not a size (bytes, or a number "
                        "with K, M or G)",
                        v);
    if (n * unit < (double)*budget)
        *budget = (uint64_t)(n * unit);
    return CLG_OK;
}

/* An on/off variable: 1, true, yes (*value 1) or 0, false, no (0); unset
 * or empty, *value stays; anything else an error naming it, not a guess. */
static clg_status env_switch(const char *name, int *value)
{
    const char *v = getenv(name);
    bool on;
    if (!v || !*v)
        return CLG_OK;
    if (clg_parse_bool(v, &on)) {
        *value = on;
        return CLG_OK;
    }
    return clg_fail(CLG_INVALID_ARGUMENT, "%s='%s' is not 1 or 0 (yes/no, true/false)",
                    name, v);
}

CLG_DEFINE_ENUM_NAMES(clg_kernel_class, CLG_KERNEL_CLASS_LIST, "kernel class")

clg_kernel_class clg_kernel_class_of(const clg_device_info *info)
{
    if (strstr(info->name, "llvmpipe"))
        return CLG_KERNELS_LLVMPIPE;
    if (info->type != CLG_DEVICE_CPU)
        return CLG_KERNELS_GPU;
    if (strstr(info->platform_name, "Portable Computing Language"))
        return CLG_KERNELS_POCL_CPU;
    if (strstr(info->platform_name, "Intel(R) OpenCL"))
        return CLG_KERNELS_INTEL_CPU;
    return CLG_KERNELS_CPU;
}

/* The device's class, or CLGRAD_KERNELS'. */
static clg_status kernel_class(const clg_device_info *info, clg_kernel_class *out)
{
    *out = clg_kernel_class_of(info);
    const char *v = getenv("CLGRAD_KERNELS");
    if (!v || !*v)
        return CLG_OK;
    clg_status s = clg_kernel_class_parse(v, out);
    return s == CLG_OK ? s : clg_fail_prefix(s, "CLGRAD_KERNELS");
}

clg_status clg_context_force_kernels(clg_context *ctx, clg_kernel_class kernels)
{
    if (!ctx || (int)kernels < 0 || (int)kernels >= CLG_KERNEL_CLASS_COUNT)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "clg_context_force_kernels: bad argument");
    if (ctx->programs && kernels != ctx->kernel_class)
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s: the kernel class can change only before the first "
                        "program is built",
                        ctx->info.name);
    ctx->kernel_class = kernels;
    return CLG_OK;
}

clg_status clg_context_create(int index, clg_context **out)
{
    if (!out)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_context_create: ctx is NULL");
    *out = NULL;
    cl_platform_id platform;
    cl_device_id device;
    clg_status s = clg_device_handles(index, &platform, &device);
    if (s != CLG_OK)
        return s;

    clg_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "clg_context_create");
    clg_device_info_get(index, &ctx->info);
    int profile = 0;
    ctx->program_cache = -1;
    s = memory_budget(&ctx->info, &ctx->memory_budget);
    if (s == CLG_OK)
        s = kernel_class(&ctx->info, &ctx->kernel_class);
    if (s == CLG_OK)
        s = env_switch("CLGRAD_PROFILE", &profile);
    if (s == CLG_OK)
        s = env_switch("CLGRAD_PROGRAM_CACHE", &ctx->program_cache);
    if (s != CLG_OK) {
        free(ctx);
        return s;
    }
    ctx->platform = platform;
    ctx->device = device;
    pthread_mutex_init(&ctx->lock, NULL);

    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)platform, 0};
    cl_int err;
    ctx->context = clCreateContext(props, 1, &device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        s = clg_fail_cl(err, "creating an OpenCL context on device %d (%s)", index,
                        ctx->info.name);
        clg_context_free(ctx);
        return s;
    }
    cl_command_queue_properties qprops = 0;
    if (profile) {
        qprops |= CL_QUEUE_PROFILING_ENABLE;
        ctx->profile = clg_profile_create();
    }
    ctx->queue = clCreateCommandQueue(ctx->context, device, qprops, &err);
    if (err != CL_SUCCESS) {
        s = clg_fail_cl(err, "creating a command queue on device %d (%s)", index,
                        ctx->info.name);
        clg_context_free(ctx);
        return s;
    }
    for (int i = 0; i < clg_context_layer_count; i++) {
        s = clg_context_layers[i]->create(ctx, &ctx->layer_state[i]);
        if (s != CLG_OK) {
            clg_context_free(ctx);
            return s;
        }
    }
    *out = ctx;
    return CLG_OK;
}

void *clg_context_layer_state(const clg_context *ctx, const clg_context_layer *layer)
{
    for (int i = 0; i < clg_context_layer_count; i++)
        if (clg_context_layers[i] == layer)
            return ctx->layer_state[i];
    return NULL;
}

void clg_context_free(clg_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->queue)
        clFinish(ctx->queue);
    for (int i = clg_context_layer_count - 1; i >= 0; i--)
        if (ctx->layer_state[i])
            clg_context_layers[i]->destroy(ctx->layer_state[i]);
    clg_profile_print_and_free(ctx);
    clg_pool_free_all(ctx);
    clg_program_cache_free(ctx);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->context)
        clReleaseContext(ctx->context);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

const clg_device_info *clg_context_device(const clg_context *ctx)
{
    return ctx ? &ctx->info : NULL;
}

clg_status clg_context_finish(clg_context *ctx)
{
    if (!ctx)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_context_finish: ctx is NULL");
    cl_int err = clFinish(ctx->queue);
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "waiting for device %d (%s)", ctx->info.index,
                           ctx->info.name);
    clg_profile_flush(ctx);
    return CLG_OK;
}

clg_status clg_kernel_arg(cl_kernel kernel, cl_uint i, size_t size, const void *value)
{
    cl_int err = clSetKernelArg(kernel, i, size, value);
    if (err == CL_SUCCESS)
        return CLG_OK;
    char name[128] = "?";
    clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    name[sizeof name - 1] = '\0';
    return clg_fail_cl(err, "setting argument %u of kernel %s", i, name);
}

clg_status clg_launch(clg_context *ctx, cl_kernel kernel, cl_uint dims,
                      const size_t *global, const size_t *local)
{
    size_t rounded[3];
    for (cl_uint d = 0; d < dims; d++) {
        size_t l = local ? local[d] : 1;
        rounded[d] = (global[d] + l - 1) / l * l;
        if (rounded[d] == 0)
            return CLG_OK; /* empty range: nothing to do */
    }
    cl_event event = NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, rounded, local,
                                        0, NULL, ctx->profile ? &event : NULL);
    if (err != CL_SUCCESS) {
        char name[128] = "?";
        clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        name[sizeof name - 1] = '\0';
        return clg_fail_cl(err, "launching kernel %s on %s", name, ctx->info.name);
    }
    if (event) {
        char name[128] = "?";
        clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        name[sizeof name - 1] = '\0';
        clg_profile_record(ctx, name, event);
    }
    return CLG_OK;
}

/* y = a * x + y over an odd length, so the bounds guard is exercised too. */
static clg_status smoke_test(clg_context *ctx)
{
    enum { N = 1001 };
    float x[N], y[N], got[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i * 0.5f;
        y[i] = (float)(N - i);
    }
    cl_kernel k;
    clg_buffer *bx = NULL, *by = NULL;
    clg_status s = clg_kernel_get(ctx, "smoke", NULL, "smoke_axpy", &k);
    if (s == CLG_OK)
        s = clg_buffer_create(ctx, sizeof x, &bx);
    if (s == CLG_OK)
        s = clg_buffer_create(ctx, sizeof y, &by);
    if (s == CLG_OK)
        s = clg_buffer_upload(bx, 0, x, sizeof x);
    if (s == CLG_OK)
        s = clg_buffer_upload(by, 0, y, sizeof y);
    float a = 2.0f;
    cl_int n = N;
    cl_mem mx = clg_buffer_mem(bx), my = clg_buffer_mem(by);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 0, sizeof n, &n);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 1, sizeof a, &a);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 2, sizeof mx, &mx);
    if (s == CLG_OK)
        s = clg_kernel_arg(k, 3, sizeof my, &my);
    size_t global = N, local = 64;
    if (local > ctx->info.max_work_group_size)
        local = ctx->info.max_work_group_size;
    if (s == CLG_OK)
        s = clg_launch(ctx, k, 1, &global, &local);
    if (s == CLG_OK)
        s = clg_buffer_download(by, 0, got, sizeof got);
    for (int i = 0; s == CLG_OK && i < N; i++) {
        float want = a * x[i] + y[i];
        if (got[i] != want)
            s = clg_fail(CLG_INTERNAL,
                         "self test on %s: smoke_axpy gave %g at element %d, "
                         "expected %g",
                         ctx->info.name, (double)got[i], i, (double)want);
    }
    clg_buffer_free(bx);
    clg_buffer_free(by);
    return s;
}

clg_status clg_device_requirements(const clg_device_info *info, bool compiler)
{
    int major = 0, minor = 0;
    sscanf(info->version, "OpenCL %d.%d", &major, &minor);
    if (major < 1 || (major == 1 && minor < 2))
        return clg_fail(CLG_UNSUPPORTED,
                        "needs OpenCL 1.2 (buffer fills); device %d (%s) is '%s'",
                        info->index, info->name, info->version);
    if (!compiler)
        return clg_fail(CLG_UNSUPPORTED,
                        "needs an OpenCL C compiler: device %d (%s) has none "
                        "(CL_DEVICE_COMPILER_AVAILABLE is false)",
                        info->index, info->name);
    if (info->local_mem_bytes < CLG_KERNEL_LOCAL_BYTES)
        return clg_fail(CLG_UNSUPPORTED,
                        "needs %d bytes of local memory for its reductions: device %d "
                        "(%s) has %llu",
                        CLG_KERNEL_LOCAL_BYTES, info->index, info->name,
                        (unsigned long long)info->local_mem_bytes);
    return CLG_OK;
}

clg_status clg_context_self_test(clg_context *ctx)
{
    if (!ctx)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_context_self_test: ctx is NULL");
    cl_bool compiler = CL_TRUE;
    clGetDeviceInfo(ctx->device, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler,
                    &compiler, NULL);
    clg_status req = clg_device_requirements(&ctx->info, compiler == CL_TRUE);
    if (req != CLG_OK)
        return req;
    for (size_t i = 0; i < clg_kernel_family_count(); i++) {
        const char *family = clg_kernel_family_name(i);
        char *source;
        cl_program program;
        clg_status s = clg_kernel_source(family, &source);
        if (s != CLG_OK)
            return s;
        s = clg_program_build(ctx, family, source, NULL, &program);
        free(source);
        if (s != CLG_OK)
            return s;
    }
    return smoke_test(ctx);
}

uint64_t clg_context_memory_limit(const clg_context *ctx)
{
    return ctx ? ctx->memory_budget : 0;
}
