#!/usr/bin/env bash
# Runs a command against a real Secret Service: a private D-Bus session with
# gnome-keyring, a fresh HOME, everything stopped afterwards.
#   scripts/with-keyring.sh CMD…           unlocked keyring; CODESYNC_TEST_KEYRING=1
#   scripts/with-keyring.sh --locked CMD…  locked, and no prompt can ever be shown
#                                          (headless Linux); CODESYNC_TEST_KEYRING=locked
set -euo pipefail
mode=1
if [ "${1:-}" = --locked ]; then mode=locked; shift; fi
if ! command -v dbus-run-session >/dev/null || ! command -v gnome-keyring-daemon >/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "with-keyring: dbus-run-session or gnome-keyring-daemon missing (CI must install them)" >&2
    exit 1
  fi
  echo "with-keyring: no gnome-keyring here; keyring tests will skip" >&2
  exec "$@"
fi
# keep Go's caches where they are: the fresh HOME below must not move them
if command -v go >/dev/null; then
  GOPATH=$(go env GOPATH) GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE)
  export GOPATH GOCACHE GOMODCACHE
fi
export CODESYNC_KEYRING_MODE=$mode
exec dbus-run-session -- bash -c '
  set -u
  export HOME=$(mktemp -d)
  if [ "$CODESYNC_KEYRING_MODE" = locked ]; then
    gnome-keyring-daemon --foreground --components=secrets </dev/null >/dev/null 2>&1 &
  else
    printf pw | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  fi
  daemon=$!
  trap "kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf \"$HOME\"" EXIT
  for i in $(seq 1 100); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; then
      break
    fi
    sleep 0.05
  done
  CODESYNC_TEST_KEYRING=$CODESYNC_KEYRING_MODE "$@"
' with-keyring "$@"
