#!/usr/bin/env bash
# ViT on Fashion-MNIST (Debian dataset-fashion-mnist): 60k train / 10k test,
# 28x28 images as 36 overlapping patches of 8x8 at stride 4 (a 6x6 grid).
# Target: test accuracy >= 91.6% within 15 minutes of wall time on 2 cores
# (the time is printed next to the accuracy).
# Recipe: 6 pre-norm blocks, d_model 64, d_ff 128, no dropout, label
# smoothing 0.1, AdamW 2e-3 cosine, batch 128, random left-right flips and
# 1-pixel shifts, 40 epochs. Measured 2026-11-21 on a quiet 2-core machine:
# seed 1 91.73% in 772 s, seed 2 91.78% in 785 s (~2,900-3,000 images/s);
# accuracy by epoch 4/9/13/17/21/26/30/34/38/40 (seed 1): 84.2/86.3/88.3/
# 89.0/89.5/90.3/91.0/91.3/91.7/91.7. Adding random erasing (erase=0.25), seed 1:
# 91.46% (not adopted).
# Patches compared at 8 epochs (same model and recipe): 8x8 stride 4 88.26%
# at 2,650 images/s, 4x4 (49 patches) 87.24% at 1,900 images/s; with 8x8
# stride 4, d_model 96 / d_ff 192 gave 87.37%, mean pooling (--pool mean)
# 87.40%. Earlier: 4x4 patches, 24 epochs: 90.23% in 789 s.
#   QKV_BENCH_VIT_EPOCHS=3 scripts/bench.sh build train-vit-fmnist   (shorter)
#   QKV_BENCH_VIT_AUGMENT=none ...                                     (no augmentation)
#   QKV_BENCH_VIT_SEED=2 ...                                           (another seed)
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
epochs=${QKV_BENCH_VIT_EPOCHS:-40}
seed=${QKV_BENCH_VIT_SEED:-1}
augment=${QKV_BENCH_VIT_AUGMENT:-flip,shift=1}
threads=${QKV_BENCH_THREADS:-$(nproc)}
fm=/usr/share/datasets/fashion-mnist
[ -s "$fm/train-images-idx3-ubyte.gz" ] || { echo "SKIP: $fm missing (scripts/install-deps.sh --bench)"; exit 0; }
work="$QKV_ROOT/data/bench/vit-fmnist"
mkdir -p "$work"
for split in train t10k; do
  [ -s "$work/$split-p8s4.h5" ] || "$QKV_BIN/qkv-patchify" -q "$fm/$split-images-idx3-ubyte.gz" --patch 8 --stride 4 \
    --dtype uint8 --normalize none -o "$work/$split-p8s4.h5"
done
rm -f "$work/vit.jsonl"  # --metrics appends
start=$(date +%s.%N)
"$QKV_BIN/qkv-train" -q --threads "$threads" vit "$work/train-p8s4.h5" --val "$work/t10k-p8s4.h5" \
  --layers 6 --heads 4 --d-model 64 --d-ff 128 --dropout 0 --label-smoothing 0.1 --norm pre -b 128 --epochs "$epochs" \
  --lr 2e-3 --schedule cosine --warmup 500 --min-lr 1e-5 --weight-decay 0.05 --clip 1 --augment "$augment" --seed "$seed" \
  --eval-every 2000 -o "$work/vit.h5" --metrics "$work/vit.jsonl" --plot "$work/vit.png"
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
acc=$(grep '"split": "val"' "$work/vit.jsonl" | tail -1 | sed 's/.*"accuracy": \([0-9.e+-]*\).*/\1/')
awk -v a="$acc" -v s="$secs" -v t="$threads" -v e="$epochs" -v d="$seed" 'BEGIN {
  printf "vit fashion-mnist: test accuracy %.2f%% (target >= 91.6%%) in %ds wall (target <= 900s), %d threads, %d epochs, seed %d\n",
         100 * a, s, t, e, d }'
echo "augment $augment; training throughput: $(grep '"split": "train"' "$work/vit.jsonl" | tail -1 | sed 's/.*"images_per_s": \([0-9.e+-]*\).*/\1/') images/s"
grep -q '"accuracy"' "$work/vit.jsonl" && awk -v a="$acc" -v s="$secs" 'BEGIN { exit !(a >= 0.916 && s <= 900) }' ||
  echo "vit fashion-mnist: BELOW TARGET"
echo "plot: $work/vit.png"
