#!/usr/bin/env bash
# make bench: performance figures, each as a ratio against a baseline measured
# in the same run (these machines are noisy). Prints a Markdown table.
# Needs: go, curl, GNU time (/usr/bin/time). Takes a few minutes (it seeds
# 100,000 keys and 1,000,000 events, and writes a 1 GiB tree for the scan
# measure: BENCH_SCAN_SIZE).
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${BENCH_KEYS:-100000}
EVENTS=${BENCH_EVENTS:-1000000}
RUNS=${BENCH_RUNS:-200}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/codesync-cli" .
mkdir -p "$work/hello" && cat > "$work/hello/main.go" <<'GO'
package main

import "fmt"

func main() { fmt.Println("hello") }
GO
(cd "$work/hello" && cat > go.mod <<'MOD'
module hello
go 1.26
MOD
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/hello-bin" .)
BIN=$work/codesync-cli
export CODESYNC_CONFIG_DIR=$work/config CODESYNC_KEYRING=file
unset CODESYNC_AUTH_TOKEN CODESYNC_SERVER

# total wall time of RUNS runs of a command, in ms, interleaved with the baseline
ms() { local s e; s=$(date +%s%N); for _ in $(seq "$RUNS"); do "$@" >/dev/null 2>&1 || true; done; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }

echo "| measure | codesync-cli | baseline | ratio |"
echo "|---|---|---|---|"
h1=$(ms "$work/hello-bin"); v=$(ms "$BIN" --version); h2=$(ms "$work/hello-bin")
hb=$(( (h1 + h2) / 2 ))
echo "| start-up: --version ($RUNS runs) | ${v} ms | hello world ${hb} ms | $(ratio "$v" "$hb") |"
hp=$(ms "$BIN" --help)
echo "| start-up: --help ($RUNS runs) | ${hp} ms | hello world ${hb} ms | $(ratio "$hp" "$hb") |"
c=$(ms "$BIN" __complete key "")
echo "| start-up: __complete key \"\" not logged in ($RUNS runs) | ${c} ms | hello world ${hb} ms | $(ratio "$c" "$hb") |"
size=$(stat -c %s "$BIN"); hsize=$(stat -c %s "$work/hello-bin")
echo "| binary size (stripped) | $(( size / 1024 / 1024 )) MiB | hello world $(( hsize / 1024 )) KiB | $(ratio "$size" "$hsize") |"

# a server on a seeded database
"$BIN" server --dev --db "$work/db.sqlite" --addr 127.0.0.1:0 >"$work/env" 2>"$work/log" &
server_pid=$!
for _ in $(seq 100); do grep -q AUTH_TOKEN "$work/env" 2>/dev/null && break; sleep 0.05; done
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
go run ./bench/seed -db "$work/db.sqlite" -keys "$KEYS" -events "$EVENTS" 2>&1 >/dev/null | sed 's/^/<!-- /; s/$/ -->/'
"$BIN" server --dev --db "$work/db.sqlite" --addr 127.0.0.1:0 --rate-limit-dev 100000/s >"$work/env" 2>"$work/log" &
server_pid=$!
for _ in $(seq 100); do grep -q AUTH_TOKEN "$work/env" 2>/dev/null && break; sleep 0.05; done
# shellcheck disable=SC1091
. "$work/env"
export CODESYNC_AUTH_TOKEN CODESYNC_SERVER
auth="Authorization: Bearer $CODESYNC_AUTH_TOKEN"

RUNS=50
k1=$(ms curl -sf -H "$auth" "$CODESYNC_SERVER/v1/keys?limit=100"); kl=$(ms "$BIN" key list -o json); k2=$(ms curl -sf -H "$auth" "$CODESYNC_SERVER/v1/keys?limit=100")
kb=$(( (k1 + k2) / 2 ))
echo "| key list -o json round trip ($RUNS runs) | ${kl} ms | curl ${kb} ms | $(ratio "$kl" "$kb") |"

tv() { /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1; }
read -r cw cr < <(tv curl -sf -H "$auth" -o "$work/curl.ndjson" "$CODESYNC_SERVER/v1/keys/export?format=ndjson")
read -r xw xr < <(tv "$BIN" key audit-export --format ndjson --output-file "$work/cli.ndjson")
echo "| audit-export ndjson, $KEYS keys: wall | ${xw} s | curl ${cw} s | $(ratio "$xw" "$cw") |"
echo "| audit-export ndjson, $KEYS keys: peak RSS | $(( xr / 1024 )) MiB | curl $(( cr / 1024 )) MiB | $(ratio "$xr" "$cr") |"
read -r cw cr < <(tv curl -sf -H "$auth" -o "$work/curl.json" "$CODESYNC_SERVER/v1/keys/export?format=json&include_events=true")
read -r xw xr < <(tv "$BIN" key audit-export --include-events --output-file "$work/cli.json")
echo "| audit-export json + $EVENTS events: wall | ${xw} s | curl ${cw} s | $(ratio "$xw" "$cw") |"
echo "| audit-export json + $EVENTS events: peak RSS | $(( xr / 1024 )) MiB | curl $(( cr / 1024 )) MiB | $(ratio "$xr" "$cr") |"
echo "<!-- export size: $(stat -c %s "$work/cli.json") bytes -->"
srss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
echo "| server peak RSS after all exports ($KEYS keys, $EVENTS events) | $(( srss / 1024 )) MiB | target < 64 MiB | |"

go run ./bench/load -c 50 -d 5s

bench/scan.sh "$BIN"
