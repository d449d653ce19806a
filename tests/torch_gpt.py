#!/usr/bin/python3
"""Writes the issue's reference GPT (T = 16, d = 32, h = 4, V = 50) as
PyTorch builds it, for test_gpt to rebuild from tests/fixtures/torch_gpt.spec
(and the same with its output layer tied to the token embedding, as GPT-2's
lm_head: torch_gpt_tied.*):
its initial state_dict (torch_gpt_init.safetensors), 20 AdamW steps on fixed
windows of tokens (inputs, targets and the loss before each step in
torch_gpt.json), and the state_dict after them (torch_gpt_final.safetensors;
the same steps in float64, rounded to float32: torch_gpt_final64).

AdamW as nanoGPT configures it: lr 3e-3, betas (0.9, 0.95), weight decay 0.1
on the 2-d weights only (clgrad: decay_biases = false). Float32 throughout,
as clgrad computes; the float64 losses beside show PyTorch float32's own
error.

usage: /usr/bin/python3 tests/torch_gpt.py   (needs python3-torch)
"""
import json
import math
import os

import torch
import torch.nn as nn


V, T, D, H, B, STEPS = 50, 16, 32, 4, 4, 20


class TokPos(nn.Module):
    def __init__(self, vocab, ctx, d):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)

    def forward(self, idx):
        return self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))


class Attention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        a = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.h)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), 1)
        a = a.masked_fill(mask, float("-inf"))
        y = a.softmax(-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), Attention(d, h)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


def model(tied=False):
    """The reference GPT; tied: its output layer is the token embedding
    (GPT-2's lm_head: no bias, wte's weight)."""
    m = nn.Sequential(TokPos(V, T, D), Block(D, H), Block(D, H), nn.LayerNorm(D),
                      nn.Linear(D, V, bias=not tied))
    if tied:
        m[4].weight = m[0].wte.weight
    return m


SPEC = f"""# The reference GPT of tests/torch_gpt.py
input tokens {T}
tokpos {V} {D}
block {D} {H}
block {D} {H}
layernorm
linear {V}{{tie}}
"""


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "fixtures")
    write(out, "torch_gpt", tied=False)
    write(out, "torch_gpt_tied", tied=True)


def write(out, base, tied):
    """base.spec, base.json and base_{init,final,final64}.safetensors."""
    from torch_checkpoint import save_safetensors  # here: clgrad-bench imports the modules
    torch.manual_seed(14)
    m = model(tied)
    if tied:  # GPT-2's N(0, 0.02): N(0, 1) as output weights gives logits of 20
        with torch.no_grad():
            m[0].wte.weight.normal_(0.0, 0.02)
    # LayerNorm starts at 1 and 0, which hides a swapped weight and bias:
    # perturb them so that the fixture tells them apart.
    with torch.no_grad():
        for name, p in m.named_parameters():
            if ".ln_" in name or name.startswith("3."):
                p.add_(0.1 * torch.randn_like(p))
    m64 = model(tied).double()
    m64.load_state_dict(m.state_dict())
    save_safetensors(state(m), os.path.join(out, base + "_init.safetensors"))
    # Text-like windows: a noisy walk over the vocabulary, so that the next
    # token depends on the ones before it.
    text = torch.cumsum(torch.randint(-2, 3, (STEPS * B * (T + 1),)), 0) % V
    windows = text.view(STEPS, B, T + 1)
    decay = [p for p in m.parameters() if p.dim() >= 2]
    rest = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    decay64 = [p for p in m64.parameters() if p.dim() >= 2]
    rest64 = [p for p in m64.parameters() if p.dim() < 2]
    opt64 = torch.optim.AdamW([{"params": decay64, "weight_decay": 0.1},
                               {"params": rest64, "weight_decay": 0.0}],
                              lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    losses, losses64 = [], []
    for s in range(STEPS):
        x, y = windows[s, :, :T], windows[s, :, 1:]
        for net, o, record in ((m, opt, losses), (m64, opt64, losses64)):
            loss = nn.functional.cross_entropy(net(x).view(-1, V), y.reshape(-1))
            record.append(loss.item())
            o.zero_grad()
            loss.backward()
            o.step()
    # PyTorch float32's own distance from float64 after the same steps: the
    # scale against which clgrad's distance from PyTorch is judged.
    drift = max((a - b.float()).abs().max().item()
                for a, b in zip(m.state_dict().values(), m64.state_dict().values()))
    save_safetensors(state(m), os.path.join(out, base + "_final.safetensors"))
    save_safetensors({k: v.float() for k, v in state(m64).items()},
                     os.path.join(out, base + "_final64.safetensors"))
    with open(os.path.join(out, base + ".spec"), "w") as f:
        f.write(SPEC.replace("{tie}", " bias=false tie=true" if tied else ""))
    with open(os.path.join(out, base + ".json"), "w") as f:
        json.dump({"torch": torch.__version__, "batch": B, "steps": STEPS,
                   "lr": 3e-3, "beta1": 0.9, "beta2": 0.95, "weight_decay": 0.1,
                   "eps": 1e-8, "windows": windows.tolist(), "losses": losses,
                   "first_loss_float64": losses64[0],
                   "float32_weight_drift": drift}, f)
    print(base, "first loss", losses[0], "float64", losses64[0], "last", losses[-1],
          "float32 - float64 weights after the steps:", drift)


def state(m):
    """The state_dict with a tied output layer's weight once, as wte."""
    d = m.state_dict()
    if m[4].weight is m[0].wte.weight:
        del d["4.weight"]
    return d


if __name__ == "__main__":
    main()
