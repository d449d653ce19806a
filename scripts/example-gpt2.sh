#!/bin/sh
# Builds clgrad (release) into build/, learns GPT-2's byte-level BPE on the
# English of Debian's fortunes package, trains examples/fortunes_gpt2.spec
# (GPT-2's layout, its output layer tied to the token embedding) on the
# default device, and saves it in Hugging Face's layout in fortunes_gpt2/:
# config.json, model.safetensors, vocab.json, merges.txt. Then it shows
# transformers loading that directory and generating text from it (in
# build/hf-venv: transformers 4.40.2 from PyPI over Debian's python3-torch,
# installed here where missing). Extra arguments go to
# clgrad-train (e.g. --epochs 1 for a quick look).
set -eu
cd "$(dirname "$0")/.."
[ -d /usr/share/games/fortunes ] || sh scripts/apt-install.sh example-gpt2 fortunes
# transformers runs over Debian's torch (not part of the plain setup)
/usr/bin/python3 -c 'import torch, ensurepip' 2>/dev/null ||
    sh scripts/apt-install.sh example-gpt2 python3-torch python3-venv
sh scripts/build-release.sh
build/tools/clgrad-devices | head -n 1
mkdir -p build/fortunes
find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.*' | sort |
    xargs cat >build/fortunes/fortunes.txt
build/tools/clgrad-train examples/fortunes_gpt2.spec \
    --text build/fortunes/fortunes.txt --tokenizer gpt2bpe=743 --val-split 0.1 \
    --epochs 12 --batch-size 32 --optimizer adamw --lr 2e-3 --betas 0.9,0.99 \
    --weight-decay 0.1 --no-decay-bias --clip-norm 1 --init gpt2 \
    --schedule cosine --warmup 1 --save fortunes_gpt2 --format hf "$@"
echo
echo "clgrad (--generate 60 --seed 1 --temperature 0.8 --prompt 'The '):"
printf 'The '
build/tools/clgrad-train --generate 60 --init-from fortunes_gpt2 --seed 1 \
    --temperature 0.8 --prompt 'The '
if [ ! -x build/hf-venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages build/hf-venv
    build/hf-venv/bin/pip install --quiet transformers==4.40.2 tokenizers==0.19.1
fi
echo
echo "transformers, from the same directory:"
build/hf-venv/bin/python - <<'PY' 2>&1 | grep -v -i warn
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel
model = GPT2LMHeadModel.from_pretrained("fortunes_gpt2")
tok = AutoTokenizer.from_pretrained("fortunes_gpt2")
torch.manual_seed(1)
ids = model.generate(tok("The ", return_tensors="pt").input_ids, do_sample=True,
                     temperature=0.8, max_new_tokens=60, pad_token_id=tok.eos_token_id)
print(tok.decode(ids[0]))
PY
