#!/usr/bin/env bash
# Incremental decoding (issue 14 item 4): a 4-layer d_model 256 GPT (4 heads,
# context 512, vocabulary 65, random weights) through qkv's Decoder + search
# (bench/decode_bench.cpp) beside a PyTorch decoding loop with its own KV cache
# on the same checkpoint (scripts/torch/decode_bench_torch.py), one thread each
# (PyTorch at its best here: 1 thread, OPENBLAS_CORETYPE=SkylakeX; qkv picks its
# own kernels, so OPENBLAS_CORETYPE is unset for it). Prints both sides, the
# position-256 / position-16 step time ratio (flat = KV cache working; target
# <= 1.15), qkv/torch speed ratios (targets: greedy b1 >= 3, beam5 >= 3,
# batch 32 >= 2) and peak memory (/usr/bin/time -v). Then the G2P transformer's
# size (3+3 pre-norm layers, d_model 256, 4 heads, d_ff 1024, 32 letters, 43
# phones; random weights): words/s greedy and beam 5 over 512 random words of
# 6-10 letters, 8 phones each, batch 32, both sides.
#   QKV_BENCH_DECODE_NEW=128 scripts/bench.sh build decode
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
new=${QKV_BENCH_DECODE_NEW:-256}
threads=${QKV_BENCH_DECODE_THREADS:-1}
work="$QKV_ROOT/data/bench/decode"
mkdir -p "$work"
model="$work/gpt-4x256-ctx512.h5"
[ -s "$model" ] || "$QKV_BIN/qkv-model" -q init gpt --set vocab_size=65 --set block_size=512 --set n_layer=4 \
  --set d_model=256 --set n_head=4 --seed 1 -o "$model"
peak() { awk '/Maximum resident set size/ { printf "%.1f MB", $NF / 1024 }' "$1"; }
(unset OPENBLAS_CORETYPE; /usr/bin/time -v "$QKV_BIN/decode_bench" "$model" --threads "$threads" --new "$new" \
  >"$work/qkv.txt" 2>"$work/qkv.time")
cat "$work/qkv.txt"
echo "qkv peak memory $(peak "$work/qkv.time")"
# The tool end to end: 32 one-character prompts, greedy, the same length.
# A char tokenizer of 61 characters (ASCII 33-93) + 4 specials: the model's 65 ids.
awk 'BEGIN { for (c = 33; c <= 93; c++) printf "%c\n", c }' >"$work/alphabet.txt"
"$QKV_BIN/qkv-tokenize" -q learn --model char "$work/alphabet.txt" -o "$work/chars.h5"
head -32 "$work/alphabet.txt" >"$work/prompts.txt"
(unset OPENBLAS_CORETYPE; /usr/bin/time -v "$QKV_BIN/qkv-decode" -q --threads "$threads" -m "$model" \
  -t "$work/chars.h5" --max-len "$new" --min-len "$new" --batch 32 -o /dev/null "$work/prompts.txt" \
  2>"$work/tool.time")
echo "qkv-decode (32 prompts x $new tokens, batch 32, $threads thread): $(awk '/Elapsed \(wall clock\)/ { print $NF }' "$work/tool.time") wall, peak memory $(peak "$work/tool.time")"
q=$(cat "$work/qkv.txt")
awk '/^step ms at position 16 / { a = $NF } /^step ms at position 256 / { b = $NF }
  END { if (a > 0) printf "qkv step time, position 256 / position 16: %.3f (target <= 1.15)\n", b / a }' <<<"$q"
if ! /usr/bin/python3 -c "import torch, h5py" 2>/dev/null; then
  echo "SKIP torch side: /usr/bin/python3 needs torch and h5py (apt install python3-torch python3-h5py)"
  exit 0
fi
OPENBLAS_CORETYPE=SkylakeX /usr/bin/time -v /usr/bin/python3 "$QKV_ROOT/scripts/torch/decode_bench_torch.py" "$model" \
  --threads 1 --new "$new" >"$work/torch.txt" 2>"$work/torch.time"
