#!/bin/sh
# Builds clgrad (release) into build/, writes Fashion-MNIST as folders of
# PNG files (build/fashion-png/{train,test}/CLASS/NNNNN.png, as a user's
# own photos would come; scripts/image_folders.py), and trains a small
# MobileNet-style model (examples/fashion_mobilenet.spec: depthwise
# separable blocks, SiLU, global pooling) on the folders: the confusion
# matrix names the classes. Extra arguments go to clgrad-train (e.g.
# --epochs 1 for a quick look).
set -eu
cd "$(dirname "$0")/.."
sh scripts/build-release.sh
[ -d build/fashion-png/test ] || python3 scripts/image_folders.py build/fashion-png
exec build/tools/clgrad-train examples/fashion_mobilenet.spec \
    --images build/fashion-png/train --test-images build/fashion-png/test \
    --epochs 10 --val-split 0.1 --optimizer adamw --lr 3e-3 --weight-decay 0.01 \
    --schedule cosine --augment flip,crop "$@"
