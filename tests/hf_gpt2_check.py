#!/usr/bin/env python3
"""clgrad's GPT-2 directories as transformers reads them: fine-tunes the
tests/fixtures/hf_gpt2 model with clgrad-train, saves it with --format hf,
and checks that GPT2LMHeadModel.from_pretrained() loads it with no missing
or unexpected keys, AutoTokenizer gives clgrad's ids, and transformers'
loss on the same windows equals clgrad-train --evaluate's.

usage: PYTHON tests/hf_gpt2_check.py BUILD/tools/clgrad-train
    with a Python that has transformers (tests/hf_gpt2_model.py says
    which); exit 77 (skipped) without one.
"""
import os
import re
import subprocess
import sys
import tempfile

try:
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel
except ImportError:
    print("hf_gpt2_check: this Python has no transformers: skipped")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    train = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as d:
        with open("/usr/share/games/fortunes/cookie", encoding="utf-8") as f:
            text = f.read()[:20000]
        with open(os.path.join(d, "c.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        run = lambda *a: subprocess.run([train] + list(a), cwd=d, capture_output=True,
                                        text=True, check=True).stdout
        run("--init-from", os.path.join(HERE, "fixtures", "hf_gpt2"), "--text", "c.txt",
            "--epochs", "2", "--batch-size", "8", "--optimizer", "adamw", "--lr", "0.002",
            "--quiet", "--save", "out", "--format", "hf")
        ours = float(re.search(r"test: loss ([0-9.]+)",
                               run("--evaluate", "out", "--test-text", "c.txt")).group(1))
        out = os.path.join(d, "out")
        m, info = GPT2LMHeadModel.from_pretrained(out, output_loading_info=True)
        bad = {k: v for k, v in info.items() if v}
        tok = AutoTokenizer.from_pretrained(out)
        ids = tok.encode(text)
        T = m.config.n_positions
        n = (len(ids) - 1) // T
        x = torch.tensor(ids[:n * T]).view(n, T)
        y = torch.tensor(ids[1:n * T + 1]).view(n, T)
        with torch.no_grad():
            theirs = torch.nn.functional.cross_entropy(
                m.eval()(x).logits.reshape(-1, m.config.vocab_size), y.reshape(-1)).item()
    print("clgrad %.4f, transformers %.4f over %d windows; loading info %s"
          % (ours, theirs, n, bad or "clean"))
    ok = not bad and abs(ours - theirs) <= 1e-3
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
