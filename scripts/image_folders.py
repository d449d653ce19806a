#!/usr/bin/env python3
"""Writes an MNIST-style IDX data set (Fashion-MNIST by default) as image
folders, as a user's photos would come: OUT/train/CLASS/NNNNN.png and
OUT/test/CLASS/NNNNN.png, one gray PNG per image (the same bytes as the IDX
file's), CLASS the class's name. Python's standard library only (zlib for
the PNGs).

usage: scripts/image_folders.py OUT [--idx DIR] [--limit N]
"""
import argparse
import gzip
import os
import struct
import zlib

FASHION = "/usr/share/datasets/fashion-mnist"
# Fashion-MNIST's classes, as folder names ("/" is not a name's character)
NAMES = ["t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
         "sneaker", "bag", "ankle_boot"]


def read_idx(path):
    """(dims, bytes) of an IDX file of unsigned bytes, plain or gzip'd."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError("%s: not an IDX file of unsigned bytes" % path)
    n = data[3]
    dims = struct.unpack(">" + "I" * n, data[4:4 + 4 * n])
    return dims, data[4 + 4 * n:]


def png(path, width, height, pixels):
    """A gray 8-bit PNG of `pixels` (width * height bytes, rows top down)."""
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def write_split(images, labels, out, limit=None, names=NAMES):
    """Writes one split's images under out/CLASS/; returns how many."""
    (count, h, w), px = read_idx(images)
    _, lab = read_idx(labels)
    count = min(count, limit) if limit else count
    for i in range(count):
        os.makedirs(os.path.join(out, names[lab[i]]), exist_ok=True)
        png(os.path.join(out, names[lab[i]], "%05d.png" % i), w, h,
            px[i * h * w:(i + 1) * h * w])
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--idx", default=FASHION)
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        n = write_split(os.path.join(a.idx, prefix + "-images-idx3-ubyte.gz"),
                        os.path.join(a.idx, prefix + "-labels-idx1-ubyte.gz"),
                        os.path.join(a.out, split), a.limit)
        print("%s: %d images in %s" % (split, n, os.path.join(a.out, split)))


if __name__ == "__main__":
    main()
