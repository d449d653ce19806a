"""The clgrad Python package against the C library and PyTorch: the same
weights as clgrad-train for the same seed, state dicts both ways, every
error class from a real bad input, Ctrl-C, the GIL, no leaks."""
import gc
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import clgrad

MLP = "input 1 8 8\nflatten\nlinear 16\nrelu\ndropout 0.2\nlinear 4\n"
CNN = ("input 1 8 8\nconv2d 4 3 padding=1 bias=false\nbatchnorm2d\nrelu\nmaxpool2d 2\n"
       "flatten\nlinear 4\n")


def data(n=300, seed=1):
    """Images [n, 1, 8, 8] where class c lights row 2c, and their labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    x = 0.1 + 0.1 * rng.random((n, 1, 8, 8), dtype=np.float32)
    for i, c in enumerate(y):
        x[i, 0, 2 * c] += 0.7
    return x.astype(np.float32), y


def write_idx(path, a):
    """An IDX file of a float32 or uint8 array."""
    code = {np.dtype(np.float32): 0x0D, np.dtype(np.uint8): 0x08}[a.dtype]
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, code, a.ndim))
        f.write(struct.pack(">" + "I" * a.ndim, *a.shape))
        f.write(a.astype(a.dtype.newbyteorder(">")).tobytes())


# ---- Devices and models ------------------------------------------------------------


def test_devices_and_context_describe_the_device(train_bin):
    devs = clgrad.devices()
    cli = json.loads(subprocess.run([os.path.join(os.path.dirname(train_bin),
                                                  "clgrad-devices"), "--json"],
                                    check=True, capture_output=True, text=True).stdout)
    for ours, theirs in zip(devs, cli["devices"]):  # clgrad-devices --json's keys
        assert {k: theirs[k] for k in ours} == ours
    assert len(devs) == len(cli["devices"]) and sum(d["default"] for d in devs) == 1
    ctx = clgrad.Context()
    assert ctx.device["name"] == devs[ctx.device["index"]]["name"]
    assert clgrad.Context(0).device["index"] == 0


def test_model_from_spec_text_and_file(tmp_path):
    spec = tmp_path / "mlp.spec"
    spec.write_text(MLP)
    for m in (clgrad.Model.from_spec(MLP), clgrad.Model.from_spec(str(spec))):
        assert m.input_shape == (1, 8, 8) and m.output_shape == (4,)
        assert m.parameters == 64 * 16 + 16 + 16 * 4 + 4
        assert "linear" in str(m)


# ---- The same training as clgrad-train -------------------------------------------


def test_fit_gives_clgrad_train_weights_bit_for_bit(tmp_path, train_bin):
    """Same spec, data, seed and options: the same weights, to the bit."""
    x, y = data()
    write_idx(tmp_path / "x.idx", x)
    write_idx(tmp_path / "y.idx", y.astype(np.uint8))
    (tmp_path / "cnn.spec").write_text(CNN)
    cmd = [train_bin, str(tmp_path / "cnn.spec"), "--train-images", str(tmp_path / "x.idx"),
           "--train-labels", str(tmp_path / "y.idx"), "--epochs", "3", "--batch-size", "32",
           "--seed", "7", "--optimizer", "adamw", "--lr", "0.003", "--weight-decay", "0.01",
           "--schedule", "cosine", "--val-split", "0.1", "--augment", "flip",
           "--save", str(tmp_path / "cli.safetensors"), "--quiet"]
    subprocess.run(cmd, check=True, capture_output=True)
    m = clgrad.Model.from_spec(CNN, batch_size=32, seed=7)
    h = m.fit(x, y, epochs=3, optimizer="adamw", lr=0.003, weight_decay=0.01,
              schedule="cosine", validation_split=0.1, augment="flip", verbose=0)
    assert len(h.epochs) == 3 and not np.isnan(h.history["val_loss"][-1])
    cli = clgrad.Model.from_checkpoint(tmp_path / "cli.safetensors", batch_size=32)
    ours, theirs = m.state_dict(), cli.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert np.array_equal(ours[k], theirs[k]), k


def test_pointwise_losses_train_as_the_cli(tmp_path, train_bin):
    """loss="bce" (one-hot labels) gives clgrad-train --loss bce's weights;
    an unknown loss, or smoothing with one that is not cross-entropy, is a
    usage error."""
    x, y = data(120)
    write_idx(tmp_path / "x.idx", x)
    write_idx(tmp_path / "y.idx", y.astype(np.uint8))
    (tmp_path / "mlp.spec").write_text(MLP)
    subprocess.run([train_bin, str(tmp_path / "mlp.spec"), "--train-images",
                    str(tmp_path / "x.idx"), "--train-labels", str(tmp_path / "y.idx"),
                    "--epochs", "2", "--batch-size", "16", "--seed", "3", "--loss", "bce",
                    "--save", str(tmp_path / "cli.safetensors"), "--quiet"],
                   check=True, capture_output=True)
    m = clgrad.Model.from_spec(MLP, batch_size=16, seed=3, loss="bce")
    h = m.fit(x, y, epochs=2, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    cli = clgrad.Model.from_checkpoint(tmp_path / "cli.safetensors", batch_size=16)
    for k, v in m.state_dict().items():
        assert np.array_equal(v, cli.state_dict()[k]), k
    with pytest.raises(clgrad.UsageError, match="unknown loss 'hinge'"):
        clgrad.Model.from_spec(MLP, loss="hinge")
    with pytest.raises(clgrad.UsageError, match="label_smoothing goes with"):
        clgrad.Model.from_spec(MLP, loss="mse", label_smoothing=0.1)


def test_evaluate_and_predict_match_the_library(tmp_path):
    x, y = data()
    m = clgrad.Model.from_spec(MLP, batch_size=64, seed=3)
    m.fit(x, y, epochs=4, verbose=0)
    r = m.evaluate(x, y)
    logits = m.predict(x)
    assert logits.shape == (len(x), 4) and logits.dtype == np.float32
    # accuracy and mean cross-entropy recomputed from predict's logits
    assert r["count"] == len(x)
    assert r["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y), abs=1e-6)
    z = logits - logits.max(1, keepdims=True)
    ce = -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean()
    assert r["loss"] == pytest.approx(ce, rel=1e-5)
    assert r["confusion"].sum() == len(x)
    # batches of any size: one sample at a time gives the same logits
    assert np.array_equal(m.predict(x[5:6])[0], logits[5])


def test_a_second_fit_goes_on_as_one_longer_run():
    x, y = data()
    a = clgrad.Model.from_spec(MLP, seed=5)
    a.fit(x, y, epochs=2, verbose=0)
    a.fit(x, y, epochs=1, verbose=0)
    b = clgrad.Model.from_spec(MLP, seed=5)
    b.fit(x, y, epochs=3, verbose=0)
    for k, v in a.state_dict().items():
        assert np.array_equal(v, b.state_dict()[k]), k


def test_callbacks_see_each_epoch_and_may_stop():
    x, y = data()
    m = clgrad.Model.from_spec(MLP)
    seen = []
    h = m.fit(x, y, epochs=5, verbose=0,
              callbacks=[lambda logs: seen.append(logs["epoch"]) or logs["epoch"] < 2])
    assert seen == [1, 2] and len(h.epochs) == 2


def test_image_folder_and_csv_datasets(tmp_path):
    """The library's readers from Python: a CSV with named classes, and an
    image folder (its PNGs written here with zlib), resized or refused."""
    import zlib
    rows = ["a,b,kind"] + ["%d,%d,%s" % (i, i % 3, ["x", "y"][i % 2]) for i in range(10)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    d = clgrad.Dataset.csv(tmp_path / "t.csv", "kind")
    x, y = d.arrays()
    assert len(d) == 10 and d.classes == 2 and list(y[:3]) == [0, 1, 0] and x[4, 0] == 4

    def png(path, a):
        h, w = a.shape
        raw = b"".join(b"\x00" + a[r].tobytes() for r in range(h))

        def chunk(k, b):
            return (struct.pack(">I", len(b)) + k + b
                    + struct.pack(">I", zlib.crc32(k + b) & 0xFFFFFFFF))
        path.write_bytes(b"\x89PNG\r\n\x1a\n"
                         + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                         + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    for c in ("cat", "dog"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(3):
            png(tmp_path / "imgs" / c / ("%d.png" % i),
                np.full((5, 4), 40 * i + (100 if c == "dog" else 0), dtype=np.uint8))
    d = clgrad.Dataset.images(tmp_path / "imgs", (1, 5, 4))
    x, y = d.arrays()
    assert list(y) == [0, 0, 0, 1, 1, 1] and x[4, 0, 2, 3] == np.float32(140 / 255)
    with pytest.raises(clgrad.UsageError, match="is 4 x 5 pixels"):
        clgrad.Dataset.images(tmp_path / "imgs", (1, 6, 4))
    assert clgrad.Dataset.images(tmp_path / "imgs", (3, 10, 8), resize="bilinear").arrays()[
        0].shape == (6, 3, 10, 8)


# ---- State dicts with PyTorch ------------------------------------------------------


def test_state_dict_round_trips_with_pytorch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    x, y = data()
    m = clgrad.Model.from_spec(CNN, seed=2)
    m.fit(x, y, epochs=2, verbose=0)
    t = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 4))
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    t.eval()
    with torch.no_grad():
        want = t(torch.from_numpy(x)).numpy()
    assert np.allclose(m.predict(x), want, atol=1e-5)
    # and back: PyTorch's own weights into a fresh clgrad model
    torch.manual_seed(0)
    t2 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                       nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 4)).eval()
    fresh = clgrad.Model.from_spec(CNN)
    assert fresh.load_state_dict(t2.state_dict()) == ([], [])
    with torch.no_grad():
        want = t2(torch.from_numpy(x)).numpy()
    assert np.allclose(fresh.predict(x), want, atol=1e-5)


def test_load_state_dict_is_strict():
    m = clgrad.Model.from_spec(MLP)
    sd = m.state_dict()
    with pytest.raises(clgrad.UsageError, match="missing .*4.bias"):
        m.load_state_dict({k: v for k, v in sd.items() if k != "4.bias"})
    with pytest.raises(clgrad.UsageError, match="unexpected .*extra"):
        m.load_state_dict(dict(sd, extra=np.zeros(3)))
    with pytest.raises(clgrad.UsageError, match="1.weight has shape"):
        m.load_state_dict(dict(sd, **{"1.weight": np.zeros((3, 3))}))
    missing, _ = m.load_state_dict({"1.bias": sd["1.bias"]}, strict=False)
    assert "4.weight" in missing


def test_save_and_from_checkpoint(tmp_path):
    x, y = data()
    m = clgrad.Model.from_spec(CNN)
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.safetensors")
    back = clgrad.Model.from_checkpoint(tmp_path / "m.safetensors")
    assert np.array_equal(back.predict(x), m.predict(x))


# ---- Text ------------------------------------------------------------------------


def test_text_model_trains_and_generates_as_the_cli(tmp_path, train_bin):
    text = "the cat sat on the mat. the dog sat on the log. " * 40
    (tmp_path / "t.txt").write_text(text)
    spec = "input tokens 16\ntokpos 32 16\nblock 16 2\nlayernorm\nlinear 32\n"
    (tmp_path / "g.spec").write_text(spec)
    subprocess.run([train_bin, str(tmp_path / "g.spec"), "--text", str(tmp_path / "t.txt"),
                    "--epochs", "1", "--init", "gpt2", "--save", str(tmp_path / "g.st"),
                    "--quiet"], check=True, capture_output=True)
    cli = subprocess.run([train_bin, "--generate", "40", "--init-from", str(tmp_path / "g.st"),
                          "--prompt", "the ", "--seed", "4", "--temperature", "0.8"],
                         check=True, capture_output=True, text=True).stdout
    m = clgrad.Model.from_checkpoint(tmp_path / "g.st", batch_size=1)
    assert m.tokenizer is not None
    ours = m.generate("the ", 40, temperature=0.8, seed=4)
    assert cli in (ours, ours + "\n"), (cli, ours)
    # training from Python on the same text
    tok = clgrad.Tokenizer.train("char", text)
    assert tok.decode(tok.encode("the cat")) == "the cat"
    lm = clgrad.Model.from_spec(spec, batch_size=8, init="gpt2")
    lm.tokenizer = tok
    h = lm.fit(clgrad.Dataset.text(text, tok, 16), epochs=2, optimizer="adamw", verbose=0)
    assert h.history["loss"][1] < h.history["loss"][0]
    assert isinstance(lm.generate("the ", 10, seed=1), str)


# ---- Errors ------------------------------------------------------------------------


def test_each_error_class_from_a_real_bad_input(tmp_path):
    x, y = data(64)
    m = clgrad.Model.from_spec(MLP)
    with pytest.raises(clgrad.UsageError, match="x: dtype <U"):
        m.fit(np.array([["a"] * 64] * 64), y, verbose=0)
    with pytest.raises(clgrad.UsageError, match=r"x: samples of shape \(8, 8\) do not fit"):
        m.fit(x[:, 0], y, verbose=0)
    with pytest.raises(clgrad.UsageError, match="label 10 of sample 0 is outside the model's 4"):
        m.fit(x, y + 10, verbose=0)
    with pytest.raises(clgrad.UsageError, match="unknown optimizer 'adamx'"):
        m.fit(x, y, optimizer="adamx", verbose=0)
    with pytest.raises(clgrad.UsageError, match="unknown option 'learning_rate'"):
        m.fit(x, y, learning_rate=0.1, verbose=0)
    with pytest.raises(clgrad.DataError, match="/no/such/file"):
        clgrad.Dataset.idx("/no/such/file")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(clgrad.DataError, match="bad.safetensors"):
        clgrad.Model.from_checkpoint(tmp_path / "bad.safetensors")
    with pytest.raises(clgrad.NumericalError, match="not finite"):
        m.load_state_dict(dict(m.state_dict(), **{"1.bias": np.full(16, np.nan)}))
    with pytest.raises(clgrad.NumericalError):
        clgrad.Model.from_spec(MLP).fit(x * 1e30, y, lr=1e30, optimizer="sgd", verbose=0)
    with pytest.raises(clgrad.DeviceError):
        clgrad.Context("name:no-such-device-anywhere")
    assert issubclass(clgrad.UsageError, ValueError) and issubclass(clgrad.DataError, OSError)


def test_device_memory_error_names_the_sizes():
    code = textwrap.dedent("""
        import clgrad
        try:
            clgrad.Model.from_spec("input 4096\\nlinear 4096\\nlinear 4096\\n")
        except clgrad.DeviceMemoryError as e:
            print("caught:", e)
    """)
    env = dict(os.environ, CLGRAD_MEMORY_LIMIT="8M")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert "caught:" in out.stdout, out.stdout + out.stderr
    assert "CLGRAD_MEMORY_LIMIT" in out.stdout or "8" in out.stdout


def test_wrong_spec_text_is_named():
    with pytest.raises(clgrad.DataError, match="spec:2: unknown layer 'linaer'"):
        clgrad.Model.from_spec("input 4\nlinaer 3\n")
    with pytest.raises(clgrad.DataError, match="no such spec file"):
        clgrad.Model.from_spec("no-such.spec")


# ---- Ctrl-C, the GIL, leaks --------------------------------------------------------


def test_ctrl_c_stops_at_a_step_and_raises_keyboard_interrupt():
    code = textwrap.dedent("""
        import sys, numpy as np, clgrad
        x = np.random.default_rng(0).random((4096, 1, 8, 8), dtype=np.float32)
        y = np.arange(4096) % 4
        m = clgrad.Model.from_spec("input 1 8 8\\nflatten\\nlinear 64\\nrelu\\nlinear 4\\n")
        print("ready", flush=True)
        try:
            m.fit(x, y, epochs=100000, verbose=0)
        except KeyboardInterrupt:
            print("interrupted", m.evaluate(x, y)["count"], flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0 and out.strip() == "interrupted 4096", out


def test_the_gil_is_released_while_training():
    x, y = data(2048)
    m = clgrad.Model.from_spec(MLP, batch_size=8)
    ticks, done = [0], threading.Event()

    def count():
        while not done.is_set():
            ticks[0] += 1
            time.sleep(0.001)
    t = threading.Thread(target=count)
    t.start()
    start = time.monotonic()
    m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    seconds = time.monotonic() - start
    done.set()
    t.join()
    assert ticks[0] > 0.2 * seconds / 0.001  # the counter ran while fit() did


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_two_hundred_models_do_not_grow_memory():
    ctx = clgrad.Context()
    x, y = data(64)
    for _ in range(20):  # warm-up: kernel programs, pools
        clgrad.Model.from_spec(MLP, context=ctx).fit(x, y, epochs=1, verbose=0)
    gc.collect()
    before = rss_kb()
    for _ in range(200):
        m = clgrad.Model.from_spec(MLP, context=ctx)
        m.fit(x, y, epochs=1, verbose=0)
        m.predict(x)
        del m
    gc.collect()
    grown = rss_kb() - before
    assert grown < 8 * 1024, "resident memory grew by %d KB" % grown


def test_hugging_face_gpt2_directory_loads_and_generates(root, tmp_path):
    """A directory GPT2LMHeadModel.save_pretrained() wrote: the model, its
    tokenizer, logits for ids, the same text for the same seed."""
    hf = os.path.join(root, "tests", "fixtures", "hf_gpt2")
    m = clgrad.Model.from_checkpoint(hf, batch_size=2)
    assert m.input_shape == (16,) and m.tokenizer.kind == "gpt2"
    ids = m.tokenizer.encode("Hello world, hello")
    window = np.zeros((2, 16), dtype=np.int32)
    window[:, :len(ids)] = ids
    logits = m.predict(window)
    assert logits.shape == (2, 16, m.output_shape[-1]) and np.isfinite(logits).all()
    a = m.generate("Hello", 8, seed=3, top_k=5)
    assert a == m.generate("Hello", 8, seed=3, top_k=5) and isinstance(a, str)
    m.save(tmp_path / "hf.safetensors")  # and as a clgrad checkpoint, tokenizer kept
    back = clgrad.Model.from_checkpoint(tmp_path / "hf.safetensors", batch_size=2)
    assert back.generate("Hello", 8, seed=3, top_k=5) == a


def test_fashion_mnist_as_png_folders_gives_the_same_pixels(root, tmp_path):
    """scripts/image_folders.py writes IDX images as class folders of PNGs;
    read back as an image folder they are the IDX file's pixels, in
    ImageFolder's order (classes by name, then files by name)."""
    fashion = "/usr/share/datasets/fashion-mnist"
    if not os.path.isdir(fashion):
        pytest.skip("no dataset-fashion-mnist")
    sys.path.insert(0, os.path.join(root, "scripts"))
    import image_folders
    n = image_folders.write_split(os.path.join(fashion, "t10k-images-idx3-ubyte.gz"),
                                  os.path.join(fashion, "t10k-labels-idx1-ubyte.gz"),
                                  str(tmp_path / "test"), limit=300)
    folder = clgrad.Dataset.images(tmp_path / "test", (1, 28, 28))
    idx = clgrad.Dataset.idx(os.path.join(fashion, "t10k-images-idx3-ubyte.gz"),
                             os.path.join(fashion, "t10k-labels-idx1-ubyte.gz"))
    fx, fy = folder.arrays()
    ix, iy = idx.arrays()
    names = sorted(image_folders.NAMES)
    order = sorted(range(n), key=lambda i: (names.index(image_folders.NAMES[iy[i]]), i))
    assert len(folder) == n == 300
    assert np.array_equal(fx, ix[:n][order] if len(ix) > n else ix[order])
    assert [names[c] for c in fy] == [image_folders.NAMES[iy[i]] for i in order]


def test_image_folders_train_as_the_idx_files(root, tmp_path, train_bin):
    """clgrad-train --images on Fashion-MNIST's PNG folders (decoded at
    once, or lazily by the loader's threads under --image-memory) and
    --train-images on IDX files of the same pixels (in the folder's order,
    the labels its sorted class names' indices): the same normalisation,
    batches and steps, so the same weights to the bit and the same
    accuracy."""
    fashion = "/usr/share/datasets/fashion-mnist"
    if not os.path.isdir(fashion):
        pytest.skip("no dataset-fashion-mnist")
    sys.path.insert(0, os.path.join(root, "scripts"))
    import image_folders
    names = sorted(image_folders.NAMES)
    args = {}
    for split, prefix, limit in (("train", "train", 600), ("test", "t10k", 200)):
        images = os.path.join(fashion, prefix + "-images-idx3-ubyte.gz")
        labels = os.path.join(fashion, prefix + "-labels-idx1-ubyte.gz")
        image_folders.write_split(images, labels, str(tmp_path / split), limit=limit)
        x, y = clgrad.Dataset.idx(images, labels).arrays()
        y = np.array([names.index(image_folders.NAMES[c]) for c in y[:limit]])
        order = sorted(range(limit), key=lambda i: (y[i], i))
        write_idx(tmp_path / (split + "-x.idx"), (x[order] * 255).round().astype(np.uint8))
        write_idx(tmp_path / (split + "-y.idx"), y[order].astype(np.uint8))
        args[split] = order
    spec = CNN.replace("8 8", "28 28").replace("linear 4", "linear 10")
    (tmp_path / "cnn.spec").write_text(spec)
    common = [train_bin, str(tmp_path / "cnn.spec"), "--epochs", "2", "--batch-size", "32",
              "--seed", "3", "--augment", "flip,brightness"]
    runs = {}
    folders = ["--images", str(tmp_path / "train"), "--test-images", str(tmp_path / "test")]
    # lazy: the 600 training images (1.9 MB decoded) over a 1 MB limit
    for how, data in (("folders", folders), ("lazy", folders + ["--image-memory", "1"]),
                      ("idx", ["--train-images", str(tmp_path / "train-x.idx"),
                               "--train-labels", str(tmp_path / "train-y.idx"),
                               "--test-images", str(tmp_path / "test-x.idx"),
                               "--test-labels", str(tmp_path / "test-y.idx")])):
        out = subprocess.run(common + data + ["--save", str(tmp_path / (how + ".st"))],
                             check=True, capture_output=True, text=True).stdout
        runs[how] = [l for l in out.splitlines() if l.startswith("test: ")][0]
    assert runs["folders"] == runs["idx"] == runs["lazy"]
    a = clgrad.Model.from_checkpoint(tmp_path / "folders.st").state_dict()
    for other in ("idx", "lazy"):
        b = clgrad.Model.from_checkpoint(tmp_path / (other + ".st")).state_dict()
        for k in a:
            assert np.array_equal(a[k], b[k]), (other, k)
