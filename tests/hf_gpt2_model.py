#!/usr/bin/env python3
"""Writes the Hugging Face GPT-2 fixture of test_gpt: a GPT2LMHeadModel of
random weights (2 layers, n_embd 32, 4 heads, 16 positions, the 2,000 ids of
tests/fixtures/gpt2_tokenizer, dropout 0, tied embeddings) as
save_pretrained() writes it, with its tokenizer (tests/fixtures/hf_gpt2/);
and what PyTorch computes on windows of the fortunes encoded by its
tokenizer (hf_gpt2.json: the ids, the loss before each of 10 AdamW steps in
float32 and float64; hf_gpt2_ref.safetensors: the logits of the first
window's first two positions and every weight after the steps, in float32
and in float64 rounded to float32, under clgrad's names).

usage: VENV/bin/python tests/hf_gpt2_model.py
    (a venv with --system-site-packages over Debian's python3-torch 1.13,
    and transformers 4.40.2 and tokenizers 0.19.1 from PyPI)
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "hf_gpt2")
B, T, STEPS, LR = 4, 16, 10, 3e-3


def clgrad_names(sd, n_layer):
    """GPT-2's state_dict under clgrad's names, Conv1D weights transposed."""
    out = {"0.wte.weight": sd["transformer.wte.weight"],
           "0.wpe.weight": sd["transformer.wpe.weight"],
           "%d.weight" % (n_layer + 1): sd["transformer.ln_f.weight"],
           "%d.bias" % (n_layer + 1): sd["transformer.ln_f.bias"]}
    pairs = [("ln_1", "ln_1", False), ("attn.c_attn", "attn.c_attn", True),
             ("attn.c_proj", "attn.c_proj", True), ("ln_2", "ln_2", False),
             ("mlp.c_fc", "mlp.0", True), ("mlp.c_proj", "mlp.2", True)]
    for i in range(n_layer):
        for hf, ours, t in pairs:
            w = sd["transformer.h.%d.%s.weight" % (i, hf)]
            out["%d.%s.weight" % (i + 1, ours)] = w.t() if t else w
            out["%d.%s.bias" % (i + 1, ours)] = sd["transformer.h.%d.%s.bias" % (i, hf)]
    return {k: v.detach().float().contiguous() for k, v in out.items()}


def main():
    src = os.path.join(HERE, "fixtures", "gpt2_tokenizer")  # its two files: the
    tok = GPT2TokenizerFast(vocab_file=os.path.join(src, "vocab.json"),  # tokenizer.json
                            merges_file=os.path.join(src, "merges.txt"))  # is newer
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=T, vocab_size=len(tok),
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=0, eos_token_id=0)
    torch.manual_seed(26)
    m = GPT2LMHeadModel(config)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    m.save_pretrained(OUT)
    tok.save_pretrained(OUT)
    with open("/usr/share/games/fortunes/cookie", encoding="utf-8") as f:
        ids = tok.encode(f.read()[:20000])
    windows = torch.tensor(ids[:STEPS * B * (T + 1)]).view(STEPS, B, T + 1)
    m64 = GPT2LMHeadModel(config).double()
    m64.load_state_dict(m.state_dict())
    runs = {}
    for name, net in (("32", m), ("64", m64)):
        opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.0)
        losses, logits = [], None
        for s in range(STEPS):
            x, y = windows[s, :, :T], windows[s, :, 1:]
            out = net(x).logits
            if s == 0:
                logits = out[0, :2].detach()
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, len(tok)),
                                                     y.reshape(-1))
            losses.append(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
        runs[name] = (losses, logits, clgrad_names(net.state_dict(), config.n_layer))
    ref = {"logits32": runs["32"][1].float().contiguous(),
           "logits64": runs["64"][1].float().contiguous()}
    for k, v in runs["32"][2].items():
        ref["final32." + k] = v
    for k, v in runs["64"][2].items():
        ref["final64." + k] = v
    save_file(ref, os.path.join(HERE, "fixtures", "hf_gpt2_ref.safetensors"))
    with open(os.path.join(HERE, "fixtures", "hf_gpt2.json"), "w") as f:
        json.dump({"batch": B, "context": T, "steps": STEPS, "lr": LR,
                   "windows": windows.tolist(), "losses32": runs["32"][0],
                   "losses64": runs["64"][0],
                   "logits_err32": (runs["32"][1].double() - runs["64"][1]).abs().max().item()},
                  f)
    print("losses", runs["32"][0][0], runs["64"][0][0], "->", runs["32"][0][-1])


if __name__ == "__main__":
    main()
