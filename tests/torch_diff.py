#!/usr/bin/python3
"""Differential test: random models trained by clgrad and by PyTorch.

Each case is a random small model drawn from the whole layer set (every
layer, activation, pooling, norm, residual blocks, embedding models,
transformer models of token and position embeddings, causal attention,
GPT-2 blocks, layer norms and GELU, every loss), random shapes, strides, paddings and dilations, partial batches, a
random optimizer with clipping, regularisation and a schedule, and 1 or 20
training steps. PyTorch trains it in float64 (the reference) and in float32,
clgrad (tests/diff_driver.c) from the same initial weights on the same
batches. A case fails when clgrad's largest error against float64 exceeds
RATIO times PyTorch float32's largest error against float64 in that case,
or FLOOR when that is larger. PyTorch float32 trains three times, with each
batch's samples as given, reversed and rotated by one (the same
mathematics, other roundings), and counts as off by the worst of the
three: where a quantity cancels to nearly 0 (a gradient against its weight
decay) and an adaptive optimizer divides by it, one order can be lucky.
Errors: error = max |value - float64| / max(max |float64|, 0.1) over each
tensor (the
losses of every step, every weight and statistic at the end, the
evaluation-mode output of the last batch).

usage: /usr/bin/python3 tests/torch_diff.py --driver BUILD/tests/diff_driver
           [--seed S] [--cases N] [--case I] [--report] [--keep DIR]

--case I runs only case I of the seed (what a failure prints to reproduce
it); --report prints the largest error ratio per layer family, optimizer,
schedule and loss; --keep writes each failing case's JSON for diff_driver.
CLGRAD_DIFF_CASES=N in the environment overrides --cases (the meson test
setups of the slower OpenCL implementations run fewer cases). Exit status 0
when every case passes, 1 when one fails, 77 (skip) when
python3 has no torch.
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("torch_diff: python3 has no torch (apt-get install python3-torch): skipped")
    sys.exit(77)

import activations  # the rows of include/clgrad/activations.h
from torch_gpt import TokPos
from torch_spec import PhiloxDropout, options, torch_model  # specs as PyTorch modules

RATIO = 10.0  # clgrad may be off by this multiple of PyTorch float32's error
FLOOR = 4 * 1.1920929e-07  # ... or by this, near float32 epsilon, if larger

# ---- Random cases -----------------------------------------------------------

IMAGES = [[1, 6, 6], [2, 7, 7], [3, 8, 8], [1, 9, 9], [2, 5, 5]]
ACTS = ["relu", "gelu", "sigmoid", "tanh", "leakyrelu 0.1", "elu 0.7", "relu", "tanh"]
# ... and every other row of activations.h, with its number where it has one
ACTS += [r.name + (" %g" % (3 * r.default) if r.nargs else "")
         for r in activations.rows() if not any(a.split()[0] == r.name for a in ACTS)]


def act(rng):
    return rng.choice(ACTS)


def conv_line(rng, shape, out=None, same=False):
    out = out or rng.choice([2, 3, 4])
    if same:
        return "conv2d %d 3 padding=1" % out
    k = rng.choice([1, 2, 3])
    s = rng.choice([1, 1, 2])
    d = rng.choice([1, 1, 2]) if k > 1 else 1
    p = rng.choice(range(0, k))
    span = d * (k - 1) + 1
    while shape[1] + 2 * p < span:
        p += 1
    bias = rng.choice(["", " bias=false"])
    groups = ""
    if rng.random() < 0.3 and shape[0] > 1:  # grouped, or depthwise (groups = C)
        g = rng.choice([c for c in range(2, shape[0] + 1) if shape[0] % c == 0])
        out = g * rng.choice([1, 2])
        groups = " groups=%d" % g
    return "conv2d %d %d stride=%d padding=%d dilation=%d%s%s" % (out, k, s, p, d, groups,
                                                                  bias)


def resample_line(rng, shape):
    """A transposed convolution, an upsampling or an adaptive pooling."""
    r = rng.random()
    if r < 0.4:
        k, s = rng.choice([1, 2, 3]), rng.choice([1, 2])
        p, d = rng.choice(range(0, k)), rng.choice([1, 1, 2])
        op = rng.choice(range(0, max(s, d)))
        g = rng.choice([1, 1, shape[0]])
        out = g * rng.choice([1, 2]) if g > 1 else rng.choice([2, 3])
        while min(shape[1:]) - 1 - 2 * p + d * (k - 1) + op < 0 or (op >= s and op >= d):
            p, op = max(p - 1, 0), max(op - 1, 0)
        return ("convtranspose2d %d %d stride=%d padding=%d output_padding=%d dilation=%d"
                " groups=%d%s" % (out, k, s, p, op, d, g, rng.choice(["", " bias=false"])))
    if r < 0.7 and max(shape[1:]) <= 7:
        return "upsample %d mode=%s" % (rng.choice([2, 3]), rng.choice(["nearest", "bilinear"]))
    h, w = rng.randint(1, shape[1]), rng.randint(1, shape[2])
    return "adaptiveavgpool2d %d" % h + ("" if h == w and rng.random() < 0.5 else " %d" % w)


def image_body(rng, shape, lines):
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.4:
            lines.append(conv_line(rng, shape))
        elif r < 0.48:
            lines.append(resample_line(rng, shape))
        elif r < 0.6 and shape[1] >= 4:
            k = rng.choice([2, 3])
            s = rng.choice([k, 1, 2])
            p = rng.choice(range(0, k // 2 + 1))
            lines.append("%s %d stride=%d padding=%d" % (
                rng.choice(["maxpool2d", "avgpool2d"]), k, s, p))
        elif r < 0.75:
            lines.append("batchnorm2d" + rng.choice(["", " momentum=0.3", " eps=1e-3"]))
        elif r < 0.85:
            lines.append("residual")
            c = rng.choice([shape[0], shape[0] + 1])
            # clgrad projects with a 1x1 convolution of stride H_in / H_out
            stride = rng.choice([1, 2]) if shape[1] % 2 == 0 else 1
            lines.append("conv2d %d 3 padding=1 stride=%d" % (c, stride))
            lines.append(act(rng))
            lines.append("conv2d %d 3 padding=1" % c)
            lines.append("end")
        else:
            lines.append(act(rng))
        _, shape = torch_shape(lines)
    return shape


def torch_shape(lines):
    """The sample shape after the lines so far."""
    m, _, _, shape = torch_model("\n".join(lines))
    return m, shape


def flat_body(rng, lines):
    width = torch_shape(lines)[1][-1]
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.4:
            width = rng.choice([4, 6, 9])
            lines.append("linear %d%s" % (width, rng.choice(["", "", " bias=false"])))
        elif r < 0.55:
            lines.append("batchnorm1d" + rng.choice(["", " momentum=0.2"]))
        elif r < 0.7:
            lines.append("residual")
            w2 = rng.choice([width, 5])
            lines.append("linear %d" % w2)
            lines.append(act(rng))
            lines.append("end")
            width = w2
        elif r < 0.8:
            lines.append(rng.choice(["dropout 0", "dropout 0.2", "dropout 0.5"]))
        else:
            lines.append(act(rng))
    return width


def transformer_body(rng, vocab, lines):
    """Token and position embeddings, then GPT-2 blocks, causal attention and
    GELU MLPs of 1 to 4 heads, and a layer norm whose eps matters."""
    d = rng.choice([4, 6, 8])
    heads = rng.choice([h for h in (1, 2, 3, 4) if d % h == 0])
    lines.append("tokpos %d %d" % (vocab, d))
    for _ in range(rng.randint(1, 2)):
        r = rng.random()
        if r < 0.4:
            lines.append("block %d %d" % (d, heads))
        elif r < 0.7:
            lines.append("attention %d %d" % (d, heads))
        else:
            lines.append("linear %d" % d)
            lines.append(rng.choice(["gelu approximate=tanh", "gelu"]))
        if rng.random() < 0.3:
            lines.append("dropout %g" % rng.choice([0.1, 0.3]))
    lines.append("layernorm" + rng.choice(["", " eps=0.1", " eps=1e-3"]))


def random_case(rng, index, seed):
    kind = rng.choice(["image", "image", "features", "tokens"])
    classes = rng.choice([3, 4, 5])
    lines = []
    if kind == "image":
        shape = rng.choice(IMAGES)
        lines.append("input %d %d %d" % tuple(shape))
        shape = image_body(rng, shape, lines)
        if rng.random() < 0.3:
            lines.append("globalavgpool")
        lines.append("flatten")
        if rng.random() < 0.5:
            flat_body(rng, lines)
    elif kind == "features":
        lines.append("input %d" % rng.choice([5, 8, 12]))
        flat_body(rng, lines)
    else:
        t, v, d = rng.choice([3, 4]), rng.choice([7, 11]), rng.choice([3, 5])
        lines.append("input tokens %d" % t)
        if rng.random() < 0.5:
            transformer_body(rng, v, lines)
        else:
            lines.append("embedding %d %d" % (v, d))
            if rng.random() < 0.5:
                lines.append("linear %d" % rng.choice([4, 6]))
                lines.append(act(rng))
        lines.append("flatten")
    lines.append("linear %d%s" % (classes, rng.choice(["", "", " bias=false"])))
    if rng.random() < 0.1:
        lines.append(rng.choice(["softmax", "logsoftmax"]))
    spec = "\n".join(lines) + "\n"

    loss = rng.choice(["cross_entropy"] * 4 + ["mse", "l1", "bce"])
    steps = 20 if rng.random() < 0.3 else 1
    batch = rng.choice([3, 4, 6, 8])
    opt = random_optimizer(rng)
    if shift_before_norm(spec) and opt["type"] != "sgd":
        # A bias that batch norm cancels has a gradient of exactly 0: its
        # float32 rounding noise is all an adaptive optimizer sees.
        opt = {"type": "sgd", "lr": opt["lr"] if opt["lr"] >= 0.01 else 0.05}
    if loss == "l1" and opt["type"] != "sgd":
        # L1's gradient is +-1/n, so sums of it cancel to exactly 0 in exact
        # arithmetic and to rounding noise in float32, which Adam, RMSprop
        # and Adagrad turn into full steps of lr: no float32 computation of
        # such a case is meaningful against float64.
        opt = {"type": "sgd", "lr": opt["lr"] if opt["lr"] >= 0.01 else 0.05}
    schedule = random_schedule(rng, steps) if steps > 1 else None
    if schedule and schedule["type"] == "onecycle":
        schedule["max_lr"] = opt["lr"]
    return {"name": "case %d of seed %d" % (index, seed), "index": index, "kind": kind,
            "spec": spec, "loss": loss, "classes": classes,
            "label_smoothing": rng.choice([0.0, 0.0, 0.1]) if loss == "cross_entropy" else 0.0,
            "batch": batch, "nsteps": steps, "seed": rng.randrange(1 << 30),
            "optim": opt, "schedule": schedule}


def shift_before_norm(spec):
    """Does a bias (of a layer, a batch norm or a residual block) reach a
    batch norm through layers that only move or average values? Batch norm
    removes any constant shift, so such a bias gets a gradient of exactly 0."""
    shift = False
    lines = [l.split() for l in spec.splitlines() if l.split()]
    for k, w in enumerate(lines):
        if w[0] in ("batchnorm1d", "batchnorm2d"):
            if shift:
                return True
            shift = True  # its own beta
        elif w[0] in ("conv2d", "convtranspose2d", "linear"):
            shift = "bias=false" not in w
        elif w[0] == "end":
            shift = True  # the block's last layer or projection adds a bias
        elif w[0] not in ("flatten", "dropout", "maxpool2d", "avgpool2d",
                          "globalavgpool", "residual", "upsample",
                          "adaptiveavgpool2d"):
            shift = False
    return False


def random_optimizer(rng):
    t = rng.choice(["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    o = {"type": t}
    if t == "sgd":
        o["lr"] = rng.choice([0.01, 0.05, 0.1])
        o["momentum"] = rng.choice([0.0, 0.9])
        if o["momentum"]:
            o["nesterov"] = rng.random() < 0.3
            o["dampening"] = 0.0 if o["nesterov"] else rng.choice([0.0, 0.1])
    elif t in ("adam", "adamw"):
        o["lr"] = rng.choice([1e-3, 1e-2])
        o["beta1"], o["beta2"] = rng.choice([(0.9, 0.999), (0.8, 0.99)])
    elif t == "rmsprop":
        o["lr"] = rng.choice([1e-3, 1e-2])
        o["alpha"] = rng.choice([0.99, 0.9])
        o["centered"] = rng.random() < 0.3
        o["momentum"] = rng.choice([0.0, 0.5])
    else:
        o["lr"] = rng.choice([0.01, 0.05])
        o["lr_decay"] = rng.choice([0.0, 0.01])
        o["initial_accumulator"] = rng.choice([0.0, 0.1])
    wd = rng.choice([0.0, 0.0, 1e-3, 0.05 if t == "adamw" else 1e-2])
    o["weight_decay"] = wd
    r = rng.random()
    if r < 0.15:
        o["clip_norm"] = rng.choice([0.1, 1.0])
    elif r < 0.25:
        o["clip_value"] = rng.choice([0.01, 0.1])
    if rng.random() < 0.1:
        o["l1"] = 1e-4
    if rng.random() < 0.2:
        o["decay_biases"] = False
    return o


def random_schedule(rng, steps):
    t = rng.choice(["constant", "step", "multistep", "exp", "cosine", "onecycle", "plateau"])
    s = {"type": t}
    if t == "step":
        s.update(step_size=5, gamma=0.5)
    elif t == "multistep":
        s.update(milestones=[3, 7], gamma=0.2)
    elif t == "exp":
        s.update(gamma=0.9)
    elif t == "cosine":
        s.update(t_max=steps, eta_min=1e-4)
    elif t == "onecycle":
        s.update(total_steps=steps)  # max_lr: the optimizer's lr (set in random_case)
    elif t == "plateau":
        s.update(factor=0.5, patience=2)
    if t != "onecycle" and rng.random() < 0.3:
        s.update(warmup=4, warmup_start=1.0 / 3.0)
    if t == "constant" and "warmup" not in s:
        return None
    return s


# ---- Data, and PyTorch training ----------------------------------------------


def f32list(t):
    return [float("%.9g" % v) for v in t.detach().float().flatten().tolist()]


def make_data(case, model, input_shape, tokens, out_shape):
    g = torch.Generator().manual_seed(case["seed"])
    steps = []
    n = case["batch"]
    has_bn = "batchnorm" in case["spec"]
    for k in range(case["nsteps"]):
        b = n
        if case["nsteps"] > 1 and k % 7 == 6:  # a partial batch now and then
            b = max(2 if has_bn else 1, n - 1 - k % 3)
        if tokens:
            first = model[0]
            vocab = (first.wte if isinstance(first, TokPos) else first).num_embeddings
            x = torch.randint(0, vocab, [b] + input_shape, generator=g).float()
        else:
            x = torch.rand([b] + input_shape, generator=g) * 2 - 1
        if case["loss"] == "cross_entropy":
            y = torch.randint(0, case["classes"], (b,), generator=g).float()
        else:
            y = torch.rand([b] + out_shape, generator=g)
        steps.append({"batch": b, "x": x, "y": y})
    return steps


# ---- Regressions: cases that once failed, kept as they were found ----------

FASHION = "/usr/share/datasets/fashion-mnist"

# A 3x3 layer of 64 channels in and out at 14x14: Winograd's F(2x2, 3x3)
# on CPU devices (clg_conv2d's AUTO), im2col elsewhere.
WINOGRAD_CNN = """input 1 28 28
conv2d 16 3 padding=1 bias=false
batchnorm2d
relu
maxpool2d 2
conv2d 64 3 padding=1
relu
conv2d 64 3 padding=1
relu
maxpool2d 2
flatten
linear 10
"""

ISSUE_CNN = """input 1 28 28
conv2d 8 3 padding=1 bias=false
batchnorm2d
relu
maxpool2d 2
conv2d 16 3 stride=2 padding=1
relu
%sflatten
linear 10
"""


def fashion(count):
    """The first `count` Fashion-MNIST training images (bytes / 255) and
    labels, or None without the Debian package."""
    import gzip
    try:
        with gzip.open(FASHION + "/train-images-idx3-ubyte.gz") as f:
            x = f.read(16 + 784 * count)[16:]
        with gzip.open(FASHION + "/train-labels-idx1-ubyte.gz") as f:
            y = f.read(8 + count)[8:]
    except OSError:
        return None
    images = torch.tensor(list(x), dtype=torch.float32).reshape(count, 1, 28, 28) / 255
    return images, torch.tensor(list(y), dtype=torch.float32)


def regressions():
    """(case, steps) of the cases kept as regressions: the example of the
    correctness issue, where the serial per-channel sums of batch norm put
    clgrad 1e4 times further from float64 than PyTorch float32, and
    convolutions wide enough for Winograd's algorithm."""
    out = []
    for name, spec, optim, nsteps in [
            ("issue example: conv, batch norm, one SGD step", ISSUE_CNN % "",
             {"type": "sgd", "lr": 0.02}, 1),
            ("issue example: with avgpool2d, 12 AdamW steps", ISSUE_CNN % "avgpool2d 2\n",
             {"type": "adamw", "lr": 3e-3, "weight_decay": 0.05}, 12),
            ("64 channels at 14x14 (Winograd on CPUs), 4 Adam steps", WINOGRAD_CNN,
             {"type": "adam", "lr": 1e-3}, 4)]:
        data = fashion(16 * nsteps)
        if data is None:
            print("torch_diff: no %s: regression '%s' skipped" % (FASHION, name))
            continue
        case = {"name": name, "index": -1, "kind": "image", "spec": spec,
                "loss": "cross_entropy", "classes": 10, "label_smoothing": 0.0,
                "batch": 16, "nsteps": nsteps, "seed": sum(b"noavg-sgd0-1"),
                "optim": optim, "schedule": None}
        steps = [{"batch": 16, "x": data[0][16 * k:16 * k + 16],
                  "y": data[1][16 * k:16 * k + 16]} for k in range(nsteps)]
        out.append((case, steps))
    return out


