#!/usr/bin/python3
"""The C programs the docs show are the example files, line for line, so
that what a reader copies is what the build compiles and links: the
README's is examples/quick_start.c, docs/library.md's examples/fashion_mlp.c.

usage: readme_example.py SOURCE_DIR [--write]   (--write: refresh the docs)
"""
import sys

# (the document, the start of the paragraph before the program, the program)
SHOWN = [
    ("README.md", "`examples/quick_start.c` trains", "examples/quick_start.c"),
    ("docs/library.md", "`examples/fashion_mlp.c` trains an MLP", "examples/fashion_mlp.c"),
]


def block_span(lines, mark):
    """First and last+1 line of the indented block after the marker paragraph."""
    at = next(i for i, l in enumerate(lines) if l.startswith(mark))
    while lines[at].strip():  # the rest of the paragraph
        at += 1
    start = at + 1
    end = start
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    return start, end


def check(root, doc, mark, example, write):
    doc_path = root + "/" + doc
    with open(doc_path) as f:
        lines = f.read().split("\n")
    with open(root + "/" + example) as f:
        program = f.read().rstrip("\n").split("\n")
    start, end = block_span(lines, mark)
    shown = [l[4:] for l in lines[start:end]]
    if shown == program:
        print("%s shows %s as it is (%d lines)" % (doc, example, len(program)))
        return 0
    if write:
        lines[start:end] = [("    " + l) if l else "" for l in program]
        with open(doc_path, "w") as f:
            f.write("\n".join(lines))
        print("%s: the program refreshed from %s" % (doc, example))
        return 0
    for n, (a, b) in enumerate(zip(shown, program)):
        if a != b:
            print("%s line %d: %r\n%s line %d: %r" % (doc, start + n + 1, a, example,
                                                     n + 1, b))
            break
    else:
        print("%s shows %d lines, %s has %d" % (doc, len(shown), example, len(program)))
    print("refresh it: python3 tests/readme_example.py . --write")
    return 1


def main():
    failed = 0
    for doc, mark, example in SHOWN:
        failed |= check(sys.argv[1], doc, mark, example, "--write" in sys.argv)
    return failed


if __name__ == "__main__":
    sys.exit(main())
