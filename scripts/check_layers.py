#!/usr/bin/env python3
"""Checks that clgrad's dependencies point one way: every #include "..." of
src/, include/, cl/ and tools/ may only reach a layer below its own, and
inside each folder the files call each other in one direction (no circle
of calls between the files of one folder).

usage: check_layers.py SOURCE_ROOT     check the tree; exit 1 on any violation
       check_layers.py --self-test     show that an upward include and a
                                       circle of calls are caught

The layers, lowest first (README, "Layout"). A folder may include its own
files and those of lower layers; layers of the same rank do not include each
other; src/data/ includes src/base/ only; the tools use the public headers,
src/base/ and their own files. Public headers (include/clgrad/X.h) belong to
the layer whose API they declare. src/library.c assembles the layers and may
include anything.
"""
import os
import re
import sys
import tempfile

RANK = {
    "base": 0,
    "runtime": 1,
    "blas": 2,
    "graph": 3,
    "ops": 4,
    "cl": 3.5,  # cl/codes.h, below the ops and the optimizer that share it
    "nn": 5,
    "optim": 5,
    "data": 5,
    "io": 6,
    "train": 7,
    "tools": 8,
}

# The layer each public header declares.
PUBLIC = {
    "status.h": "base",
    "version.h": "base",
    "runtime.h": "runtime",
    "blas.h": "blas",
    "graph.h": "graph",
    "nn.h": "nn",
    "optim.h": "optim",
    "data.h": "data",
    "io.h": "io",
    "train.h": "train",
    "comm.h": "train",
}

# Layers that may include fewer than everything below them.
ONLY = {"data": {"base"}, "tools": {"base"}}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(root, path):
    """The layer of a file of the tree, or None for files outside the layers."""
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    parts = rel.split("/")
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[0] == "src":
        return "library" if parts[1] == "library.c" else None
    if parts[0] == "include" and len(parts) == 3:
        return PUBLIC.get(parts[2])
    if parts[0] == "include":
        return "public"  # clgrad.h, the umbrella
    if parts[0] in ("cl", "tools"):
        return parts[0]
    return None


def target_of(root, includer, name):
    """(the layer an include names, whether it is a public header); the
    layer is None for a file beside the includer ("train.h" in tools/). A
    bare name that is not beside the includer is looked for in every layer's
    folder, as an include path would find it."""
    if name.startswith("clgrad/"):
        return PUBLIC.get(name[len("clgrad/"):], "public"), True
    if name == "clgrad.h":
        return "public", True
    head = name.split("/")[0]
    if "/" in name and head in RANK:
        return head, False
    if os.path.exists(os.path.join(os.path.dirname(includer), name)):
        return None, False
    for layer in RANK:
        for top in ("src", ""):
            if os.path.exists(os.path.join(root, top, layer, name)):
                return layer, False
    return None, False


def allowed(own, target, public):
    if own in ("library", None) or target is None or target == own:
        return True
    if target == "public":  # the umbrella header: only above the library
        return own == "tools"
    if own == "public":
        return True
    if own == "tools" and public:
        return True  # the public API
    if own in ONLY and target not in ONLY[own]:
        return False
    return RANK[target] < RANK[own]


