#!/bin/sh
# Builds clgrad (release) into build/, writes Fashion-MNIST as folders of
# PNG files (build/fashion-png/{train,test}/CLASS/NNNNN.png, as a user's
# own photos would come; scripts/image_folders.py), and trains
# examples/fashion_cnn.spec on the folders, as scripts/example.sh trains it
# on the IDX files: the confusion matrix names the classes. Extra arguments
# go to clgrad-train (e.g. --epochs 1 for a quick look).
set -eu
cd "$(dirname "$0")/.."
sh scripts/build-release.sh
[ -d build/fashion-png/test ] || python3 scripts/image_folders.py build/fashion-png
exec build/tools/clgrad-train examples/fashion_cnn.spec \
    --images build/fashion-png/train --test-images build/fashion-png/test \
    --epochs 15 --val-split 0.1 --optimizer adam --lr 1e-3 --schedule cosine \
    --augment flip,crop "$@"
