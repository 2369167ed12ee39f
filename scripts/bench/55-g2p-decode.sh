#!/usr/bin/env bash
# G2P through qkv-decode (issue 14 item 5): every held-out word of bench 53's
# split decoded greedily and with beam 5 by qkv-decode, scored by
# `qkv-decode score` (SER over words = G2P's WER: a word is right when its
# output equals any of its reference pronunciations; WER over phones = the
# phone error rate, edits to the closest reference), beside qkv-train
# --eval-only's greedy figures on the same checkpoint: the greedy numbers
# must be equal (one decoding layer, nn/decoding.h, behind both). Checked on
# a 250-step demo model (QKV_DEMO_PERCENT=10): qkv-decode + score WER 75.24%
# PER 30.02% = qkv-train --eval-only's 75.24% / 30.02% over 10,745 words.
# Measured 2026-12-07 on bench 53's recipe stopped at step 2,500 of 5,000
# (the machine was too busy for the full 26,000; 1 thread, loaded machine):
# greedy WER 44.50% PER 11.68% (111 words/s) = qkv-train --eval-only's
# 44.50% / 11.68%; beam 5 WER 43.56% PER 11.28% (77 words/s).
# The same recipe at step 5,000 (2 threads, quiet): greedy WER 35.79% PER 9.00%
# (385 words/s) = qkv-train's 35.79% / 9.00%; beam 5 WER 34.95% PER 8.78%
# (224 words/s).
#   QKV_BENCH_G2P_MODEL=model.h5 QKV_BENCH_THREADS=1 scripts/bench.sh build g2p-decode
# Model: bench 53's transformer (data/bench/g2p/transformer.h5), or
# QKV_BENCH_G2P_MODEL=path (a seq2seq or rnn checkpoint on the bench 53 split).
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
threads=${QKV_BENCH_THREADS:-$(nproc)}
model=${QKV_BENCH_G2P_MODEL:-$QKV_ROOT/data/bench/g2p/transformer.h5}
[ -s "$model" ] || { echo "SKIP: $model missing (run bench 53 first, or set QKV_BENCH_G2P_MODEL)"; exit 0; }
data="$QKV_ROOT/data/g2p"
[ -s /usr/share/festival/dicts/cmu/cmudict-0.4.out ] || { echo "SKIP: festlex-cmu not installed"; exit 0; }
"$QKV_ROOT/scripts/data/g2p-prepare.sh" "$QKV_BIN" "$data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# distinct words in first-seen order, and all their pronunciations on one line, tab-separated
awk -F'\t' '!($1 in refs) { order[++n] = $1; refs[$1] = $2; next } { refs[$1] = refs[$1] "\t" $2 }
  END { for (i = 1; i <= n; ++i) { print order[i] > W; print refs[order[i]] > R } }' \
  W="$work/words.txt" R="$work/refs.txt" "$data/val.tsv"
echo "g2p decode: $(wc -l < "$work/words.txt") held-out words, $(wc -l < "$data/val.tsv") pronunciations, model $model"
# qkv-train's evaluation caps a hypothesis at the longest reference + 10 tokens; the same cap here (a word
# whose output never ends would otherwise count more phone edits at qkv-decode's default --max-len 200).
max_len=$(awk -F'\t' '{ n = split($2, a, " "); if (n > m) m = n } END { print m + 10 }' "$data/val.tsv")
common=(-q --threads "$threads" --max-len "$max_len" -m "$model" -t "$data/letters.h5" --tgt-tokenizer "$data/phones.h5" --bos --eos --text)
for beam in 1 5; do
  start=$(date +%s.%N)
  "$QKV_BIN/qkv-decode" "${common[@]}" --beam "$beam" "$work/words.txt" -o "$work/hyp$beam.txt"
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  "$QKV_BIN/qkv-decode" score --ref "$work/refs.txt" --tab-refs --tokenize none --metrics wer,ser --json \
    "$work/hyp$beam.txt" > "$work/score$beam.json"
  # {"wer": {"score": ...}, "ser": {"score": ...}}, in percent
  per=$(sed 's/.*"wer": {"score": \([0-9.e+-]*\).*/\1/' "$work/score$beam.json")
  wer=$(sed 's/.*"ser": {"score": \([0-9.e+-]*\).*/\1/' "$work/score$beam.json")
  printf 'qkv-decode beam %d: WER %.2f%%  PER %.2f%%  (%ss, %s words/s)\n' "$beam" "$wer" "$per" "$secs" \
    "$(awk -v n="$(wc -l < "$work/words.txt")" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
done
task=seq2seq
"$QKV_BIN/qkv-model" info "$model" 2>/dev/null | head -1 | grep -q ': rnn ' && task=rnn
line=$("$QKV_BIN/qkv-train" -q --threads "$threads" "$task" "$data/val.h5" --init "$model" --eval-only --decode-limit 0 \
  | grep '"wer"' | tail -1)
awk -v w="$(echo "$line" | sed 's/.*"wer": \([0-9.e+-]*\).*/\1/')" -v t="$(echo "$line" | sed 's/.*"ter": \([0-9.e+-]*\).*/\1/')" \
  'BEGIN { printf "qkv-train --eval-only greedy: WER %.2f%%  PER %.2f%%\n", 100 * w, 100 * t }'