def param_groups(model, o):
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.dim() < 2 and not o.get("decay_biases", True) else decay).append(p)
    wd = o.get("weight_decay", 0.0)
    return [{"params": decay, "weight_decay": wd},
            {"params": no_decay, "weight_decay": 0.0}], decay


def make_optimizer(model, o):
    groups, decayed = param_groups(model, o)
    t, lr = o["type"], o["lr"]
    if t == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=o.get("momentum", 0.0),
                              dampening=o.get("dampening", 0.0),
                              nesterov=o.get("nesterov", False))
    elif t in ("adam", "adamw"):
        cls = torch.optim.Adam if t == "adam" else torch.optim.AdamW
        opt = cls(groups, lr=lr, betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)))
    elif t == "rmsprop":
        opt = torch.optim.RMSprop(groups, lr=lr, alpha=o.get("alpha", 0.99),
                                  momentum=o.get("momentum", 0.0),
                                  centered=o.get("centered", False))
    else:
        opt = torch.optim.Adagrad(groups, lr=lr, lr_decay=o.get("lr_decay", 0.0),
                                  initial_accumulator_value=o.get("initial_accumulator", 0.0))
    return opt, decayed


def make_schedule(opt, s, lr):
    if not s:
        return None, False
    S = torch.optim.lr_scheduler
    t = s["type"]
    base = None
    if t == "step":
        base = S.StepLR(opt, s["step_size"], s["gamma"])
    elif t == "multistep":
        base = S.MultiStepLR(opt, s["milestones"], s["gamma"])
    elif t == "exp":
        base = S.ExponentialLR(opt, s["gamma"])
    elif t == "cosine":
        base = S.CosineAnnealingLR(opt, T_max=s["t_max"], eta_min=s["eta_min"])
    elif t == "onecycle":
        base = S.OneCycleLR(opt, max_lr=s["max_lr"], total_steps=s["total_steps"],
                            cycle_momentum=False)
    elif t == "plateau":
        base = S.ReduceLROnPlateau(opt, factor=s["factor"], patience=s["patience"])
    if "warmup" in s:
        if t == "cosine":
            # clgrad multiplies the closed-form cosine rate by the warm-up
            # factor; torch's ChainedScheduler applies its recursive cosine
            # to the warmed-up rate instead (within 2e-5 of it), so the
            # product is written out here.
            def factor(e, w=s["warmup"], a=s["warmup_start"], T=s["t_max"],
                       low=s["eta_min"] / lr):
                warm = a + (1 - a) * e / w if e < w else 1.0
                return (low + (1 - low) * (1 + math.cos(math.pi * e / T)) / 2) * warm
            return S.LambdaLR(opt, factor), False
        warm = S.LinearLR(opt, start_factor=s["warmup_start"], total_iters=s["warmup"])
        if base is None:
            return warm, False
        if t == "plateau":
            return (warm, base), True
        return S.ChainedScheduler([warm, base]), False
    return base, t == "plateau"


