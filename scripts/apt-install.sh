#!/bin/sh
# Installs those of the named Debian packages that are missing (as root),
# after one `apt-get update`; says which. Used by setup-debian.sh and
# opencl.sh.
#   usage: scripts/apt-install.sh LABEL PACKAGE...
set -eu
label=$1
shift
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "$label: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
