#!/usr/bin/env bash
# libcore matmul vs raw cblas, with the kernels qkv picks by itself, and the
# same run pinned to the core OpenBLAS detects on its own (QKV_BLAS_AUTO=0
# stops qkv's re-exec), so the gain of the automatic choice shows in one run.
set -euo pipefail
echo "--- with qkv's automatic kernel choice (OPENBLAS_CORETYPE unset)"
env -u OPENBLAS_CORETYPE "$QKV_BIN/matmul_bench"
echo "--- OpenBLAS's own detection only"
env -u OPENBLAS_CORETYPE QKV_BLAS_AUTO=0 "$QKV_BIN/matmul_bench"