def loss_of(case, out, y):
    if case["loss"] == "cross_entropy":
        return F.cross_entropy(out, y.long(), label_smoothing=case["label_smoothing"])
    if case["loss"] == "mse":
        return F.mse_loss(out, y)
    if case["loss"] == "l1":
        return F.l1_loss(out, y)
    return F.binary_cross_entropy_with_logits(out, y)


def train_torch(case, init, steps, dtype, spec_model, order="given"):
    """Losses, final tensors and the last batch's evaluation output of
    training in `dtype`; with order "reverse" or "rotate", each batch's
    samples reversed or rotated by one: the same mathematics, other
    roundings."""
    model = spec_model()
    model.load_state_dict(init)
    model = model.to(dtype)
    for m in model.modules():
        if isinstance(m, PhiloxDropout):
            m.order = order
    o = case["optim"]
    opt, decayed = make_optimizer(model, o)
    sched, plateau = make_schedule(opt, case["schedule"], o["lr"])
    losses = []
    for st in steps:
        x = st["x"].long() if case["kind"] == "tokens" else st["x"].to(dtype)
        y = st["y"] if case["loss"] == "cross_entropy" else st["y"].to(dtype)
        if order == "reverse":
            x, y = x.flip(0), y.flip(0)
        elif order == "rotate":
            x, y = x.roll(1, 0), y.roll(1, 0)
        opt.zero_grad()
        loss = loss_of(case, model(x), y)
        loss.backward()
        if o.get("clip_norm"):
            nn.utils.clip_grad_norm_(model.parameters(), o["clip_norm"])
        if o.get("clip_value"):
            nn.utils.clip_grad_value_(model.parameters(), o["clip_value"])
        if o.get("l1"):
            with torch.no_grad():
                for p in decayed:
                    p.grad.add_(torch.sign(p), alpha=o["l1"])
        opt.step()
        losses.append(float(loss))
        if isinstance(sched, tuple):  # warm-up, then plateau on the loss
            sched[0].step()
            sched[1].step(float(loss))
        elif plateau:
            sched.step(float(loss))
        elif sched is not None:
            sched.step()
    model.eval()
    with torch.no_grad():
        last = steps[-1]
        x = last["x"].long() if case["kind"] == "tokens" else last["x"].to(dtype)
        ev = model(x).double().flatten().tolist()
    final = {k: v.double().flatten().tolist() for k, v in model.state_dict().items()
             if v.dtype in (torch.float32, torch.float64)}
    return {"losses": losses, "final": final, "eval": ev}


