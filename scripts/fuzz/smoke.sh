#!/usr/bin/env bash
# The sanitizer stage of `make test`: every libFuzzer target (ASan + UBSan,
# built by `make fuzz-targets`) runs over its seeds, then every committed
# reproducer (tests/data/fuzz/*.gz, through the h5in target and the target of
# its kind), then RUNS fresh mutations from a fixed seed (-seed=1: the same
# inputs on every run of the same build). Any sanitizer report, crash, run
# over 5 s, allocation over 2 GB or leak (scripts/fuzz/lsan.supp) fails it.
#
#   scripts/fuzz/smoke.sh FUZZ_BUILD [RUNS]      # RUNS per target, default 20000
set -uo pipefail
FB=$(cd "$1" && pwd)
RUNS=${2:-20000}
src=$(cd "$(dirname "$0")/../.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/scripts/fuzz/lsan.supp:print_suppressions=0}
repro=$(mktemp -d)
trap 'rm -rf "$repro"' EXIT
mkdir -p "$repro/files"
for f in "$src"/tests/data/fuzz/*.gz; do gunzip -c "$f" > "$repro/files/$(basename "$f" .gz)"; done
limits=(-timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048)
failed=0
printf '%-12s %6s %6s %8s  %s\n' target seeds repro runs result
for exe in "$FB"/fuzz/*_fuzz; do
  t=$(basename "$exe" _fuzz)
  log="$FB/logs/smoke-$t.log"
  mkdir -p "$FB/logs" "$FB/seeds/$t"
  # reproducers: all through h5in (every file is HDF5), a kind's own through its target
  mine=()
  for r in "$repro"/files/*; do
    kind=$(basename "$r" | sed 's/-.*//')
    case "$t:$kind" in
      h5in:* | tokens:tokens | patches:patches | tokenizer:chars | tokenizer:tok | token_pairs:pairs | checkpoint:vit | checkpoint:s2s | image:image)
        mine+=("$r") ;;
    esac
  done
  result=ok
  { "$exe" "${limits[@]}" -runs=0 "$FB/seeds/$t" &&
    { [ ${#mine[@]} -eq 0 ] || "$exe" "${limits[@]}" "${mine[@]}"; } &&
    { mkdir -p "$repro/new/$t" &&  # what the mutations add goes here, not into the seeds
      "$exe" "${limits[@]}" -seed=1 -runs="$RUNS" -artifact_prefix="$FB/logs/smoke-$t-" "$repro/new/$t" "$FB/seeds/$t"; }
  } > "$log" 2>&1 ||
    { result="FAILED: $(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal' "$log" |
        cut -c1-100) (log: $log)"; failed=1; }
  printf '%-12s %6s %6s %8s  %s\n' "$t" "$(ls "$FB/seeds/$t" | wc -l)" "${#mine[@]}" "$RUNS" "$result"
done
exit $failed
