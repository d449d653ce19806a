/* The flat device list over every OpenCL platform, and device selection. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/text.h"
#include "runtime/runtime_internal.h"

typedef struct device_slot {
    cl_platform_id platform;
    cl_device_id device;
    clg_device_info info;
} device_slot;

static struct {
    pthread_once_t once;
    clg_status status;
    char error[1024]; /* replayed into each caller's thread */
    device_slot *slots;
    int count;
} devices = {.once = PTHREAD_ONCE_INIT};

static void copy_string_info(cl_device_id dev, cl_device_info what, char *out,
                             size_t len)
{
    out[0] = '\0';
    if (clGetDeviceInfo(dev, what, len, out, NULL) != CL_SUCCESS)
        snprintf(out, len, "?");
    out[len - 1] = '\0';
    /* Some drivers pad names with spaces. */
    size_t n = strlen(out);
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
}

/* True if the space-separated list `exts` holds exactly `name`. */
static bool has_extension(const char *exts, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = exts; (p = strstr(p, name)) != NULL; p += len) {
        bool starts = p == exts || p[-1] == ' ';
        bool ends = p[len] == '\0' || p[len] == ' ';
        if (starts && ends)
            return true;
    }
    return false;
}

static clg_device_type map_type(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU)
        return CLG_DEVICE_GPU;
    if (t & CL_DEVICE_TYPE_CPU)
        return CLG_DEVICE_CPU;
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return CLG_DEVICE_ACCELERATOR;
    return CLG_DEVICE_OTHER;
}

static void describe(device_slot *slot, int index, int platform_index)
{
    clg_device_info *info = &slot->info;
    cl_device_id dev = slot->device;
    memset(info, 0, sizeof *info);
    info->index = index;
    info->platform_index = platform_index;
    copy_string_info(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    copy_string_info(dev, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    copy_string_info(dev, CL_DEVICE_VERSION, info->version, sizeof info->version);
    copy_string_info(dev, CL_DEVICE_OPENCL_C_VERSION, info->c_version,
                     sizeof info->c_version);
    copy_string_info(dev, CL_DRIVER_VERSION, info->driver_version,
                     sizeof info->driver_version);
    if (clGetPlatformInfo(slot->platform, CL_PLATFORM_NAME, sizeof info->platform_name,
                          info->platform_name, NULL) != CL_SUCCESS)
        snprintf(info->platform_name, sizeof info->platform_name, "?");
    info->platform_name[sizeof info->platform_name - 1] = '\0';

    /* "OpenCL C 1.2 PoCL": the version the compiler accepts, which may be
     * lower than the device's OpenCL version (NVIDIA: 3.0 vs C 1.2). */
    if (sscanf(info->c_version, "OpenCL C %d.%d", &info->c_major, &info->c_minor) !=
        2) {
        info->c_major = 1;
        info->c_minor = 0;
    }

    cl_device_type type = 0;
    cl_uint cu = 0, mhz = 0, vec = 0;
    cl_ulong global = 0, local = 0, max_alloc = 0;
    size_t wg = 0;
    cl_device_fp_config dbl = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc,
                    NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dbl, &dbl, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof vec, &vec, NULL);
    info->type = map_type(type);
    info->compute_units = cu;
    info->max_clock_mhz = mhz;
    info->global_mem_bytes = global;
    info->local_mem_bytes = local;
    info->max_alloc_bytes = max_alloc;
    info->max_work_group_size = wg;
    info->float_vector_width = vec;

    size_t ext_len = 0;
    clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len);
    char *exts = calloc(ext_len + 1, 1);
    if (exts &&
        clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, ext_len, exts, NULL) == CL_SUCCESS) {
        info->fp16 = has_extension(exts, "cl_khr_fp16");
        info->fp64 = has_extension(exts, "cl_khr_fp64") || dbl != 0;
    }
    free(exts);
}

/* Appends the devices of one platform; a platform without devices is fine. */
static clg_status add_platform(cl_platform_id platform, int platform_index)
{
    cl_uint n = 0;
    cl_int err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &n);
    if (err == CL_DEVICE_NOT_FOUND || n == 0)
        return CLG_OK;
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "clGetDeviceIDs on platform %d", platform_index);
    cl_device_id *ids = calloc(n, sizeof *ids);
    device_slot *grown =
        realloc(devices.slots, (size_t)(devices.count + (int)n) * sizeof *grown);
    if (!ids || !grown) {
        free(ids);
        if (grown)
            devices.slots = grown;
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "enumerating OpenCL devices");
    }
    devices.slots = grown;
    err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, n, ids, NULL);
    if (err != CL_SUCCESS) {
        free(ids);
        return clg_fail_cl(err, "clGetDeviceIDs on platform %d", platform_index);
    }
    for (cl_uint d = 0; d < n; d++) {
        device_slot *slot = &devices.slots[devices.count];
        slot->platform = platform;
        slot->device = ids[d];
        describe(slot, devices.count, platform_index);
        devices.count++;
    }
    free(ids);
    return CLG_OK;
}

static clg_status enumerate_platforms(void)
{
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return clg_fail(CLG_NO_PLATFORM,
                        "no OpenCL platform found: install an OpenCL driver "
                        "(`apt-get install pocl-opencl-icd` for CPUs, or your GPU "
                        "vendor's OpenCL driver) and check that the ICD loader "
                        "finds it (/etc/OpenCL/vendors, OCL_ICD_VENDORS)");
    if (err != CL_SUCCESS)
        return clg_fail_cl(err, "clGetPlatformIDs");
    cl_platform_id *platforms = calloc(np, sizeof *platforms);
    if (!platforms)
        return clg_fail(CLG_OUT_OF_HOST_MEMORY, "enumerating OpenCL platforms");
    err = clGetPlatformIDs(np, platforms, NULL);
    clg_status s = err == CL_SUCCESS ? CLG_OK : clg_fail_cl(err, "clGetPlatformIDs");
    for (cl_uint p = 0; s == CLG_OK && p < np; p++)
        s = add_platform(platforms[p], (int)p);
    free(platforms);
    return s;
}

