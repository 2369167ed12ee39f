#!/usr/bin/env bash
# qkv-patchify against OpenCV's bare decode of the same images, side by side in
# one run (bench/patchify_bench.cpp): images/s of each and the overhead that
# patching + writing the HDF5 file add (target: at most +25%), beside the
# floor: the same decode while one more thread write()s as many bytes as
# qkv-patchify wrote (no tool that stores these patches can beat that).
#
# Image sets, made once under data/bench-patchify/ (git-ignored), 3000 each:
#   photo-jpg, photo-png  ImageNet-like photos: random crops (20-100% of the
#       area, aspect 3:4-4:3, flipped or not, longer side 300-500 px, JPEG
#       quality 90 / PNG) of 22 colour photos of OpenCV's sample data
#       (opencv-doc, fetched by scripts/data/get-opencv-data.sh; skipped with
#       a line saying so when they cannot be fetched). Benched as ViT users
#       preprocess: --size 224 --fit crop or squash, --patch 16, uint8 or
#       float32 with ImageNet normalisation.
#   png64, jpg64, png224, jpg224  Fashion-MNIST (dataset-fashion-mnist)
#       upscaled to 64x64 or 224x224 RGB by qkv-patchify itself (IDX -> uint8
#       patches of whole images -> unpatchify into class folders). Mostly flat
#       black: very cheap to decode, so writing the output weighs the most.
#
# Writing into the page cache is slow on this VM: fresh guest memory (freed
# a second or more before) costs the kernel 0.6-1 GB/s to copy into, versus
# 6 GB/s for memory just freed (dd or write() of 1.8 GB). float32 224x224
# patches are 1.8 GB per 3000 images: 2-3 s of bare write() against 3.2 s
# of JPEG decode, so +25% over decode alone is out of reach there whatever
# the writer; the ratio to decode + write() shows what qkv-patchify adds.
#   QKV_BIN=build/bin QKV_ROOT=. scripts/bench/30-patchify.sh
#   QKV_BENCH_REPS=2 QKV_BENCH_THREADS=2 ...   repetitions (3), threads (nproc)
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh or set QKV_BIN}" "${QKV_ROOT:?}"
export PATH="$QKV_BIN:$PATH"
data=$QKV_ROOT/data/bench-patchify
fm=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
names="T-shirt_top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle_boot"
threads=${QKV_BENCH_THREADS:-$(nproc)}
reps=${QKV_BENCH_REPS:-3}
# Colour photos of examples/data/ in Debian's opencv-doc (340-1280 px).
photo_dir=$QKV_ROOT/data/opencv-photos
photos=(aero1.jpg aero3.jpg aloeL.jpg apple.jpg baboon.jpg board.jpg building.jpg butterfly.jpg chicky_512.png
  ela_original.jpg fruits.jpg graf1.png home.jpg leuvenA.jpg messi5.jpg orange.jpg rubberwhale1.png smarties.png
  squirrel_cls.jpg starry_night.jpg stuff.jpg sudoku.png)

# A set is remade when its recipe (the line in its .complete) changes.
fresh() { [ -f "$data/$1/.complete" ] && [ "$(cat "$data/$1/.complete")" = "$2" ]; }
done_set() { echo "$2" >"$data/$1/.complete"; }

make_fmnist_set() {  # make_fmnist_set NAME COUNT SIZE FORMAT
  local dir=$data/$1 recipe="fashion-mnist $2 $3 $4"
  fresh "$1" "$recipe" && return 0
  [ -f "$fm" ] || { echo "30-patchify: $fm missing (apt install dataset-fashion-mnist)" >&2; exit 1; }
  rm -rf "$dir"
  mkdir -p "$data"
  qkv-patchify "$fm" --limit "$2" --size "$3" --interp bicubic --channels rgb --patch "$3" --dtype uint8 \
    --class-names "$names" -q --no-provenance -o "$data/$1.h5"
  qkv-patchify unpatchify "$data/$1.h5" -o "$dir" --by-class --format "$4" -q
  rm -f "$data/$1.h5"
  done_set "$1" "$recipe"
}

make_photo_set() {  # make_photo_set NAME COUNT FORMAT
  local dir=$data/$1 recipe="photos $2 $3 seed 1: ${photos[*]}"
  fresh "$1" "$recipe" && return 0
  rm -rf "$dir"
  patchify_bench make-crops "${photos[@]/#/$photo_dir/}" --out "$dir" --count "$2" --format "$3" --seed 1
  done_set "$1" "$recipe"
}

make_fmnist_set png64 3000 64 png
make_fmnist_set jpg64 3000 64 jpg
make_fmnist_set jpg224 3000 224 jpg
make_fmnist_set png224 3000 224 png
have_photos=0
if "$QKV_ROOT/scripts/data/get-opencv-data.sh" "$photo_dir" "${photos[@]}"; then
  have_photos=1
  make_photo_set photo-jpg 3000 jpg
  make_photo_set photo-png 3000 png
else
  echo "SKIP photo sets: OpenCV's sample photos could not be fetched (see the line above)"
fi

out=$data/bench-out.h5
b() { patchify_bench "$@" --threads "$threads" --reps "$reps" --out "$out"; }
if [ $have_photos = 1 ]; then  # as ViT users preprocess photos
  for set in photo-jpg photo-png; do
    for fit in crop squash; do
      b "$data/$set" --size 224 --fit "$fit" --patch 16 --dtype uint8
      b "$data/$set" --size 224 --fit "$fit" --patch 16 --normalize imagenet
    done
  done
fi
for set in png64 jpg64; do
  b "$data/$set" --patch 8
  b "$data/$set" --patch 8 --dtype uint8
done
for set in png224 jpg224; do
  b "$data/$set" --patch 16 --dtype uint8
  b "$data/$set" --size 112 --patch 16
done

# The tool end to end (process start, listing, provenance, progress), for reference.
t0=$(date +%s.%N)
qkv-patchify "$data/jpg64" --patch 8 -q -o "$out"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "qkv-patchify CLI, jpg64 -> float32: %.3f s, %.0f images/s\n", b - a, 3000 / (b - a) }'
rm -f "$out"
