# dbackup — run `make help` for the list of tasks.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/dbackup/dbackup/internal/version.Version=$(VERSION)
GO_TEST_FLAGS ?= -race -count=1 -timeout 25m

.PHONY: help
help: ## list every task
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## build the static binary bin/dbackup (CGO off)
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/dbackup ./cmd/dbackup

.PHONY: tools
tools: ## install the database client tools dbackup runs (pg_dump, pg_restore)
	bash scripts/tools.sh

.PHONY: run
run: tools build ## run dbackup with its embedded defaults (./data, SQLite, http://127.0.0.1:8080)
	./bin/dbackup serve

.PHONY: services
services: ## install and start the test services (PostgreSQL on 127.0.0.1)
	bash scripts/services.sh

.PHONY: test
test: services lint ## run the whole test suite against real services, then a short fuzz run
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /internal/e2e)
	@echo "process-level tests (kill -9, several nodes), run alone so load cannot starve their timers:"
	go test -count=1 -timeout 15m ./internal/e2e
	$(MAKE) --no-print-directory fuzz FUZZTIME=200000x

.PHONY: fuzz
# Budgets are execution counts (Nx), not durations: with Go 1.26 a duration
# can end in a spurious "context deadline exceeded" under load (golang/go#75804).
fuzz: ## fuzz the container reader, the sidecar parser and every dump validator (FUZZTIME=5000000x)
	go test ./internal/pipeline/crypt -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(or $(FUZZTIME),5000000x)
	go test ./internal/backup -run '^$$' -fuzz '^FuzzParseMeta$$' -fuzztime $(or $(FUZZTIME),5000000x)
	for p in postgres mysql redis sqlite; do go test ./internal/source/$$p -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(or $(FUZZTIME),5000000x) || exit 1; done
	go test ./internal/source/mongodb -run '^$$' -fuzz '^FuzzValidateArchive$$' -fuzztime $(or $(FUZZTIME),5000000x)

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

.PHONY: bench
bench: services build ## benchmark dumps (~1 GB PostgreSQL, ~500 MB MariaDB), 1 GiB uploads per protocol and page times (docs/benchmarks.md)
	bash scripts/bench.sh
	bash scripts/bench-upload.sh
	@echo "web pages over 10,000 jobs and 100,000 executions (target: under 100 ms each):"
	go test ./internal/web -run '^$$' -bench '^BenchmarkPages$$' -benchtime 20x

.PHONY: screenshots
screenshots: ## PNG screenshots of every page (light, dark; desktop, phone) into docs/screenshots/ (needs Chromium: make services)
	@command -v chromium >/dev/null || bash scripts/services.sh
	go run ./cmd/screenshots -out docs/screenshots

.PHONY: clean
clean: ## remove build output
	rm -rf bin
