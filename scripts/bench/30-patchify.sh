#!/usr/bin/env bash
# qkv-patchify against OpenCV's bare decode of the same images, side by side in
# one run (bench/patchify_bench.cpp): images/s of each and the overhead that
# patching + writing the HDF5 file add (target: at most +25%).
# The image folders are made once under data/bench-patchify/ from
# Fashion-MNIST (dataset-fashion-mnist), by qkv-patchify itself: IDX ->
# uint8 patches of whole images (upscaled, RGB) -> unpatchify into
# ImageFolder-style class folders of PNG and JPEG files.
#   QKV_BIN=build/bin QKV_ROOT=. scripts/bench/30-patchify.sh
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh or set QKV_BIN}" "${QKV_ROOT:?}"
export PATH="$QKV_BIN:$PATH"
data=$QKV_ROOT/data/bench-patchify
fm=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
names="T-shirt_top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle_boot"
threads=${QKV_BENCH_THREADS:-$(nproc)}

make_set() {  # make_set NAME COUNT SIZE FORMAT
  local dir=$data/$1
  [ -f "$dir/.complete" ] && return 0
  [ -f "$fm" ] || { echo "30-patchify: $fm missing (apt install dataset-fashion-mnist)" >&2; exit 1; }
  rm -rf "$dir"
  mkdir -p "$data"
  qkv-patchify "$fm" --limit "$2" --size "$3" --interp bicubic --channels rgb --patch "$3" --dtype uint8 \
    --class-names "$names" -q --no-provenance -o "$data/$1.h5"
  qkv-patchify unpatchify "$data/$1.h5" -o "$dir" --by-class --format "$4" -q
  rm -f "$data/$1.h5"
  touch "$dir/.complete"
}
make_set png64 3000 64 png
make_set jpg64 3000 64 jpg
make_set jpg224 600 224 jpg
make_set png224 600 224 png

out=$data/bench-out.h5
for set in png64 jpg64; do
  patchify_bench "$data/$set" --patch 8 --threads "$threads" --out "$out"
  patchify_bench "$data/$set" --patch 8 --dtype uint8 --threads "$threads" --out "$out"
done
for set in png224 jpg224; do
  patchify_bench "$data/$set" --patch 16 --dtype uint8 --threads "$threads" --out "$out"
  patchify_bench "$data/$set" --size 112 --patch 16 --threads "$threads" --out "$out"
done

# The tool end to end (process start, listing, provenance, progress), for reference.
t0=$(date +%s.%N)
qkv-patchify "$data/jpg64" --patch 8 -q -o "$out"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "qkv-patchify CLI, jpg64 -> float32: %.3f s, %.0f images/s\n", b - a, 3000 / (b - a) }'
rm -f "$out"
