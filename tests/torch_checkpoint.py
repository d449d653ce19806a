#!/usr/bin/python3
"""Writes a trained PyTorch model's state_dict as safetensors, inputs as a
float32 IDX file, and PyTorch's predictions, for clgrad-train --predict to
reproduce (tests/fixtures/torch_cnn.*).

The model learns a task whose answer depends on the image (which third of
the rows is brightest), so its predictions differ from image to image and a
wrong layer, layout or statistic changes them; batch norm ends with the
running statistics training gave it.

usage: /usr/bin/python3 tests/torch_checkpoint.py   (needs python3-torch)
"""
import json
import struct

import torch
import torch.nn as nn


def save_safetensors(tensors, path):
    """The safetensors format: an 8-byte little-endian header length, a JSON
    header of dtype, shape and byte offsets, then the raw little-endian data."""
    header, blobs, offset = {}, [], 0
    dtypes = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8")}
    for name, t in tensors.items():
        code, np_type = dtypes[t.dtype]
        data = t.detach().contiguous().numpy().astype(np_type).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def images(n):
    x = torch.rand(n, 1, 8, 8) * 2 - 1
    y = torch.randint(0, 3, (n,))
    for i in range(n):  # the labelled third of the rows is brighter
        rows = slice(3 * int(y[i]), 3 * int(y[i]) + 2 + (int(y[i]) == 2))
        x[i, 0, rows] += 0.6
    return x, y


def main():
    torch.manual_seed(77)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 16), nn.Tanh(),
                          nn.Linear(16, 3))
    x_train, y_train = images(512)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    model.train()
    for epoch in range(1):
        for b in range(0, 512, 32):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[b:b + 32]), y_train[b:b + 32])
            loss.backward()
            opt.step()
    model.eval()
    x, y = images(10)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)
    p, cls = probs.max(dim=1)
    assert len(set(cls.tolist())) == 3, "every class should be predicted"

    save_safetensors(model.state_dict(), "tests/fixtures/torch_cnn.safetensors")
    with open("tests/fixtures/torch_cnn_inputs.idx", "wb") as f:
        f.write(bytes([0, 0, 0x0D, 4]) + struct.pack(">4I", 10, 1, 8, 8))
        f.write(struct.pack(">%df" % x.numel(), *x.flatten().tolist()))
    with open("tests/fixtures/torch_cnn_predictions.csv", "w") as f:
        f.write("index,class,probability\n")
        for i in range(10):
            f.write("%d,%d,%.6f\n" % (i, int(cls[i]), float(p[i])))
    with open("tests/fixtures/torch_cnn.spec", "w") as f:
        f.write("input 1 8 8\nconv2d 4 3 padding=1\nbatchnorm2d\nrelu\nmaxpool2d 2\nflatten\n"
                "linear 16\ntanh\nlinear 3\n")
    print("wrote tests/fixtures/torch_cnn.*; accuracy on its inputs: %d/10"
          % int((cls == y).sum()))


if __name__ == "__main__":
    main()
