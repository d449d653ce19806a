"""clgrad.Model: a model spec (or a checkpoint) compiled on a device, trained
Keras-style with fit(), its weights as PyTorch state dicts."""
from __future__ import annotations

import collections
import os
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np

from . import _core
from ._core import UsageError
from ._data import Dataset, _as_float32, _as_labels
from ._progress import Progress
from ._text import Tokenizer


class History:
    """What fit() returns: per-epoch metrics as lists, as Keras's History
    (history["loss"], ["accuracy"], ["val_loss"], ["val_accuracy"], ["lr"],
    ["seconds"]), and the run's report."""

    def __init__(self, report):
        epochs = report["history"]
        self.epochs = [e["epoch"] for e in epochs]
        keys = ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                "samples_per_second"]
        self.history = {k: [e[k] for e in epochs] for k in keys}
        self.stopped_early = report["stopped_early"]
        self.best_epoch = report["best_epoch"]
        self.steps = report["steps"]

    def __repr__(self):
        last = {k: v[-1] for k, v in self.history.items() if v}
        return "clgrad.History(%d epochs, last %s)" % (len(self.epochs), last)


def _context(context, device):
    if context is not None and device is not None:
        raise UsageError("give context or device, not both")
    return context if context is not None else _core.Context(device)


class Model:
    """A clgrad model on one device. Make one with Model.from_spec (a spec
    file or its text, as clgrad-train reads it) or Model.from_checkpoint (a
    clgrad checkpoint, a safetensors state_dict with its spec, or a Hugging
    Face GPT-2 directory)."""

    def __init__(self, core, context, seed=0):
        self._core = core
        self.context = context
        self.stop_training = False
        self._seed = seed

    # ---- Making one ---------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: Union[str, os.PathLike], *, context: Optional[_core.Context] = None,
                  device: Optional[Union[int, str]] = None, batch_size: int = 64,
                  init: str = "pytorch", seed: int = 0,
                  label_smoothing: float = 0.0, loss: str = "cross_entropy") -> "Model":
        """spec: a spec file's path or its text. batch_size: the largest batch
        the model runs (fit's default batch). init: pytorch, kaiming_uniform,
        kaiming_normal, xavier_uniform, xavier_normal, zeros, ones or gpt2.
        seed: initialisation and dropout, as clgrad-train --seed. loss:
        cross_entropy, or mse, l1 or bce (with logits) against one-hot labels,
        as clgrad-train --loss."""
        spec = os.fspath(spec)
        source = "spec"
        if "\n" not in spec and os.path.isfile(spec):
            source = spec
            with open(spec, encoding="utf-8") as f:
                spec = f.read()
        elif "\n" not in spec and not spec.lstrip().startswith("input"):
            raise _core.DataError("%s: no such spec file" % spec)
        ctx = _context(context, device)
        return cls(_core.Model(ctx, spec, source, int(batch_size), init, int(seed),
                               float(label_smoothing), str(loss)), ctx, int(seed))

    @classmethod
    def from_checkpoint(cls, path: Union[str, os.PathLike], *, spec: Optional[str] = None,
                        context: Optional[_core.Context] = None,
                        device: Optional[Union[int, str]] = None, batch_size: int = 64,
                        context_len: int = 0) -> "Model":
        """A clgrad checkpoint (with the spec, normalisation and tokenizer it
        carries), a safetensors state_dict (give its spec), or a Hugging Face
        GPT-2 directory (config.json and model.safetensors)."""
        path = os.fspath(path)
        ctx = _context(context, device)
        if os.path.isdir(path):
            return cls(_core.Model.from_gpt2_dir(ctx, path, int(batch_size),
                                                 int(context_len)), ctx)
        if spec is not None and "\n" not in spec and os.path.isfile(spec):
            with open(spec, encoding="utf-8") as f:
                spec = f.read()
        return cls(_core.Model.from_checkpoint(ctx, path, int(batch_size), spec), ctx)

    # ---- What it is ---------------------------------------------------------

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Prints (with print_fn) the layers, output shapes and parameters."""
        print_fn(self._core.summary().rstrip("\n"))

    def __str__(self):
        return self._core.summary()

    @property
    def input_shape(self):
        """One sample's shape: (C, H, W), (features,) or (T,) token ids."""
        return self._core.info()["input_shape"]

    @property
    def output_shape(self):
        return self._core.info()["output_shape"]

    @property
    def batch_size(self):
        return self._core.info()["batch_size"]

    @property
    def parameters(self):
        """The number of parameters."""
        return self._core.info()["parameters"]

    @property
    def spec(self):
        return self._core.info()["spec"]

    @property
    def normalization(self):
        """The inputs' normalisation ("MEAN,..;STD,..", as Dataset.normalize
        returns it) that save() records and that evaluate() and predict()
        apply to arrays; None: none."""
        return self._core.info()["normalization"]

    @normalization.setter
    def normalization(self, text):
        self._core.set_normalization(text)

    @property
    def tokenizer(self):
        """A text model's tokenizer (from its checkpoint, or set), or None."""
        text = self._core.info()["tokenizer"]
        return Tokenizer.from_string(text) if text else None

    @tokenizer.setter
    def tokenizer(self, tokenizer):
        self._core.set_tokenizer(None if tokenizer is None else tokenizer._core.to_string())

    # ---- Data ---------------------------------------------------------------

    def _dataset(self, x, y, what, labelled=True):
        """A Dataset of x (and y), the model's normalisation applied."""
        if isinstance(x, Dataset):
            if y is not None:
                raise UsageError("%s: give labels inside the Dataset, not as y" % what)
            return x
        info = self._core.info()
        if info["input_dtype"] == "int32":
            raise UsageError("%s: a text model takes Dataset.text(...), not arrays" % what)
        x = _as_float32(x, what)
        shape = tuple(info["input_shape"])
        if x.shape[1:] != shape:
            raise UsageError("%s: samples of shape %s do not fit the model's input %s"
                             % (what, tuple(x.shape[1:]), shape))
        if labelled and y is None:
            raise UsageError("%s: labels (y) are needed" % what)
        labels = None if y is None else _as_labels(y, x.shape[0], "y")
        classes = info["output_shape"][-1]
        if labels is not None and labels.size and labels.max() >= classes:
            bad = int(np.argmax(labels >= classes))
            raise UsageError("y: label %d of sample %d is outside the model's %d classes"
                             % (labels[bad], bad, classes))
        d = Dataset(_core.Dataset.from_arrays(x, labels, x.shape[0], list(shape)))
        self._core.normalize(d._core)
        return d

    # ---- Training -----------------------------------------------------------

    def fit(self, x: Any, y: Any = None, *, epochs: int = 10,
            batch_size: Optional[int] = None, optimizer: str = "adam", lr: float = 1e-3,
            validation_split: float = 0.0, validation_data: Any = None,
            schedule: Optional[str] = None,
            callbacks: Iterable[Callable[[dict], Optional[bool]]] = (), verbose: int = 1,
            shuffle: bool = True, seed: Optional[int] = None, **options: Any) -> History:
        """Trains on x, y (numpy: float32 samples, integer labels) or on a
        Dataset, as clgrad-train does with the same options: the model's
        seed (or `seed`) shuffles, validation_split holds out that fraction
        (as --val-split), optimizer sgd|adam|adamw|rmsprop|adagrad with
        torch.optim's options (momentum, nesterov, weight_decay, betas=(b1,
        b2), eps, alpha, centered, clip_norm, clip_value, decay_biases),
        schedule step|multistep|exp|cosine|onecycle|plateau with its
        options (step_size, gamma, milestones, eta_min, max_lr, patience,
        factor, warmup), early_stop=PATIENCE, accumulate=K, augment="flip,crop"
        (clgrad-train --augment's list).

        callbacks: callables given each epoch's metrics (a dict); one that
        returns False, or sets model.stop_training, stops training.
        verbose: 0 silent, 1 a progress bar, 2 a line per epoch. Ctrl-C
        stops at the next step and raises KeyboardInterrupt; the weights
        are those of the last step. A second fit() goes on from the first
        (epochs, steps, the optimizer's state). Returns a History."""
        train = self._dataset(x, y, "x")
        if validation_data is not None and validation_split:
            raise UsageError("give validation_split or validation_data, not both")
        val = None
        if validation_data is not None:
            if isinstance(validation_data, Dataset):
                val = validation_data
            else:
                vx, vy = validation_data
                val = self._dataset(vx, vy, "validation_data")
        seed = self._seed if seed is None else int(seed)
        if validation_split:
            if not isinstance(x, Dataset):
                val = train.split(float(validation_split), seed)
            else:
                raise UsageError("validation_split: split the Dataset with "
                                 "Dataset.split(fraction) and pass validation_data")
        opts = dict(options)
        betas = opts.pop("betas", None)
        if betas is not None:
            opts["beta1"], opts["beta2"] = betas
        opts.update(epochs=int(epochs), optimizer=optimizer, lr=float(lr),
                    shuffle=bool(shuffle), seed=seed, schedule=schedule)
        if batch_size is not None:
            opts["batch_size"] = int(batch_size)
        self.stop_training = False
        callbacks = list(callbacks)
        info = self._core.info()
        progress = Progress(verbose, int(epochs) + info["epochs"],
                            info["input_dtype"] == "int32")

        def on_epoch(logs):
            progress.epoch(logs)
            go = True
            for cb in callbacks:
                if cb(dict(logs)) is False:
                    go = False
            return go and not self.stop_training

        report = self._core.fit(train._core, None if val is None else val._core, opts,
                                progress.step if verbose else None, on_epoch,
                                progress.warning if verbose else None)
        progress.close()
        return History(report)

    def evaluate(self, x: Any, y: Any = None) -> dict:
        """{"loss", "accuracy", "count", "confusion"} on x, y or a Dataset
        (the loss per label: per token for a text model)."""
        d = self._dataset(x, y, "x")
        r = self._core.evaluate(d._core)
        k = r["classes"]
        r["confusion"] = np.array(r["confusion"], dtype=np.int64).reshape(k, k) \
            if r["confusion"] else None
        return r

    def predict(self, x: Any) -> np.ndarray:
        """The model's outputs (logits, before any softmax) for x: a numpy
        array [N, ...] or a Dataset (its samples)."""
        if isinstance(x, Dataset):
            x = x.arrays()[0]
            arr = np.ascontiguousarray(x, dtype=np.float32)
        else:
            info = self._core.info()
            if info["input_dtype"] == "int32":
                arr = np.ascontiguousarray(x, dtype=np.int32)
            else:
                d = self._dataset(x, None, "x", labelled=False)
                arr = d.arrays()[0]
        n = arr.shape[0]
        out = np.empty((n,) + tuple(self.output_shape), dtype=np.float32)
        self._core.forward(arr, n, out)
        return out

    # ---- Weights --------------------------------------------------------------

    def state_dict(self) -> "collections.OrderedDict[str, np.ndarray]":
        """The weights and statistics as numpy arrays, named and ordered as
        PyTorch's state_dict of the same nn.Sequential names them (batch
        norm's num_batches_tracked included)."""
        out = collections.OrderedDict()
        step = self._core.info()["plan_step"]
        for name, shape, _ in self._core.tensors():
            a = np.empty(shape, dtype=np.float32)
            self._core.read(name, a)
            out[name] = a
            if name.endswith(".running_var"):
                out[name[:-len("running_var")] + "num_batches_tracked"] = \
                    np.array(step, dtype=np.int64)
        return out

    def load_state_dict(self, state: dict, strict: bool = True
                        ) -> tuple[list[str], list[str]]:
        """Copies the arrays of `state` (numpy arrays, or anything
        np.asarray takes: torch tensors through .detach().cpu()) into the
        model. strict: every tensor of the model present and nothing else
        (num_batches_tracked aside), else UsageError naming them. Returns
        (missing, unexpected) names."""
        names = {name: shape for name, shape, _ in self._core.tensors()}
        given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        missing = [k for k in names if k not in given]
        unexpected = [k for k in given if k not in names]
        if strict and (missing or unexpected):
            raise UsageError("load_state_dict: missing %s, unexpected %s"
                             % (missing or "none", unexpected or "none"))
        for k, v in given.items():
            if k not in names:
                continue
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            a = np.ascontiguousarray(v, dtype=np.float32)
            if a.shape != tuple(names[k]):
                raise UsageError("load_state_dict: %s has shape %s, the model's %s"
                                 % (k, a.shape, tuple(names[k])))
            self._core.write(k, a)
        return missing, unexpected

    def save(self, path: Union[str, os.PathLike]) -> None:
        """A safetensors checkpoint PyTorch loads as it is (the weights under
        their state_dict names), with the optimizer's state, the spec, the
        normalisation and the tokenizer, as clgrad-train writes it."""
        self._core.save(os.fspath(path), True)

    def load(self, path: Union[str, os.PathLike]) -> dict:
        """The tensors of a checkpoint whose names and shapes match; returns
        what was loaded, skipped and missing."""
        return self._core.load(os.fspath(path))

    # ---- Text -----------------------------------------------------------------

    def generate(self, prompt: Union[str, Sequence[int], np.ndarray], n: int, *,
                 temperature: float = 1.0, top_k: int = 0, seed: int = 0,
                 tokenizer: Optional[Tokenizer] = None) -> Union[str, np.ndarray]:
        """n tokens after `prompt` (a str, or ids), drawn as clgrad-train
        --generate draws them (the same seed, the same text); returns the
        text (or the ids, given ids and no tokenizer)."""
        tok = tokenizer or self.tokenizer
        if isinstance(prompt, str):
            if tok is None:
                raise UsageError("generate: the model carries no tokenizer: give one")
            ids = tok.encode(prompt)
        else:
            ids = np.ascontiguousarray(prompt, dtype=np.int32)
        if ids.size == 0:
            raise UsageError("generate: the prompt encodes to no tokens")
        out = self._core.generate(ids, int(n), float(temperature), int(top_k), int(seed),
                                  tok.vocab_size if tok else 0)
        out = np.frombuffer(out, dtype=np.int32)
        return tok.decode(out) if tok is not None else out.copy()
