#!/usr/bin/env bash
# Published findings about attention, reproduced with qkv-attend on the
# benchmark models (issue 15 item 2):
# - ViT (bench 51, Fashion-MNIST): mean attention distance in pixels per layer
#   and head over the 10,000 test images (the ViT paper's figure 7: early
#   layers mix near and far heads, later layers attend far).
# - G2P transformer (bench 53): the share of output phones whose argmax
#   cross-attention letter is not left of the previous phone's (monotone
#   alignment), per layer and head, over every held-out word; then head
#   importance (Michel et al., qkv-attend --importance over the held-out
#   pairs) and greedy WER/PER of every held-out word (qkv-decode --mask-heads,
#   scored as bench 55) with the least important 25% / 50% of all heads
#   masked, next to as many random heads: QKV_BENCH_MASK_DRAWS draws
#   (default 5; numpy seeds 1..N), each draw's figures and their mean and
#   spread, since one random draw can be lucky or unlucky.
# Measured 2026-12-07 on the 5000-step bench-53 checkpoint (10,745 words),
# WER / PER: none 35.79% / 9.00%; least important 25% 39.39% / 10.33%,
# random 25% 41.68% / 11.49%; least important 50% 61.81% / 20.50%, random
# 50% 60.50% / 20.54%.
# The tables are read from qkv-attend's output with h5py (Debian python3-h5py).
#   QKV_BENCH_VIT_MODEL=vit.h5 QKV_BENCH_G2P_MODEL=g2p.h5 scripts/bench.sh build attend-findings
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
threads=${QKV_BENCH_THREADS:-$(nproc)}
vit=${QKV_BENCH_VIT_MODEL:-$QKV_ROOT/data/bench/vit-fmnist/vit.h5}
g2p=${QKV_BENCH_G2P_MODEL:-$QKV_ROOT/data/bench/g2p/transformer.h5}
/usr/bin/python3 -c "import h5py, numpy" 2>/dev/null || { echo "SKIP: python3-h5py / python3-numpy not installed"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
table() {  # FILE KIND STAT: mean over examples per layer x head, and per layer
  /usr/bin/python3 - "$@" <<'EOF'
import sys, h5py, numpy as np
path, kind, stat = sys.argv[1:4]
g = h5py.File(path, "r")[kind]
names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs["head_stat_names"]]
s = g["head_stats"][:, :, :, names.index(stat)]  # (n, layers, heads)
per_head = np.nanmean(s, axis=0)
print(f"  {kind} {stat}, mean over {s.shape[0]} examples (rows: layers; columns: heads; last: layer mean)")
for l, row in enumerate(per_head):
    print(f"  layer {l}: " + " ".join(f"{v:7.3f}" for v in row) + f"   | {np.nanmean(row):7.3f}")
if stat == "distance_px":
    f = h5py.File(path, "r")
    rows, cols = (int(v) for v in f.attrs["grid"])
    sh, sw = (int(v) for v in f.attrs["stride"])
    r, c = np.divmod(np.arange(rows * cols), cols)
    d = np.sqrt(((r[:, None] - r[None, :]) * sh) ** 2 + ((c[:, None] - c[None, :]) * sw) ** 2)
    print(f"  (uniform attention over the {rows}x{cols} patches would give {d.mean():.3f} px)")
if stat == "monotone":
    whole = np.nanmean(s == 1, axis=0)
    print("  share of words whose whole alignment is monotone:")
    for l, row in enumerate(whole):
        print(f"  layer {l}: " + " ".join(f"{v:7.3f}" for v in row))
EOF
}
if [ -s "$vit" ]; then
  fm="$QKV_ROOT/data/bench/vit-fmnist/t10k-p8s4.h5"
  [ -s "$fm" ] || { echo "SKIP vit: $fm missing (run bench 51)"; }
  if [ -s "$fm" ]; then
    "$QKV_BIN/qkv-attend" -q --threads "$threads" -m "$vit" "$fm" --stats-only -o "$work/vit.h5"
    echo "ViT $vit on $(basename "$fm"):"
    table "$work/vit.h5" self distance_px
    table "$work/vit.h5" self entropy  # ln(37) = 3.611 nats for uniform weights over [CLS] + 36 patches
  fi
else
  echo "SKIP vit: $vit missing (run bench 51, or set QKV_BENCH_VIT_MODEL)"
