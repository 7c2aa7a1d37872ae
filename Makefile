# Every target works on a fresh machine with only Go installed.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: run test bench lint build

## run: serve on :8080 with the embedded store in ./data (codes are logged, not sent)
run:
	$(GO) run ./cmd/gateway

## test: every test, with the race detector. gotestsum (pinned, fetched by
## go run) prints the usual per-package lines and then every skipped test
## with its reason, e.g. the PostgreSQL and Redis tests without
## GATEWAY_TEST_POSTGRES_URL / GATEWAY_TEST_REDIS_URL: plain `go test ./...`
## hides skip reasons unless -v.
GOTESTSUM ?= $(GO) run gotest.tools/gotestsum@v1.13.0
test:
	$(GOTESTSUM) --format pkgname-and-test-fails --format-hide-empty-pkg -- -race -count=1 ./...

## bench: benchmarks with ns/op, allocs/op and custom metrics
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## lint: gofmt and go vet
lint:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './testdata/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## lint-openapi: Redocly and Spectral lint contracts/*.yaml (pinned, fetched
## by npx); skipped with a message where npx is absent. Errors fail,
## warnings are shown.
OPENAPI_DOCS := contracts/caraccessories.yaml contracts/apiv4.yaml contracts/resultcode.yaml contracts/canonical.yaml
REDOCLY  ?= npx -y @redocly/cli@2.77.0
SPECTRAL ?= npx -y @stoplight/spectral-cli@6.16.3
.PHONY: lint-openapi
lint-openapi:
	@if ! command -v npx >/dev/null 2>&1; then echo "lint-openapi: skipped, npx not found (install Node.js to lint the OpenAPI documents)"; exit 0; fi; \
	set -e; \
	$(REDOCLY) lint $(OPENAPI_DOCS); \
	$(SPECTRAL) lint --ruleset contracts/.spectral.yaml --fail-severity error $(OPENAPI_DOCS)

## build: a static binary stamped with the version
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/gateway ./cmd/gateway

## fuzz: each fuzz target for FUZZTIME, one after the other (new inputs are
## minimized for 1s at most: the default 60s would eat a short run).
## FUZZTIME counts executions (100000x: a few seconds per target) rather than
## time: with a duration, go1.26's fuzz coordinator can report its own
## deadline as "context deadline exceeded", a failure without any crasher
## (golang/go#75804, fixed in go1.27). A duration still works, with that risk.
FUZZTIME ?= 100000x
FUZZ_TARGETS := FuzzCaraccessories:./dialects/caraccessories FuzzApiv4:./dialects/apiv4 FuzzResultcode:./dialects/resultcode FuzzDetection:./gateway FuzzAppend:./internal/jsonstr
.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "fuzz: $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg; \
	done
