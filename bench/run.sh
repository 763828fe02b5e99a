#!/usr/bin/env bash
# make bench: performance figures of the real binary and the real
# `codesync-cli server` process (access log on, seeded database), each against
# a baseline measured in the same run (these machines are noisy). Prints a
# Markdown table; exits 1 when a measure fails (a command or request that
# errs) and 2 when a stated target is missed (all figures are printed first).
#
# Needs: go, curl, GNU time (/usr/bin/time) and the sqlite3 command-line
# shell (Debian: apt-get install sqlite3 time curl) for the export floor.
# Takes several minutes at full size (100,000 keys, 1,000,000 events);
# BENCH_KEYS, BENCH_EVENTS, BENCH_RUNS (start-up runs per measure),
# BENCH_LOAD_RUNS, BENCH_LOAD_DURATION, BENCH_CONNS, BENCH_TOKENS make it smaller;
# the scan measure writes a 1 GiB tree (BENCH_SCAN_SIZE).
#
# Targets (enforced):
#   key list server time per page at KEYS keys ≤ 1.5 × at 1,000 keys
#   whoami (cached) throughput ≥ 60 % of a bare handler
#   key list throughput ≥ 30 % of a bare handler, p99 < 10 ms at 50 connections
#   export (JSON, keys + events) ≤ 2 × the sqlite3 shell writing the same rows as JSON
#   server peak RSS < 64 MiB
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${BENCH_KEYS:-100000}
EVENTS=${BENCH_EVENTS:-1000000}
RUNS=${BENCH_RUNS:-200}
LOAD_RUNS=${BENCH_LOAD_RUNS:-5}
LOAD_DUR=${BENCH_LOAD_DURATION:-5s}
CONNS=${BENCH_CONNS:-50}
TOKENS=${BENCH_TOKENS:-60000}
for tool in curl sqlite3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed (Debian: apt-get install curl sqlite3 time)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
missed=()
miss() { echo "TARGET MISSED: $*" >&2; missed+=("$*"); }
die() { echo "bench: $*" >&2; exit 1; }

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/codesync-cli" .
go build -o "$work/load" ./bench/load
go build -o "$work/seed" ./bench/seed
mkdir -p "$work/hello" && cat > "$work/hello/main.go" <<'GO'
package main

import "fmt"