static void enumerate_once(void)
{
    devices.status = enumerate_platforms();
    if (devices.status != CLG_OK) {
        snprintf(devices.error, sizeof devices.error, "%s", clg_last_error());
        devices.count = 0;
    }
}

static clg_status ensure_enumerated(void)
{
    pthread_once(&devices.once, enumerate_once);
    if (devices.status != CLG_OK)
        return clg_fail(devices.status, "%s", devices.error);
    return CLG_OK;
}

clg_status clg_device_count(int *count)
{
    if (!count)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_device_count: count is NULL");
    clg_status s = ensure_enumerated();
    *count = devices.count;
    return s;
}

static clg_status check_index(int index, const char *what)
{
    clg_status s = ensure_enumerated();
    if (s != CLG_OK)
        return s;
    if (index < 0 || index >= devices.count)
        return clg_fail(CLG_NO_DEVICE, "%s: no device %d (there are %d)", what, index,
                        devices.count);
    return CLG_OK;
}

clg_status clg_device_info_get(int index, clg_device_info *info)
{
    if (!info)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_device_info_get: info is NULL");
    clg_status s = check_index(index, "clg_device_info_get");
    if (s == CLG_OK)
        *info = devices.slots[index].info;
    return s;
}

clg_status clg_device_handles(int index, cl_platform_id *platform, cl_device_id *device)
{
    clg_status s = check_index(index, "clg_context_create");
    if (s == CLG_OK) {
        *platform = devices.slots[index].platform;
        *device = devices.slots[index].device;
    }
    return s;
}

CLG_DEFINE_ENUM_NAMES(clg_device_type, CLG_DEVICE_TYPE_LIST, "device type")

static int first_of_type(clg_device_type type)
{
    for (int i = 0; i < devices.count; i++)
        if (devices.slots[i].info.type == type)
            return i;
    return -1;
}

/* The list, enumerated, with at least one device in it. */
static clg_status ensure_some_device(void)
{
    clg_status s = ensure_enumerated();
    if (s == CLG_OK && devices.count == 0)
        s = clg_fail(CLG_NO_DEVICE,
                     "OpenCL platforms were found but none has a device");
    return s;
}

clg_status clg_device_default(int *index)
{
    if (!index)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_device_default: index is NULL");
    clg_status s = ensure_some_device();
    if (s != CLG_OK)
        return s;
    int i = first_of_type(CLG_DEVICE_GPU);
    if (i < 0)
        i = first_of_type(CLG_DEVICE_CPU);
    *index = i < 0 ? 0 : i;
    return CLG_OK;
}

/* "0: NAME (gpu, PLATFORM); 1: ..." for error messages. */
static void list_devices(char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < devices.count && used < len; i++) {
        const clg_device_info *d = &devices.slots[i].info;
        int n = snprintf(out + used, len - used, "%s%d: %s (%s, %s)", i ? "; " : "", i,
                         d->name, clg_device_type_str(d->type), d->platform_name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static bool contains_ignoring_case(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static bool parse_index(const char *spec, int *index)
{
    if (!*spec)
        return false;
    for (const char *p = spec; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    long v = strtol(spec, NULL, 10);
    *index = v > 1000000 ? 1000000 : (int)v;
    return true;
}

clg_status clg_device_select(const char *spec, int *index)
{
    if (!index)
        return clg_fail(CLG_INVALID_ARGUMENT, "clg_device_select: index is NULL");
    const char *source = "device spec";
    if (!spec || !*spec) {
        spec = getenv("CLGRAD_DEVICE");
        source = "CLGRAD_DEVICE";
        if (!spec || !*spec)
            return clg_device_default(index);
    }
    clg_status s = ensure_some_device();
    if (s != CLG_OK)
        return s;

    char listing[768];
    list_devices(listing, sizeof listing);
    int found = -1;
    if (parse_index(spec, &found)) {
        if (found >= devices.count)
            return clg_fail(CLG_NO_DEVICE,
                            "%s '%s': there is no device %s; devices: %s", source, spec,
                            spec, listing);
    } else if (strcasecmp(spec, "gpu") == 0 || strcasecmp(spec, "cpu") == 0 ||
               strcasecmp(spec, "accelerator") == 0) {
        clg_device_type t = tolower((unsigned char)spec[0]) == 'g' ? CLG_DEVICE_GPU
                            : tolower((unsigned char)spec[0]) == 'c'
                                ? CLG_DEVICE_CPU
                                : CLG_DEVICE_ACCELERATOR;
        found = first_of_type(t);
        if (found < 0)
            return clg_fail(CLG_NO_DEVICE, "%s '%s': no %s device; devices: %s", source,
                            spec, clg_device_type_str(t), listing);
    } else if (strncasecmp(spec, "name:", 5) == 0 && spec[5]) {
        for (int i = 0; i < devices.count && found < 0; i++)
            if (contains_ignoring_case(devices.slots[i].info.name, spec + 5))
                found = i;
        if (found < 0)
            return clg_fail(CLG_NO_DEVICE,
                            "%s '%s': no device name contains '%s'; devices: %s",
                            source, spec, spec + 5, listing);
    } else {
        return clg_fail(CLG_INVALID_ARGUMENT,
                        "%s '%s' is not a device spec: use an index from "
                        "clgrad-devices, gpu, cpu or name:SUBSTRING; devices: %s",
                        source, spec, listing);
    }
    *index = found;
    return CLG_OK;
}