# ---- Comparing ------------------------------------------------------------------


# Errors are relative to a tensor's largest value, or to SCALE_FLOOR when
# that is smaller: quantities that are 0 in exact arithmetic (the gradient of
# a bias before batch norm, the running mean of normalised data) are
# rounding noise in float64 as in float32, and their ratio means nothing.
SCALE_FLOOR = 0.1


def rel_error(values, ref):
    scale = max(max((abs(r) for r in ref), default=0.0), SCALE_FLOOR)
    worst = 0.0
    for a, r in zip(values, ref):
        if a is None or not math.isfinite(a):
            return math.inf
        worst = max(worst, abs(a - r))
    return worst / scale


def compare(case, ours, ref64, ref32):
    """[(what, clgrad error, float32 error)] worst first, and the case's
    ratio: clgrad's largest error over PyTorch float32's largest. The errors
    of one case grow along one trajectory of training, so a tensor PyTorch
    happens to get nearly exact is judged by the case as a whole."""
    rows = []
    def pairs(r):
        yield "loss", r["losses"]
        yield "eval output", r["eval"]
        yield from r["final"].items()
    ref = dict(pairs(ref64))
    # PyTorch float32's error: the worst of its three batch orders.
    err32 = {}
    for r32 in ref32:
        for what, v in pairs(r32):
            err32[what] = max(err32.get(what, 0.0), rel_error(v, ref[what]))
    mine = dict(pairs({"losses": ours["losses"], "eval": ours.get("eval", []),
                       "final": ours["final"]}))
    for what, r64 in ref.items():
        a = mine.get(what, [])
        if len(a) != len(r64):
            rows.append((what + " (missing or wrong size)", math.inf, 0.0))
            continue
        rows.append((what, rel_error(a, r64), err32[what]))
    rows.sort(key=lambda r: -r[1])
    worst32 = max(r[2] for r in rows)
    return rows, rows[0][1] / max(worst32, FLOOR / RATIO), worst32


