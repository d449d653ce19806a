#!/usr/bin/python3
"""Writes tests/fixtures/torch_ops.json: inputs, outputs and gradients of the
ops clgrad checks against PyTorch, computed by PyTorch (CPU, float32).

usage: /usr/bin/python3 tests/torch_reference.py [OUTPUT]
Needs python3-torch (Debian). The gradients are of L = sum(op(inputs) * R)
for a random R stored with the case, so every output element matters.
"""
import json
import sys

import torch
import torch.nn.functional as F

import activations

torch.manual_seed(20261127)


def rand(*shape, scale=1.0):
    return (torch.rand(*shape) * 2 - 1) * scale


def tensor_json(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float("%.9g" % v) for v in t.flatten().tolist()]}


def case(name, op, args, inputs, fn, grads=None):
    """inputs: ordered name -> tensor; grads: names whose gradient to store."""
    leaves = {}
    for k, v in inputs.items():
        leaves[k] = v.clone().requires_grad_(v.dtype == torch.float32 and k in (grads or []))
    out = fn(leaves)
    r = rand(*out.shape)
    (out * r).sum().backward()
    tensors = {k: tensor_json(v) for k, v in inputs.items()}
    tensors["R"] = tensor_json(r)
    tensors["out"] = tensor_json(out)
    for k in grads or []:
        tensors["grad_" + k] = tensor_json(leaves[k].grad)
    return {"name": name, "op": op, "args": args, "tensors": tensors,
            "inputs": list(inputs.keys()), "grads": list(grads or [])}


cases = []

x, w, b = rand(7, 13), rand(5, 13, scale=0.5), rand(5)
cases.append(case("linear", "linear", {}, {"x": x, "weight": w, "bias": b},
                  lambda t: F.linear(t["x"], t["weight"], t["bias"]), ["x", "weight", "bias"]))

for name, stride, pad, dil, bias in [("conv2d 3x3 pad 1", 1, 1, 1, True),
                                     ("conv2d stride 2 dilation 2", 2, 0, 2, False)]:
    x, w = rand(2, 3, 9, 9), rand(4, 3, 3, 3, scale=0.5)
    inputs = {"x": x, "weight": w}
    if bias:
        inputs["bias"] = rand(4)
    cases.append(case(name, "conv2d", {"stride": stride, "padding": pad, "dilation": dil},
                      inputs,
                      lambda t, s=stride, p=pad, d=dil: F.conv2d(
                          t["x"], t["weight"], t.get("bias"), stride=s, padding=p, dilation=d),
                      list(inputs.keys())))

for name, kind, k, s, p in [("max_pool2d 2", "max_pool2d", 2, 2, 0),
                            ("max_pool2d 3/2/1", "max_pool2d", 3, 2, 1),
                            ("avg_pool2d 3/2/1", "avg_pool2d", 3, 2, 1)]:
    x = rand(2, 3, 9, 9)
    fn = F.max_pool2d if kind == "max_pool2d" else F.avg_pool2d
    cases.append(case(name, kind, {"kernel": k, "stride": s, "padding": p}, {"x": x},
                      lambda t, f=fn, k=k, s=s, p=p: f(t["x"], k, s, p), ["x"]))

for name, shape in [("batch_norm 2d", (6, 4, 5, 5)), ("batch_norm 1d", (9, 7))]:
    C = shape[1]
    x, gamma, beta = rand(*shape), 1 + rand(C, scale=0.2), rand(C, scale=0.2)
    rm, rv = rand(C, scale=0.1), 1 + rand(C, scale=0.1)
    rm_after, rv_after = rm.clone(), rv.clone()

    def bn(t, rm_after=rm_after, rv_after=rv_after):
        return F.batch_norm(t["x"], rm_after, rv_after, t["weight"], t["bias"],
                            training=True, momentum=0.1, eps=1e-5)
    c = case(name, "batch_norm", {"momentum": 0.1, "eps": 1e-5},
             {"x": x, "weight": gamma, "bias": beta, "running_mean": rm, "running_var": rv},
             bn, ["x", "weight", "bias"])
    # After the training step: the updated statistics, and evaluation with them.
    c["tensors"]["running_mean_after"] = tensor_json(rm_after)
    c["tensors"]["running_var_after"] = tensor_json(rv_after)
    c["tensors"]["eval_out"] = tensor_json(
        F.batch_norm(x, rm_after, rv_after, gamma, beta, training=False, eps=1e-5))
    cases.append(c)

