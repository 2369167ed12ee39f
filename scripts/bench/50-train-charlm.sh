#!/usr/bin/env bash
# Char-level GPT on TinyShakespeare (first 90% train, last 10% val), nanoGPT's
# shakespeare_char CPU config, qkv-train and PyTorch 1.13 (the same model via
# scripts/torch/train_charlm.py) in one run. Training windows start at every
# position (--window-stride 1), as nanoGPT's get_batch draws them; validation
# is the loss over every non-overlapping window of the held-out 10% (nanoGPT
# estimates it from 20 random batches). qkv runs with all cores and several
# seeds (the final loss spans 0.025 over eight seeds); PyTorch runs
# at its best setting on this machine (1 thread, OPENBLAS_CORETYPE=SkylakeX).
# Targets: qkv val loss <= 1.88; qkv tokens/s >= 2x PyTorch's.
# Measured 2026-11-21 (quiet 2-core machine), session 5, with
#   QKV_BENCH_LM_SEEDS="1 2 3 4 5 6 7 8" QKV_BENCH_LM_TORCH_SEEDS="1 2 3 4 5 6 7 8" scripts/bench.sh build train-charlm
# val loss qkv seeds 1-8: 1.8801 1.9042 1.8998 1.8944 1.9023 1.8984 1.8887 1.8897,
# mean 1.8947 (sd 0.008); the PyTorch twin on the same seeds: 1.9077 1.8993
# 1.8815 1.9046 1.9001 1.8911 1.8927 1.8877, mean 1.8956 (sd 0.009). Neither
# reaches 1.88 on any of 16 runs: the target is one nanoGPT run's 20-batch
# estimate; this recipe's mean is about 1.895 in both. 48,317 tokens/s vs
# PyTorch 22,366: 2.16x (2.16x by median window). Earlier runs: 2.14x, 2.24x,
# 1.93x; PyTorch's own figure moves by 15% between runs.
# (Session 4, before newline had its own id: seeds 1-3 1.8700 1.8903 1.8969.)
#   QKV_BENCH_LM_STEPS=500 QKV_BENCH_LM_SEEDS="1" scripts/bench.sh build train-charlm   (shorter)
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
steps=${QKV_BENCH_LM_STEPS:-2000}
seeds=${QKV_BENCH_LM_SEEDS:-1 2 3}
torch_seeds=${QKV_BENCH_LM_TORCH_SEEDS:-1}
threads=${QKV_BENCH_THREADS:-$(nproc)}
src="$QKV_ROOT/../shared/data/tinyshakespeare/input.txt"
[ -r "$src" ] || { echo "SKIP: $src not found (../shared/data)"; exit 0; }
work="$QKV_ROOT/data/bench/charlm"
mkdir -p "$work"
"$QKV_BIN/qkv-tokenize" -q learn --model char --document "$src" -o "$work/chars.h5"
"$QKV_BIN/qkv-tokenize" -q encode --document -t "$work/chars.h5" "$src" -o "$work/tokens.h5"
vals=""
for seed in $seeds; do
  "$QKV_BIN/qkv-train" -q --threads "$threads" lm "$work/tokens.h5" --val-fraction 0.1 --window-stride 1 \
    --layers 4 --heads 4 --d-model 128 --context 64 -b 12 --steps "$steps" --dropout 0 --activation gelu --norm pre \
    --pos learned --tie-embeddings 1 --optimizer adamw --lr 1e-3 --beta2 0.99 --weight-decay 0.1 \
    --schedule cosine --warmup 100 --min-lr 1e-4 --clip 1.0 --eval-every "$steps" --best none --seed "$seed" \
    -o "$work/lm-$seed.h5" --metrics "$work/lm-$seed.jsonl" --plot "$work/lm-$seed.png"
  val=$(grep '"split": "val"' "$work/lm-$seed.jsonl" | tail -1 | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')
  # tokens/s over the training steps, from the 20-step windows qkv-train logs:
  # their mean, and their median (robust to another job's burst on a shared machine)
  read -r tps med < <(grep '"split": "train"' "$work/lm-$seed.jsonl" |
    sed 's/.*"tokens_per_s": \([0-9.e+-]*\).*/\1/' | sort -g |
    awk '{ r[NR] = $1; s += $1 } END { m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2;
           printf "%.0f %.0f\n", s / NR, m }')
  echo "qkv-train seed $seed: val loss $val, $tps tokens/s (median window $med; $threads threads, $steps steps)"
  vals+="$val $tps $med"$'\n'
done
read -r qkv_val qkv_tps qkv_med < <(printf '%s' "$vals" |
  awk '{ v += $1; t += $2; m += $3; n++ } END { printf "%.4f %.0f %.0f\n", v / n, t / n, m / n }')
echo "qkv-train mean over seeds ($seeds): val loss $qkv_val, $qkv_tps tokens/s (median window $qkv_med)"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  pys=""
  for seed in $torch_seeds; do
    py=$(OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=1 /usr/bin/python3 "$QKV_ROOT/scripts/torch/train_charlm.py" \
      "$work/tokens.h5" --threads 1 --steps "$steps" --seed "$seed")
    echo "pytorch seed $seed (1 thread, SkylakeX): $py"
    pys+="$(echo "$py" | sed 's/.*"val_loss": \([0-9.e+-]*\).*"tokens_per_s": \([0-9.e+-]*\).*"tokens_per_s_median": \([0-9.e+-]*\).*/\1 \2 \3/')"$'\n'
  done
  read -r py_val py_tps py_med < <(printf '%s' "$pys" |
    awk '{ v += $1; t += $2; m += $3; n++ } END { printf "%.4f %.0f %.0f\n", v / n, t / n, m / n }')
  awk -v a="$qkv_tps" -v b="$py_tps" -v am="$qkv_med" -v bm="$py_med" -v q="$qkv_val" -v p="$py_val" \
      -v qs="$seeds" -v ps="$torch_seeds" 'BEGIN {
    printf "ratio: qkv/pytorch tokens/s = %.2f over all steps, %.2f by median 20-step window (target >= 2.0)\n", a / b, am / bm
    printf "val loss qkv %.4f (mean over seeds %s; target <= 1.88), pytorch %.4f (mean over seeds %s)\n", q, qs, p, ps }'
else
  echo "SKIP pytorch side: /usr/bin/python3 has no torch (scripts/install-deps.sh --bench)"
fi
echo "plot: $work/lm-1.png"