def families(case):
    fam = set()
    for line in case["spec"].splitlines():
        w = line.split()
        if not w or w[0] == "input" or w[0] == "end":
            continue
        if w[0] in ("conv2d", "convtranspose2d"):
            o = options(w[1:])[1]
            fam.add(w[0])
            if o.get("stride", "1") != "1":
                fam.add(w[0] + " strided")
            if o.get("dilation", "1") != "1":
                fam.add(w[0] + " dilated")
            if o.get("groups", "1") != "1":
                fam.add(w[0] + " grouped")
        elif w[0] == "upsample":
            fam.add("upsample " + options(w[1:])[1].get("mode", "nearest"))
        else:
            fam.add(w[0])
    fam.add("loss " + case["loss"] + (" smoothed" if case["label_smoothing"] else ""))
    fam.add("optim " + case["optim"]["type"])
    for k in ("clip_norm", "clip_value", "l1"):
        if case["optim"].get(k):
            fam.add("optim " + k)
    s = case["schedule"]
    fam.add("schedule " + (s["type"] + (" warmup" if "warmup" in s else "") if s else "none"))
    fam.add("%d step%s" % (case["nsteps"], "s" if case["nsteps"] > 1 else ""))
    return fam


def dropout_seeds(driver, cases):
    """Each case's dropout seeds, as clgrad's model of it draws them."""
    with tempfile.TemporaryDirectory() as tmp:
        cin, cout = os.path.join(tmp, "cases.json"), os.path.join(tmp, "seeds.json")
        with open(cin, "w") as f:
            json.dump([{k: c[k] for k in ("name", "spec", "batch", "seed")} for c in cases], f)
        run = subprocess.run([driver, "--dropout-seeds", cin, cout], capture_output=True,
                             text=True)
        if run.returncode != 0:
            sys.exit("torch_diff: diff_driver --dropout-seeds failed (%d):\n%s"
                     % (run.returncode, run.stderr))
        with open(cout) as f:
            return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", default=os.environ.get("CLGRAD_DIFF_DRIVER"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--case", type=int, default=None)
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    if os.environ.get("CLGRAD_DIFF_CASES"):  # the slower implementations' test setups
        args.cases = int(os.environ["CLGRAD_DIFF_CASES"])
    if not args.driver:
        print("torch_diff: give --driver BUILD/tests/diff_driver")
        return 2
    torch.set_num_threads(1)
    start = time.time()
    todo = [] if args.case is not None else regressions()
    for i in [args.case] if args.case is not None else range(args.cases):
        todo.append((random_case(random.Random(args.seed * 1000003 + i), i, args.seed), None))
    seeds = dropout_seeds(args.driver, [case for case, _ in todo])
    cases, refs, payload = [], [], []
    for (case, steps), case_seeds in zip(todo, seeds):
        def spec_model(spec=case["spec"], case_seeds=case_seeds):
            model = torch_model(spec)[0]
            drops = [m for m in model.modules() if isinstance(m, PhiloxDropout)]
            assert len(drops) == len(case_seeds), "dropout layers and seeds differ"
            for m, seed in zip(drops, case_seeds):
                m.seed = int(seed)
            return model

        torch.manual_seed(case["seed"])
        model, input_shape, tokens, out_shape = torch_model(case["spec"])
        init = {k: v.clone() for k, v in model.state_dict().items()}
        if steps is None:
            steps = make_data(case, model, input_shape, tokens, out_shape)
        ref64 = train_torch(case, init, steps, torch.float64, spec_model)
        ref32 = [train_torch(case, init, steps, torch.float32, spec_model, order)
                 for order in ("given", "reverse", "rotate")]
        cases.append(case)
        refs.append((ref64, ref32))
        payload.append({
            "name": case["name"], "spec": case["spec"], "loss": case["loss"],
            "label_smoothing": case["label_smoothing"], "batch": case["batch"],
            "seed": case["seed"], "optim": case["optim"], "schedule": case["schedule"],
            "init": {k: f32list(v) for k, v in init.items() if v.dtype == torch.float32},
            "steps": [{"batch": st["batch"], "x": f32list(st["x"]), "y": f32list(st["y"])}
                      for st in steps]})
    torch_seconds = time.time() - start
    with tempfile.TemporaryDirectory() as tmp:
        cin, cout = os.path.join(tmp, "cases.json"), os.path.join(tmp, "results.json")
        with open(cin, "w") as f:
            json.dump(payload, f, separators=(",", ":"))
        run = subprocess.run([args.driver, cin, cout], capture_output=True, text=True)
        if run.returncode != 0:
            print("torch_diff: diff_driver failed (%d):\n%s" % (run.returncode, run.stderr))
            return 1
        with open(cout) as f:
            results = json.load(f)
    failures, worst = 0, {}
    for case, (ref64, ref32), ours, sent in zip(cases, refs, results, payload):
        if "error" in ours:
            rows, ratio, worst32 = [("clgrad failed: " + ours["error"], math.inf, 0.0)], math.inf, 0.0
        else:
            rows, ratio, worst32 = compare(case, ours, ref64, ref32)
        top = rows[0]
        for fam in families(case):
            if ratio > worst.get(fam, (0, None))[0]:
                worst[fam] = (ratio, case["index"])
        if ratio > RATIO or not math.isfinite(top[1]):
            failures += 1
            print("FAIL %s: %s off by %.3g; PyTorch float32 off by %.3g at most (ratio %.3g)" % (
                case["name"], top[0], top[1], worst32, ratio))
            if case["index"] >= 0:
                print("  reproduce: tests/torch_diff.py --driver DRIVER --seed %d --case %d" % (
                    args.seed, case["index"]))
            print("  optimizer %s; schedule %s; loss %s%s; batch %d; %d steps; spec:" % (
                json.dumps(case["optim"]), json.dumps(case["schedule"]), case["loss"],
                " (label smoothing %g)" % case["label_smoothing"] if case["label_smoothing"] else "",
                case["batch"], case["nsteps"]))
            print("    " + case["spec"].strip().replace("\n", "\n    "))
            for r in rows[1:4]:
                print("  also %s off by %.3g, PyTorch float32 by %.3g" % r)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                with open(os.path.join(args.keep, "case-%d-%d.json" % (args.seed, case["index"])), "w") as f:
                    json.dump([sent], f)
    if args.report:
        print("largest error ratio (clgrad / PyTorch float32, against float64) per family:")
        for fam, (ratio, idx) in sorted(worst.items(), key=lambda kv: -kv[1][0]):
            print("  %-28s %8.3g  (case %d)" % (fam, ratio, idx))
    for case, (ref64, ref32), ours in zip(cases, refs, results):
        if case["index"] < 0 and "error" not in ours:
            rows, ratio, worst32 = compare(case, ours, ref64, ref32)
            print("regression '%s': clgrad off by %.3g (%s), PyTorch float32 by %.3g: "
                  "ratio %.3g" % (case["name"], rows[0][1], rows[0][0], worst32, ratio))
    print("torch_diff: %d cases of seed %d, %d failed (limit %gx PyTorch float32, floor %.2g); "
          "PyTorch %.1f s, all %.1f s" % (len(cases), args.seed, failures, RATIO, FLOOR,
                                          torch_seconds, time.time() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
