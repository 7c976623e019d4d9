# Basalt — make help lists the targets.
GO        ?= go
BIN       ?= bin/basalt
PKGS      ?= ./...
TESTFLAGS ?= -count=1 -timeout 25m
FUZZTIME  ?= 10s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/basalt-lab/basalt/internal/version.Version=$(VERSION)

LAB_FLAGS ?= --data-dir basalt-lab

.PHONY: help build test test-short lint bench run deps deps-run clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build the static binary into bin/basalt
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/basalt

deps: ## install the missing system packages of the tests and the lab (apt-get, as root)
	scripts/ensure-deps.sh test

deps-run: ## install the missing system packages `basalt lab` needs: qemu-system-x86, busybox-static, linux-image-amd64
	scripts/ensure-deps.sh run

test: deps ## install what is missing; vet, gofmt, go mod tidy, staticcheck; every test on SQLite and a private PostgreSQL, concurrent packages under -race, every fuzz target for FUZZTIME
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go mod tidy would change go.mod/go.sum: run go mod tidy"; exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	GO=$(GO) TESTFLAGS='$(TESTFLAGS)' FUZZTIME=$(FUZZTIME) scripts/with-postgres.sh scripts/test-all.sh

lint: ## go vet + staticcheck
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

bench: deps ## run the benchmarks (figures go to docs/performance.md)
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench . -benchmem $(PKGS)

run: deps-run build ## install what the lab needs, build, run the all-in-one lab: server, worker, a QEMU board, a sample job (./basalt-lab)
	$(BIN) lab $(LAB_FLAGS)

clean: ## remove build output
	rm -rf bin
