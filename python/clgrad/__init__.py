"""clgrad: neural network training on any OpenCL device, from Python.

A thin layer over the clgrad C library (the same kernels, training loop and
checkpoints as clgrad-train), with numpy in and out:

    import clgrad
    model = clgrad.Model.from_spec("examples/fashion_cnn.spec")
    train = clgrad.Dataset.fashion_mnist(train=True)
    history = model.fit(train, epochs=2, validation_split=0.1)
    print(model.evaluate(clgrad.Dataset.fashion_mnist(train=False)))
    model.save("cnn.safetensors")
    weights = model.state_dict()            # numpy arrays named as PyTorch names them

Errors are clgrad.Error subclasses carrying the library's sentence:
UsageError (a bad argument, shape or name; also a ValueError), DataError
(a missing or malformed file; also an OSError), DeviceMemoryError (also a
MemoryError), NumericalError (a loss that is not finite; also an
ArithmeticError) and DeviceError (OpenCL or the device failed).
"""
from ._core import (  # noqa: F401  (re-exported)
    Context,
    DataError,
    DeviceError,
    DeviceMemoryError,
    Error,
    NumericalError,
    UsageError,
    devices,
)
from ._core import version as _library_version
from ._data import Dataset
from ._model import History, Model
from ._text import Tokenizer

__version__ = _library_version
__all__ = [
    "Context", "Dataset", "DataError", "DeviceError", "DeviceMemoryError", "Error",
    "History", "Model", "NumericalError", "Tokenizer", "UsageError", "devices",
]
