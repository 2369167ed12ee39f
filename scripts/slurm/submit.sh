#!/usr/bin/env bash
# Submits the sharded tokenization (a job array of N tasks) and the training
# job that starts once every task succeeded (--dependency=afterok). Settings
# are those at the top of tokenize-array.sh and train.sh (export to change).
#
#   CORPUS=corpus.txt TOKENIZER=tok.h5 scripts/slurm/submit.sh 8   # prints: ARRAY_ID TRAIN_ID
set -euo pipefail
N=${1:?usage: submit.sh N (number of shards)}
here=$(dirname "$(realpath "$0")")
array=$(sbatch --parsable --array=0-$((N - 1)) "$here/tokenize-array.sh")
train=$(sbatch --parsable --dependency=afterok:"$array" "$here/train.sh")
echo "submit.sh: tokenize array job $array ($N tasks), training job $train (after it)" >&2
echo "$array $train"
