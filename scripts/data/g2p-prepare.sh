#!/usr/bin/env bash
# Grapheme-to-phoneme data from CMUdict 0.4 (Debian package festlex-cmu):
# letters -> phones, stress dropped, split 90/10 by a hash of the word (all
# pronunciations of a word on one side; see libcore/train/cmudict.h).
#   scripts/data/g2p-prepare.sh BIN_DIR [OUT_DIR]     default OUT_DIR: <repo>/data/g2p
# Writes OUT_DIR/{train,val}.tsv (word<TAB>phones), the tokenizers letters.h5
# (char) and phones.h5 (word), and train.h5 / val.h5 (token_pairs, targets
# with <bos>/<eos>). Idempotent: skips the work when val.h5 already exists.
set -euo pipefail
bin=${1:?usage: g2p-prepare.sh BIN_DIR [OUT_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
out=${2:-$(cd "$here/../.." && pwd)/data/g2p}
dict=${CMUDICT:-/usr/share/festival/dicts/cmu/cmudict-0.4.out}
[ -s "$dict" ] || { echo "g2p-prepare.sh: $dict missing (apt-get install festlex-cmu)" >&2; exit 1; }
if [ -s "$out/val.h5" ] && [ -s "$out/train.h5" ]; then
  echo "g2p-prepare.sh: $out already prepared" >&2
  exit 0
fi
mkdir -p "$out"
"$bin/qkv-train" -q prepare-g2p "$dict" -o "$out"
cut -f1 "$out/train.tsv" > "$out/train.words"
cut -f2 "$out/train.tsv" > "$out/train.phones"
"$bin/qkv-tokenize" -q learn --model char "$out/train.words" -o "$out/letters.h5"
"$bin/qkv-tokenize" -q learn --model word "$out/train.phones" -o "$out/phones.h5"
rm -f "$out/train.words" "$out/train.phones"
for split in train val; do
  "$bin/qkv-tokenize" -q encode --tsv -t "$out/letters.h5" --tgt-tokenizer "$out/phones.h5" --bos --eos \
    "$out/$split.tsv" -o "$out/$split.h5"
done
echo "g2p-prepare.sh: $(wc -l < "$out/train.tsv") training and $(wc -l < "$out/val.tsv") validation pronunciations in $out" >&2
