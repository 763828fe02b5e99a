#!/usr/bin/env bash
# make bench-org: the organization export (key audit-export --org) of 100,000
# keys against curl of the same endpoint, wall time and peak RSS. Budget: the
# CLI within 1.5× curl's wall time, CLI peak RSS < 48 MiB. Prints Markdown
# rows like bench/run.sh. Needs: go, curl, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${BENCH_KEYS:-100000}
MEMBERS=${BENCH_MEMBERS:-100}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/codesync-cli" .
BIN=$work/codesync-cli
export CODESYNC_CONFIG_DIR=$work/config CODESYNC_KEYRING=file
unset CODESYNC_AUTH_TOKEN CODESYNC_SERVER

start_server() {
  "$BIN" server --dev --db "$work/db.sqlite" --addr 127.0.0.1:0 --rate-limit-dev 100000/s >"$work/env" 2>"$work/log" &
  server_pid=$!
  for _ in $(seq 100); do grep -q AUTH_TOKEN "$work/env" 2>/dev/null && break; sleep 0.05; done
}
start_server
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
go run ./bench/orgseed -db "$work/db.sqlite" -keys "$KEYS" -members "$MEMBERS" 2>&1 >/dev/null | sed 's/^/<!-- /; s/$/ -->/'
start_server
# shellcheck disable=SC1091
. "$work/env"
export CODESYNC_AUTH_TOKEN CODESYNC_SERVER
auth="Authorization: Bearer $CODESYNC_AUTH_TOKEN"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
tv() { /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1; }
echo "| measure | codesync-cli | baseline | ratio |"
echo "|---|---|---|---|"
for format in ${BENCH_FORMATS:-ndjson json}; do
  read -r c1 cr < <(tv curl -sf -H "$auth" -o "$work/curl.$format" "$CODESYNC_SERVER/v1/keys/export?format=$format&org=acme")
  read -r xw xr < <(tv "$BIN" key audit-export --org acme --format "$format" --output-file "$work/cli.$format")
  read -r c2 _ < <(tv curl -sf -H "$auth" -o "$work/curl.$format" "$CODESYNC_SERVER/v1/keys/export?format=$format&org=acme")
  cw=$(awk -v a="$c1" -v b="$c2" 'BEGIN { printf "%.2f", (a + b) / 2 }')
  cmp -s "$work/cli.$format" "$work/curl.$format" || [ "$format" = json ] || { echo "the CLI's $format export differs from curl's" >&2; exit 1; }
  echo "| audit-export --org $format, $KEYS keys of $MEMBERS members: wall | ${xw} s | curl ${cw} s | $(ratio "$xw" "$cw") |"
  echo "| audit-export --org $format, $KEYS keys of $MEMBERS members: peak RSS | $(( xr / 1024 )) MiB | curl $(( cr / 1024 )) MiB | budget < 48 MiB |"
done
lines=$(wc -l < "$work/cli.ndjson")
# the seeded keys and the dev user's keys without namespaces (they reach every organization of dev)
[ "$lines" -ge "$KEYS" ] || { echo "the ndjson export has $lines keys, want at least $KEYS" >&2; exit 1; }
srss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
echo "| server peak RSS after the organization exports | $(( srss / 1024 )) MiB | target < 64 MiB | |"
