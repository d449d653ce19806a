/* splitmix64 (Steele, Lea and Flood 2014): small, fast, and good enough for
 * initial weights, shuffles and augmentation. */
#include <math.h>

#include "base/rng.h"

uint64_t clg_rng_next(uint64_t *state)
{
    uint64_t z = (*state += CLG_RNG_GOLDEN);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double clg_rng_uniform(uint64_t *state)
{
    return (double)(clg_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

double clg_rng_normal(uint64_t *state)
{
    double u1 = clg_rng_uniform(state), u2 = clg_rng_uniform(state);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * CLG_PI * u2);
}
