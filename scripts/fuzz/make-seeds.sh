#!/usr/bin/env bash
# Seed corpora for the libFuzzer targets of fuzz/: small real files, made by
# the release tools from tiny synthetic inputs (no downloads, no ../shared),
# one folder per target.
#
#   scripts/fuzz/make-seeds.sh BIN_DIR OUT_DIR     # BIN_DIR: a build's bin/ (qkv-tokenize, ...)
#
# OUT_DIR/<target>/ gets: h5in (every HDF5 file below), tokens, token_pairs,
# tokenizer (char, word and bpe), checkpoint (gpt, transformer, rnn and vit
# from qkv-model init, and a qkv-train checkpoint with optimizer and train
# state), batch (the three tasks, made with h5py as qkv_torch.py makes them),
# patches (uint8 and float32), text, idx (plain and gzip'd), image (PNG,
# JPEG, BMP, PPM, PGM, TIFF, WebP from qkv-patchify unpatchify).
set -euo pipefail
BIN=$(cd "$1" && pwd)
OUT=$2
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for t in h5in tokens token_pairs tokenizer checkpoint batch patches text idx image; do mkdir -p "$OUT/$t"; done
np="--no-provenance"

# Text: ASCII, UTF-8 (2-4 byte characters), CRLF, a TSV of pairs, invalid bytes.
printf 'the cat sat on the mat\nthe dog ate the log\n' > a.txt
printf 'h\xc3\xa9llo w\xc3\xb6rld \xe2\x96\x81 \xf0\x9f\x98\x80 na\xc3\xafve\r\ncaf\xc3\xa9\r\n' > utf8.txt
printf 'cat\tK AE T\ndog\tD AO G\nmat\tM AE T\nlog\tL AO G\n' > pairs.tsv
printf 'bad \xff\xfe\xc3 bytes\x00 and \xed\xa0\x80 surrogate\n\n\nlast line without newline' > bad.txt
cp a.txt utf8.txt pairs.tsv bad.txt "$OUT/text/"

# Tokenizers, tokens, token pairs.
"$BIN/qkv-tokenize" -q learn $np --model char a.txt utf8.txt -o char.h5
"$BIN/qkv-tokenize" -q learn $np --model word a.txt -o word.h5
"$BIN/qkv-tokenize" -q learn $np --model bpe --vocab-size 300 a.txt utf8.txt -o bpe.h5
"$BIN/qkv-tokenize" encode $np -t char.h5 a.txt -o tokens_char.h5
"$BIN/qkv-tokenize" encode -t bpe.h5 utf8.txt -o tokens_bpe.h5   # with /provenance
cut -f1 pairs.tsv > src.txt
cut -f2 pairs.tsv > tgt.txt
"$BIN/qkv-tokenize" -q learn $np --model char src.txt -o src_tok.h5
"$BIN/qkv-tokenize" -q learn $np --model word tgt.txt -o tgt_tok.h5
"$BIN/qkv-tokenize" encode $np --tsv -t src_tok.h5 --tgt-tokenizer tgt_tok.h5 --bos --eos pairs.tsv -o pairs.h5
cp char.h5 word.h5 bpe.h5 "$OUT/tokenizer/"
cp tokens_char.h5 tokens_bpe.h5 "$OUT/tokens/"
cp pairs.h5 "$OUT/token_pairs/"

# IDX: four 8x8 images and their labels (MNIST layout), plain and gzip'd.
/usr/bin/python3 - <<'PY'
import struct
imgs = bytes((x * 7 + y * 13 + n * 50) % 256 for n in range(4) for y in range(8) for x in range(8))
open("seed-images-idx3-ubyte", "wb").write(b"\0\0\x08\x03" + struct.pack(">III", 4, 8, 8) + imgs)
open("seed-labels-idx1-ubyte", "wb").write(b"\0\0\x08\x01" + struct.pack(">I", 4) + bytes([0, 1, 2, 1]))
PY
gzip -kn9 seed-images-idx3-ubyte seed-labels-idx1-ubyte
cp seed-images-idx3-ubyte seed-labels-idx1-ubyte seed-images-idx3-ubyte.gz seed-labels-idx1-ubyte.gz "$OUT/idx/"

