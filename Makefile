# sockd — see README.md. Every target works offline once modules are cached.
GO     ?= go
TOOLS  := $(GO) tool -modfile=tools/go.mod
PKGS   := ./...
# The end-to-end tests are a module of their own (e2e/go.mod, which replaces
# github.com/sockd/sockd with this checkout), so that their heavy test-only
# dependencies stay out of the main module.
E2E    := e2e

.PHONY: all build test test-e2e test-python test-deps bench fuzz vet fmt gen check-gen lint cover install

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# Installs sockd and sockctl to $(PREFIX)/bin, the systemd unit and, if there
# is none yet, the settings file /etc/sockd/sockd.yaml (as root; DESTDIR for
# packaging). Then: systemctl daemon-reload && systemctl enable --now sockd
PREFIX  ?= /usr/local
DESTDIR ?=
install: build
	install -D -m 0755 bin/sockd $(DESTDIR)$(PREFIX)/bin/sockd
	install -D -m 0755 bin/sockctl $(DESTDIR)$(PREFIX)/bin/sockctl
	install -D -m 0644 deploy/systemd/sockd.service $(DESTDIR)/etc/systemd/system/sockd.service
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sockd/README.md
	test -e $(DESTDIR)/etc/sockd/sockd.yaml || install -D -m 0640 deploy/sockd.yaml $(DESTDIR)/etc/sockd/sockd.yaml

# The README's test command: installs missing test peers, then runs every
# test (unit, service, end-to-end) with the race detector.
test: test-deps
	$(GO) vet $(PKGS)
	cd $(E2E) && $(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(MAKE) -j2 --output-sync=target test-e2e test-python

# The end-to-end suite and the Python suite run side by side: both spend most
# of their time waiting on sockets and timers, and each prints its output
# whole when it ends (--output-sync), so a failure reads as one block.
test-e2e:
	cd $(E2E) && $(GO) test -race -count=1 -timeout 15m ./...

# The Python client's suite (python/), against a real sockd built once.
test-python:
	mkdir -p out/bin && $(GO) build -o out/bin/sockd ./cmd/sockd
	SOCKD_BIN=$(CURDIR)/out/bin/sockd python3 -m unittest discover -s python/tests

test-deps:
	./scripts/test-deps.sh

# Statement coverage per package, counting the unit tests and the end-to-end
# runs of coverage-built sockd and sockctl binaries together (GOCOVERDIR).
# Writes out/cover/ (profile: out/cover/cover.out).
COVERPKG := github.com/sockd/sockd/...
cover: test-deps
	rm -rf out/cover && mkdir -p out/cover/unit out/cover/e2e
	$(GO) test -count=1 -timeout 15m -cover -covermode=atomic -coverpkg=$(COVERPKG) $(PKGS) -args -test.gocoverdir=$(CURDIR)/out/cover/unit
	cd $(E2E) && SOCKD_E2E_COVERDIR=$(CURDIR)/out/cover/e2e $(GO) test -count=1 -timeout 20m -cover -covermode=atomic -coverpkg=$(COVERPKG) ./... -args -test.gocoverdir=$(CURDIR)/out/cover/e2e
	$(GO) tool covdata percent -i=out/cover/unit,out/cover/e2e | grep -v '/gen/' | sort
	$(GO) tool covdata textfmt -i=out/cover/unit,out/cover/e2e -o out/cover/cover.out

# Benchmarks, each case beside its baseline from the same run (see
# docs/benchmarks.md). A short run by default; the figures in the docs come
# from BENCHRUNS=7 BENCHDURATION=2s PLOT=docs/throughput.png.
BENCHRUNS     ?= 1
BENCHDURATION ?= 1s
BENCHTIME     ?= 500ms
BENCHCOUNT    ?= 5
PLOT          ?=
bench: build
	@mkdir -p out
	bin/sockbench -runs $(BENCHRUNS) -duration $(BENCHDURATION) -out out/bench.json -md out/bench.md $(if $(PLOT),-plot $(PLOT))
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./sockmgr ./service ./codec | tee out/bench-go.txt
	$(TOOLS) benchstat -col /impl -filter '.name:(SendRecv OR IdleSocketHeap)' out/bench-go.txt

# Every fuzz target for FUZZTIME each. `make test` already runs their seed
# corpora (testdata/fuzz/) as ordinary tests; this searches for new inputs.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./sockmgr:FuzzParseAddress ./policy:FuzzParseRule \
	./policy:FuzzPolicyParseTimeEqualsConnectTime ./service:FuzzParseLabelSelector \
	./cmd/sockctl:FuzzFlagValues ./service:FuzzWireRequests ./cmd/sockd:FuzzGatewayHTTP \
	./capture:FuzzReadConversations ./capture/textdump:FuzzDump ./relay:FuzzUpdateFault \
	./codec:FuzzDecode ./cmd/sockd/toxiproxy:FuzzParseToxic ./cmd/sockd/toxiproxy:FuzzParseToxicUpdate
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

vet:
	$(GO) vet $(PKGS)
	cd $(E2E) && $(GO) vet ./...

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