fi
if [ -s "$g2p" ]; then
  "$QKV_ROOT/scripts/data/g2p-prepare.sh" "$QKV_BIN" "$QKV_ROOT/data/g2p"
  "$QKV_BIN/qkv-attend" -q --threads "$threads" -m "$g2p" "$QKV_ROOT/data/g2p/val.h5" --stats-only -o "$work/g2p.h5"
  echo "G2P $g2p on every held-out pronunciation:"
  table "$work/g2p.h5" cross monotone
  data="$QKV_ROOT/data/g2p"
  "$QKV_BIN/qkv-attend" -q --threads "$threads" -m "$g2p" "$data/val.h5" --importance --stats-only -o "$work/imp.h5"
  draws=${QKV_BENCH_MASK_DRAWS:-5}
  /usr/bin/python3 - "$work" "$draws" <<'EOF'
import sys, h5py, numpy as np
work = sys.argv[1]
f = h5py.File(f"{work}/imp.h5", "r")
heads = []  # (normalised importance, qkv-decode --mask-heads name)
for kind, short in (("encoder_self", "enc"), ("decoder_self", "dec"), ("cross", "cross")):
    imp = f[kind]["importance"][()]  # (layers, heads)
    heads += [(float(imp[l, h]), f"{short}.{l}.{h}") for l in range(imp.shape[0]) for h in range(imp.shape[1])]
heads.sort()
draws = int(sys.argv[2])
for frac in (25, 50):
    m = len(heads) * frac // 100
    open(f"{work}/imp{frac}", "w").write(",".join(h for _, h in heads[:m]))
    for seed in range(1, draws + 1):
        rng = np.random.default_rng(seed)
        open(f"{work}/rnd{frac}s{seed}", "w").write(",".join(heads[i][1] for i in sorted(rng.permutation(len(heads))[:m])))
EOF
  awk -F'\t' '!($1 in refs) { order[++n] = $1; refs[$1] = $2; next } { refs[$1] = refs[$1] "\t" $2 }
    END { for (i = 1; i <= n; ++i) { print order[i] > W; print refs[order[i]] > R } }' \
    W="$work/words.txt" R="$work/refs.txt" "$data/val.tsv"
  max_len=$(awk -F'\t' '{ n = split($2, a, " "); if (n > m) m = n } END { print m + 10 }' "$data/val.tsv")
  echo "  greedy WER / PER of $(wc -l < "$work/words.txt") held-out words with heads masked (qkv-decode --mask-heads):"
  configs=(none imp25 imp50)
  for s in $(seq "$draws"); do configs+=("rnd25s$s" "rnd50s$s"); done
  for c in "${configs[@]}"; do
    mask=()
    [ "$c" = none ] || mask=(--mask-heads "$(cat "$work/$c")")
    "$QKV_BIN/qkv-decode" -q --threads "$threads" --max-len "$max_len" -m "$g2p" -t "$data/letters.h5" \
      --tgt-tokenizer "$data/phones.h5" --bos --eos --text "${mask[@]}" "$work/words.txt" -o "$work/hyp.txt"
    "$QKV_BIN/qkv-decode" score --ref "$work/refs.txt" --tab-refs --tokenize none --metrics wer,ser --json \
      "$work/hyp.txt" > "$work/score.json"
    per=$(sed 's/.*"wer": {"score": \([0-9.e+-]*\).*/\1/' "$work/score.json")
    wer=$(sed 's/.*"ser": {"score": \([0-9.e+-]*\).*/\1/' "$work/score.json")
    printf '  %-8s WER %6.2f%%  PER %6.2f%%  %s\n' "$c" "$wer" "$per" "$(cat "$work/$c" 2>/dev/null || true)"
    echo "$c $wer $per" >> "$work/masked.txt"
  done
  for f in 25 50; do  # the random draws: mean and sample standard deviation
    awk -v f="$f" '$1 ~ "^rnd" f "s" { n++; w += $2; ww += $2 * $2; p += $3; pp += $3 * $3 }
      END { if (n > 1) printf "  random %d%%, %d draws: WER %.2f%% +- %.2f, PER %.2f%% +- %.2f (mean +- sd)\n", f, n,
              w / n, sqrt((ww - w * w / n) / (n - 1)), p / n, sqrt((pp - p * p / n) / (n - 1)) }' "$work/masked.txt"
  done
else
  echo "SKIP g2p: $g2p missing (run bench 53, or set QKV_BENCH_G2P_MODEL)"
fi
