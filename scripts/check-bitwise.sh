#!/usr/bin/env bash
# Issue 13 item 7: two builds of qkv train bitwise alike. A 40-step qkv-train run of each task (lm in stream
# and sequence mode, seq2seq, rnn, vit; dropout, label smoothing, augmentation (vit), validation, periodic
# saves, metrics), a run resumed from its checkpoint with the saved settings (--resume, 10 steps more, plot
# redrawn from the metrics file), a 10-step --init run with another dropout and an --eval-only run, each
# made by the tools of OLD_BIN_DIR and of NEW_BIN_DIR on the same data; every
# checkpoint is compared with cmp, the metrics files and --eval-only lines without their throughput fields.
#   scripts/check-bitwise.sh OLD_BIN_DIR [NEW_BIN_DIR]      NEW_BIN_DIR default: build/bin of this tree
# Self-contained: the data are generated here (awk, fixed seeds) and made into tokens, token_pairs and
# patches files by OLD_BIN_DIR's qkv-tokenize and qkv-patchify. Outputs are written with --no-provenance
# (byte-comparable) and --threads ${QKV_THREADS:-1} (results depend on the thread count).
# Prints "same: FILE" or "DIFFERENT: FILE" per output; exit 1 on any difference. QKV_KEEP=DIR keeps the
# files (DIR/old, DIR/new, DIR/data) instead of a temporary folder.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
old=${1:?usage: scripts/check-bitwise.sh OLD_BIN_DIR [NEW_BIN_DIR]}
new=${2:-$here/build/bin}
threads=${QKV_THREADS:-1}
for b in "$old" "$new"; do
  for t in qkv-train qkv-tokenize qkv-patchify; do
    [ -x "$b/$t" ] || { echo "check-bitwise.sh: $b/$t missing" >&2; exit 2; }
  done
done
old=$(cd "$old" && pwd)
new=$(cd "$new" && pwd)
if [ -n "${QKV_KEEP:-}" ]; then
  work=$QKV_KEEP
  rm -rf "$work/old" "$work/new" "$work/data"
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
data=$work/data
mkdir -p "$data" "$work/old" "$work/new"

# ---- Data, generated deterministically (Park-Miller generator in awk: exact in double arithmetic).
rand='function rnd(n) { s = (s * 16807) % 2147483647; return int(s / 2147483647 * n) }'
# Text for the LM: 400 lines of 4..11 words from a fixed word list.
LC_ALL=C awk "$rand"'BEGIN { s = 12345; nw = split("the a model learns to attend over tokens and patches of every image in order " \
  "with weights query key value head layer step loss rate small large", w, " ");
  for (i = 0; i < 400; ++i) { n = 4 + rnd(8); line = w[1 + rnd(nw)];
    for (k = 1; k < n; ++k) line = line " " w[1 + rnd(nw)]; print line } }' > "$data/text.txt"
# Pairs for seq2seq and rnn: a word of 2..7 letters a-h <TAB> its letters reversed, space-separated.
pairs() {
  LC_ALL=C awk -v seed="$1" -v n="$2" "$rand"'BEGIN { s = seed; for (i = 0; i < n; ++i) { L = 2 + rnd(6); x = ""; y = "";
    for (k = 0; k < L; ++k) { c = substr("abcdefgh", 1 + rnd(8), 1); x = x c; y = (k ? c " " : c) y } print x "\t" y } }'
}
pairs 777 300 > "$data/train.tsv"
pairs 4242 60 > "$data/val.tsv"
# Images for the ViT: an ImageFolder of 8x8 ASCII PGMs, three classes (a bright row, column or diagonal
# at a random place, on noise), 40 images per class.
LC_ALL=C awk -v dir="$data/images" "$rand"'BEGIN { s = 99;
  for (c = 0; c < 3; ++c) { system("mkdir -p " dir "/class" c);
    for (i = 0; i < 40; ++i) { f = sprintf("%s/class%d/%03d.pgm", dir, c, i); p = rnd(8);
      print "P2\n8 8\n255" > f;
      for (y = 0; y < 8; ++y) { line = "";
        for (x = 0; x < 8; ++x) { on = (c == 0 && y == p) || (c == 1 && x == p) || (c == 2 && (x - y + 8) % 8 == p);
          line = line (x ? " " : "") (on ? 180 + rnd(76) : rnd(80)) }
        print line > f }
      close(f) } } }'

