/*
 * Private to libclgrad: the host-only base every layer stands on. Nothing
 * under src/base/ knows OpenCL; src/data/ uses nothing else.
 *
 *   error.h  the last-error sentence behind clg_last_error()
 *   file.h   reading whole files
 *   rng.h    splitmix64 draws for initialisation, shuffling, augmentation
 *   clock.h  a monotonic clock
 *   text.h   numbers and enum names parsed from text
 *   hash.h   FNV-1a over bytes
 */
#ifndef CLGRAD_BASE_H
#define CLGRAD_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clgrad/status.h"

#define CLG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

#define CLG_PI 3.14159265358979323846

/* Elements of an array whose size the compiler knows. */
#define CLG_COUNT_OF(a) (sizeof(a) / sizeof *(a))

#endif
