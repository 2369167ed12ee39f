#!/usr/bin/env bash
# make bench: runs every benchmark in scripts/bench/ in name order. Each prints
# side-by-side figures and ratios (machines are shared and noisy: compare
# within one run, never against a stored number).
#   scripts/bench.sh BUILD_DIR [NAME...]   e.g. scripts/bench.sh build tokenize
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
export QKV_BIN="$(cd "$build" && pwd)/bin"
export QKV_ROOT="$(cd "$here/.." && pwd)"
# qkv picks its best OpenBLAS kernels itself, but keeps a kernel type the
# user exported; the PyTorch sides set theirs explicitly (SkylakeX, their
# best). An inherited OPENBLAS_CORETYPE=Haswell made qkv 1.5x slower in bench
# 50 and the ratios meaningless, so benchmarks run without it.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "bench.sh: ignoring OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (qkv chooses its kernels; PyTorch runs set theirs)"
  unset OPENBLAS_CORETYPE
fi
status=0
for b in "$here"/bench/*.sh; do
  name=$(basename "$b" .sh)
  if [ $# -gt 0 ] && [[ ! " $* " == *" ${name#*-} "* && ! " $* " == *" $name "* ]]; then continue; fi
  echo "=== bench: $name"
  bash "$b" || { echo "bench $name FAILED" >&2; status=1; }
done
exit $status