q() { "$old/$1" -q --no-provenance "${@:2}"; }
q qkv-tokenize learn --model char "$data/text.txt" -o "$data/text.tok.h5"
q qkv-tokenize encode -t "$data/text.tok.h5" "$data/text.txt" -o "$data/lm.h5"
cut -f1 "$data/train.tsv" > "$data/words.txt"
cut -f2 "$data/train.tsv" > "$data/letters.txt"
q qkv-tokenize learn --model char "$data/words.txt" -o "$data/src.tok.h5"
q qkv-tokenize learn --model word "$data/letters.txt" -o "$data/tgt.tok.h5"
for split in train val; do
  q qkv-tokenize encode --tsv -t "$data/src.tok.h5" --tgt-tokenizer "$data/tgt.tok.h5" --bos --eos \
    "$data/$split.tsv" -o "$data/$split.h5"
done
q qkv-patchify "$data/images" --patch 4 -o "$data/images.h5"

# ---- The runs, with each set of tools. A job: a qkv-train subcommand, its data (the training file and
# the validation data) and its flags.
common=(--steps 40 --save-every 10 --eval-every 10 --log-every 5 --seed 7)
jobs=(lm lmseq seq2seq rnn vit)
declare -A command=([lm]=lm [lmseq]=lm [seq2seq]=seq2seq [rnn]=rnn [vit]=vit)
declare -A data_args=(
  [lm]="$data/lm.h5 --val-fraction 0.1"
  [lmseq]="$data/lm.h5 --val-fraction 0.1"
  [seq2seq]="$data/train.h5 --val $data/val.h5"
  [rnn]="$data/train.h5 --val $data/val.h5"
  [vit]="$data/images.h5 --val-fraction 0.2"
)
declare -A train_args=(
  [lm]="--layers 2 --heads 2 --d-model 32 --d-ff 64 --context 16 --window-stride 8 --dropout 0.1
        --label-smoothing 0.1 -b 8 --lr 3e-3 --schedule cosine --warmup 5 --min-lr 1e-4"
  [lmseq]="--lm-mode sequence --layers 1 --heads 2 --d-model 16 --max-context 48 --dropout 0.1 --pos sinusoidal
        -b 8 --epochs 2 --no-shuffle --lr 2e-3"
  [seq2seq]="--layers 1 --heads 2 --d-model 32 --d-ff 64 --dropout 0.1 --label-smoothing 0.1 -b 16 --bucket
        --lr 2e-3 --schedule noam --warmup 10 --decode-limit 20"
  [rnn]="--cell lstm --d-emb 16 --hidden 32 --dropout 0.1 --label-smoothing 0.1 -b 16 --optimizer sgd --lr 0.2
        --momentum 0.9 --nesterov --clip 0.5"
  [vit]="--layers 2 --heads 2 --d-model 32 --d-ff 64 --dropout 0.1 --label-smoothing 0.1
        --augment flip,shift=1,erase=0.25 -b 16 --lr 2e-3 --weight-decay 0.05 --schedule cosine"
)
run() {  # run BIN_DIR OUT_DIR
  local bin=$1 out=$2 job
  for job in "${jobs[@]}"; do
    local t=("$bin/qkv-train" -q --threads "$threads" --no-provenance "${command[$job]}")
    # shellcheck disable=SC2206  # the argument lists above split on white space
    local d=(${data_args[$job]}) a=(${train_args[$job]})
    "${t[@]}" "${d[@]}" "${a[@]}" "${common[@]}" -o "$out/$job.h5" --metrics "$out/$job.jsonl"
    # Resumed with every setting but the steps from the checkpoint; its metrics file continued, its plot redrawn.
    cp "$out/$job.jsonl" "$out/$job.resumed.jsonl"
    "${t[@]}" "${d[@]}" --resume "$out/$job.h5" --steps 50 --save-every 10 --eval-every 10 --log-every 5 \
      -o "$out/$job.resumed.h5" --metrics "$out/$job.resumed.jsonl" --plot "$out/$job.resumed.png"
    # A new run from its parameters, with a training-only setting changed; then evaluated.
    "${t[@]}" "${d[@]}" --init "$out/$job.h5" --dropout 0.2 --steps 10 --best none -o "$out/$job.init.h5"
    "${t[@]}" "${d[@]}" --init "$out/$job.h5" --eval-only > "$out/$job.eval.json"
  done
}
run "$old" "$work/old"
run "$new" "$work/new"

# ---- Compare: every output of either side.
status=0
strip() { sed -E 's/, "(tokens|images)_per_s": [^,}]*//' "$1"; }
for name in $( (cd "$work/old" && ls; cd "$work/new" && ls) | sort -u); do
  a=$work/old/$name b=$work/new/$name
  if [ ! -e "$a" ] || [ ! -e "$b" ]; then
    same=no
  elif [[ $name == *.json* ]]; then
    cmp -s <(strip "$a") <(strip "$b") && same=yes || same=no
  else
    cmp -s "$a" "$b" && same=yes || same=no
  fi
  if [ $same = yes ]; then echo "same: $name"; else echo "DIFFERENT: $name"; status=1; fi
done
exit $status
