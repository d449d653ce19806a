#!/usr/bin/python3
"""Writes tests/fixtures/torch_optim.json: 20 training steps of an MLP and of a
CNN with batch norm under each torch.optim optimizer (momentum, Nesterov,
weight decay, clipping, schedules), from fixed initial weights and batches:
the loss of every step and the final state_dict.

usage: /usr/bin/python3 tests/torch_optim.py [OUTPUT]
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(4242)
STEPS, BATCH, CLASSES = 20, 8, 5


def flat(t):
    return [float("%.9g" % v) for v in t.detach().flatten().tolist()]


def mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(),
                         nn.Linear(16, CLASSES))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, CLASSES))


CONFIGS = [
    ("sgd", dict(type="sgd", lr=0.1)),
    ("sgd momentum dampening", dict(type="sgd", lr=0.05, momentum=0.9, dampening=0.1)),
    ("sgd nesterov weight decay", dict(type="sgd", lr=0.05, momentum=0.9, nesterov=True,
                                       weight_decay=1e-3)),
    ("sgd momentum step schedule clip value", dict(type="sgd", lr=0.1, momentum=0.5,
                                                   schedule="step", clip_value=0.05)),
    ("adam", dict(type="adam", lr=1e-2)),
    ("adam weight decay clip norm", dict(type="adam", lr=1e-2, weight_decay=1e-2,
                                         clip_norm=0.5)),
    ("adam cosine", dict(type="adam", lr=2e-2, betas=(0.8, 0.99), schedule="cosine")),
    ("adamw", dict(type="adamw", lr=1e-2, weight_decay=0.05)),
    ("adamw onecycle", dict(type="adamw", lr=1e-2, weight_decay=0.01, schedule="onecycle")),
    ("rmsprop", dict(type="rmsprop", lr=1e-2)),
    ("rmsprop centered momentum", dict(type="rmsprop", lr=5e-3, alpha=0.9, centered=True,
                                       momentum=0.5, weight_decay=1e-3)),
    ("adagrad", dict(type="adagrad", lr=0.1, lr_decay=0.01, weight_decay=1e-3)),
]


def make_optimizer(params, c):
    t = c["type"]
    if t == "sgd":
        return torch.optim.SGD(params, lr=c["lr"], momentum=c.get("momentum", 0),
                               dampening=c.get("dampening", 0),
                               nesterov=c.get("nesterov", False),
                               weight_decay=c.get("weight_decay", 0))
    if t in ("adam", "adamw"):
        cls = torch.optim.Adam if t == "adam" else torch.optim.AdamW
        return cls(params, lr=c["lr"], betas=c.get("betas", (0.9, 0.999)),
                   weight_decay=c.get("weight_decay", 0 if t == "adam" else 0.01))
    if t == "rmsprop":
        return torch.optim.RMSprop(params, lr=c["lr"], alpha=c.get("alpha", 0.99),
                                   momentum=c.get("momentum", 0),
                                   centered=c.get("centered", False),
                                   weight_decay=c.get("weight_decay", 0))
    return torch.optim.Adagrad(params, lr=c["lr"], lr_decay=c.get("lr_decay", 0),
                               weight_decay=c.get("weight_decay", 0))


def make_schedule(opt, c):
    s = c.get("schedule")
    if s == "step":  # stepped once per training step, as an 'epoch'
        return torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS, eta_min=1e-3)
    if s == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=c["lr"], total_steps=STEPS,
                                                   cycle_momentum=False)
    return None


def run(model_fn, inputs, labels, init, c):
    model = model_fn()
    model.load_state_dict(init)
    opt = make_optimizer(model.parameters(), c)
    sched = make_schedule(opt, c)
    losses = []
    for k in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(inputs[k]), labels[k])
        loss.backward()
        if c.get("clip_norm"):
            nn.utils.clip_grad_norm_(model.parameters(), c["clip_norm"])
        if c.get("clip_value"):
            nn.utils.clip_grad_value_(model.parameters(), c["clip_value"])
        opt.step()
        if sched:
            sched.step()
        losses.append(float(loss))
    state = {k: flat(v) for k, v in model.state_dict().items() if v.dtype == torch.float32}
    return {"losses": losses, "final": state}


models = []
for name, fn, shape in [("mlp", mlp, (20,)), ("cnn", cnn, (1, 8, 8))]:
    init_model = fn()
    init = {k: v.clone() for k, v in init_model.state_dict().items()}
    inputs = [torch.rand(BATCH, *shape) * 2 - 1 for _ in range(STEPS)]
    labels = [torch.randint(0, CLASSES, (BATCH,)) for _ in range(STEPS)]
    entry = {"name": name,
             "init": {k: {"shape": list(v.shape), "data": flat(v)}
                      for k, v in init.items() if v.dtype == torch.float32},
             "inputs": [flat(x) for x in inputs],
             "labels": [l.tolist() for l in labels],
             "runs": []}
    for cname, c in CONFIGS:
        r = run(fn, inputs, labels, init, c)
        r["name"], r["config"] = cname, c
        entry["runs"].append(r)
    models.append(entry)

def lrs(make, n=30, metrics=None):
    """The learning rate of epochs 0..n-1 under a torch scheduler."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make(opt)
    out = []
    for e in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if metrics is not None:
            sched.step(metrics[e])
        else:
            sched.step()
    return out


S = torch.optim.lr_scheduler
plateau_losses = [1.0, 0.9, 0.95, 0.92, 0.91, 0.9, 0.89, 0.95, 0.96, 0.97, 0.98, 0.99] * 3
schedules = [
    {"name": "step", "lrs": lrs(lambda o: S.StepLR(o, step_size=10, gamma=0.5))},
    {"name": "multistep", "lrs": lrs(lambda o: S.MultiStepLR(o, milestones=[3, 7], gamma=0.1))},
    {"name": "exp", "lrs": lrs(lambda o: S.ExponentialLR(o, gamma=0.9))},
    {"name": "cosine", "lrs": lrs(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.01))},
    {"name": "onecycle", "lrs": lrs(lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=30,
                                                           cycle_momentum=False))},
    {"name": "plateau", "losses": plateau_losses,
     "lrs": lrs(lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1),
                metrics=plateau_losses)},
    {"name": "warmup+step", "lrs": lrs(lambda o: S.ChainedScheduler(
        [S.LinearLR(o, start_factor=1.0 / 3, total_iters=4), S.StepLR(o, 10, 0.5)]))},
]

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_optim.json"
with open(out, "w") as f:
    json.dump({"torch_version": torch.__version__, "steps": STEPS, "batch": BATCH,
               "models": models, "schedules": schedules}, f, separators=(",", ":"))
print("wrote %s" % out)
