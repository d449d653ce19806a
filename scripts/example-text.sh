#!/bin/sh
# Builds clgrad (release) into build/ and trains a small GPT character by
# character on the English of Debian's fortunes package (installed if
# missing) on the default device (CLGRAD_DEVICE picks another), holding out
# the last tenth of the text for validation (its loss in bits per character
# every epoch). Leaves the model and its tokenizer in
# fortunes_gpt.safetensors, the metrics in fortunes_gpt.csv, the curves in
# fortunes_gpt.svg, and prints 400 characters it writes after "The ".
# Extra arguments go to clgrad-train (e.g. --epochs 1 for a quick look).
set -eu
cd "$(dirname "$0")/.."
[ -d /usr/share/games/fortunes ] || sh scripts/apt-install.sh example-text fortunes
sh scripts/build-release.sh
build/tools/clgrad-devices | head -n 1
# The fortune files themselves (not their .dat indexes nor .u8 links), in
# name order: 2.5 MB of UTF-8 text.
mkdir -p build/fortunes
find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.*' | sort |
    xargs cat >build/fortunes/fortunes.txt
build/tools/clgrad-train examples/fortunes_gpt.spec \
    --text build/fortunes/fortunes.txt --tokenizer char --val-split 0.1 \
    --epochs 3 --batch-size 32 --optimizer adamw --lr 2e-3 --betas 0.9,0.99 \
    --weight-decay 0.1 --no-decay-bias --clip-norm 1 --init gpt2 \
    --schedule cosine --warmup 1 \
    --log fortunes_gpt.csv --plot fortunes_gpt.svg --save fortunes_gpt.safetensors "$@"
echo
echo "sample (--generate 400 --seed 1 --temperature 0.8 --prompt 'The '):"
printf 'The '
build/tools/clgrad-train --generate 400 --init-from fortunes_gpt.safetensors --seed 1 \
    --temperature 0.8 --prompt 'The '
