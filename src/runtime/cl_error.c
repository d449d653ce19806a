/* OpenCL error codes by name, and failures that carry them. */
#include <stdarg.h>
#include <stdio.h>

#include "runtime/runtime_internal.h"

clg_status clg_fail_cl(cl_int err, const char *fmt, ...)
{
    char what[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    clg_status status;
    switch (err) {
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_OUT_OF_RESOURCES:
    case CL_INVALID_BUFFER_SIZE:
        status = CLG_OUT_OF_DEVICE_MEMORY;
        break;
    case CL_OUT_OF_HOST_MEMORY:
        status = CLG_OUT_OF_HOST_MEMORY;
        break;
    default:
        status = CLG_OPENCL_ERROR;
    }
    return clg_fail(status, "%s: %s (%d)", what, clg_cl_error_name(err), (int)err);
}

const char *clg_cl_error_name(cl_int err)
{
    switch (err) {
#define CL_NAME(code)                                                                  \
    case code:                                                                         \
        return #code;
        CL_NAME(CL_SUCCESS)
        CL_NAME(CL_DEVICE_NOT_FOUND)
        CL_NAME(CL_DEVICE_NOT_AVAILABLE)
        CL_NAME(CL_COMPILER_NOT_AVAILABLE)
        CL_NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        CL_NAME(CL_OUT_OF_RESOURCES)
        CL_NAME(CL_OUT_OF_HOST_MEMORY)
        CL_NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
        CL_NAME(CL_MEM_COPY_OVERLAP)
        CL_NAME(CL_IMAGE_FORMAT_MISMATCH)
        CL_NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
        CL_NAME(CL_BUILD_PROGRAM_FAILURE)
        CL_NAME(CL_MAP_FAILURE)
        CL_NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        CL_NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        CL_NAME(CL_COMPILE_PROGRAM_FAILURE)
        CL_NAME(CL_LINKER_NOT_AVAILABLE)
        CL_NAME(CL_LINK_PROGRAM_FAILURE)
        CL_NAME(CL_DEVICE_PARTITION_FAILED)
        CL_NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
        CL_NAME(CL_INVALID_VALUE)
        CL_NAME(CL_INVALID_DEVICE_TYPE)
        CL_NAME(CL_INVALID_PLATFORM)
        CL_NAME(CL_INVALID_DEVICE)
        CL_NAME(CL_INVALID_CONTEXT)
        CL_NAME(CL_INVALID_QUEUE_PROPERTIES)
        CL_NAME(CL_INVALID_COMMAND_QUEUE)
        CL_NAME(CL_INVALID_HOST_PTR)
        CL_NAME(CL_INVALID_MEM_OBJECT)
        CL_NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
        CL_NAME(CL_INVALID_IMAGE_SIZE)
        CL_NAME(CL_INVALID_SAMPLER)
        CL_NAME(CL_INVALID_BINARY)
        CL_NAME(CL_INVALID_BUILD_OPTIONS)
        CL_NAME(CL_INVALID_PROGRAM)
        CL_NAME(CL_INVALID_PROGRAM_EXECUTABLE)
        CL_NAME(CL_INVALID_KERNEL_NAME)
        CL_NAME(CL_INVALID_KERNEL_DEFINITION)
        CL_NAME(CL_INVALID_KERNEL)
        CL_NAME(CL_INVALID_ARG_INDEX)
        CL_NAME(CL_INVALID_ARG_VALUE)
        CL_NAME(CL_INVALID_ARG_SIZE)
        CL_NAME(CL_INVALID_KERNEL_ARGS)
        CL_NAME(CL_INVALID_WORK_DIMENSION)
        CL_NAME(CL_INVALID_WORK_GROUP_SIZE)
        CL_NAME(CL_INVALID_WORK_ITEM_SIZE)
        CL_NAME(CL_INVALID_GLOBAL_OFFSET)
        CL_NAME(CL_INVALID_EVENT_WAIT_LIST)
        CL_NAME(CL_INVALID_EVENT)
        CL_NAME(CL_INVALID_OPERATION)
        CL_NAME(CL_INVALID_GL_OBJECT)
        CL_NAME(CL_INVALID_BUFFER_SIZE)
        CL_NAME(CL_INVALID_MIP_LEVEL)
        CL_NAME(CL_INVALID_GLOBAL_WORK_SIZE)
        CL_NAME(CL_INVALID_PROPERTY)
        CL_NAME(CL_INVALID_IMAGE_DESCRIPTOR)
        CL_NAME(CL_INVALID_COMPILER_OPTIONS)
        CL_NAME(CL_INVALID_LINKER_OPTIONS)
        CL_NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef CL_NAME
    case -1001:
        return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "CL_UNKNOWN_ERROR";
}
