#!/usr/bin/env bash
# Issue 13 item 7: a 40-step run of each qkv-train task (lm, seq2seq, rnn, vit; dropout, label smoothing,
# augmentation, validation, periodic saves) gives bitwise the same checkpoints (and metrics, throughput aside) as a baseline.
#   scripts/check-bitwise.sh [BIN_DIR] [BASELINE_OUT]
# Defaults: build/bin of this tree, and /work/baseline/out-dbd4365 (made by /work/baseline/run40.sh with the
# tools of main at dbd4365, before issue 13; the runs and their data are in /work/baseline, see its README).
# Make a baseline of another build: /work/baseline/run40.sh OLD/bin OUT. Exit 1 on any difference.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/bin}
base=${2:-/work/baseline/out-dbd4365}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
/work/baseline/run40.sh "$bin" "$out" >/dev/null
status=0
# Metrics lines are compared without their throughput (a timing).
strip() { sed -E 's/, "(tokens|images)_per_s": [^,}]*//' "$1"; }
for f in "$base"/*; do
  g=$out/$(basename "$f")
  if [[ $f == *.jsonl ]] && cmp -s <(strip "$f") <(strip "$g") || cmp -s "$f" "$g"; then echo "same: $(basename "$f")"; else echo "DIFFERENT: $(basename "$f")"; status=1; fi
done
exit $status
