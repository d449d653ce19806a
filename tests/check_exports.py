#!/usr/bin/env python3
"""The shared library exports exactly the functions include/ declares.

usage: check_exports.py LIBCLGRAD.so CC [CC ARGS...] -- INCLUDE_DIR...

The declared names come from the public headers as the compiler sees them
(clgrad.h preprocessed, so the builders that activations.h's rows declare
count too): every `clg_name(` that is not a function pointer type. The
exported ones are `nm -D --defined-only`. A name declared but not exported
lacks CLG_API; a name exported but not declared is an internal function
that escaped. Either fails, naming it.
"""
import re
import subprocess
import sys


def declared(cc, include_dirs):
    args = cc + ["-E", "-P", "-DCLG_API=", "-x", "c", "-"]
    args += ["-I" + d for d in include_dirs]
    out = subprocess.run(args, input="#include <clgrad.h>\n", capture_output=True,
                         text=True, check=True).stdout
    # a name then "(", not "(*name)" (a function pointer type) nor
    # "type (*name)" (its return type)
    return set(re.findall(r"(?<![\w(*])\**(clg_\w+)\s*\((?!\s*\*)", out))


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines()
            if len(line.split()) == 3 and line.split()[1] in "TDBRVWiu"}


def main():
    lib = sys.argv[1]
    sep = sys.argv.index("--")
    cc, include_dirs = sys.argv[2:sep], sys.argv[sep + 1:]
    want, have = declared(cc, include_dirs), exported(lib)
    if len(want) < 100:
        sys.exit("check_exports: only %d declarations found in clgrad.h" % len(want))
    missing, extra = sorted(want - have), sorted(have - want)
    for name in missing:
        print("declared in include/ but not exported (no CLG_API?): %s" % name)
    for name in extra:
        print("exported but declared nowhere in include/: %s" % name)
    print("check_exports: %d names declared, %d exported, %d missing, %d extra"
          % (len(want), len(have), len(missing), len(extra)))
    sys.exit(1 if missing or extra else 0)


if __name__ == "__main__":
    main()
