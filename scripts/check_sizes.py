#!/usr/bin/env python3
"""No source file over 800 lines, and a README a newcomer reads in ten
minutes (at most 320 lines).

usage: check_sizes.py SOURCE_ROOT
Source files: C, C++, OpenCL, headers, Python, shell and meson files that
git tracks (outside tests/fixtures/). Exit 1 naming each file over.
"""
import os
import subprocess
import sys

LIMIT = 800
README_LIMIT = 320
SOURCE = (".c", ".cc", ".h", ".cl", ".py", ".sh", ".in", "meson.build")


def main():
    root = sys.argv[1]
    files = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True,
                           text=True, check=True).stdout.split()
    over = []
    for f in files:
        if f.startswith("tests/fixtures/") or not f.endswith(SOURCE):
            continue
        path = os.path.join(root, f)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as text:
            n = sum(1 for _ in text)
        if n > LIMIT:
            over.append("%s: %d lines (at most %d)" % (f, n, LIMIT))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as text:
        n = sum(1 for _ in text)
    if n > README_LIMIT:
        over.append("README.md: %d lines (at most %d: the rest belongs in docs/)"
                    % (n, README_LIMIT))
    for line in over:
        print(line)
    print("check_sizes: %d files over their limit" % len(over))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
