#!/usr/bin/env bash
# Data-parallel qkv-train on this machine (issue 16 item 2): the char-LM of
# bench 50 (TinyShakespeare, 4 layers, d_model 128, context 64, batch 12)
# trained STEPS steps as 1 process x 1 thread, 1 process x 2 threads and
# `mpirun -np 2` x 1 thread, the latter with the gradients' sum overlapping the
# backward (default: a bucket per layer, started as the backward finishes it)
# and without (--grad-bucket 0: one sum after the backward), side by side:
# tokens/s (median of qkv-train's 20-step windows), scaling efficiency against
# 1 x 1, the seconds per step rank 0 spends in the gradients' sum (qkv-train's
# mpi_wait_s_per_step) and the CPU seconds (user + sys) of each run, which a
# loaded machine disturbs less than wall time.
# Then bench/allreduce_bench times that sum for the bench models' gradient
# sizes on 2 ranks over loopback, and a cost model predicts the efficiency of
# N nodes (each a machine like this one, the global batch split N ways) on a
# 10 and a 100 Gbit/s network:
#   step(N) = compute / N + allreduce(N),
#   allreduce(N) = 2 (N - 1) / N * 4 P bytes / bandwidth + 2 (N - 1) * latency
# (ring reduce-scatter + allgather, P parameters, fp32 gradients, latency
# 20 us a message, the link's full rate); efficiency = compute / (N step(N)).
# "compute" is the measured 1-process step time of each model on this
# machine. With overlap, at best the sum hides behind the backward (about 2/3
# of compute): step(N) = compute / N + max(0, allreduce(N) - 2/3 compute / N).
#   QKV_BENCH_DP_STEPS=300 scripts/bench.sh build data-parallel
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
steps=${QKV_BENCH_DP_STEPS:-400}
src="$QKV_ROOT/../shared/data/tinyshakespeare/input.txt"
[ -r "$src" ] || { echo "SKIP: $src not found (../shared/data)"; exit 0; }
mpirun=$(command -v mpirun || true)
[ -n "$mpirun" ] || { echo "SKIP: mpirun not installed (apt-get install openmpi-bin)"; exit 0; }
[ -x "$QKV_BIN/allreduce_bench" ] || { echo "SKIP: qkv was built without MPI"; exit 0; }
mpi=("$mpirun" --allow-run-as-root --oversubscribe --mca plm isolated -q --bind-to none -np 2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$QKV_BIN/qkv-tokenize" -q learn --model char --document "$src" -o "$work/chars.h5"
"$QKV_BIN/qkv-tokenize" -q encode --document -t "$work/chars.h5" "$src" -o "$work/tokens.h5"
lm=(lm "$work/tokens.h5" --val-fraction 0.1 --window-stride 1 --layers 4 --heads 4 --d-model 128 --context 64 -b 12
  --steps "$steps" --dropout 0 --activation gelu --norm pre --pos learned --tie-embeddings 1 --lr 1e-3 --beta2 0.99
  --weight-decay 0.1 --schedule cosine --warmup 100 --min-lr 1e-4 --eval-every "$steps" --best none --log-every 20)
median() {  # median of field $1 over the train records of a metrics file $2
  grep '"split": "train"' "$2" | sed "s/.*\"$1\": \([0-9.e+-]*\).*/\1/" | sort -g |
    awk '{ r[NR] = $1 } END { printf "%.6g\n", NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}
cpu() { /usr/bin/time -f "%U %S" -o "$1" "${@:2}"; }  # user + sys seconds of a command (mpirun: all ranks)
cpu "$work/a.cpu" "$QKV_BIN/qkv-train" -q --threads 1 "${lm[@]}" -o "$work/a.h5" --metrics "$work/a.jsonl"
cpu "$work/b.cpu" "$QKV_BIN/qkv-train" -q --threads 2 "${lm[@]}" -o "$work/b.h5" --metrics "$work/b.jsonl"
cpu "$work/c.cpu" "${mpi[@]}" "$QKV_BIN/qkv-train" -q --threads 1 "${lm[@]}" -o "$work/c.h5" --metrics "$work/c.jsonl"
cpu "$work/d.cpu" "${mpi[@]}" "$QKV_BIN/qkv-train" -q --threads 1 "${lm[@]}" --grad-bucket 0 -o "$work/d.h5" \
  --metrics "$work/d.jsonl"
one=$(median tokens_per_s "$work/a.jsonl")
two_threads=$(median tokens_per_s "$work/b.jsonl")
two_ranks=$(median tokens_per_s "$work/c.jsonl")
wait_s=$(median mpi_wait_s_per_step "$work/c.jsonl")
after=$(median tokens_per_s "$work/d.jsonl")
wait_after=$(median mpi_wait_s_per_step "$work/d.jsonl")
cpu_s() { awk '{ printf "%.1f", $1 + $2 }' "$1"; }
awk -v a="$one" -v b="$two_threads" -v c="$two_ranks" -v w="$wait_s" -v d="$after" -v wd="$wait_after" -v s="$steps" \
  -v ca="$(cpu_s "$work/a.cpu")" -v cb="$(cpu_s "$work/b.cpu")" -v cc="$(cpu_s "$work/c.cpu")" \
  -v cd="$(cpu_s "$work/d.cpu")" 'BEGIN {
  printf "char-LM (bench 50 config, %d steps), median tokens/s, CPU seconds (user + sys) of the run:\n", s
  printf "  1 process x 1 thread   %8.0f                          cpu %6.1f s\n", a, ca
  printf "  1 process x 2 threads  %8.0f  (%.2fx, efficiency %.0f%%)  cpu %6.1f s\n", b, b / a, 50 * b / a, cb
  printf "  2 processes x 1 thread %8.0f  (%.2fx, efficiency %.0f%%)  cpu %6.1f s; rank 0 spends %.2f ms a step in the gradient sum (%.0f%% of its step), overlapped with the backward\n",
    c, c / a, 50 * c / a, cc, 1000 * w, 100 * w / (768 / c)
  printf "  2 processes x 1 thread %8.0f  (%.2fx, efficiency %.0f%%)  cpu %6.1f s; rank 0 spends %.2f ms a step in the gradient sum (%.0f%% of its step), after the backward (--grad-bucket 0)\n",
    d, d / a, 50 * d / a, cd, 1000 * wd, 100 * wd / (768 / d) }'
# Gradient sizes: the bench models' parameter counts (qkv-model info of a model made in 1 step).
params() { "$QKV_BIN/qkv-model" info "$1" | sed -n '1s/.*, \([0-9]*\) parameters.*/\1/p'; }  # reads it all: no SIGPIPE
p_lm=$(params "$work/a.h5")
"$QKV_BIN/qkv-model" -q init vit --set n_layer=6 --set n_head=4 --set d_model=64 --set d_ff=128 --set n_patches=36 \
  --set patch_dim=64 --set n_classes=10 -o "$work/vit.h5"  # bench 51's ViT
"$QKV_BIN/qkv-model" -q init transformer --set src_vocab_size=55 --set tgt_vocab_size=44 --set d_model=256 \
  --set n_head=4 --set n_encoder_layers=3 --set n_decoder_layers=3 --set d_ff=1024 -o "$work/g2p.h5"  # bench 53's
p_vit=$(params "$work/vit.h5")
p_g2p=$(params "$work/g2p.h5")
echo "allreduce between 2 ranks on loopback (bench/allreduce_bench):"
"${mpi[@]}" "$QKV_BIN/allreduce_bench" "$p_vit" "$p_lm" "$p_g2p" 10000000 | tee "$work/ar.txt" | sed 's/^/  /'
bw=$(awk 'NR > 2 { print $3 }' "$work/ar.txt" | sort -g | tail -1)
# Measured 1-process step times (s) on this machine: the char-LM's from this run (1 x 2 threads); ViT and G2P
# from their benchmarks' figures (bench 51: 128 images at ~2,950 images/s; bench 53: ~3.7 steps/s at 2 threads).
t_lm=$(awk -v b="$two_threads" 'BEGIN { print 768 / b }')
echo "cost model (fp32 gradients, ring allreduce, 20 us latency, full link rate; loopback here: $bw GB/s bus):"
printf '  %-8s %10s %10s   %s\n' model params "step (s)" \
  "predicted efficiency at N = 2 / 4 / 16 nodes, sum after the backward | overlapped (ideal)"
for m in "charlm $p_lm $t_lm" "vit $p_vit 0.0434" "g2p $p_g2p 0.27"; do
  set -- $m
  awk -v name="$1" -v P="$2" -v t="$3" 'BEGIN {
    line = sprintf("  %-8s %10d %10.4f  ", name, P, t)
    split("10 100", gbit, " ")
    for (g = 1; g <= 2; ++g) {
      bw = gbit[g] / 8 * 1e9
      line = line sprintf(" %3d Gbit/s:", gbit[g])
      split("2 4 16", ns, " ")
      for (i = 1; i <= 3; ++i) {
        N = ns[i]; ar = 2 * (N - 1) / N * 4 * P / bw + 2 * (N - 1) * 20e-6
        line = line sprintf(" %3.0f%%", 100 * t / (N * (t / N + ar)))
      }
      line = line " |"
      for (i = 1; i <= 3; ++i) {
        N = ns[i]; ar = 2 * (N - 1) / N * 4 * P / bw + 2 * (N - 1) * 20e-6
        hidden = ar - 2 / 3 * t / N
        line = line sprintf(" %3.0f%%", 100 * t / (N * (t / N + (hidden > 0 ? hidden : 0))))
      }
    }
    print line }'
done
