#!/usr/bin/env bash
# make demo: the main job on its default data. This first version shows the
# foundation on real data; qkv-train's issue replaces it with the full
# tokenize -> train -> evaluate pipeline.
set -euo pipefail
build=${1:-build}
bin="$(cd "$build" && pwd)/bin"
root="$(cd "$(dirname "$0")/.." && pwd)"
echo "== qkv-inspect on a file written by h5py"
"$bin/qkv-inspect" --head 4 "$root/tests/data/h5py_sample.h5"
