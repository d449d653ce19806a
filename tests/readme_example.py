#!/usr/bin/python3
"""The README's C program is examples/fashion_mlp.c, line for line, so that
what a reader copies is what the build compiles and links.

usage: readme_example.py SOURCE_DIR [--write]   (--write: refresh the README)
"""
import sys

MARK = "`examples/fashion_mlp.c` trains an MLP"


def block_span(lines):
    """First and last+1 line of the indented block after the marker paragraph."""
    at = next(i for i, l in enumerate(lines) if l.startswith(MARK))
    while lines[at].strip():  # the rest of the paragraph
        at += 1
    start = at + 1
    end = start
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    return start, end


def main():
    root = sys.argv[1]
    readme_path = root + "/README.md"
    with open(readme_path) as f:
        lines = f.read().split("\n")
    with open(root + "/examples/fashion_mlp.c") as f:
        program = f.read().rstrip("\n").split("\n")
    start, end = block_span(lines)
    shown = [l[4:] for l in lines[start:end]]
    if shown == program:
        print("README shows examples/fashion_mlp.c as it is (%d lines)" % len(program))
        return 0
    if "--write" in sys.argv:
        lines[start:end] = [("    " + l) if l else "" for l in program]
        with open(readme_path, "w") as f:
            f.write("\n".join(lines))
        print("README: the program refreshed from examples/fashion_mlp.c")
        return 0
    for n, (a, b) in enumerate(zip(shown, program)):
        if a != b:
            print("README line %d: %r\nexamples/fashion_mlp.c line %d: %r" % (
                start + n + 1, a, n + 1, b))
            break
    else:
        print("README shows %d lines, the file has %d" % (len(shown), len(program)))
    print("refresh it: python3 tests/readme_example.py . --write")
    return 1


if __name__ == "__main__":
    sys.exit(main())
