#!/usr/bin/env bash
# SLURM training job: qkv-train over the shards of tokenize-array.sh (read in
# order as one dataset). Ahead of the time limit SLURM sends SIGUSR1
# (--signal=USR1@120): qkv-train saves its checkpoint and exits 138; this
# script then requeues the job, which resumes exactly from that checkpoint.
#
#   sbatch --dependency=afterok:ARRAY_JOB_ID scripts/slurm/train.sh
#   (scripts/slurm/submit.sh does both submissions)
#
# Settings: edit them here or export them before sbatch.
#SBATCH --job-name=qkv-train
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --time=24:00:00
#SBATCH --signal=USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=qkv-train-%j.out
TASK=${TASK:-lm}                    # lm | seq2seq | vit | rnn
SHARD_DIR=${SHARD_DIR:-shards}      # shard-K-of-N.h5 from tokenize-array.sh (or qkv-patchify --shard)
OUTPUT=${OUTPUT:-model.h5}          # the checkpoint, rewritten during training; resumed from on requeue
TRAIN_FLAGS=${TRAIN_FLAGS:-"--steps 10000 --save-every 500 --val-fraction 0.05"}
SRUN_FLAGS=${SRUN_FLAGS:---mpi=pmix} # how srun starts the tasks (OpenMPI: pmix)
QKV_BIN=${QKV_BIN:-}                # folder of the qkv tools ("" = on PATH)

set -uo pipefail
# The shards in order K = 0..N-1, as a list file (qkv-train @LIST).
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find "$SHARD_DIR" -maxdepth 1 -name 'shard-*-of-*.h5' | sort -V > "$list"  # shard-2 before shard-10
[ -s "$list" ] || { echo "train.sh: no shard-*-of-*.h5 in $SHARD_DIR" >&2; exit 1; }
resume=()
if [ -f "$OUTPUT" ]; then
  resume=(--resume "$OUTPUT")
  echo "train.sh: restart ${SLURM_RESTART_COUNT:-0}: resuming $OUTPUT"
fi
# shellcheck disable=SC2086
srun $SRUN_FLAGS "${QKV_BIN:+$QKV_BIN/}qkv-train" "$TASK" "@$list" "${resume[@]}" $TRAIN_FLAGS \
  --threads "${SLURM_CPUS_PER_TASK:-1}" -o "$OUTPUT"
rc=$?
if [ $rc -eq 138 ]; then  # 128 + SIGUSR1: checkpoint saved before the time limit
  echo "train.sh: checkpoint saved on SIGUSR1; requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit $rc
