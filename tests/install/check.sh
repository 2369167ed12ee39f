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
# The consumer is built with the flags qkv was built with: under `make
# test-asan` the sanitizer runtimes must come first in the consumer too.
flag() { sed -n "s/^$1:STRING=//p" "$build/CMakeCache.txt"; }
cmake -S "$src/tests/install" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$(flag CMAKE_CXX_FLAGS)" -DCMAKE_EXE_LINKER_FLAGS="$(flag CMAKE_EXE_LINKER_FLAGS)" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:${LD_LIBRARY_PATH:-}" "$tmp/consumer/consumer"
echo "install check passed"
