#!/usr/bin/env python3
"""Mutation testing: plants one realistic bug at a time and checks that the
suite catches it.

Each mutant in scripts/mutants.txt replaces one exact piece of source with a
plausible mistake and names the tests that stand guard over it. For each
mutant this script applies it, rebuilds (build-mutate, a build folder of its
own), runs those tests on PoCL (or, with --suite, the whole PoCL pass), and
puts the file back, whatever happens. A mutant is killed when a test fails
(or the build does, reported apart: a mutant that does not compile tests
nothing), and survives when every test passes. First the tests run
unmutated: a test that fails without a mutant would kill everything.

usage: scripts/mutate.py [--list] [--suite] [--build DIR] [ID ...]
  ID       mutants to run (default: all of them)
  --list   prints the mutants and their tests, runs nothing
  --suite  runs the whole suite on PoCL for each mutant (meson test
           --setup pocl), not only the tests the mutant names
Exit status 0 when every mutant run was killed, 1 when one survived or did
not build, 2 on a bad list or a failing baseline.
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(ROOT, "scripts", "mutants.txt")


def read_mutants(path):
    """[{id, file, from, to, tests, line}] from the list's blocks:
    [id] / file: / from: / to: / tests:, '#' comments between blocks."""
    mutants, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.fullmatch(r"\[([a-z0-9-]+)\]", line.strip())
            if m:
                cur = {"id": m.group(1), "line": n}
                mutants.append(cur)
                continue
            key, sep, value = line.partition(":")
            if not sep or cur is None or key not in ("file", "from", "to", "tests"):
                sys.exit("%s:%d: expected [id] or file:, from:, to:, tests:" % (path, n))
            cur[key] = value.strip()
    ids = set()
    for m in mutants:
        for key in ("file", "from", "to", "tests"):
            if not m.get(key):
                sys.exit("%s:%d: mutant %s has no %s:" % (path, m["line"], m["id"], key))
        if m["id"] in ids:
            sys.exit("%s:%d: mutant %s listed twice" % (path, m["line"], m["id"]))
        ids.add(m["id"])
        m["tests"] = m["tests"].split()
    return mutants


def check_applies(m):
    """The file's text, or exit naming the mutant whose piece is not there
    exactly once (the code moved on: update the list)."""
    path = os.path.join(ROOT, m["file"])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = text.count(m["from"])
    if count != 1:
        sys.exit("mutant %s: '%s' occurs %d times in %s (once expected)"
                 % (m["id"], m["from"], count, m["file"]))
    return text


def run(cmd, log):
    with open(log, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        return subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def build(build_dir, log):
    if not os.path.isdir(os.path.join(ROOT, build_dir, "meson-private")):
        if run(["meson", "setup", build_dir], log) != 0:
            return False
    return run(["meson", "compile", "-C", build_dir], log) == 0


def tests(build_dir, names, log):
    return run(["meson", "test", "-C", build_dir, "--setup", "pocl",
                "--print-errorlogs"] + names, log) == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ids", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--suite", action="store_true")
    ap.add_argument("--build", default="build-mutate")
    a = ap.parse_args()
    mutants = read_mutants(LIST)
    if a.ids:
        known = {m["id"]: m for m in mutants}
        for i in a.ids:
            if i not in known:
                sys.exit("mutate: no mutant '%s' in %s" % (i, LIST))
        mutants = [known[i] for i in a.ids]
    for m in mutants:
        check_applies(m)
    if a.list:
        for m in mutants:
            print("%-24s %-28s %s" % (m["id"], m["file"], " ".join(m["tests"])))
        return 0
    os.makedirs(os.path.join(ROOT, a.build), exist_ok=True)
    log = os.path.join(ROOT, a.build, "mutate.log")
    open(log, "w").close()
    names = lambda m: [] if a.suite else m["tests"]
    if not build(a.build, log):
        print("mutate: the unmutated tree does not build (%s)" % log)
        return 2
    guard = sorted({t for m in mutants for t in m["tests"]}) if not a.suite else []
    if not tests(a.build, guard, log):
        print("mutate: the tests fail without a mutant (%s)" % log)
        return 2
    results = []
    for m in mutants:
        path = os.path.join(ROOT, m["file"])
        text = check_applies(m)
        start = time.time()
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(m["from"], m["to"]))
            if not build(a.build, log):
                verdict = "did not build"
            else:
                verdict = "survived" if tests(a.build, names(m), log) else "killed"
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        results.append((m, verdict))
        print("%-24s %-14s %5.0f s  %s" % (m["id"], verdict, time.time() - start,
                                           " ".join(names(m)) or "the suite"), flush=True)
    build(a.build, log)  # leave the build as the tree is
    killed = sum(v == "killed" for _, v in results)
    print("mutate: %d of %d killed; log: %s" % (killed, len(results), log))
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
