#!/usr/bin/env bash
# make demo: the main job end to end, about 5 minutes on 2 cores.
#   1. data from the Debian packages: CMUdict (festlex-cmu) -> grapheme-to-phoneme
#      pairs; Fashion-MNIST (dataset-fashion-mnist) -> ViT patches
#   2. qkv-tokenize (letters: char, phones: word) and qkv-patchify (7x7 patches)
#   3. qkv-train: a small transformer G2P model and a small ViT
#   4. their validation metrics, and where the checkpoints, metrics and plots are
#   5. qkv-decode: ten held-out words with beam search, beside their references
#   6. qkv-attend: pictures of the G2P cross-attention and of the ViT's attention rollout
#   scripts/demo.sh BUILD_DIR            outputs under <repo>/data/demo (QKV_DEMO_DIR to change)
# QKV_DEMO_PERCENT=200 doubles the training steps (better models, twice the time); 10 is a quick smoke run.
set -euo pipefail
build=${1:-build}
bin="$(cd "$build" && pwd)/bin"
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${QKV_DEMO_DIR:-$root/data/demo}
pct=${QKV_DEMO_PERCENT:-100}
steps() { echo $(( $1 * pct / 100 > 10 ? $1 * pct / 100 : 10 )); }
threads=${QKV_THREADS:-$(nproc)}
fmnist=/usr/share/datasets/fashion-mnist
mkdir -p "$out"
start=$(date +%s)
say() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

say "data: CMUdict -> G2P pairs (split by a hash of the word), tokenized"
"$root/scripts/data/g2p-prepare.sh" "$bin" "$root/data/g2p"

say "data: Fashion-MNIST -> 16 patches of 7x7 pixels per image"
[ -s "$fmnist/train-images-idx3-ubyte.gz" ] || { echo "demo: $fmnist missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
mkdir -p "$root/data/fashion-mnist"
classes="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
for split in train t10k; do
  f="$root/data/fashion-mnist/$split.h5"
  [ -s "$f" ] || "$bin/qkv-patchify" -q "$fmnist/$split-images-idx3-ubyte.gz" --patch 7 --dtype uint8 \
    --normalize none --class-names "$classes" -o "$f"
done

say "train: transformer G2P (letters -> phones), $(steps 2500) steps"
"$bin/qkv-train" --threads "$threads" seq2seq "$root/data/g2p/train.h5" --val "$root/data/g2p/val.h5" \
  --layers 2 --heads 4 --d-model 128 --d-ff 256 --dropout 0.1 --norm pre \
  -b 64 --bucket --steps $(steps 2500) --lr 2e-3 --schedule cosine --warmup $(steps 150) --min-lr 1e-4 \
  --weight-decay 0.01 --clip 1 --eval-every $(steps 500) --decode-limit 2000 --decode-final-only \
  -o "$out/g2p.h5" --metrics "$out/g2p.jsonl" --plot "$out/g2p.png"

say "train: ViT on Fashion-MNIST, $(steps 1800) steps"
"$bin/qkv-train" --threads "$threads" vit "$root/data/fashion-mnist/train.h5" \
  --val "$root/data/fashion-mnist/t10k.h5" \
  --layers 4 --heads 4 --d-model 64 --d-ff 128 --dropout 0 \
  -b 128 --steps $(steps 1800) --lr 2e-3 --schedule cosine --warmup $(steps 100) --min-lr 1e-5 --weight-decay 0.05 \
  --clip 1 --eval-every $(steps 600) -o "$out/vit.h5" --metrics "$out/vit.jsonl" --plot "$out/vit.png"

say "results"
# field FILE KEY: the KEY of the last validation record in a metrics file.
field() { grep '"split": "val"' "$1" | tail -1 | sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p"; }
pcent() { awk -v x="$1" 'BEGIN { printf "%.2f%%", 100 * x }'; }
echo "G2P transformer on $(wc -l < "$root/data/g2p/val.tsv") held-out pronunciations (words never seen in training):"
echo "  loss $(field "$out/g2p.jsonl" loss), token accuracy $(pcent "$(field "$out/g2p.jsonl" token_accuracy)"),"\
     "greedy WER $(pcent "$(field "$out/g2p.jsonl" wer)"), PER $(pcent "$(field "$out/g2p.jsonl" ter)")"\
     "over $(field "$out/g2p.jsonl" decoded) decoded words"
echo "ViT on the Fashion-MNIST test set (10000 images):"
echo "  loss $(field "$out/vit.jsonl" loss), accuracy $(pcent "$(field "$out/vit.jsonl" accuracy)")"

say "decode: ten held-out words, beam 5 (qkv-decode)"
g2p="$root/data/g2p"
# every 1000th held-out pronunciation (val.tsv is sorted by word); all of a word's pronunciations are its references
awk -F'\t' 'NR % 1000 == 1 && n++ < 10 { print $1 }' "$g2p/val.tsv" > "$out/words10.txt"
"$bin/qkv-decode" -q --threads "$threads" -m "$out/g2p.h5" -t "$g2p/letters.h5" --tgt-tokenizer "$g2p/phones.h5" \
  --bos --eos --beam 5 --text "$out/words10.txt" -o "$out/words10.hyp"
awk -F'\t' 'FNR == NR { if ($1 in ref) ref[$1] = ref[$1] " | " $2; else ref[$1] = $2; next }
  { getline hyp < HYP; mark = (index(" | " ref[$1] " | ", " | " hyp " | ") ? "  " : "x ")
    printf "%s%-14s %-28s reference: %s\n", mark, $1, hyp, ref[$1] }' HYP="$out/words10.hyp" \
  "$g2p/val.tsv" "$out/words10.txt"
echo "(x: differs from every reference pronunciation)"

say "attention pictures (qkv-attend --png)"
mkdir -p "$out/attention"
"$bin/qkv-attend" -q --threads "$threads" -m "$out/g2p.h5" "$g2p/val.h5" --examples 0,1000,2000 \
  -t "$g2p/letters.h5" --tgt-tokenizer "$g2p/phones.h5" --png "$out/attention/g2p" -o "$out/attention/g2p.h5"
"$bin/qkv-attend" -q --threads "$threads" -m "$out/vit.h5" "$root/data/fashion-mnist/t10k.h5" --examples 0-3 \
  --rollout --png "$out/attention/vit" -o "$out/attention/vit.h5"
echo "G2P cross-attention (letters across, phones down; the last decoder layer, mean of its heads):"
ls "$out"/attention/g2p/ex*-cross.png | sed 's/^/  /'
echo "ViT attention rollout over test images (image | overlay):"
ls "$out"/attention/vit/ex*-image.png | sed 's/^/  /'

echo
echo "checkpoints: $out/g2p.h5 $out/vit.h5 (best by validation loss: $out/g2p.best.h5 $out/vit.best.h5)"
echo "metrics (JSON lines): $out/g2p.jsonl $out/vit.jsonl"
echo "loss plots: $out/g2p.png $out/vit.png"
echo "look inside: $bin/qkv-inspect $out/vit.h5; every layer and head: $out/attention/*.h5 (docs/FORMATS.md, attention)"
echo "total time: $(( $(date +%s) - start ))s"
