#!/usr/bin/env bash
# make install PREFIX=... works: installs the tools, libcore, headers and the
# CMake package, and a separate project builds and runs against them.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -x "$tmp/prefix/bin/qkv-inspect"
test -f "$tmp/prefix/include/qkv/io/h5.h"
"$tmp/prefix/bin/qkv-inspect" --version
cmake -S "$src/tests/install" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:${LD_LIBRARY_PATH:-}" "$tmp/consumer/consumer"
echo "install check passed"
