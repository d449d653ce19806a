#!/usr/bin/env python3
"""clgrad-bench's references: the same work in PyTorch (numpy for GEMM where
there is no torch), timed here and printed for clgrad-bench to set beside
its own figures. The GPT is built from the tests' reference modules
(tests/torch_gpt.py; installed beside this file).

usage: peers.py gemm SECONDS M,N,K,TA,TB ...    the library's name, then
                                                GFLOP/s per shape
       peers.py ops SECONDS KEY:D0xD1x... ...    "KEY fwd_ms fwd+bwd_ms" per op
       peers.py train mlp|cnn STEPS DEVICE       samples/s (Adam, batch 64)
       peers.py gpt STEPS DEVICE V T D H B       tokens/s (AdamW)

PyTorch runs on all of the host's cores, or on DEVICE (cuda, cuda:N) with
the timing synchronised. Exit status 3 when torch (or numpy) is missing.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "tests")]

try:
    import numpy as np
except ImportError:
    sys.exit(3)
try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(os.cpu_count())
except ImportError:
    torch = None


def clock(f, seconds, least=4):
    """Milliseconds per call of f after one warm-up call."""
    f()
    n, t0 = 0, time.perf_counter()
    while n < least or time.perf_counter() - t0 < seconds:
        f()
        n += 1
    return (time.perf_counter() - t0) / n * 1e3


def gemm(seconds, shapes):
    lib = "torch" if torch else "numpy"
    print(lib, flush=True)
    for shape in shapes:
        M, N, K, ta, tb = (int(v) for v in shape.split(","))
        a = np.random.rand(K, M).astype(np.float32).T if ta else \
            np.random.rand(M, K).astype(np.float32)
        b = np.random.rand(N, K).astype(np.float32).T if tb else \
            np.random.rand(K, N).astype(np.float32)
        if torch:
            a, b = torch.from_numpy(a), torch.from_numpy(b)
        ms = clock(lambda: a @ b, seconds)
        print(2.0 * M * N * K / (ms * 1e-3) / 1e9, flush=True)


def op(key):
    """f(x, training) for the op clgrad-bench names `key` (its op table)."""
    def conv(out, cin):
        w = torch.randn(out, cin, 3, 3, requires_grad=True)
        return lambda x, t: F.conv2d(x, w, padding=1)
    if key == "conv1":
        return conv(32, 1)
    if key == "conv2":
        return conv(64, 32)
    if key in ("conv64_im2col", "conv64_winograd"):
        return conv(64, 64)
    if key == "depthwise":
        w = torch.randn(32, 1, 3, 3, requires_grad=True)
        return lambda x, t: F.conv2d(x, w, padding=1, groups=32)
    if key == "tconv":
        w = torch.randn(32, 16, 2, 2, requires_grad=True)
        return lambda x, t: F.conv_transpose2d(x, w, stride=2)
    if key == "upsample":
        return lambda x, t: F.interpolate(x, scale_factor=2, mode="bilinear",
                                          align_corners=False)
    if key == "adaptive":
        return lambda x, t: F.adaptive_avg_pool2d(x, 7)
    if key == "attention":  # qkv [N, T, 3C] -> [N, T, C], 4 heads, causal
        def attention(x, t):
            n, T, c3 = x.shape
            q, k, v = (z.view(n, T, 4, c3 // 12).transpose(1, 2) for z in x.split(c3 // 3, 2))
            if hasattr(F, "scaled_dot_product_attention"):  # PyTorch 2.x
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # 1.13: as nanoGPT composes it
                a = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
                mask = torch.ones(T, T, dtype=torch.bool).tril()
                y = a.masked_fill(~mask, float("-inf")).softmax(-1) @ v
            return y.transpose(1, 2).reshape(n, T, c3 // 3)
        return attention
    if key == "linear":
        w, b = torch.randn(256, 784, requires_grad=True), torch.randn(256, requires_grad=True)
        return lambda x, t: F.linear(x, w, b)
    if key == "maxpool":
        return lambda x, t: F.max_pool2d(x, 2)
    if key == "batchnorm":
        w, b = torch.ones(32, requires_grad=True), torch.zeros(32, requires_grad=True)
        rm, rv = torch.zeros(32), torch.ones(32)
        return lambda x, t: F.batch_norm(x, rm, rv, w, b, training=t)
    if key == "relu":
        return lambda x, t: F.relu(x)
    if key == "silu":
        return lambda x, t: F.silu(x)
    if key == "hardswish":
        return lambda x, t: F.hardswish(x)
    if key == "dropout":
        return lambda x, t: F.dropout(x, 0.5, training=t)
    if key == "log_softmax":
        return lambda x, t: F.log_softmax(x, 1)
    raise KeyError("peers.py: no PyTorch peer for op '%s'" % key)


def ops(seconds, items):
    for item in items:
        key, dims = item.split(":")
        x = torch.randn(*(int(d) for d in dims.split("x")), requires_grad=True)
        f = op(key)

        def fwd():
            with torch.no_grad():
                f(x, False)

        def both():
            f(x, True).sum().backward()
        print(key, clock(fwd, seconds, 1), clock(both, seconds, 1), flush=True)


def rate(step, device, steps, per_step):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    print(steps * per_step / (time.perf_counter() - t))


def train(kind, steps, device):
    """The Fashion-MNIST MLP or CNN of clgrad-bench (add_layers there)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    if kind == "cnn":
        layers = [nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                  nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1, bias=False),
                  nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Dropout(0.25), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)]
    else:
        layers = [nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                  nn.ReLU(), nn.Linear(128, 10)]
    m = nn.Sequential(*layers).to(dev)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x = torch.rand(64, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (64,), device=dev)

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    rate(step, dev, steps, 64)


def rss_bytes():
    """This process's resident set now, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def gpt(steps, device, V, T, D, H, B, L=2, tie=0):
    """Tokens/s of AdamW steps of a GPT of L blocks (lm_head tied to the
    token embedding when tie), then the memory at its peak: CUDA's
    allocator's, or the resident set's growth on the CPU."""
    import resource
    from torch_gpt import Block, TokPos
    torch.manual_seed(0)
    dev = torch.device(device)
    base = rss_bytes()
    head = nn.Linear(D, V, bias=not tie)
    m = nn.Sequential(TokPos(V, T, D), *[Block(D, H) for _ in range(L)], nn.LayerNorm(D),
                      head).to(dev)
    if tie:
        head.weight = m[0].wte.weight
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.1)
    x = torch.randint(0, V, (B, T), device=dev)
    y = torch.randint(0, V, (B, T), device=dev)

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x).view(-1, V), y.view(-1)).backward()
        opt.step()
    rate(step, dev, steps, B * T)
    if dev.type == "cuda":
        print(torch.cuda.max_memory_allocated(dev))
    else:  # ru_maxrss: KiB on Linux
        print(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base, 0))


def main(argv):
    what = argv[0] if argv else ""
    if what == "gemm":
        return gemm(float(argv[1]), argv[2:])
    if torch is None:
        sys.exit(3)
    if what == "ops":
        return ops(float(argv[1]), argv[2:])
    if what == "train":
        return train(argv[1], int(argv[2]), argv[3])
    if what == "gpt":
        return gpt(int(argv[1]), argv[2], *(int(v) for v in argv[3:10]))
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