cat "$work/torch.txt"
echo "torch peak memory $(peak "$work/torch.time")"
t=$(cat "$work/torch.txt")
rate() { echo "$1" | awk -v k="$2" 'index($0, k) == 1 { print $NF }'; }
for what in "greedy b1 tokens/s" "beam5 tokens/s" "greedy b32 tokens/s"; do
  awk -v a="$(rate "$q" "$what")" -v b="$(rate "$t" "$what")" -v w="$what" \
    'BEGIN { if (b > 0) printf "%-22s qkv %10.1f  torch %10.1f  qkv/torch %.2f\n", w, a, b, a / b }'
done
qi=$(echo "$q" | grep '^greedy ids'); ti=$(echo "$t" | grep '^greedy ids')
[ "$qi" = "$ti" ] && echo "greedy ids: the same on both sides" || echo "greedy ids differ: qkv '$qi' torch '$ti'"

# The G2P transformer's size: words/s.
g2p="$work/g2p-size-transformer.h5"
[ -s "$g2p" ] || "$QKV_BIN/qkv-model" -q init transformer --set src_vocab_size=32 --set tgt_vocab_size=43 \
  --set d_model=256 --set n_head=4 --set n_encoder_layers=3 --set n_decoder_layers=3 --set d_ff=1024 --set norm=pre \
  --seed 1 -o "$g2p"
q2=$(unset OPENBLAS_CORETYPE; "$QKV_BIN/decode_bench" "$g2p" --threads "$threads")
echo "$q2"
t2=$(OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 "$QKV_ROOT/scripts/torch/decode_bench_torch.py" "$g2p" --threads 1)
echo "$t2"
for what in "greedy words/s" "beam5 words/s"; do
  awk -v a="$(rate "$q2" "$what")" -v b="$(rate "$t2" "$what")" -v w="g2p-size $what" \
    'BEGIN { if (b > 0) printf "%-22s qkv %10.1f  torch %10.1f  qkv/torch %.2f\n", w, a, b, a / b }'
done
# The same through the tool, end to end (text in, tokenizer, model load, text out): 512 random
# words of 6-10 of 28 letters (a tokenizer of 32 ids), <bos>/<eos> around each, 8 phones out
# (a tokenizer of 43 ids).
awk 'BEGIN { a = "abcdefghijklmnopqrstuvwxyz.-"; srand(1)
  for (i = 0; i < 512; i++) { n = 6 + int(rand() * 5); w = ""; for (j = 0; j < n; j++) w = w substr(a, 1 + int(rand() * 28), 1); print w } }' \
  >"$work/words.txt"
printf 'abcdefghijklmnopqrstuvwxyz.-\n' | cat - "$work/words.txt" >"$work/letters.txt"
"$QKV_BIN/qkv-tokenize" -q learn --model char "$work/letters.txt" -o "$work/letters.h5"
awk 'BEGIN { for (c = 48; c <= 86; c++) printf "%c\n", c }' >"$work/phones.txt"  # 39 symbols + 4 specials = 43
"$QKV_BIN/qkv-tokenize" -q learn --model char "$work/phones.txt" -o "$work/phones.h5"
for k in 1 5; do
  (unset OPENBLAS_CORETYPE; /usr/bin/time -v "$QKV_BIN/qkv-decode" -q --threads "$threads" -m "$g2p" \
    -t "$work/letters.h5" --tgt-tokenizer "$work/phones.h5" --bos --eos --min-len 8 --max-len 8 --beam "$k" \
    --batch 32 --text -o /dev/null "$work/words.txt" 2>"$work/tool$k.time") 2>/dev/null \
    || { echo "qkv-decode failed: $(tail -1 "$work/tool$k.time")"; continue; }
  awk -v k="$k" '/Elapsed \(wall clock\)/ { n = split($NF, p, ":"); s = p[n] + (n > 1 ? 60 * p[n-1] : 0) }
    /Maximum resident set size/ { m = $NF / 1024 }
    END { printf "qkv-decode g2p-size beam %d: %.1f words/s end to end, peak memory %.1f MB\n", k, 512 / s, m }' \
    "$work/tool$k.time"
done
