/* splitmix64: the host's random numbers (rng.c). One 64-bit state, seeded by
 * the caller; the same seed gives the same draws on every machine. */
#ifndef CLGRAD_BASE_RNG_H
#define CLGRAD_BASE_RNG_H

#include "base/base.h"

/* The golden-ratio increment of splitmix64; also a good multiplier for
 * mixing a seed with a counter. */
#define CLG_RNG_GOLDEN 0x9E3779B97F4A7C15ull

uint64_t clg_rng_next(uint64_t *state);

/* Uniform in [0, 1), from the top 53 bits of one draw. */
double clg_rng_uniform(uint64_t *state);

/* Standard normal, Box-Muller from two uniform draws. */
double clg_rng_normal(uint64_t *state);

#endif