# Patches (uint8 and float32, labelled) and the images they rebuild.
"$BIN/qkv-patchify" -q $np seed-images-idx3-ubyte --patch 4 --dtype uint8 --normalize none -o patches_u8.h5
"$BIN/qkv-patchify" -q $np seed-images-idx3-ubyte.gz --patch 4 --stride 2 --normalize half -o patches_f32.h5
cp patches_u8.h5 patches_f32.h5 "$OUT/patches/"
for f in png jpg bmp pgm tif webp; do
  "$BIN/qkv-patchify" -q unpatchify patches_u8.h5 --first 1 --format $f -o img_$f
  cp "$(ls -d img_$f/* | head -1)" "$OUT/image/gray.$f"
done
"$BIN/qkv-patchify" -q $np "$OUT/image/gray.png" --patch 4 --channels rgb --dtype uint8 --normalize none \
  -o patches_rgb.h5
cp patches_rgb.h5 "$OUT/patches/"
for f in png jpg ppm; do
  "$BIN/qkv-patchify" -q unpatchify patches_rgb.h5 --format $f -o rgb_$f
  cp "$(ls -d rgb_$f/* | head -1)" "$OUT/image/rgb.$f"
done

# Checkpoints: one small model of each architecture, and one trained for two
# steps (optimizer state and train state).
"$BIN/qkv-model" init gpt --set n_layer=1 --set d_model=8 --set n_head=2 --set block_size=8 --set vocab_size=12 \
  --seed 1 $np -o ck_gpt.h5
"$BIN/qkv-model" init transformer --set src_vocab_size=14 --set tgt_vocab_size=15 --set d_model=8 --set n_head=2 \
  --set n_encoder_layers=1 --set n_decoder_layers=1 --set d_ff=16 --set max_len=16 --seed 2 $np -o ck_s2s.h5
"$BIN/qkv-model" init vit --set n_layer=1 --set d_model=8 --set n_head=2 --set d_ff=16 --set n_patches=4 \
  --set patch_dim=3 --set n_classes=3 --seed 3 $np -o ck_vit.h5
"$BIN/qkv-model" init rnn --set src_vocab_size=14 --set tgt_vocab_size=15 --set d_emb=8 --set d_hidden=8 \
  --set d_attn=8 --seed 4 $np -o ck_rnn.h5
if [ -x "$BIN/qkv-train" ]; then
  "$BIN/qkv-train" -q lm tokens_char.h5 --layers 1 --heads 2 --d-model 8 --context 4 -b 2 --steps 2 $np \
    -o ck_trained.h5 || true
fi
cp ck_*.h5 "$OUT/checkpoint/"

# Batch files for the three tasks, fitting the models of fuzz/batch_fuzz.cpp.
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
def batch(path, **data):
    with h5py.File(path, "w") as f:
        f.attrs["qkv_format"] = "batch"
        f.attrs["qkv_format_version"] = np.int64(1)
        for k, v in data.items():
            f[k] = v
r = np.random.default_rng(0)
batch("batch_lm.h5", inp=r.integers(0, 12, (2, 6), dtype=np.int32),
      tgt=r.integers(0, 12, (2, 6), dtype=np.int32))
batch("batch_s2s.h5", src=r.integers(4, 14, (2, 5), dtype=np.int32),
      tgt_in=r.integers(4, 15, (2, 4), dtype=np.int32), tgt_out=r.integers(4, 15, (2, 4), dtype=np.int32))
batch("batch_vit.h5", patches=r.random((2, 4, 3), dtype=np.float32),
      labels=np.array([0, 2], dtype=np.int32))
batch("batch_vit_u8.h5", patches=r.integers(0, 256, (2, 4, 3), dtype=np.uint8))
PY
cp batch_*.h5 "$OUT/batch/"

# Every HDF5 file above is a seed of the generic reader.
cp "$OUT"/{tokens,token_pairs,tokenizer,checkpoint,batch,patches}/*.h5 "$OUT/h5in/"
for t in h5in tokens token_pairs tokenizer checkpoint batch patches text idx image; do
  echo "$t: $(ls "$OUT/$t" | wc -l) seeds, $(du -sk "$OUT/$t" | cut -f1) KiB"
done