def violations(root):
    found = []
    for top in ("src", "include", "cl", "tools"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".cc", ".h", ".cl", ".in")):
                    continue
                path = os.path.join(folder, f)
                own = layer_of(root, path)
                with open(path, encoding="utf-8") as text:
                    for number, line in enumerate(text, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target, public = target_of(root, path, m.group(1))
                        if not allowed(own, target, public):
                            rel = os.path.relpath(path, root)
                            found.append('%s:%d: %s (%s) includes "%s" (%s)' % (
                                rel, number, own, RANK.get(own, "?"), m.group(1),
                                target))
    return found


# ---- Calls inside a folder ------------------------------------------------------

# A function definition: a line at column 0 naming a function, not static,
# whose first line ending in "{" or ";" is a lone "{".
DEF_START = re.compile(r"^(?!static\b|typedef\b|extern\b|return\b|else\b|enum\b)"
                       r"[A-Za-z_][\w \*]*?\b([A-Za-z_]\w*)\s*\(")
TOKEN = re.compile(r"[A-Za-z_]\w*")


def strip_c(text):
    """The text without comments and string literals."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def definitions(text):
    lines, found = text.split("\n"), set()
    for i, line in enumerate(lines):
        m = DEF_START.match(line)
        if not m:
            continue
        for follow in lines[i:i + 12]:
            follow = follow.rstrip()
            if follow == "{":
                found.add(m.group(1))
                break
            if follow.endswith((";", "}")):
                break
    return found


def call_graph(folder):
    """file -> {file it uses a function of: the first such function}."""
    files = sorted(f for f in os.listdir(folder) if f.endswith((".c", ".cc")))
    texts = {}
    for f in files:
        with open(os.path.join(folder, f), encoding="utf-8") as text:
            texts[f] = strip_c(text.read())
    defs = {f: definitions(texts[f]) for f in files}
    owner = {}
    for f in files:
        for name in sorted(defs[f]):
            owner.setdefault(name, f)
    edges = {f: {} for f in files}
    for f in files:
        for name in sorted(set(TOKEN.findall(texts[f]))):
            g = owner.get(name)
            if g and g != f and name not in defs[f]:
                edges[f].setdefault(g, name)
    return edges


def circles(edges):
    """The strongly connected groups of more than one file (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def call_circles(root):
    found = []
    for top in ("src", "tools"):
        for folder, _, _ in os.walk(os.path.join(root, top)):
            edges = call_graph(folder)
            for group in circles(edges):
                uses = ["%s -> %s (%s)" % (a, b, edges[a][b])
                        for a in group for b in sorted(edges[a]) if b in group]
                found.append("%s: files call each other in a circle: %s" % (
                    os.path.relpath(folder, root), "; ".join(uses)))
    return found


def self_test():
    """An upward include and a sideways one must be caught; a downward not."""
    cases = [
        ("src/runtime/bad.c", '#include "graph/graph_internal.h"\n', True),
        ("src/base/bad.c", '#include "clgrad/runtime.h"\n', True),
        ("src/data/bad.c", '#include "runtime/runtime_internal.h"\n', True),
        ("src/nn/bad.c", '#include "optim/anything.h"\n', True),
        ("tools/bad.c", '#include "graph/op.h"\n', True),
        ("src/ops/good.c", '#include "graph/op.h"\n', False),
        ("tools/good.c", '#include "base/text.h"\n#include "clgrad/nn.h"\n', False),
        # an include path hides the folder: found by looking in every layer
        ("src/graph/bad.c", '#include "op_internal.h"\n', True),
    ]
    failures = 0
    for path, text, bad in cases:
        with tempfile.TemporaryDirectory() as root:
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full))
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
            os.makedirs(os.path.join(root, "src/ops"), exist_ok=True)
            open(os.path.join(root, "src/ops/op_internal.h"), "w").close()
            caught = bool(violations(root))
            if caught != bad:
                failures += 1
                print("self-test: %s with %s was %s" % (
                    path, text.strip(), "caught" if caught else "not caught"))
    # calls inside a folder: a circle of three files, and a line of them
    circle = {"a.c": "int a(void)\n{\n    return b();\n}\n",
              "b.c": "int b(void)\n{\n    return c();\n}\n",
              "c.c": "int c(void)\n{\n    return a(); /* b() */\n}\n"}
    line = dict(circle, **{"c.c": "int c(void)\n{\n    return 0; /* a() */\n}\n"})
    for files, bad in ((circle, True), (line, False)):
        cases.append(("src/blas/" + " ".join(sorted(files)), "", bad))
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "src/blas"))
            for name, text in files.items():
                with open(os.path.join(root, "src/blas", name), "w", encoding="utf-8") as f:
                    f.write(text)
            caught = bool(call_circles(root))
            if caught != bad:
                failures += 1
                print("self-test: %s calling %s was %s" % (
                    "a circle" if bad else "a line", files,
                    "caught" if caught else "not caught"))
    print("check_layers self-test: %d of %d cases right" % (
        len(cases) - failures, len(cases)))
    return 1 if failures else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    found = violations(sys.argv[1])
    circled = call_circles(sys.argv[1])
    for v in found + circled:
        print(v)
    print("check_layers: %d includes against the direction of the layers, %d "
          "folders whose files call in a circle" % (len(found), len(circled)))
    return 1 if found or circled else 0


if __name__ == "__main__":
    sys.exit(main())
