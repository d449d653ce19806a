#!/bin/sh
# Builds clgrad (release) into build/ and trains the example CNN on
# Fashion-MNIST on the default device (CLGRAD_DEVICE picks another), holding
# out a tenth of the training images for validation (its loss and accuracy
# every epoch), saving the model to fashion_cnn.safetensors, the metrics to
# fashion_cnn.csv and the training and validation curves to fashion_cnn.svg.
# Extra arguments go to clgrad-train (e.g. --epochs 2 for a quick look).
set -eu
cd "$(dirname "$0")/.."
sh scripts/build-release.sh
build/tools/clgrad-devices | head -n 1
exec build/tools/clgrad-train examples/fashion_cnn.spec --data fashion-mnist \
    --epochs 15 --val-split 0.1 --optimizer adam --lr 1e-3 --schedule cosine \
    --augment flip,crop \
    --log fashion_cnn.csv --plot fashion_cnn.svg --save fashion_cnn.safetensors "$@"
