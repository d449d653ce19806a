"""Models from spec text, as clgrad's spec parser reads them: nn.Sequential
modules with clgrad's parameter names (torch_diff.py trains them beside
clgrad), and clgrad's dropout masks (Philox 4x32-10, as cl/dropout.cl
draws them).
"""
import math

import numpy as np
import torch
import torch.nn as nn

import activations  # the rows of include/clgrad/activations.h
from torch_gpt import Attention, Block, TokPos  # clgrad's names, PyTorch's maths

class Residual(nn.Module):
    """clgrad's residual block: body(x) + x, or body(x) + proj(x)."""

    def __init__(self, body, proj):
        super().__init__()
        self.body = body
        if proj is not None:
            self.proj = proj

    def forward(self, x):
        skip = self.proj(x) if hasattr(self, "proj") else x
        return self.body(x) + skip


def philox_uniforms(seed, step, n):
    """Element g's uniform in [0, 1) as cl/dropout.cl draws it: lane g % 4
    of Philox 4x32-10 at counter (g / 4, 0, step) under key `seed`, its top
    24 bits."""
    m32, blocks = np.uint64(0xFFFFFFFF), (n + 3) // 4
    c = [np.arange(blocks, dtype=np.uint64) & m32, np.zeros(blocks, np.uint64),
         np.full(blocks, step & 0xFFFFFFFF, np.uint64), np.full(blocks, step >> 32, np.uint64)]
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c[0], np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & m32,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & m32]
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    w = np.stack(c, axis=1).reshape(-1)[:n]
    return (w >> np.uint64(8)).astype(np.float64) / 16777216.0


class PhiloxDropout(nn.Module):
    """Inverted dropout with clgrad's masks: the node's seed (diff_driver
    --dropout-seeds), the training step (one per forward), the element's
    index in the batch as given; `order` moves the masks with the samples
    when a batch is reversed or rotated."""

    def __init__(self, p):
        super().__init__()
        self.p, self.seed, self.step, self.order = p, None, 0, "given"

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = philox_uniforms(self.seed, self.step, x.numel()) >= float(np.float32(self.p))
        self.step += 1
        scale = 1.0 / (1.0 - self.p) if self.p < 1 else 0.0
        m = torch.from_numpy(keep * scale).to(x.dtype).view(x.shape)
        if self.order == "reverse":
            m = m.flip(0)
        elif self.order == "rotate":
            m = m.roll(1, 0)
        return x * m


def options(words):
    pos, opt = [], {}
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            opt[k] = v
        else:
            pos.append(w)
    return pos, opt


def make_layer(words, shape):
    """(module, output shape) of one spec line on an input of `shape`
    (without the batch)."""
    name, (pos, opt) = words[0], options(words[1:])
    if name == "linear":
        out = int(pos[0])
        return (nn.Linear(shape[-1], out, bias=opt.get("bias", "true") == "true"),
                shape[:-1] + [out])
    if name == "conv2d":
        out, k = int(pos[0]), int(pos[1])
        s, p = int(opt.get("stride", 1)), int(opt.get("padding", 0))
        d = int(opt.get("dilation", 1))
        span = d * (k - 1) + 1
        return (nn.Conv2d(shape[0], out, k, stride=s, padding=p, dilation=d,
                          groups=int(opt.get("groups", 1)),
                          bias=opt.get("bias", "true") == "true"),
                [out, (shape[1] + 2 * p - span) // s + 1, (shape[2] + 2 * p - span) // s + 1])
    if name == "convtranspose2d":
        out, k = int(pos[0]), int(pos[1])
        s, p = int(opt.get("stride", 1)), int(opt.get("padding", 0))
        op, d = int(opt.get("output_padding", 0)), int(opt.get("dilation", 1))
        size = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n in shape[1:]]
        return (nn.ConvTranspose2d(shape[0], out, k, stride=s, padding=p, output_padding=op,
                                   groups=int(opt.get("groups", 1)), dilation=d,
                                   bias=opt.get("bias", "true") == "true"), [out] + size)
    if name == "upsample":
        f = int(pos[0])
        mode = opt.get("mode", "nearest")
        return (nn.Upsample(scale_factor=f, mode=mode,
                            align_corners=False if mode == "bilinear" else None),
                [shape[0], shape[1] * f, shape[2] * f])
    if name == "adaptiveavgpool2d":
        size = [int(pos[0]), int(pos[1] if len(pos) > 1 else pos[0])]
        return nn.AdaptiveAvgPool2d(size), [shape[0]] + size
    if name in ("batchnorm1d", "batchnorm2d"):
        cls = nn.BatchNorm1d if name == "batchnorm1d" else nn.BatchNorm2d
        return (cls(shape[0], momentum=float(opt.get("momentum", 0.1)),
                    eps=float(opt.get("eps", 1e-5))), shape)
    if name in ("maxpool2d", "avgpool2d"):
        k = int(pos[0])
        s, p = int(opt.get("stride", k)), int(opt.get("padding", 0))
        m = (nn.MaxPool2d(k, s, p) if name == "maxpool2d"
             else nn.AvgPool2d(k, s, p, count_include_pad=True))
        return m, [shape[0], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
    if name == "globalavgpool":
        return nn.AdaptiveAvgPool2d(1), [shape[0], 1, 1]
    if name == "flatten":
        return nn.Flatten(), [math.prod(shape)]
    if name == "dropout":
        return PhiloxDropout(float(pos[0]) if pos else 0.5), shape
    if name == "embedding":
        return nn.Embedding(int(pos[0]), int(pos[1])), shape + [int(pos[1])]
    if name == "tokpos":
        return TokPos(int(pos[0]), shape[0], int(pos[1])), shape + [int(pos[1])]
    if name == "attention":
        return Attention(int(pos[0]), int(pos[1])), shape
    if name == "block":
        return Block(int(pos[0]), int(pos[1])), shape
    if name == "layernorm":
        return nn.LayerNorm(shape[-1], eps=float(opt.get("eps", 1e-5))), shape
    row = activations.by_name(name)
    if row:
        return activations.Act(row, float(pos[0]) if pos else None,
                               opt.get("approximate", "none") if row.option else None), shape
    if name == "softmax":
        return nn.Softmax(1), shape
    if name == "logsoftmax":
        return nn.LogSoftmax(1), shape
    raise ValueError("unknown layer " + name)


def projection(shape_in, shape_out):
    if len(shape_in) == 3:
        return nn.Conv2d(shape_in[0], shape_out[0], 1, stride=shape_in[1] // shape_out[1])
    return nn.Linear(shape_in[-1], shape_out[-1])


def torch_model(spec):
    """nn.Sequential of a spec, with clgrad's names; and the sample shape."""
    lines = [l.split("#")[0].split() for l in spec.splitlines()]
    lines = [l for l in lines if l]
    head = lines[0]
    if head[1] == "tokens":
        shape, tokens = [int(head[2])], True
    else:
        shape, tokens = [int(w) for w in head[1:]], False
    input_shape = list(shape)
    layers, block, block_in = [], None, None
    for words in lines[1:]:
        if words[0] == "residual":
            block, block_in = [], list(shape)
            continue
        if words[0] == "end":
            proj = None if shape == block_in else projection(block_in, shape)
            layers.append(Residual(nn.Sequential(*block), proj))
            block = None
            continue
        module, shape = make_layer(words, shape)
        (block if block is not None else layers).append(module)
    return nn.Sequential(*layers), input_shape, tokens, shape
