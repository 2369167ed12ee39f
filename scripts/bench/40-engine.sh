#!/usr/bin/env bash
# Transformer engine: one gpt training step (forward + backward + AdamW) at
# nanoGPT's CPU "baby" shape (4 layers, 4 heads, d_model 128, context 64,
# batch 12, vocabulary 65, GELU, pre-norm, tied embeddings), qkv next to
# PyTorch 1.13 on the same model (scripts/torch/qkv_models.py GPT), 1 and 2
# threads each, in one run. PyTorch gets OPENBLAS_CORETYPE=SkylakeX (its best
# setting here). Prints tokens/s, qkv's matmul-vs-rest breakdown and the ratio
# of the best qkv figure to the best PyTorch figure (target >= 2).
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}"
: "${QKV_ROOT:?run through scripts/bench.sh}"
steps=${STEPS:-40}
py=/usr/bin/python3
best() { sed -n 's/.*tokens_per_s=\([0-9]*\).*/\1/p' | sort -n | tail -1; }

out_qkv=""
out_torch=""
for t in 1 2; do
  # qkv picks its own best OpenBLAS kernels (blas::ensure_best_kernels) when the variable is unset
  line=$(env -u OPENBLAS_CORETYPE "$QKV_BIN/gpt_train_bench" --threads "$t" --steps "$steps")
  echo "$line"
  out_qkv+="$line"$'\n'
  if "$py" -c "import torch" 2>/dev/null; then
    line=$(OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=$t "$py" "$QKV_ROOT/scripts/torch/bench_gpt.py" --threads "$t" --steps "$steps")
    echo "$line"
    out_torch+="$line"$'\n'
  fi
done
q=$(printf '%s' "$out_qkv" | best)
if [ -z "$out_torch" ]; then
  echo "gpt train step: qkv best ${q} tokens/s (PyTorch not available at $py: no comparison)"
  exit 0
fi
p=$(printf '%s' "$out_torch" | best)
awk -v q="$q" -v p="$p" 'BEGIN { printf "gpt train step: qkv best %d tokens/s, PyTorch best %d tokens/s, ratio %.2fx (target >= 2x)\n", q, p, q / p }'
