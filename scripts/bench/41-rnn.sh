#!/usr/bin/env bash
# The "rnn" model (GRU/LSTM encoder-decoder with additive attention) at grapheme-to-phoneme
# size: qkv (bench/rnn_bench.cpp) beside its PyTorch twin (scripts/torch/rnn_bench_torch.py,
# Debian's python3-torch), same sizes, same thread count, in one run; prints both and the
# train-step and decode speed ratios (qkv / torch, > 1 = qkv faster).
#   QKV_BENCH_RNN_ARGS="--cell lstm --hidden 512" scripts/bench.sh build rnn
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
threads=${QKV_BENCH_THREADS:-$(nproc)}
args="--threads $threads --batch 64 --len 12 --hidden 256 ${QKV_BENCH_RNN_ARGS:-}"
# shellcheck disable=SC2086
q=$("$QKV_BIN/rnn_bench" $args)
echo "$q"
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "SKIP torch side: /usr/bin/python3 has no torch (apt install python3-torch)"
  exit 0
fi
# shellcheck disable=SC2086
t=$(/usr/bin/python3 "$QKV_ROOT/scripts/torch/rnn_bench_torch.py" $args)
echo "$t"
rate() { echo "$1" | awk -v k="$2" 'index($0, k) == 1 { print $(NF-2) }'; }
for what in "train step (total)" "greedy decode"; do
  awk -v a="$(rate "$q" "$what")" -v b="$(rate "$t" "$what")" -v w="$what" \
    'BEGIN { if (b > 0) printf "%-22s qkv/torch speed ratio %.2f\n", w, a / b }'
done