func main() { fmt.Println("hello") }
GO
(cd "$work/hello" && printf 'module hello\ngo 1.26\n' > go.mod && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/hello-bin" .)
BIN=$work/codesync-cli
HELLO=$work/hello-bin
export CODESYNC_CONFIG_DIR=$work/config CODESYNC_KEYRING=file
unset CODESYNC_AUTH_TOKEN CODESYNC_SERVER

# total wall time of RUNS runs of a command, in ms; a failing run fails the bench
ms() {
  local s e
  s=$(date +%s%N)
  for _ in $(seq "$RUNS"); do "$@" >/dev/null 2>"$work/ms.err" || die "'$*' failed: $(head -c 300 "$work/ms.err")"; done
  e=$(date +%s%N)
  echo $(( (e - s) / 1000000 ))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
# bracket LABEL CMD...: the command's RUNS runs between two hello-world batches
bracket() {
  local label=$1 h1 c h2 hb; shift
  h1=$(ms "$HELLO"); c=$(ms "$@"); h2=$(ms "$HELLO")
  hb=$(( (h1 + h2) / 2 ))
  echo "| start-up: $label ($RUNS runs) | ${c} ms | hello world ${hb} ms (${h1}, ${h2}) | $(ratio "$c" "$hb") |"
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# start_server DB LOG: a server in the background; sets srv_url, srv_token, srv_pid
start_server() {
  local db=$1 log=$2 env=$work/env.$RANDOM
  "$BIN" server --dev --db "$db" --addr 127.0.0.1:0 --rate-limit-dev 1000000/s >"$env" 2>"$log" &
  srv_pid=$!; pids+=("$srv_pid")
  for _ in $(seq 200); do grep -q AUTH_TOKEN "$env" 2>/dev/null && break; sleep 0.05; done
  grep -q AUTH_TOKEN "$env" || die "the server on $db did not start: $(tail -3 "$log")"
  srv_url=$(sed -n 's/^export CODESYNC_SERVER=//p' "$env")
  srv_token=$(sed -n 's/^export CODESYNC_AUTH_TOKEN=//p' "$env")
}
stop_server() { kill "$1"; wait "$1" 2>/dev/null || true; }
# make_db DB KEYS EVENTS [seed flags]: a database with the dev user and seeded rows
make_db() {
  local db=$1 keys=$2 events=$3; shift 3
  start_server "$db" "$work/first.log"; stop_server "$srv_pid"
  "$work/seed" -db "$db" -keys "$keys" -events "$events" "$@" 2>&1 >/dev/null | sed 's/^/<!-- /; s/$/ -->/'
}

echo "| measure | codesync-cli | baseline | ratio |"
echo "|---|---|---|---|"
bracket "--version" "$BIN" --version
bracket "--help" "$BIN" --help
size=$(stat -c %s "$BIN"); hsize=$(stat -c %s "$HELLO")
echo "| binary size (stripped) | $(mib "$size") | hello world $(mib "$hsize") | $(ratio "$size" "$hsize") |"

# --- databases: 1,000 and 10,000 keys for the key list's cost, and the full one
make_db "$work/db1k.sqlite" 1000 0
make_db "$work/db10k.sqlite" 10000 0
make_db "$work/db.sqlite" "$KEYS" "$EVENTS" -tokens "$TOKENS" -tokens-out "$work/tokens"

start_server "$work/db.sqlite" "$work/access.log"; main_pid=$srv_pid; main_url=$srv_url; main_token=$srv_token

# --- key list: server time per page (from each server's access log), 1k / 10k / KEYS keys.
# The three servers run at once and are asked in turn, so machine noise hits all alike.
start_server "$work/db1k.sqlite" "$work/access1k.log"; p1=$srv_pid; u1=$srv_url; t1=$srv_token
start_server "$work/db10k.sqlite" "$work/access10k.log"; p10=$srv_pid; u10=$srv_url; t10=$srv_token
for _ in $(seq 300); do
  curl -sf -o /dev/null -H "Authorization: Bearer $t1" "$u1/v1/keys?limit=100" || die "key list (1k) failed"
  curl -sf -o /dev/null -H "Authorization: Bearer $t10" "$u10/v1/keys?limit=100" || die "key list (10k) failed"
  curl -sf -o /dev/null -H "Authorization: Bearer $main_token" "$main_url/v1/keys?limit=100" || die "key list ($KEYS) failed"
done
stop_server "$p1"; stop_server "$p10"
# median duration_ms of the key list requests in an access log
page_ms() { grep 'path=/v1/keys ' "$1" | grep 'status=200' | sed -n 's/.*duration_ms=\([0-9.]*\).*/\1/p' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; printf "%.3f", v[int((NR + 1) / 2)] }'; }
l1=$(page_ms "$work/access1k.log") || die "no key list in the 1k access log"
l10=$(page_ms "$work/access10k.log") || die "no key list in the 10k access log"
lk=$(page_ms "$work/access.log") || die "no key list in the access log"
echo "| key list: server time per page (limit 100, median of 300) at 1,000 / 10,000 / $KEYS keys | ${l1} / ${l10} / ${lk} ms | 1,000 keys ${l1} ms | $(ratio "$lk" "$l1") (target ≤ 1.50×) |"
awk -v a="$lk" -v b="$l1" 'BEGIN { exit !(a / b <= 1.5) }' || miss "key list at $KEYS keys takes $(ratio "$lk" "$l1") its time at 1,000 keys (target ≤ 1.5×)"

# __complete on a path that reads the stored session and asks the server
export CODESYNC_SERVER=$main_url
echo "$main_token" | "$BIN" login --with-token >/dev/null 2>&1 || die "login --with-token failed"
"$BIN" __complete key revoke "" 2>/dev/null | grep -q '^key_' || die "__complete key revoke \"\" completed no key IDs"
bracket "__complete key revoke \"\", logged in (stored session + server)" "$BIN" __complete key revoke ""
unset CODESYNC_SERVER

# --- key list round trip through the CLI against curl
auth="Authorization: Bearer $main_token"
export CODESYNC_SERVER=$main_url
RUNS=50
k1=$(ms curl -sf -H "$auth" "$main_url/v1/keys?limit=100"); kl=$(ms "$BIN" key list -o json); k2=$(ms curl -sf -H "$auth" "$main_url/v1/keys?limit=100")
kb=$(( (k1 + k2) / 2 ))
echo "| key list -o json round trip ($RUNS runs) | ${kl} ms | curl ${kb} ms | $(ratio "$kl" "$kb") |"

# --- export: CLI against curl (wall, peak RSS), then the server against the sqlite3 shell
# tv CMD...: wall seconds and peak RSS (KiB) of CMD into $tw $tr
tv() { /usr/bin/time -f '%e %M' "$@" 2>"$work/tv" >/dev/null || die "'$*' failed: $(head -c 300 "$work/tv")"; read -r tw tr < <(tail -1 "$work/tv"); }
tv curl -sf -H "$auth" -o "$work/curl.ndjson" "$main_url/v1/keys/export?format=ndjson"; cw=$tw cr=$tr
tv "$BIN" key audit-export --format ndjson --output-file "$work/cli.ndjson"; xw=$tw xr=$tr
echo "| audit-export ndjson, $KEYS keys: wall | ${xw} s | curl ${cw} s | $(ratio "$xw" "$cw") |"
echo "| audit-export ndjson, $KEYS keys: peak RSS | $(( xr / 1024 )) MiB | curl $(( cr / 1024 )) MiB | $(ratio "$xr" "$cr") |"
tv curl -sf -H "$auth" -o "$work/curl.json" "$main_url/v1/keys/export?format=json&include_events=true"; cw=$tw cr=$tr
tv "$BIN" key audit-export --include-events --output-file "$work/cli.json"; xw=$tw xr=$tr
echo "| audit-export json + $EVENTS events: wall | ${xw} s | curl ${cw} s | $(ratio "$xw" "$cw") |"
echo "| audit-export json + $EVENTS events: peak RSS | $(( xr / 1024 )) MiB | curl $(( cr / 1024 )) MiB | $(ratio "$xr" "$cr") |"
echo "<!-- export size: $(stat -c %s "$work/cli.json") bytes -->"
unset CODESYNC_SERVER

# the database's own speed: the sqlite3 shell writes the same rows (the dev
# user's keys and events) as JSON from the same file, while the server runs
uid=$(sqlite3 "$work/db.sqlite" "SELECT id FROM users WHERE name = 'dev'")
floor_sql="SELECT * FROM api_keys WHERE user_id = $uid ORDER BY seq; SELECT * FROM audit_events WHERE user_id = $uid ORDER BY seq;"
wall() { local s e; s=$(date +%s%N); "$@" || die "'$*' failed"; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
server_export() { curl -sf -H "$auth" -o "$work/srv.json" "$main_url/v1/keys/export?format=json&include_events=true"; }
shell_export() { sqlite3 -readonly -json "$work/db.sqlite" "$floor_sql" > "$work/sqlite.json"; }
sv=(); sq=()
for i in 1 2 3; do   # alternating order: server first, then the shell first, ...
  if (( i % 2 )); then a=$(wall server_export); b=$(wall shell_export)
  else b=$(wall shell_export); a=$(wall server_export); fi
  sv+=("$a"); sq+=("$b")
done
grep -q '"token_hash"' "$work/sqlite.json" || die "the sqlite3 shell wrote no key rows"
med3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
svm=$(med3 "${sv[@]}"); sqm=$(med3 "${sq[@]}")
echo "| export json, $KEYS keys + $EVENTS events: server (curl) against the sqlite3 shell's JSON, median of 3 alternating | ${svm} ms (${sv[*]}) | sqlite3 ${sqm} ms (${sq[*]}) | $(ratio "$svm" "$sqm") (target ≤ 2.00×) |"
echo "<!-- sizes: server $(stat -c %s "$work/srv.json") bytes, sqlite3 $(stat -c %s "$work/sqlite.json") bytes -->"
awk -v a="$svm" -v b="$sqm" 'BEGIN { exit !(a / b <= 2) }' || miss "export takes $(ratio "$svm" "$sqm") the sqlite3 shell's time (target ≤ 2×)"

# --- throughput of the real server process (access log on, seeded database)
loadrc=0
"$work/load" -server "$main_url" -path /v1/auth/whoami -token "$main_token" -label "whoami (cached credential)" \
  -c "$CONNS" -d "$LOAD_DUR" -runs "$LOAD_RUNS" -min-ratio 0.60 || loadrc=$?
(( loadrc == 1 )) && die "whoami: failed requests"; (( loadrc == 2 )) && missed+=("whoami throughput")
loadrc=0
"$work/load" -server "$main_url" -path "/v1/keys?limit=100" -token "$main_token" -label "key list (database, $KEYS keys)" \
  -c "$CONNS" -d "$LOAD_DUR" -runs "$LOAD_RUNS" -min-ratio 0.30 -max-p99 10ms || loadrc=$?
(( loadrc == 1 )) && die "key list: failed requests"; (( loadrc == 2 )) && missed+=("key list throughput")
loadrc=0
"$work/load" -server "$main_url" -path /v1/auth/whoami -token "$main_token" -tokens "$work/tokens" -label "whoami, first use of each credential (not cached)" \
  -c "$CONNS" -d "$LOAD_DUR" -runs "$LOAD_RUNS" || loadrc=$?
(( loadrc != 0 )) && die "first use: failed requests or too few tokens (BENCH_TOKENS)"

srss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$main_pid/status")
echo "| server peak RSS after exports and load ($KEYS keys, $EVENTS events) | $(( srss / 1024 )) MiB | target < 64 MiB | |"
(( srss < 64 * 1024 )) || miss "server peak RSS $(( srss / 1024 )) MiB (target < 64 MiB)"
echo "<!-- access log: $(wc -l < "$work/access.log") lines -->"

bench/scan.sh "$BIN"

if (( ${#missed[@]} > 0 )); then
  echo "bench: ${#missed[@]} target(s) missed: ${missed[*]}" >&2
  exit 2
fi
