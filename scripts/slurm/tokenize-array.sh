#!/usr/bin/env bash
# SLURM job array: encodes a text corpus in N shards, one array task per
# shard (qkv-tokenize encode --shard K/N, K = SLURM_ARRAY_TASK_ID). The N
# outputs, in order, are the unsharded tokens file (qkv-train reads them as one).
#
#   sbatch --array=0-3 scripts/slurm/tokenize-array.sh        # N = 4 tasks
#
# Settings: edit them here or export them before sbatch (sbatch passes the
# environment on).
#SBATCH --job-name=qkv-tokenize
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --output=qkv-tokenize-%A_%a.out
CORPUS=${CORPUS:-corpus.txt}        # text, one sequence per line (--tsv in ENCODE_FLAGS: pairs)
TOKENIZER=${TOKENIZER:-tok.h5}      # from qkv-tokenize learn
SHARD_DIR=${SHARD_DIR:-shards}      # outputs: SHARD_DIR/shard-K-of-N.h5
ENCODE_FLAGS=${ENCODE_FLAGS:-}      # e.g. "--bos --eos"
QKV_BIN=${QKV_BIN:-}                # folder of the qkv tools ("" = on PATH)

set -euo pipefail
K=${SLURM_ARRAY_TASK_ID:?submit as a job array: sbatch --array=0-N-1 $0}
N=${SLURM_ARRAY_TASK_COUNT:?submit as a job array: sbatch --array=0-N-1 $0}
mkdir -p "$SHARD_DIR"
# shellcheck disable=SC2086
"${QKV_BIN:+$QKV_BIN/}qkv-tokenize" encode -t "$TOKENIZER" --shard "$K/$N" $ENCODE_FLAGS "$CORPUS" \
  --threads "${SLURM_CPUS_PER_TASK:-1}" -o "$SHARD_DIR/shard-$K-of-$N.h5"
