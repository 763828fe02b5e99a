#!/usr/bin/env bash
# make demo: the tool's main job end to end against an embedded dev server, in
# a throwaway config folder. Prints each step; stops the server at the end.
set -euo pipefail
BIN=${1:-bin/codesync-cli}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export CODESYNC_CONFIG_DIR=$work/config CODESYNC_KEYRING=file
unset CODESYNC_AUTH_TOKEN CODESYNC_SERVER CODESYNC_PROFILE
# the heading goes to stderr: a step's stdout may be redirected (a token into a
# file), and the heading must not go with it
step() { printf '\n\033[1m$ %s\033[0m\n' "$*" | sed "s|$BIN|codesync-cli|g" >&2; "$@"; }

printf '\033[1m== starting the reference server (server --dev --addr 127.0.0.1:0)\033[0m\n' >&2
"$BIN" server --dev --addr 127.0.0.1:0 >"$work/server.env" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^export CODESYNC_AUTH_TOKEN=' "$work/server.env" 2>/dev/null && break
  sleep 0.05
done
grep -q '^export CODESYNC_AUTH_TOKEN=' "$work/server.env" || { cat "$work/server.log"; exit 1; }
# shellcheck disable=SC1091
. "$work/server.env"
head -1 "$work/server.log"
dev_token=$CODESYNC_AUTH_TOKEN
unset CODESYNC_AUTH_TOKEN   # log in with it instead, as a person would

printf '\n\033[1m$ echo "$TOKEN" | codesync-cli login --with-token\033[0m\n' >&2
echo "$dev_token" | "$BIN" login --with-token
step "$BIN" auth status
step "$BIN" key create ci-publish --scopes registry:read,registry:publish --expires 30d --namespace @acme >"$work/token"
echo "(token written to a file; shown once: $(cut -c1-12 "$work/token")…)" >&2
step "$BIN" key create short-lived --scopes registry:read --expires 7d >/dev/null
step "$BIN" key list
id=$("$BIN" key list --jq '.[] | select(.name == "ci-publish") | .id')
step "$BIN" key rotate "$id" --grace 24h >/dev/null
short=$("$BIN" key list --jq '.[] | select(.name == "short-lived") | .id')
step "$BIN" key revoke --yes "$short"
step "$BIN" key list --all
step "$BIN" key audit-export -o csv --output-file "$work/audit.csv"
head -3 "$work/audit.csv"
step "$BIN" audit events --limit 10
step "$BIN" health
step "$BIN" logout
printf '\n\033[1m== stopping the server\033[0m\n' >&2
