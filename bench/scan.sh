#!/usr/bin/env bash
# The scan measure of `make bench`: codesync-cli scan against grep -r over the
# same generated tree (BENCH_SCAN_SIZE bytes, default 1 GiB, see
# bench/scangen), page cache warm, best of BENCH_SCAN_RUNS interleaved runs.
# grep -rE with the token's pattern is what a person would run to find keys;
# grep -rF csy_ checks nothing and is the floor. Prints Markdown table rows.
# Usage: bench/scan.sh BIN
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: bench/scan.sh BIN}
SIZE=${BENCH_SCAN_SIZE:-1073741824}
RUNS=${BENCH_SCAN_RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./bench/scangen -dir "$work/tree" -size "$SIZE" 2>&1 | sed 's/^/<!-- /; s/$/ -->/'
# warm the page cache for both
cat $(find "$work/tree" -type f) > /dev/null
# output goes to a file, not /dev/null: GNU grep stops at a file's first
# match when it sees its output is /dev/null, which would flatter it
ms() { local s e; s=$(date +%s%N); "$@" > "$work/out" 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
best_scan=; best_grepE=; best_grepF=
for _ in $(seq "$RUNS"); do
  g=$(ms grep -rE 'csy_(prod|dev)_[0-9A-Za-z]{36}' "$work/tree")
  s=$(ms "$BIN" scan -o json "$work/tree")
  f=$(ms grep -rF csy_ "$work/tree")
  [ -z "$best_grepE" ] || [ "$g" -lt "$best_grepE" ] && best_grepE=$g
  [ -z "$best_scan" ] || [ "$s" -lt "$best_scan" ] && best_scan=$s
  [ -z "$best_grepF" ] || [ "$f" -lt "$best_grepF" ] && best_grepF=$f
done
found=$("$BIN" scan -o json "$work/tree" 2>/dev/null | grep -o '"sha256"' | wc -l || true)
mib=$(( SIZE / 1024 / 1024 ))
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
echo "| scan $mib MiB tree (found $found, checksums checked) vs grep -rE token regex | ${best_scan} ms | grep ${best_grepE} ms | $(ratio "$best_scan" "$best_grepE") |"
echo "| scan $mib MiB tree vs grep -rF csy_ (no validation at all) | ${best_scan} ms | grep ${best_grepF} ms | $(ratio "$best_scan" "$best_grepF") |"
