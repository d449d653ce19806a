/* What the graph and plan tests share (test_graph, test_graph_long,
 * test_plan). */
#ifndef CLGRAD_TEST_GRAPH_UTIL_H
#define CLGRAD_TEST_GRAPH_UTIL_H

#include <stdint.h>

#include "graph/graph_internal.h"
#include "runtime/runtime_internal.h"
#include "test_util.h"

clg_graph *new_graph(clg_context *ctx);
/* check(ctx) in the forms of ctx's own kernel class and, on PoCL (the
 * default suite's device), in every other class's forms too, each on a
 * context of its own (clg_context_force_kernels): ties and NaNs that random
 * inputs never meet, in every kernel the library may choose. */
void in_every_kernel_class(clg_context *ctx, void (*check)(clg_context *));
void fill_random(clg_tensor *t, uint32_t seed, float scale);
bool on_simulator(clg_context *ctx);
/* A plan for loss = sum(y * r), r random: d loss / d y = r, returned in *r
 * (y's elements at the planned batch; the caller frees it). */
clg_plan *weighted_plan(clg_graph *g, clg_tensor *y, uint32_t seed, float **r);
/* t filled with test_random values from seed; the values (caller frees). */
float *random_upload(clg_tensor *t, uint32_t seed);
/* got against a float sum whose terms' magnitudes add to `scale`: a sum
 * cut short misses thousands of terms, far past this bound. */
void assert_sum(const char *what, size_t i, float got, double want, double scale);

#endif
