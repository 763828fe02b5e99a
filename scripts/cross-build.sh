#!/usr/bin/env bash
# Every release target compiles: for each GOOS/GOARCH pair that .goreleaser.yaml
# builds (read by internal/releasetargets, so a new target is covered without
# editing this script), `go vet` the code and its tests (with the test-only
# crash points compiled in) and build the release binary the way GoReleaser
# does. Each release binary must be free of test hooks: the crash points'
# environment variable must not appear in it (checked to be findable first, in
# a test build of this platform).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
marker=CODESYNC_TEST_KILL_AT
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

targets=$($GO run ./internal/releasetargets/cmd .goreleaser.yaml)
[ -n "$targets" ] || { echo "cross-build: no targets in .goreleaser.yaml" >&2; exit 1; }

# the check below can fail: a build with the crash points holds the marker
CGO_ENABLED=0 $GO build -tags crashpoints -o "$tmp/with-crashpoints" .
grep -q -a "$marker" "$tmp/with-crashpoints" || { echo "cross-build: the hook marker is not findable in a test build" >&2; exit 1; }

failed=()
for t in $targets; do
  goos=${t%/*} goarch=${t#*/}
  echo "== $goos/$goarch"
  bin="$tmp/codesync-cli-$goos-$goarch"
  if ! GOOS=$goos GOARCH=$goarch CGO_ENABLED=0 $GO vet -tags crashpoints ./...; then
    failed+=("$t (vet)"); continue
  fi
  if ! GOOS=$goos GOARCH=$goarch CGO_ENABLED=0 $GO build -trimpath -ldflags '-s -w' -o "$bin" .; then
    failed+=("$t (build)"); continue
  fi
  if grep -q -a "$marker" "$bin"; then
    echo "cross-build: $t: the release binary contains test hooks ($marker)" >&2
    failed+=("$t (test hooks)")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "cross-build: FAILED for: ${failed[*]}" >&2
  exit 1
fi
echo "cross-build: all $(echo $targets | wc -w) targets vet and build"
