/* Inverted dropout with Philox 4x32-10 (Salmon et al., SC'11): the mask of
 * element i at step s under seed k is a pure function of (k, s, i), so runs
 * are reproducible and backward recomputes the mask instead of storing it. */

static uint4 philox4x32_10(uint4 c, uint2 k)
{
    for (int r = 0; r < 10; r++) {
        const uint hi0 = mul_hi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const uint hi1 = mul_hi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

/* A uniform float in [0, 1) for element i: block i / 4, lane i % 4. */
static float uniform(ulong seed, ulong step, uint i)
{
    const uint4 r = philox4x32_10((uint4)(i / 4, 0u, (uint)step, (uint)(step >> 32)),
                                  (uint2)((uint)seed, (uint)(seed >> 32)));
    const uint lane = i % 4;
    const uint bits = lane == 0 ? r.x : lane == 1 ? r.y : lane == 2 ? r.z : r.w;
    return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

/* Argument 4 (step) is set by the plan at every run. */
__kernel void dropout_forward(const int n, const float p, const float scale,
                              const ulong seed, const ulong step,
                              __global const float *x, __global float *y)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = uniform(seed, step, (uint)i) >= p ? x[i] * scale : 0.0f;
}

__kernel void dropout_backward(const int n, const float p, const float scale,
                               const ulong seed, const ulong step, const int accumulate,
                               __global const float *dy, __global float *dx)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const float v = uniform(seed, step, (uint)i) >= p ? dy[i] * scale : 0.0f;
    dx[i] = accumulate ? dx[i] + v : v;
}
