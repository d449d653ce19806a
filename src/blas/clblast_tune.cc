// CLBlast's tuning API, which it offers in C++ only, behind the C functions
// of clblast_tune.h. Nothing here throws: CLBlast returns status codes, and
// the containers' failures become CLBlastUnexpectedError.
#include <clblast.h>

#include <cstring>
#include <string>
#include <unordered_map>

extern "C" {
#include "blas/clblast_tune.h"
}

namespace {

using Params = std::unordered_map<std::string, size_t>;

// The parameters, sorted by name so that files and reports read the same
// every time.
int to_c(const Params &from, clg_clblast_params *to)
{
    to->count = 0;
    for (const auto &kv : from) {
        if (to->count == CLG_CLBLAST_MAX_PARAMS || kv.first.size() >= CLG_CLBLAST_NAME_LEN)
            return static_cast<int>(clblast::StatusCode::kUnexpectedError);
        int i = to->count++;
        while (i > 0 && std::strcmp(to->names[i - 1], kv.first.c_str()) > 0) {
            std::memcpy(to->names[i], to->names[i - 1], CLG_CLBLAST_NAME_LEN);
            to->values[i] = to->values[i - 1];
            i--;
        }
        std::strcpy(to->names[i], kv.first.c_str());
        to->values[i] = kv.second;
    }
    return 0;
}

} // namespace

extern "C" int clg_clblast_tune_kernel(cl_command_queue queue, clg_clblast_kernel kernel,
                                       size_t m, size_t n, size_t k, double fraction,
                                       clg_clblast_params *out)
{
    try {
        Params found;
        clblast::StatusCode s =
            kernel == CLG_CLBLAST_XGEMM
                ? clblast::TuneXgemm<float>(&queue, m, n, k, fraction, found)
                : clblast::TuneXgemmDirect<float>(&queue, m, n, k, fraction, found);
        if (s != clblast::StatusCode::kSuccess)
            return static_cast<int>(s);
        return to_c(found, out);
    } catch (...) {
        return static_cast<int>(clblast::StatusCode::kUnexpectedError);
    }
}

extern "C" int clg_clblast_current(cl_device_id device, clg_clblast_kernel kernel,
                                   clg_clblast_params *out)
{
    try {
        Params now;
        clblast::StatusCode s = clblast::RetrieveParameters(
            device, clg_clblast_kernel_name(kernel), clblast::Precision::kSingle, now);
        if (s != clblast::StatusCode::kSuccess)
            return static_cast<int>(s);
        return to_c(now, out);
    } catch (...) {
        return static_cast<int>(clblast::StatusCode::kUnexpectedError);
    }
}
