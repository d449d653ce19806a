#!/usr/bin/env python3
"""Writes the GPT-2 tokenizer fixtures of test_text: a byte-level BPE of 2,000
ids learned on the fortunes (Debian's fortunes-min and fortunes packages) by
Hugging Face's tokenizers, saved by transformers' GPT2TokenizerFast as
save_pretrained() writes it (tests/fixtures/gpt2_tokenizer/), and the ids
GPT2TokenizerFast gives (tests/fixtures/gpt2_tokenizer_ids.json): whole for
a Unicode stress text, and for each fortunes file its count, the first 64
and the FNV-1a hash of all (int32 little-endian).

usage: VENV/bin/python tests/hf_gpt2_tokenizer.py
    (a virtual environment with transformers and tokenizers from PyPI;
    torch is not needed)
"""
import glob
import json
import os
import struct

from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "gpt2_tokenizer")
FORTUNES = "/usr/share/games/fortunes"

# Every kind of text the pattern tells apart: contractions (lower case
# only), letters, numbers, other symbols, whitespace runs before a word and
# at the end, CRLF, tabs, Unicode letters and numbers of many scripts, marks,
# emoji sequences, the White_Space characters (and the ones that are not:
# U+180E, U+200B, 0x1C-0x1F), the special token inside words.
STRESS = [
    "Hello world! It's 2026; they'll say we'd've done 12345678 things.",
    "DON'T SHOUT'S 'quoted' 'll 's",
    "  two spaces,   three,\tand a tab\t\tend  \n\n  trailing   ",
    "line one\r\nline two\r\n\r\nCRLF\r",
    "caf\u00e9 na\u00efve \u00fcber r\u00e9sum\u00e9 \u00c5ngstr\u00f6m e\u0301 (combining)",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \u4e2d\u6587 \ud55c\uad6d\uc5b4",
    "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "emoji \U0001F600\U0001F44D\U0001F3FD \U0001F468\u200d\U0001F469\u200d\U0001F467 \u2764\ufe0f flags \U0001F1EB\U0001F1F7",
    "digits \u0661\u0662\u0663 \u00bd \u2167 \u2460 x\u00b2 3.14159 1,000,000 0x1F",
    "spaces:\u00a0nbsp\u2003em\u3000ideo\u2028ls\u2029ps\u0085nel\u180emvs\u200bzwsp",
    "ctl:\x1c\x1d\x1e\x1f\x0b\x0c end",
    "before<|endoftext|>after <|endoftext|> spaced<|endoftext|><|endoftext|>",
    "symbols: @#$%^&*()_+-=[]{}|;':\",./<>?`~ \u00a9\u00ae\u2122 \u2014 \u2026",
    "   ",
    "",
    "a",
    "\n",
    "mixedCASE camelCase snake_case kebab-case SCREAMING_CASE",
]


def fnv1a(ids):
    h = 0xCBF29CE484222325
    for b in struct.pack("<%di" % len(ids), *ids):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def fortune_files():
    return sorted(p for p in glob.glob(os.path.join(FORTUNES, "*"))
                  if not p.endswith(".dat") and not os.path.islink(p)
                  and os.path.isfile(p))


def main():
    files = fortune_files()
    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train(files, vocab_size=2000, min_frequency=2, special_tokens=["<|endoftext|>"],
              show_progress=False)
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    bpe.save_model(OUT)  # vocab.json, merges.txt: GPT-2's own two files
    tok = GPT2TokenizerFast.from_pretrained(OUT)
    tok.save_pretrained(OUT)  # adds tokenizer.json and tokenizer_config.json
    tok = GPT2TokenizerFast.from_pretrained(OUT)
    assert len(tok) == 2000 and tok.encode("<|endoftext|>") == [0]
    ref = {"stress": [], "fortunes": []}
    for text in STRESS:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        ref["stress"].append({"text": text, "ids": ids})
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        ids = tok.encode(text)
        ref["fortunes"].append({"file": os.path.basename(path), "count": len(ids),
                                "first": ids[:64], "fnv1a": fnv1a(ids)})
    with open(os.path.join(HERE, "fixtures", "gpt2_tokenizer_ids.json"), "w") as f:
        json.dump(ref, f, ensure_ascii=True, indent=0)
    print("%d ids, %d merges; %d fortunes files, %d ids" % (
        len(tok), sum(1 for _ in open(os.path.join(OUT, "merges.txt"))) - 1, len(files),
        sum(e["count"] for e in ref["fortunes"])))


if __name__ == "__main__":
    main()
