/*
 * A work-item's index as an int, for every kernel.
 *
 * clg_global_id(d) is get_global_id(d) (clgrad launches no global offsets,
 * and OpenCL C 1.x's work-groups are all of one size), computed in int from
 * the group and local ids. The plain `const int i = get_global_id(0)` cuts
 * a size_t to an int, and Intel's CPU compiler (2026.2) then cannot see
 * that neighbouring work-items' indices are consecutive: it vectorises them
 * with gathers and scatters, which made element-wise kernels several
 * times slower there (docs/performance.md). PoCL and GPU compilers build
 * both forms alike.
 */
#ifndef CLGRAD_INDEX_H
#define CLGRAD_INDEX_H

#define clg_global_id(d)                                                              \
    ((int)get_group_id(d) * (int)get_local_size(d) + (int)get_local_id(d))

/* For kernels whose work-item loops over a row of neighbouring floats (the
 * CPU layouts: conv's and pooling's *_rows, batch norm's planes, layer
 * norm's and causal softmax's rows, an embedding's gradient row): Intel's
 * CPU compiler otherwise vectorises across work-items, each lane on a row
 * of its own, through gathers and scatters; told one work-item at a time
 * (its cl_intel_vec_len_hint), it vectorises each row's loop instead: 2.5x
 * faster for conv_output_rows, 4.6x for embedding_backward. Nothing
 * elsewhere. */
#ifdef cl_intel_vec_len_hint
#define CLG_ROW_LOOP __attribute__((intel_vec_len_hint(1)))
#else
#define CLG_ROW_LOOP
#endif

#endif
