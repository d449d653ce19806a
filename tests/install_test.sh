#!/bin/sh
# Installs clgrad into a scratch prefix, then builds examples/list_devices.c
# with nothing but the installed headers and `pkg-config clgrad`, and runs it;
# compiles every installed header alone as C11 and as C++20, and builds and
# runs tests/api_check.c both ways (-Wall -Wextra -Werror throughout).
#   usage: install_test.sh SOURCE_DIR BUILD_DIR [SANITIZE]
# SANITIZE (meson's b_sanitize, "address,undefined") is given to the programs
# linked here, as a sanitized libclgrad needs its runtime in the program.
set -eu
src=$1
build=$2
link_flags=""
if [ -n "${3:-}" ] && [ "$3" != none ]; then
    link_flags="-fsanitize=$3"
fi
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --no-rebuild >"$dest/install.log" 2>&1 ||
    { cat "$dest/install.log"; exit 1; }
pcdir=$(dirname "$(find "$dest" -name clgrad.pc | head -n 1)")
[ -f "$pcdir/clgrad.pc" ] || { echo "clgrad.pc was not installed"; exit 1; }
[ -f "$(find "$dest" -path '*include/clgrad.h' | head -n 1)" ] || { echo "clgrad.h missing"; exit 1; }

# The installed clgrad.pc names its prefix; point it into the scratch root.
# PKG_CONFIG_PATH keeps what the caller had, where clgrad's own dependencies
# may be (a private prefix on a machine without them installed).
sed -i "s|^prefix=|prefix=$dest|" "$pcdir/clgrad.pc"
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror $link_flags "$src/examples/list_devices.c" \
    $(pkg-config --cflags --libs clgrad) -o "$dest/list_devices"
libdir=$(dirname "$(find "$dest" -name 'libclgrad.so' | head -n 1)")
out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$dest/list_devices")
echo "$out"
echo "$out" | grep -q '^0: ' || { echo "list_devices printed no device"; exit 1; }
# It must have loaded the installed library, not the build tree's.
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$dest/list_devices" | grep -q "$dest" ||
    { echo "list_devices did not link the installed libclgrad"; exit 1; }

cflags=$(pkg-config --cflags clgrad)
incdir=$(dirname "$(find "$dest" -path '*include/clgrad.h' | head -n 1)")
checked=0
for h in "$incdir"/clgrad.h "$incdir"/clgrad/*.h; do
    name=${h#"$incdir"/}
    printf '#include <%s>\n' "$name" >"$dest/one.c"
    cc -std=c11 -Wall -Wextra -Werror -fsyntax-only $cflags "$dest/one.c" ||
        { echo "$name does not compile as C11"; exit 1; }
    c++ -std=c++20 -Wall -Wextra -Werror -fsyntax-only $cflags -x c++ "$dest/one.c" ||
        { echo "$name does not compile as C++20"; exit 1; }
    checked=$((checked + 1))
done
echo "$checked public headers compile alone as C11 and as C++20"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror $link_flags "$src/tests/api_check.c" \
    $(pkg-config --cflags --libs clgrad) -o "$dest/api_check_c"
# shellcheck disable=SC2086
c++ -std=c++20 -Wall -Wextra -Werror $link_flags -x c++ "$src/tests/api_check.c" -x none \
    $(pkg-config --cflags --libs clgrad) -o "$dest/api_check_cxx"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$dest/api_check_c"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$dest/api_check_cxx"
echo "install_and_link: 1 passed, 0 failed"
