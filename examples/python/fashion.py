#!/usr/bin/env python3
"""The README's CNN from Python: trains examples/fashion_cnn.spec on
Fashion-MNIST as scripts/example.sh does (the same flags, so the same
weights as clgrad-train for the same seed and epochs), evaluates it, saves
it, and loads its state dict into the equivalent torch.nn module (where
torch is installed), which then scores the same test accuracy.

usage: python examples/python/fashion.py [--epochs N] [--seed S] [--save PATH]
Needs Debian's dataset-fashion-mnist (scripts/setup-debian.sh).
"""
import argparse
import os

import numpy as np

import clgrad

HERE = os.path.dirname(os.path.abspath(__file__))


def torch_model():
    """examples/fashion_cnn.spec as torch.nn modules, numbered alike."""
    import torch.nn as nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        nn.Dropout(0.25), nn.Linear(128, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default="fashion_cnn_py.safetensors")
    a = ap.parse_args()

    train = clgrad.Dataset.fashion_mnist(train=True)
    test = clgrad.Dataset.fashion_mnist(train=False)
    val = train.split(0.1, a.seed)    # --val-split 0.1
    norm = train.normalize()          # the training part's statistics (--normalize auto)
    val.normalize(norm)
    test.normalize(norm)

    model = clgrad.Model.from_spec(os.path.join(HERE, "..", "fashion_cnn.spec"), seed=a.seed)
    model.normalization = norm        # saved with the model, as clgrad-train does
    model.summary()
    model.fit(train, validation_data=val, epochs=a.epochs, optimizer="adam", lr=1e-3,
              schedule="cosine", augment="flip,crop", seed=a.seed)
    result = model.evaluate(test)
    print("test loss %.4f, accuracy %.4f" % (result["loss"], result["accuracy"]))
    model.save(a.save)
    print("saved", a.save)

    try:
        import torch
    except ImportError:
        print("no torch here: skipping the PyTorch check")
        return
    net = torch_model()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    net.eval()
    x, y = test.arrays()
    with torch.no_grad():
        predicted = torch.cat([net(torch.from_numpy(x[i:i + 1000])).argmax(1)
                               for i in range(0, len(x), 1000)]).numpy()
    print("the same weights in torch.nn: test accuracy %.4f" % np.mean(predicted == y))


if __name__ == "__main__":
    main()
