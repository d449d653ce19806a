#!/usr/bin/env python3
"""Hostile input through clgrad-train: every case of issue 31 and more of the
same kinds, each checked for

  - its exit status (2 for a usage or data error, 1 for a run that fails),
    never a signal (a crash, an abort, a double free) or a hang;
  - a sentence that names what is wrong and where: the file, flag, layer,
    variable or limit;
  - nothing written: every file of the working directory (the inputs, the
    checkpoints, a FIFO, a link) as it was, and no new file.

usage: tests/hostile_cli.py BUILD/tools/clgrad-train   (or CLGRAD_TRAIN_BIN)
Exit status 0 when every case holds, 1 otherwise.
"""
import hashlib
import json
import os
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import zlib

GPT = "input tokens 16\ntokpos 64 32\nblock 32 4\nlayernorm\nlinear 64\n"
NARROW = "input tokens 16\ntokpos 8 32\nblock 32 4\nlinear 64\n"
MLP = "input 1 28 28\nflatten\nlinear 16\nbatchnorm1d\nrelu\nlinear 10\n"
TEXT = ("the cat sat on the mat. the dog ate the hat. a rat ran to the cat.\n" * 60)


def idx(path, magic, dims, data):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims))
        f.write(bytes(data))


def png(path, w, h):
    """A gray PNG of w x h pixels."""
    rows = b"".join(b"\x00" + bytes((x * 9 + y) % 256 for x in range(w)) for y in range(h))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def image_folders(d):
    """Folders of images, each wrong in one way."""
    def folder(name, files):
        for rel, make in files.items():
            path = os.path.join(d, name, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            make(path)
    good = lambda p: png(p, 6, 5)
    folder("imgs_ok", {"a/1.png": good, "b/1.png": good})
    folder("imgs_trunc", {"a/1.png": good, "b/1.png": lambda p: (png(p, 6, 5),
                                                               os.truncate(p, 40))})
    folder("imgs_text", {"a/1.png": good, "b/notes.png": lambda p: open(p, "w").write("hi")})
    folder("imgs_empty", {"a/1.png": good, "b/readme.txt": lambda p: open(p, "w").write("")})
    folder("imgs_mixed", {"a/1.png": good, "b/1.png": lambda p: png(p, 7, 5)})
    folder("imgs_flat/x", {"1.png": good})


def setup(bin_path, d):
    """The inputs the cases read, and the checkpoints they start from."""
    files = {"gpt.spec": GPT, "narrow.spec": NARROW, "mlp.spec": MLP, "t.txt": TEXT,
             "short.txt": "ab", "empty.txt": "",
             "tbig.spec": "input tokens 16\ntokpos 99999999999 32\nlinear 64\n",
             "tlong.spec": "input tokens 100000000\ntokpos 64 32\nlinear 64\n",
             "csv.spec": "input 2\nlinear 3\n",
             "t.csv": "x,y,kind\n0.1,0.2,cat\n0.3,0.1,dog\n0.5,0.9,emu\n",
             "badfield.csv": "x,y,kind\n0.1,0.2,cat\n0.3,oops,dog\n",
             "ragged.csv": "x,y,kind\n0.1,0.2,cat\n0.3,dog\n",
             "cifar.spec": "input 3 32 32\nflatten\nlinear 10\n",
             "img.spec": "input 1 5 6\nflatten\nlinear 2\n"}
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    with open(os.path.join(d, "surrogate.txt"), "wb") as f:
        f.write(TEXT.encode() + b"\xed\xa0\x80 tail")
    with open(os.path.join(d, "past10ffff.txt"), "wb") as f:
        f.write(b"ok \xf4\x90\x80\x80 " + TEXT.encode())
    image_folders(d)
    os.mkdir(os.path.join(d, "cifarbad"))
    with open(os.path.join(d, "cifarbad", "data_batch_1.bin"), "wb") as f:
        f.write(bytes(100))
    os.mkfifo(os.path.join(d, "fifo"))
    os.symlink("t.txt", os.path.join(d, "link.txt"))
    os.mkdir(os.path.join(d, "data"))
    n = 65  # images: a last batch of 1 at --batch-size 64
    idx(os.path.join(d, "data", "train-images-idx3-ubyte"), 0x803, [n, 28, 28],
        [(i * 7 + k) % 256 for i in range(n) for k in range(784)])
    idx(os.path.join(d, "data", "train-labels-idx1-ubyte"), 0x801, [n],
        [i % 10 for i in range(n)])
    idx(os.path.join(d, "data", "t10k-images-idx3-ubyte"), 0x803, [10, 28, 28],
        [(i * 3 + k) % 256 for i in range(10) for k in range(784)])
    idx(os.path.join(d, "data", "t10k-labels-idx1-ubyte"), 0x801, [10], list(range(10)))
    for args in ("gpt.spec --text t.txt --epochs 1 --batch-size 8 --quiet --save g.st",
                 "mlp.spec --data data --epochs 1 --batch-size 13 --quiet --save img.st"):
        r = subprocess.run([bin_path] + shlex.split(args), cwd=d, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            sys.exit("hostile_cli: setup '%s' failed:\n%s%s" % (args, r.stdout, r.stderr))
    hf = os.path.join(os.environ.get("CLGRAD_FIXTURES",
                                     os.path.join(os.path.dirname(__file__), "fixtures")),
                      "hf_gpt2")
    for name, file, edit in (("hf", None, None),
                             ("hfrelu", "config.json", {"activation_function": "relu"}),
                             ("hfwide", "config.json", {"n_embd": 16}),
                             ("hfmerges", "merges.txt", "#version: 0.2\nĠ t\nĠ zzz\n"),
                             ("hfvocab", "vocab.json", '{"a": 0, ')):
        shutil.copytree(hf, os.path.join(d, name))
        path = os.path.join(d, name, file or "")
        if isinstance(edit, dict):
            with open(path) as f:
                c = json.load(f)
            c.update(edit)
            with open(path, "w") as f:
                json.dump(c, f)
        elif edit is not None:
            with open(path, "w") as f:
                f.write(edit)
    edit_checkpoint(os.path.join(d, "g.st"), os.path.join(d, "huge.st"), huge=True)
    edit_checkpoint(os.path.join(d, "g.st"), os.path.join(d, "notok.st"), drop="tokenizer")


def edit_checkpoint(src, dst, huge=False, drop=None):
    """A copy of a safetensors checkpoint: the last layer's weights all
    3e38 (finite, but logits that overflow), or a metadata key dropped."""
    with open(src, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = bytearray(blob[8 + n:])
    if huge:
        b, e = header["3.weight"]["data_offsets"]
        data[b:e] = struct.pack("<%df" % ((e - b) // 4), *([3e38] * ((e - b) // 4)))
    if drop:
        del header["__metadata__"][drop]
    text = json.dumps(header).encode()
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(data))


# (arguments, extra environment, exit status, words the message must hold)
CASES = [
    # outputs: never a device, FIFO or an input; refused before reading
    ("gpt.spec --text t.txt --save /dev/null", {}, 2,
     ["--save /dev/null", "not a regular file"]),
    ("gpt.spec --text t.txt --save fifo", {}, 2, ["--save fifo", "not a regular file"]),
    ("gpt.spec --text t.txt --log fifo", {}, 2, ["--log fifo", "FIFO"]),
    ("gpt.spec --text t.txt --plot fifo", {}, 2, ["--plot fifo", "FIFO"]),
    ("gpt.spec --text t.txt --checkpoint-dir fifo", {}, 2, ["--checkpoint-dir fifo"]),
    ("gpt.spec --text t.txt --log t.txt", {}, 2, ["--log t.txt is --text t.txt"]),
    ("gpt.spec --text t.txt --save gpt.spec", {}, 2,
     ["--save gpt.spec is the model spec gpt.spec"]),
    ("gpt.spec --text t.txt --plot link.txt", {}, 2, ["--plot", "is --text t.txt"]),
    ("gpt.spec --text t.txt --test-text short.txt --save short.txt", {}, 2,
     ["is --test-text short.txt"]),
    ("mlp.spec --data data --log data/train-images-idx3-ubyte", {}, 2,
     ["is --data's data/train-images-idx3-ubyte"]),
    ("gpt.spec --text t.txt --save nodir/x.st", {}, 2, ["--save nodir/x.st", "nodir"]),
    # generation
    ("--generate 5 --init-from g.st --prompt ''", {}, 2, ["--prompt", "no tokens"]),
    ("--generate 30 --init-from huge.st", {}, 2, ["huge.st", "not finite"]),
    ("--generate 5 --init-from img.st", {}, 2, ["img.st", "input is tokens"]),
    ("--generate 5 --init-from g.st --evaluate g.st", {}, 2,
     ["--generate and --evaluate do not mix"]),
    ("--generate 5 --init-from g.st --normalize 0.5,2", {}, 2,
     ["--normalize 0.5,2", "token ids"]),
    ("--generate 5 --init-from g.st --tokenizer byte", {}, 2,
     ["--tokenizer byte", "g.st carries its own tokenizer (char)"]),
    ("--generate 0 --init-from g.st", {}, 2, ["--generate"]),
    ("--generate 5 --init-from missing.st", {}, 2, ["missing.st"]),
    # text training
    ("gpt.spec --text t.txt --normalize -5,1", {}, 2, ["--normalize -5,1", "token ids"]),
    ("gpt.spec --text empty.txt", {}, 2,
     ["empty.txt", "0 tokens do not fill one window of 16 + 1"]),
    ("gpt.spec --text short.txt", {}, 2,
     ["short.txt", "2 tokens do not fill one window of 16 + 1"]),
    ("gpt.spec --text t.txt --test-text empty.txt", {}, 2, ["empty.txt", "0 tokens"]),
    ("narrow.spec --text t.txt", {}, 2,
     ["narrow.spec", "tokenizer has", "ids", "8 rows", "64 outputs"]),
    ("gpt.spec --text t.txt --tokenizer byte", {}, 2, ["256 ids", "vocabulary is 64"]),
    ("gpt.spec --text t.txt --tokenizer bpe=99999999", {}, 2,
     ["--tokenizer", "at most 1048576"]),
    ("gpt.spec --text t.txt --tokenizer gpt2bpe=-1", {}, 2, ["--tokenizer"]),
    ("gpt.spec --text t.txt --classes 3", {}, 2, ["--classes", "text"]),
    ("gpt.spec --text fifo", {}, 2, ["fifo", "not a regular file"]),
    ("gpt.spec --text /dev/zero", {}, 2, ["/dev/zero", "not a regular file"]),
    ("gpt.spec --text surrogate.txt", {}, 2, ["surrogate.txt", "byte 4020", "UTF-8"]),
    ("gpt.spec --text past10ffff.txt", {}, 2, ["past10ffff.txt", "byte 3", "UTF-8"]),
    ("gpt.spec --text missing.txt", {}, 2, ["missing.txt"]),
    ("mlp.spec --text t.txt", {}, 2, ["mlp.spec", "input is tokens"]),
    ("gpt.spec --text t.txt --data data", {}, 2, ["do not mix"]),
    # checkpoints and their tokenizers
    ("--resume g.st --text t.txt --tokenizer byte", {}, 2,
     ["--tokenizer byte", "g.st carries its own tokenizer (char)"]),
    ("--evaluate g.st --test-text t.txt --tokenizer bpe=10", {}, 2,
     ["--tokenizer bpe=10", "g.st"]),
    ("--resume notok.st --text t.txt", {}, 2, ["--resume notok.st", "no tokenizer"]),
    ("--evaluate img.st --test-text t.txt", {}, 2, ["img.st", "input is tokens"]),
    ("--evaluate huge.st --test-text t.txt", {}, 2, ["huge.st", "not finite"]),
    # spec limits
    ("gpt.spec --text t.txt --epochs 0", {}, 2, ["--epochs", "[1, 100000]"]),
    # several devices and ranks
    ("gpt.spec --text t.txt --device-weights 1,2", {}, 2,
     ["--device-weights goes with training on several devices"]),
    ("gpt.spec --text t.txt --devices 0,0 --device-weights 0.000001,1", {}, 2,
     ["weight 1e-06", "no sample of a batch of 64"]),
    ("gpt.spec --text t.txt --devices 0,0 --batch-size 1", {}, 2,
     ["a batch of 1 cannot be split into 2 shards"]),
    ("gpt.spec --text t.txt --devices 0,0", {"CLGRAD_COMM_TIMEOUT": "0"}, 2,
     ["CLGRAD_COMM_TIMEOUT='0'"]),
    ("gpt.spec --text t.txt --devices 0,0", {"CLGRAD_COMM_TIMEOUT": "abc"}, 2,
     ["CLGRAD_COMM_TIMEOUT='abc'"]),
    ("gpt.spec --text t.txt --devices 0,0", {"CLGRAD_COMM_TIMEOUT": "1e999"}, 2,
     ["CLGRAD_COMM_TIMEOUT='1e999'"]),
    ("gpt.spec --text t.txt --devices 0,0", {"CLGRAD_COMM_TIMEOUT": "nan"}, 2,
     ["CLGRAD_COMM_TIMEOUT='nan'"]),
    ("gpt.spec --text t.txt --epochs 1", {"CLGRAD_MEMORY_LIMIT": "lots"}, 2,
     ["CLGRAD_MEMORY_LIMIT='lots'"]),
    ("gpt.spec --text t.txt --epochs 1", {"CLGRAD_KERNELS": "fpga"}, 2,
     ["CLGRAD_KERNELS", "fpga"]),
    ("gpt.spec --text t.txt --epochs 1", {"CLGRAD_PROFILE": "maybe"}, 2,
     ["CLGRAD_PROFILE='maybe'"]),
    ("gpt.spec --text t.txt --epochs 1", {"CLGRAD_PROGRAM_CACHE": "off"}, 2,
     ["CLGRAD_PROGRAM_CACHE='off'"]),
    ("gpt.spec --text t.txt --epochs 1", {"CLGRAD_GEMM": "fast"}, 2,
     ["CLGRAD_GEMM='fast'"]),
    ("gpt.spec --text t.txt --epochs 1", {"CLGRAD_DEVICE": "7"}, 2,
     ["CLGRAD_DEVICE '7'", "no device 7"]),
    ("tbig.spec --text t.txt", {}, 2, ["tbig.spec:2", "from 1 to 16777216"]),
    ("tlong.spec --text t.txt", {}, 2, ["tlong.spec:1", "from 1 to 16777216"]),
    # Hugging Face GPT-2 directories
    ("--evaluate hfrelu --test-text t.txt", {}, 2,
     ["hfrelu/config.json", "\"activation_function\": \"relu\""]),
    ("--init-from hfrelu --text t.txt", {}, 2, ["hfrelu/config.json", "relu"]),
    ("--evaluate hfwide --test-text t.txt", {}, 2,
     ["hfwide/model.safetensors", "config.json makes it"]),
    ("--generate 5 --init-from hfmerges", {}, 2, ["hfmerges/merges.txt:3", "zzz"]),
    ("--evaluate hfvocab --test-text t.txt", {}, 2, ["hfvocab/vocab.json", "not valid JSON"]),
    ("--evaluate hf --test-text surrogate.txt", {}, 2, ["surrogate.txt", "UTF-8"]),
    ("gpt.spec --evaluate hf --test-text t.txt", {}, 2,
     ["hf is a GPT-2 directory", "leave the spec gpt.spec out"]),
    ("--init-from hf --text t.txt --save g.st --format hf", {}, 2,
     ["--save g.st --format hf", "a GPT-2 directory's path"]),
    ("gpt.spec --text t.txt --save newdir --format hf", {}, 2,
     ["--save newdir --format hf: the model is not a GPT-2"]),
    ("--generate 5 --init-from hf --format hf", {}, 2, ["--format hf", "--save"]),
    ("gpt.spec --text t.txt --save x.st --format tf", {}, 2,
     ["--format", "'tf' is not clgrad or hf"]),
    # images
    ("mlp.spec --data data --batch-size 64", {}, 2,
     ["batch norm", "leave a batch of 1", "--batch-size"]),
    ("mlp.spec --data data --batch-size 13 --normalize 1,0", {}, 2, ["--normalize"]),
    # CSV
    ("csv.spec --csv t.csv --label-column kinds", {}, 2, ["t.csv", "'kinds'"]),
    ("csv.spec --csv t.csv --label-column 7", {}, 2, ["t.csv", "7"]),
    ("csv.spec --csv badfield.csv", {}, 2, ["badfield.csv:3", "column 'y'", "'oops'"]),
    ("csv.spec --csv ragged.csv", {}, 2, ["ragged.csv:3", "2 fields, expected 3"]),
    ("csv.spec --csv nofile.csv", {}, 2, ["nofile.csv"]),
    ("csv.spec --csv t.csv --data data", {}, 2, ["--csv", "image data", "do not mix"]),
    ("csv.spec --data data --label-column kind", {}, 2, ["--label-column", "--csv"]),
    ("csv.spec --test-csv t.csv", {}, 2, ["--test-csv needs --csv"]),
    ("csv.spec --csv t.csv --log t.csv", {}, 2, ["--log t.csv is --csv t.csv"]),
    # CIFAR
    ("cifar.spec --data cifar10:cifarbad", {}, 2,
     ["cifarbad/data_batch_1.bin", "100 bytes are not whole records of 3073"]),
    ("cifar.spec --data cifar100:cifarbad", {}, 2, ["cifarbad/train.bin", "no such file"]),
    # image folders
    ("img.spec --images imgs_trunc", {}, 2, ["imgs_trunc/b/1.png", "PNG"]),
    ("img.spec --images imgs_text", {}, 2, ["imgs_text/b/notes.png", "not a PNG image"]),
    ("img.spec --images imgs_empty", {}, 2,
     ["imgs_empty/b", "no PNG or JPEG file in the folder of class 'b'"]),
    ("img.spec --images imgs_flat/x", {}, 2, ["imgs_flat/x has no subfolders"]),
    ("img.spec --images imgs_mixed", {}, 2,
     ["imgs_mixed/b/1.png is 7 x 5 pixels", "--resize"]),
    ("img.spec --images imgs_ok --resize bicubic", {}, 2, ["--resize", "'bicubic'"]),
    ("img.spec --images imgs_ok --data data", {}, 2, ["--images and --data do not mix"]),
    ("img.spec --images imgs_ok --test-images imgs_ok --test-labels x", {}, 2,
     ["--test-labels goes with IDX test images"]),
    ("cifar.spec --images imgs_ok", {}, 2, ["5 pixels", "the model's input 32 x 32"]),
    ("cifar.spec --data cifar10:cifarbad --save cifarbad/data_batch_1.bin", {}, 2,
     ["is --data's cifarbad/data_batch_1.bin"]),
]


def snapshot(d):
    """Every entry under d: its kind and, for files, a hash of its bytes."""
    seen = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            key = os.path.relpath(path, d)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    seen[key] = hashlib.sha1(f.read()).hexdigest()
            else:
                seen[key] = stat.S_IFMT(st.st_mode)
    return seen


def main():
    bin_path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CLGRAD_TRAIN_BIN")
    if not bin_path:
        sys.exit("usage: hostile_cli.py CLGRAD-TRAIN")
    bin_path = os.path.abspath(bin_path)
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        setup(bin_path, d)
        before = snapshot(d)
        for args, env, want, words in CASES:
            try:
                r = subprocess.run([bin_path] + shlex.split(args), cwd=d, text=True,
                                   env=dict(os.environ, **env), capture_output=True,
                                   timeout=120, errors="replace")
                got, out = r.returncode, r.stdout + r.stderr
            except subprocess.TimeoutExpired:
                got, out = "a hang (120 s)", ""
            problems = []
            if got != want:
                problems.append("exit %s, expected %d" % (got, want))
            problems += ["no '%s' in what it said" % w for w in words if w not in out]
            after = snapshot(d)
            changed = sorted(k for k in set(before) | set(after)
                             if before.get(k) != after.get(k))
            if changed:
                problems.append("it changed or made %s" % ", ".join(changed))
                before = after
            if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
                problems.append("/dev/null is no longer a device")
            label = " ".join("%s=%s" % kv for kv in env.items()) + " " + args
            if problems:
                failures += 1
                print("FAIL %s: %s\n%s" % (label.strip(), "; ".join(problems),
                                          "\n".join("  | " + l for l in
                                                    out.strip().splitlines()[-4:])))
            else:
                print("ok   %s" % label.strip())
    print("%d passed, %d failed" % (len(CASES) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
