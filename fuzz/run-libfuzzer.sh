#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The fuzz target under libFuzzer for $XEN_MAPCACHE_FUZZ_SECONDS seconds
# (default 60) in $XEN_MAPCACHE_FUZZ_JOBS parallel jobs (default 2),
# from the kept corpus, as a meson test speaking TAP (one line), so that
# scripts/test-summary.py counts the run.  New inputs go to
# BUILDDIR/libfuzzer/corpus, crashes to BUILDDIR/libfuzzer/artifacts,
# each job's log to BUILDDIR/libfuzzer/fuzz-N.log.
#
# usage: run-libfuzzer.sh TARGET KEPT_CORPUS BUILDDIR

set -u
target=$(realpath "$1")
kept=$(realpath "$2")
out=$(realpath "$3")/libfuzzer
seconds=${XEN_MAPCACHE_FUZZ_SECONDS:-60}
jobs=${XEN_MAPCACHE_FUZZ_JOBS:-2}

: "${ASAN_OPTIONS:=halt_on_error=1:print_stacktrace=1}"
: "${UBSAN_OPTIONS:=halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

rm -rf "$out/artifacts"
mkdir -p "$out/corpus" "$out/artifacts"
rm -f "$out"/fuzz-*.log
cd "$out" || exit 1

echo "TAP version 13"
echo "1..1"
echo "# $target: $seconds s, $jobs jobs, corpus $out/corpus and $kept"
"$target" -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
    "$out/corpus" "$kept" >"$out/engine.log" 2>&1
status=$?

# Sum what the jobs' final statistics say.
execs=$(cat fuzz-*.log 2>/dev/null |
        sed -n 's/^stat::number_of_executed_units: *//p' |
        awk '{ n += $1 } END { print n + 0 }')
rate=$(cat fuzz-*.log 2>/dev/null |
       sed -n 's/^stat::average_exec_per_sec: *//p' |
       awk '{ n += $1 } END { print n + 0 }')
for log in fuzz-*.log; do
    [ -f "$log" ] && echo "# $log: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" |
                                      tail -1)"
done
crashes=$(find "$out/artifacts" -type f | wc -l)
what="libFuzzer, $seconds s, $jobs jobs: $execs inputs, $rate inputs/s"
if [ "$status" -eq 0 ]; then
    echo "ok 1 - $what"
    exit 0
fi
echo "not ok 1 - $what, exit status $status"
echo "# crash inputs kept in $out/artifacts ($crashes files); reproduce:"
echo "#   $target ARTIFACT   (see fuzz/README.md)"
grep -h -E '^FAIL |^  at operation|ERROR: |runtime error' fuzz-*.log \
    2>/dev/null | head -20 | sed 's/^/# /'
exit 1
