#!/usr/bin/python3
"""Writes a PyTorch model's state_dict with the safetensors library, inputs as
a float32 IDX file, and PyTorch's predictions, for clgrad-train --predict to
reproduce (tests/fixtures/torch_cnn.*).

usage: PYTHONPATH=<safetensors> /usr/bin/python3 tests/torch_checkpoint.py
Needs python3-torch and the safetensors package (pip install safetensors).
"""
import struct

import torch
import torch.nn as nn
from safetensors.torch import save_file

torch.manual_seed(77)
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 16), nn.Tanh(),
                      nn.Linear(16, 3))
# Give batch norm statistics that are not the defaults.
with torch.no_grad():
    model[1].running_mean.uniform_(-0.2, 0.2)
    model[1].running_var.uniform_(0.5, 1.5)
    model[1].weight.uniform_(0.5, 1.5)
    model[1].bias.uniform_(-0.2, 0.2)
model.eval()
x = torch.rand(10, 1, 8, 8) * 2 - 1
with torch.no_grad():
    probs = torch.softmax(model(x), dim=1)
p, cls = probs.max(dim=1)

save_file(model.state_dict(), "tests/fixtures/torch_cnn.safetensors")
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
print("wrote tests/fixtures/torch_cnn.*")
