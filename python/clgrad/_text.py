"""Tokenizers: char, byte, BPE and GPT-2's byte-level BPE."""
import os

import numpy as np

from . import _core


class Tokenizer:
    """A clgrad tokenizer. Tokenizer.train(kind, text) learns one as
    clgrad-train --tokenizer does (kind: "char", "byte", "bpe" with merges,
    "gpt2" with merges: GPT-2's byte-level BPE); Tokenizer.load(path) reads
    a file clgrad saved or a Hugging Face GPT-2 directory."""

    def __init__(self, core):
        self._core = core

    @classmethod
    def train(cls, kind, text, merges=0):
        return cls(_core.Tokenizer.train(kind, text, int(merges), True))

    @classmethod
    def load(cls, path):
        path = os.fspath(path)
        return cls(_core.Tokenizer.load(path, os.path.isdir(path)))

    @classmethod
    def from_string(cls, text, source="tokenizer"):
        return cls(_core.Tokenizer.from_string(text, source))

    def encode(self, text):
        """The ids of `text`, as an int32 array."""
        return np.frombuffer(self._core.encode(text), dtype=np.int32).copy()

    def decode(self, ids):
        """The text of `ids` (bytes that end inside a character: U+FFFD)."""
        return self._core.decode(np.ascontiguousarray(ids, dtype=np.int32))

    def save(self, path, gpt2=False):
        """clgrad's tokenizer file, or with gpt2=True a Hugging Face directory's
        vocab.json and merges.txt."""
        self._core.save(os.fspath(path), bool(gpt2))

    @property
    def vocab_size(self):
        return self._core.vocab_size

    @property
    def kind(self):
        return self._core.type

    def __repr__(self):
        return "clgrad.Tokenizer(%s, %d ids)" % (self.kind, self.vocab_size)
