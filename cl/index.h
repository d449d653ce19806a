/*
 * A work-item's index as an int, for every kernel.
 *
 * clg_global_id(d) is get_global_id(d) (clgrad launches no global offsets,
 * and OpenCL C 1.x's work-groups are all of one size), computed in int from
 * the group and local ids. The plain `const int i = get_global_id(0)` cuts
 * a size_t to an int, and Intel's CPU compiler (2026.2) then cannot see
 * that neighbouring work-items' indices are consecutive: it vectorises them
 * with gathers and scatters, which made an element-wise kernel 4-5x slower
 * there (a 200,000-element Adam update 400 us instead of 90; relu at 10
 * GB/s). PoCL and GPU compilers build both forms alike.
 */
#ifndef CLGRAD_INDEX_H
#define CLGRAD_INDEX_H

#define clg_global_id(d)                                                              \
    ((int)get_group_id(d) * (int)get_local_size(d) + (int)get_local_id(d))

#endif
