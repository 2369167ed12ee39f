#!/usr/bin/env bash
# qkv-tokenize vs sentencepiece (spm_train / spm_encode, --model_type=bpe), side
# by side in one run: the same corpus, the same vocabulary size (8000), the same
# thread count. Prints learn time, encode throughput and peak memory
# (/usr/bin/time) for both, and the ratios. Two corpora: TinyShakespeare
# repeated to ~100 MB (few distinct words), and a synthetic 30 MB one with
# ~350k distinct words (scripts/bench/tokenize_diverse_corpus.py), where BPE's
# merge phase has real work.
#   QKV_BENCH_TOKENIZE_MB=20 QKV_BENCH_TOKENIZE_DIVERSE_MB=0 scripts/bench.sh build tokenize
set -euo pipefail
: "${QKV_BIN:?run through scripts/bench.sh}" "${QKV_ROOT:?run through scripts/bench.sh}"
mb=${QKV_BENCH_TOKENIZE_MB:-100}
diverse_mb=${QKV_BENCH_TOKENIZE_DIVERSE_MB:-30}  # 0 = skip the large-vocabulary corpus
vocab=8000
threads=$(nproc)
src="$QKV_ROOT/../shared/data/tinyshakespeare/input.txt"
for need in spm_train spm_encode /usr/bin/time; do
  command -v "$need" >/dev/null || { echo "SKIP: $need not installed (scripts/install-deps.sh --bench)"; exit 0; }
done
[ -r "$src" ] || { echo "SKIP: $src not found (../shared/data)"; exit 0; }

work="$QKV_ROOT/data/bench/tokenize"
mkdir -p "$work"
corpus="$work/tinyshakespeare-${mb}mb.txt"
if [ ! -s "$corpus" ]; then
  size=$(stat -c%s "$src")
  reps=$(( (mb * 1048576 + size - 1) / size ))
  for _ in $(seq "$reps"); do cat "$src"; done > "$corpus.tmp" && mv "$corpus.tmp" "$corpus"
fi
# timed NAME CMD...: runs CMD under /usr/bin/time; sets T_NAME (seconds) and M_NAME (peak RSS, MB).
timed() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@"
  read -r secs kb < "$work/$name.time"
  printf -v "T_$name" '%s' "$secs"
  printf -v "M_$name" '%s' "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
mbps() { awk -v n="$bytes" -v s="$1" 'BEGIN { if (s > 0) printf "%.1f", n / 1048576 / s; else print "inf" }'; }

# compare CORPUS TAG: learn, encode and decode with both tools; prints the table.
compare() {
  corpus=$1 tag=$2
  bytes=$(stat -c%s "$corpus")
  q="$QKV_BIN/qkv-tokenize"

  echo; echo "corpus: $corpus ($(awk -v n="$bytes" 'BEGIN { printf "%.1f", n / 1048576 }') MB), vocab $vocab, $threads threads"

  timed spm_learn spm_train --input="$corpus" --model_prefix="$work/$tag.spm" --vocab_size=$vocab --model_type=bpe \
    --num_threads="$threads" --minloglevel=2 > "$work/$tag.spm_train.log" 2>&1
  timed qkv_learn "$q" -q --threads "$threads" learn --vocab-size $vocab "$corpus" -o "$work/$tag.tok.h5"

  timed spm_encode spm_encode --model="$work/$tag.spm.model" --output_format=id --input="$corpus" --output="$work/$tag.spm.ids"
  timed qkv_encode "$q" -q --threads "$threads" encode -t "$work/$tag.tok.h5" "$corpus" -o "$work/$tag.tokens.h5"
  timed qkv_encode1 "$q" -q --threads 1 encode -t "$work/$tag.tok.h5" "$corpus" -o "$work/$tag.tokens1.h5"
  timed qkv_decode "$q" -q decode -t "$work/$tag.tok.h5" "$work/$tag.tokens.h5" -o "$work/$tag.decoded.txt"
  cmp -s "$work/$tag.decoded.txt" "$corpus" && lossless=yes || lossless=NO
  # The floor of qkv-tokenize: loading libqkvbase and its shared libraries (HDF5, spdlog).
  timed qkv_floor "$q" --version > /dev/null

  spm_tokens=$(wc -w < "$work/$tag.spm.ids")
  qkv_tokens=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1],'r')['ids'].shape[0])" "$work/$tag.tokens.h5" 2>/dev/null || echo "?")

  printf '\n%-34s %14s %14s %10s\n' "" "sentencepiece" "qkv-tokenize" "ratio"
  printf '%-34s %14s %14s %9sx\n' "learn time (s)" "$T_spm_learn" "$T_qkv_learn" "$(ratio "$T_spm_learn" "$T_qkv_learn")"
  printf '%-34s %14s %14s %9sx\n' "learn peak memory (MB)" "$M_spm_learn" "$M_qkv_learn" "$(ratio "$M_qkv_learn" "$M_spm_learn")"
  printf '%-34s %14s %14s %9sx\n' "encode MB/s ($threads threads for qkv)" "$(mbps "$T_spm_encode")" "$(mbps "$T_qkv_encode")" \
    "$(ratio "$T_spm_encode" "$T_qkv_encode")"
  printf '%-34s %14s %14s %9sx\n' "encode MB/s (1 thread)" "$(mbps "$T_spm_encode")" "$(mbps "$T_qkv_encode1")" \
    "$(ratio "$T_spm_encode" "$T_qkv_encode1")"
  printf '%-34s %14s %14s %9sx\n' "encode peak memory (MB)" "$M_spm_encode" "$M_qkv_encode" "$(ratio "$M_qkv_encode" "$M_spm_encode")"
  printf '%-34s %14s %14s\n' "  (qkv process floor, --version)" "" "$M_qkv_floor"
  printf '%-34s %14s %14s\n' "tokens" "$spm_tokens" "$qkv_tokens"
  printf '%-34s %14s %14s\n' "decode (qkv) MB/s, lossless" "-" "$(mbps "$T_qkv_decode"), $lossless"
  echo
  echo "ratios: learn speed-up $(ratio "$T_spm_learn" "$T_qkv_learn")x (target >= 2), encode throughput" \
    "$(ratio "$T_spm_encode" "$T_qkv_encode")x (target >= 3), peak memory qkv/spm: learn" \
    "$(ratio "$M_qkv_learn" "$M_spm_learn"), encode $(ratio "$M_qkv_encode" "$M_spm_encode") (target <= 1)"
  [ "$lossless" = yes ] || { echo "decode(encode(corpus)) differs from the corpus" >&2; status=1; }
  rm -f "$work/$tag".*.ids "$work/$tag".*tokens*.h5 "$work/$tag.decoded.txt"
}

status=0
compare "$corpus" shakespeare
diverse="$work/diverse-${diverse_mb}mb.txt"
if [ "$diverse_mb" != 0 ]; then
  if [ ! -s "$diverse" ]; then
    /usr/bin/python3 "$QKV_ROOT/scripts/bench/tokenize_diverse_corpus.py" "$diverse.tmp" "$diverse_mb" && mv "$diverse.tmp" "$diverse"
  fi
  compare "$diverse" diverse
fi
exit $status
