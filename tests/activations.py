"""The activations of include/clgrad/activations.h, read from its rows, and
the PyTorch function each is checked against (torch_reference.py writes the
fixtures of every row, torch_diff.py draws every row into its models).

A row without a function in TORCH fails both, naming it: a new activation is
its row, its formula in cl/elementwise.cl, and its references here and in
tests/reference.c.
"""
import collections
import os
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include",
                      "clgrad", "activations.h")

# PyTorch's function of each row, by the row's fn (the op's name): f(x, a)
# where the row has a number, f(x) where not.
TORCH = {
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
}

Activation = collections.namedtuple("Activation", "fn name nargs arg default option")

_ROW = re.compile(r'X\(Y, (\w+), (\w+), "(\w+)", (\d+), (\d+), ([01]), "(\w*)", '
                  r'([-+\d.eE]+)f, (NULL|"\w+")\)')


def rows():
    """Every row of the list, in its order."""
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    found = [Activation(m.group(2), m.group(3), int(m.group(6)), m.group(7),
                        float(m.group(8)), None if m.group(9) == "NULL" else m.group(9)[1:-1])
             for m in _ROW.finditer(text)]
    if not found:
        raise ValueError("%s: no rows found (has the row format changed?)" % HEADER)
    return found


def reference(fn):
    """PyTorch's function for the row named fn."""
    if fn not in TORCH:
        raise KeyError("activation '%s' of activations.h has no PyTorch reference in "
                       "tests/activations.py" % fn)
    return TORCH[fn]


def by_name(name):
    """The row a spec line names ("leakyrelu"), or None."""
    return next((r for r in rows() if r.name == name), None)


class Act(nn.Module):
    """A row as a module without parameters: F.fn(x[, a][, approximate])."""

    def __init__(self, row, a=None, approximate=None):
        super().__init__()
        self.f, self.row = reference(row.fn), row
        self.a = row.default if a is None else a
        self.approximate = approximate

    def forward(self, x):
        if self.approximate is not None:
            return self.f(x, approximate=self.approximate)
        return self.f(x, self.a) if self.row.nargs else self.f(x)
