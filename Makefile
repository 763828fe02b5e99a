# codesync-cli — see README.md. `make demo` and `make test` are the two set-up commands.
GO        ?= go
BIN       := bin/codesync-cli
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X github.com/codesync/codesync-cli/pkg/build.Version=$(VERSION) \
             -X github.com/codesync/codesync-cli/pkg/build.Commit=$(COMMIT) \
             -X github.com/codesync/codesync-cli/pkg/build.Date=$(DATE)
STATICCHECK := $(shell command -v staticcheck 2>/dev/null || echo "$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2")

.PHONY: build test lint vet-format vulncheck unit keyring-test cross-build demo bench bench-org generate release-check fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

lint: vet-format vulncheck

vet-format:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags crashpoints ./...
	$(STATICCHECK) ./...

# govulncheck needs its database (vuln.go.dev); where that cannot be reached it
# is skipped with a message, but found vulnerabilities (exit 3) fail the build.
vulncheck:
	@timeout 120 $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.1.4 ./... > /tmp/govulncheck.out 2>&1; rc=$$?; \
	  if [ $$rc -eq 0 ]; then echo "govulncheck: no vulnerabilities"; \
	  elif [ $$rc -eq 3 ]; then cat /tmp/govulncheck.out; exit 1; \
	  else echo "govulncheck: skipped (database unreachable: $$(tail -1 /tmp/govulncheck.out))"; fi

FUZZTIME ?= 15s
# every fuzz target for FUZZTIME each (make test runs their seed corpora)
fuzz:
	@for pkg in $$(grep -rl --include=*_test.go '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | cut -d' ' -f2); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# -tags crashpoints compiles in the kill points of the crash-safety tests
# (internal/crashpoint); release builds never have them.
unit:
	$(GO) test -race -count=1 -timeout 30m -tags crashpoints ./...

# The keyring tests need a real Secret Service: scripts/with-keyring.sh starts
# gnome-keyring in a private D-Bus session. Where it is missing (a laptop
# without gnome-keyring), the tests say so and skip; CI installs it.
keyring-test:
	scripts/with-keyring.sh $(GO) test -count=1 -run 'Keyring' ./pkg/credstore/ .
	scripts/with-keyring.sh --locked $(GO) test -count=1 -run 'KeyringLocked' .

# every GOOS/GOARCH of .goreleaser.yaml: go vet and a release build, free of
# test hooks (the list is read from the config: a new target needs no edit here)
cross-build:
	scripts/cross-build.sh

test: lint unit keyring-test cross-build

demo: build
	scripts/demo.sh $(BIN)

bench: build
	bench/run.sh

# the organization export (key audit-export --org) of 100,000 keys
bench-org: build
	bench/org-export.sh

# completions/, docs/man/ and docs/reference/ come from the command tree;
# internal/gendocs's test fails when they are stale.
generate:
	$(GO) run ./internal/gendocs/cmd .

# goreleaser v2: config check and a snapshot build of this platform's binary.
GORELEASER ?= $(shell command -v goreleaser 2>/dev/null || echo "$(GO) run github.com/goreleaser/goreleaser/v2@v2.15.1")
release-check:
	$(GORELEASER) check
	$(GORELEASER) build --snapshot --single-target --clean -o dist/codesync-cli-snapshot
	./dist/codesync-cli-snapshot --version

clean:
	rm -rf bin
