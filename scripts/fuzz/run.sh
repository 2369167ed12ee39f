#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ for a while each and reports, per target,
# executions, coverage (libFuzzer's cov: edges and ft: features), corpus size,
# peak memory and findings (crash, timeout, leak, out-of-memory artifacts).
#
#   scripts/fuzz/run.sh FUZZ_BUILD SECONDS [TARGET...]     # default: every target
#
# Limits (issue 18): -timeout=5 (a run over 5 s is a finding), -rss_limit_mb=2048
# and -malloc_limit_mb=2048 (no allocation over 2 GB). The corpus grows in
# FUZZ_BUILD/corpus/<target> (seeds: FUZZ_BUILD/seeds/<target>, from
# scripts/fuzz/make-seeds.sh); logs in FUZZ_BUILD/logs/<target>.log; findings
# in FUZZ_BUILD/findings/<target>/. Replay one: FUZZ_BUILD/fuzz/<target>_fuzz FILE.
# Minimize one: FUZZ_BUILD/fuzz/<target>_fuzz -minimize_crash=1 -runs=10000 FILE.
# FUZZ_TIMEOUT (default 5) replaces -timeout: libFuzzer's timeout is wall-clock
# time, so on a machine shared with nice-0 work a run can take far longer than
# its CPU time; a timeout finding is checked by replaying it on a quiet machine.
# Exit status: 1 when any target had a finding.
set -uo pipefail
FB=$(cd "$1" && pwd)
SECONDS_EACH=$2
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$FB"/fuzz/*_fuzz; do targets+=("$(basename "$f" _fuzz)"); done
fi
# allocator_may_return_null=1: a request beyond what can be mapped (libhdf5's
# metadata cache asks for a size read from the file: 256 TB in
# tests/data/fuzz/patches-h5c-256tb.h5) fails as malloc fails in a release
# build, which libhdf5 turns into an error; any allocation that succeeds is
# still held to -malloc_limit_mb.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/scripts/fuzz/lsan.supp:print_suppressions=0}
mkdir -p "$FB/logs"
printf '%-12s %7s %10s %8s %6s %7s %6s %7s  %s\n' target seconds execs exec/s cov ft corpus rss_mb findings
any=0
for t in "${targets[@]}"; do
  exe="$FB/fuzz/${t}_fuzz"
  [ -x "$exe" ] || { echo "$t: no $exe (make fuzz-targets)"; any=1; continue; }
  mkdir -p "$FB/corpus/$t" "$FB/findings/$t" "$FB/seeds/$t"
  log="$FB/logs/$t.log"
  before=$(ls "$FB/findings/$t" | wc -l)
  start=$(date +%s)
  "$exe" -max_total_time="$SECONDS_EACH" -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$FB/findings/$t/" "$FB/corpus/$t" "$FB/seeds/$t" > "$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$last")
  # slow-unit-* (a run over 10 s) are libFuzzer's notes, not findings: kept, not counted.
  new=$(ls -t "$FB/findings/$t" | head -n $(( $(ls "$FB/findings/$t" | wc -l) - before )) | grep -v '^slow-unit-' |
    tr '\n' ' ')
  # Each artifact is replayed: one that runs clean is not a finding. The
  # forked HDF5 probe's child (io/h5_probe.cpp) inherits libFuzzer's crash
  # handler, which writes a crash-* artifact when libhdf5 crashes in the child,
  # although the parent turned that crash into the usual one-line error; and a
  # timeout on a loaded machine may not be one on a quiet machine.
  kept=""
  for a in $new; do
    [ -f "$FB/findings/$t/$a" ] || continue
    if timeout 120 "$exe" -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
      "$FB/findings/$t/$a" > "$FB/logs/$t-replay-$a.log" 2>&1; then
      mkdir -p "$FB/findings/$t/unreproduced" && mv "$FB/findings/$t/$a" "$FB/findings/$t/unreproduced/"
    else
      kept+="$a "
    fi
  done
  new=$kept
  unrep=$(ls "$FB/findings/$t/unreproduced" 2>/dev/null | wc -l)
  # The log holds only the fuzzing process's own reports (the probe's child
  # writes to /dev/null): a sanitizer report there is a finding even when its
  # artifact replays clean (a leak found at exit, of the whole run, is written
  # as an empty input).
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$log"; then
    [ -n "$new" ] || new="sanitizer report in $log "
  fi
  if [ -n "$new" ] || { [ $rc -ne 0 ] && [ "$unrep" -eq 0 ]; }; then
    any=1
    what=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal' "$log" | cut -c1-120)
    new="${new:-exit $rc} ($what)"
  fi
  eps=$(( ${execs:-0} / (took > 0 ? took : 1) ))
  printf '%-12s %7s %10s %8s %6s %7s %6s %7s  %s\n' "$t" "$took" "${execs:-?}" "$eps" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "${rss:-?}" "${new:-0}$([ "$unrep" -gt 0 ] && echo " (+$unrep artifacts that replay clean)")"
done
exit $any