# Every row of activations.h, its number (where it has one) away from the
# default, then the softmaxes.
for row in activations.rows():
    a = 3 * row.default if row.nargs else None
    f = activations.Act(row, a)
    cases.append(case(row.fn, row.fn, {"a": a} if row.nargs else {}, {"x": rand(7, 13, scale=3.0)},
                      lambda t, f=f: f(t["x"]), ["x"]))
for act, fn in [("softmax", lambda v: F.softmax(v, dim=1)),
                ("log_softmax", lambda v: F.log_softmax(v, dim=1))]:
    x = rand(7, 13, scale=3.0)
    cases.append(case(act, act, {}, {"x": x}, lambda t, f=fn: f(t["x"]), ["x"]))

logits = rand(7, 13, scale=3.0)
labels = torch.randint(0, 13, (7,), dtype=torch.int32)
for smoothing, reduction in [(0.0, "mean"), (0.1, "mean"), (0.0, "sum")]:
    cases.append(case("cross_entropy %s smoothing %g" % (reduction, smoothing),
                      "cross_entropy", {"label_smoothing": smoothing, "reduction": reduction},
                      {"x": logits, "labels": labels},
                      lambda t, s=smoothing, r=reduction: F.cross_entropy(
                          t["x"], t["labels"].long(), label_smoothing=s, reduction=r).reshape(1),
                      ["x"]))

pred, target = rand(7, 13), torch.rand(7, 13)
for op, fn in [("mse_loss", F.mse_loss), ("l1_loss", F.l1_loss),
               ("bce_with_logits", F.binary_cross_entropy_with_logits)]:
    for reduction in ["mean", "sum"]:
        cases.append(case("%s %s" % (op, reduction), op, {"reduction": reduction},
                          {"x": pred, "target": target},
                          lambda t, f=fn, r=reduction: f(t["x"], t["target"], reduction=r).reshape(1),
                          ["x"]))

# The text ops: over the last dim of [N, T, C], attention as GPT-2 computes it.
x, gamma, beta = rand(3, 5, 12), 1 + rand(12, scale=0.2), rand(12, scale=0.2)
cases.append(case("layer_norm", "layer_norm", {"eps": 1e-5},
                  {"x": x, "weight": gamma, "bias": beta},
                  lambda t: F.layer_norm(t["x"], (12,), t["weight"], t["bias"], 1e-5),
                  ["x", "weight", "bias"]))
cases.append(case("gelu tanh", "gelu_tanh", {}, {"x": rand(7, 13, scale=3.0)},
                  lambda t: F.gelu(t["x"], approximate="tanh"), ["x"]))
cases.append(case("matmul a b^T", "matmul", {"trans_b": 1},
                  {"x": rand(2, 3, 5, 4), "x2": rand(2, 3, 6, 4)},
                  lambda t: t["x"] @ t["x2"].transpose(-2, -1), ["x", "x2"]))
scores = rand(2, 3, 6, 6, scale=3.0)
cases.append(case("causal softmax", "causal_softmax", {"scale": 0.5}, {"x": scores},
                  lambda t: (t["x"] * 0.5).masked_fill(
                      torch.triu(torch.ones(6, 6, dtype=torch.bool), 1),
                      float("-inf")).softmax(-1), ["x"]))


def attention(qkv, heads):
    B, T, C3 = qkv.shape
    C = C3 // 3
    q, k, v = (t.view(B, T, heads, C // heads).transpose(1, 2) for t in qkv.split(C, 2))
    a = (q @ k.transpose(-2, -1)) / (C // heads) ** 0.5
    a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    return (a.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)


cases.append(case("causal attention 4 heads", "causal_attention", {"heads": 4},
                  {"x": rand(2, 7, 24)}, lambda t: attention(t["x"], 4), ["x"]))
logits3, labels3 = rand(3, 5, 11, scale=3.0), torch.randint(0, 11, (3, 5), dtype=torch.int32)
cases.append(case("cross_entropy over [N, T, C]", "cross_entropy",
                  {"label_smoothing": 0.0, "reduction": "mean"},
                  {"x": logits3, "labels": labels3},
                  lambda t: F.cross_entropy(t["x"].reshape(-1, 11),
                                            t["labels"].long().reshape(-1)).reshape(1),
                  ["x"]))

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_ops.json"
with open(out, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print("wrote %d cases to %s" % (len(cases), out))
