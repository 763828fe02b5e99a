#!/usr/bin/env bash
# make demo: the tool's main job end to end against an embedded dev server, in
# a throwaway config folder. Prints each step; stops the server at the end.
set -euo pipefail
BIN=${1:-bin/codesync-cli}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
work=$(mktemp -d)
export CODESYNC_CONFIG_DIR=$work/config CODESYNC_KEYRING=file
unset CODESYNC_AUTH_TOKEN CODESYNC_SERVER CODESYNC_PROFILE
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

step "$BIN" --version
step "$BIN" --help
step "$BIN" config list
