#!/usr/bin/env bash
# Char-level GPT on TinyShakespeare (first 90% train, last 10% val), nanoGPT's
# shakespeare_char CPU config, qkv-train and PyTorch 1.13 (the same model via
# scripts/torch/train_charlm.py) side by side in one run, same thread count.
# Targets: qkv val loss <= 1.88; qkv tokens/s >= 2x PyTorch's.
#   QKV_BENCH_LM_STEPS=500 scripts/bench.sh build train-charlm   (shorter)
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
steps=${QKV_BENCH_LM_STEPS:-2000}
threads=${QKV_BENCH_THREADS:-$(nproc)}
src="$QKV_ROOT/../shared/data/tinyshakespeare/input.txt"
[ -r "$src" ] || { echo "SKIP: $src not found (../shared/data)"; exit 0; }
work="$QKV_ROOT/data/bench/charlm"
mkdir -p "$work"
"$QKV_BIN/qkv-tokenize" -q learn --model char "$src" -o "$work/chars.h5"
"$QKV_BIN/qkv-tokenize" -q encode --document -t "$work/chars.h5" "$src" -o "$work/tokens.h5"
"$QKV_BIN/qkv-train" -q --threads "$threads" lm "$work/tokens.h5" --val-fraction 0.1 \
  --layers 4 --heads 4 --d-model 128 --context 64 -b 12 --steps "$steps" --dropout 0 --activation gelu --norm pre \
  --pos learned --tie-embeddings 1 --optimizer adamw --lr 1e-3 --beta2 0.99 --weight-decay 0.1 \
  --schedule cosine --warmup 100 --min-lr 1e-4 --clip 1.0 --eval-every "$steps" --best none \
  -o "$work/lm.h5" --metrics "$work/lm.jsonl" --plot "$work/lm.png"
qkv_val=$(grep '"split": "val"' "$work/lm.jsonl" | tail -1 | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')
# tokens/s over the training steps: the mean of the per-window rates, weighted equally
qkv_tps=$(grep '"split": "train"' "$work/lm.jsonl" | sed 's/.*"tokens_per_s": \([0-9.e+-]*\).*/\1/' |
  awk '{ s += $1; n++ } END { printf "%.0f", s / n }')
echo "qkv-train: val loss $qkv_val, $qkv_tps tokens/s ($threads threads, $steps steps)"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  py=$(/usr/bin/python3 "$QKV_ROOT/scripts/torch/train_charlm.py" "$work/tokens.h5" --threads "$threads" --steps "$steps")
  echo "pytorch:   $py"
  py_val=$(echo "$py" | sed 's/.*"val_loss": \([0-9.e+-]*\).*/\1/')
  py_tps=$(echo "$py" | sed 's/.*"tokens_per_s": \([0-9.e+-]*\).*/\1/')
  awk -v a="$qkv_tps" -v b="$py_tps" -v q="$qkv_val" -v p="$py_val" 'BEGIN {
    printf "ratio: qkv/pytorch tokens/s = %.2f (target >= 2.0); val loss qkv %.4f (target <= 1.88), pytorch %.4f\n", a / b, q, p }'
else
  echo "SKIP pytorch side: /usr/bin/python3 has no torch (scripts/install-deps.sh --bench)"
fi
echo "plot: $work/lm.png"
