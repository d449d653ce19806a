/* Concatenation along dim 1: a source [outer, Cs, inner] lands in channels
 * [offset, offset + Cs) of a destination [outer, Cd, inner]. */

__kernel void concat_copy(const int n, const int Cs, const int Cd, const int offset,
                          const int inner, __global const float *src,
                          __global float *dst)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const int k = i % inner, c = (i / inner) % Cs, o = i / (inner * Cs);
    dst[((size_t)o * Cd + offset + c) * inner + k] = src[i];
}

__kernel void concat_slice(const int n, const int Cs, const int Cd, const int offset,
                           const int inner, const int accumulate,
                           __global const float *dst_grad, __global float *src_grad)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const int k = i % inner, c = (i / inner) % Cs, o = i / (inner * Cs);
    const float v = dst_grad[((size_t)o * Cd + offset + c) * inner + k];
    src_grad[i] = accumulate ? src_grad[i] + v : v;
}
