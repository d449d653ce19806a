"""Datasets: numpy arrays, IDX and CSV files, Fashion-MNIST, text windows."""
import os

import numpy as np

from . import _core
from ._core import UsageError


def _as_float32(x, what):
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise UsageError("%s: dtype %s is not a number type (give float32 values)"
                         % (what, x.dtype))
    return np.ascontiguousarray(x, dtype=np.float32)


def _as_labels(y, count, what):
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise UsageError("%s: labels must be whole numbers (class indices)" % what)
    elif y.dtype.kind not in "iu":
        raise UsageError("%s: dtype %s is not an integer type (give class indices)"
                         % (what, y.dtype))
    if y.ndim != 1 or y.shape[0] != count:
        raise UsageError("%s: expected %d labels in one dimension, got shape %s"
                         % (what, count, y.shape))
    if y.size and (y.min() < 0 or y.max() > 2**31 - 1):
        bad = int(np.argmax((y < 0) | (y > 2**31 - 1)))
        raise UsageError("%s: label %s of sample %d is out of range" % (what, y[bad], bad))
    return np.ascontiguousarray(y, dtype=np.int32)


class Dataset:
    """Samples (and labels) in host memory, as clgrad's loader reads them.

    Build one with Dataset.from_arrays(x, y), Dataset.idx(images, labels),
    Dataset.images(folder, shape), Dataset.csv(path, label_column),
    Dataset.fashion_mnist(train) or Dataset.text(text, tokenizer, context). Model.fit, evaluate and predict
    take a Dataset or numpy arrays.
    """

    def __init__(self, core):
        self._core = core

    @classmethod
    def from_arrays(cls, x, y=None, *, sample_shape=None):
        """x: [N, ...] numbers (float32 as the model takes them); y: [N]
        integer class labels, or None."""
        x = _as_float32(x, "x")
        if x.ndim < 2:
            raise UsageError("x: expected [N, features] or [N, C, H, W], got shape %s"
                             % (x.shape,))
        shape = tuple(sample_shape or x.shape[1:])
        if int(np.prod(shape)) != int(np.prod(x.shape[1:])) or len(shape) > 3:
            raise UsageError("x: samples of shape %s do not fit %s" % (x.shape[1:], shape))
        labels = None if y is None else _as_labels(y, x.shape[0], "y")
        return cls(_core.Dataset.from_arrays(x, labels, x.shape[0], list(shape)))

    @classmethod
    def idx(cls, images, labels=None):
        """IDX files (MNIST's format), plain or gzip'd; bytes scaled to [0, 1]."""
        return cls(_core.Dataset.idx(os.fspath(images),
                                     None if labels is None else os.fspath(labels)))

    @classmethod
    def fashion_mnist(cls, train=True, directory=None):
        """Debian's dataset-fashion-mnist (or IDX files in `directory`)."""
        return cls(_core.Dataset.fashion_mnist(bool(train), directory))

    @classmethod
    def images(cls, directory, shape, resize=None, memory_limit=2 << 30):
        """An image folder as torchvision's ImageFolder reads it (a folder
        of PNG and JPEG files per class, sorted), as samples of `shape`
        (C, H, W: C 1 or 3); images of another size resized ("bilinear",
        antialias off) or centre-cropped ("crop"), else refused. Decoded now
        when the images take at most memory_limit bytes (None: no limit),
        else as training wants them, that many bytes of them kept."""
        c, h, w = shape
        return cls(_core.Dataset.images(os.fspath(directory), int(c), int(h), int(w),
                                        resize or "none", int(memory_limit or 0)))

    @classmethod
    def csv(cls, path, label_column=None, header=None):
        """A CSV file: numeric feature columns and a label column (None: the
        last; an index; or a header name); header None guesses."""
        return cls(_core.Dataset.csv(os.fspath(path), label_column, header))

    @classmethod
    def text(cls, text, tokenizer, context, vocab=None):
        """Next-token windows of `context` tokens of a text (a str, or a
        path to a UTF-8 file), as clgrad-train --text cuts them."""
        if isinstance(text, os.PathLike) or (isinstance(text, str) and "\n" not in text
                                             and os.path.isfile(text)):
            with open(text, encoding="utf-8") as f:
                text = f.read()
        ids = np.frombuffer(tokenizer._core.encode(text), dtype=np.int32)
        return cls(_core.Dataset.windows(ids, int(context),
                                         int(vocab or tokenizer.vocab_size)))

    def normalize(self, normalization=None):
        """Normalises the samples in place, per channel: with None by their
        own mean and standard deviation (clgrad-train --normalize auto),
        else by a normalisation another dataset returned (the training
        set's, for its test set). Returns the normalisation, as text."""
        return self._core.normalize(normalization)

    def split(self, fraction, seed=0):
        """Moves `fraction` of the samples into a new Dataset (returned), as
        clgrad-train --val-split does."""
        return Dataset(self._core.split(float(fraction), int(seed)))

    def arrays(self):
        """(x, y): the samples as float32 [N, ...] and the labels as int32
        (None without labels)."""
        x, y, shape, per = self._core.arrays()
        n = len(self)
        x = np.frombuffer(x, dtype=np.float32).reshape((n,) + tuple(shape)).copy()
        if y is not None:
            y = np.frombuffer(y, dtype=np.int32).reshape((n, per) if per > 1 else (n,)).copy()
        return x, y

    def __len__(self):
        return self._core.count

    @property
    def classes(self):
        """1 + the largest label."""
        return self._core.classes

    def __repr__(self):
        return "clgrad.Dataset(%d samples, %d classes)" % (len(self), self.classes)
