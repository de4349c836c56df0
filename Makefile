# sockd — see README.md. Every target works offline once modules are cached.
GO     ?= go
TOOLS  := $(GO) tool -modfile=tools/go.mod
PKGS   := ./...

.PHONY: all build test test-deps bench vet fmt gen check-gen lint

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# The README's test command: installs missing test peers, then runs every
# test (unit, service, end-to-end) with the race detector.
test: test-deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-deps:
	./scripts/test-deps.sh

# Benchmarks: each case beside its baseline from the same run.
BENCHTIME ?= 1s
BENCHCOUNT ?= 8
bench:
	@mkdir -p out
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./sockmgr | tee out/bench-sockmgr.txt
	$(TOOLS) benchstat -col /impl out/bench-sockmgr.txt

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '^gen/')

# Regenerates gen/ from api/proto (offline: buf and the plugins are Go tools).
gen:
	find gen -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' | xargs -r rm -f
	$(TOOLS) buf generate

# Fails when gen/ is stale or the protos fail buf lint / buf format.
check-gen:
	./scripts/check-gen.sh

lint: check-gen
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1; }
	$(GO) vet $(PKGS)
