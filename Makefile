# upshift — see README.md. Every target works on a fresh machine with Go and
# PostgreSQL's server binaries (apt-get install -y postgresql).
GO      ?= go
BIN     := bin/upshift
MIGRATOR_BIN := bin/upshift-migrate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build build-migrator test lint demo bench fuzz faults clean image image-migrator image-compose release release-test

# Static, as in the image: no dynamic loader at start-up (about 1 ms of
# every run); netgo and osusergo keep glibc's NSS out of the binary.
STATIC := CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS) -linkmode external -extldflags "-static"'
build:
	$(STATIC) -tags netgo,osusergo -o $(BIN) ./cmd/upshift

# The same cmd/upshift without the orchestrator (no compose-go, no moby
# client): the binary of db-setup images, which starts on every deploy and
# container start. upgrade, rollback, history and backup say so and exit 2.
build-migrator:
	$(STATIC) -tags netgo,osusergo,migrator -o $(MIGRATOR_BIN) ./cmd/upshift

# The test suite starts its own throwaway PostgreSQL cluster (or uses
# TEST_DATABASE_URL) and gives every test its own database. The upgrade
# end-to-end tests need Docker (.ci/docker-env sets it up); they skip without
# it, and fail instead under CI or with UPSHIFT_E2E=1. After them, the
# migrator's PostgreSQL tests run again on PostgreSQL 17 and 18 from
# Debian (scripts/test, .ci/pg-roots). TESTFLAGS=-v names every test.
TESTFLAGS ?=
test:
	@if docker info >/dev/null 2>&1; then bash .ci/docker-env; fi
	GO=$(GO) TESTFLAGS='$(TESTFLAGS)' scripts/test

lint:
	@# Not `tee /dev/stderr`: when stderr is a log file, tee reopens and truncates it.
	@files="$$(gofmt -s -l .)"; if [ -n "$$files" ]; then echo "$$files"; echo "gofmt -s: files above need formatting"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags migrator ./cmd/upshift
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Short fuzzing of every fuzz target in the tree, found by go test -list
# so that none is left out (longer: make fuzz FUZZTIME=5m).
FUZZTIME ?= 20s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz: $$pkg $$target"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

# The main job end to end on a throwaway local PostgreSQL: status, migrate
# (twice: the second run has nothing to do), status again; then, where a
# Docker engine runs, an upgrade, a rollback and an automatic rollback of a
# throwaway compose project (scripts/demo-upgrade).
DEMO_DIR ?= testdata/drizzle-golden/v0-journal/drizzle
demo: build
	@$(GO) run ./internal/cmd/devdb 'set -e; \
	  echo "\$$ upshift status --dir $(DEMO_DIR)"; $(BIN) status --dir $(DEMO_DIR); echo; \
	  echo "\$$ upshift migrate --dir $(DEMO_DIR) --service mana-auth"; $(BIN) migrate --dir $(DEMO_DIR) --service mana-auth; echo; \
	  echo "\$$ upshift migrate --dir $(DEMO_DIR) --service mana-auth"; $(BIN) migrate --dir $(DEMO_DIR) --service mana-auth; echo; \
	  echo "\$$ upshift status --dir $(DEMO_DIR) --exit-code"; $(BIN) status --dir $(DEMO_DIR) --exit-code'
	@echo
	@scripts/demo-upgrade $(BIN)

# The orchestrator's fault-injection suites in full, compose and Swarm:
# kill -9, SIGTERM and CI's cancel (SIGINT, SIGTERM, SIGKILL) at every
# journaled step of upgrade and rollback, two offsets each, every other
# rerun from a second state folder (make test runs a sample: 6 compose, 2
# stack points). A new seed each run, printed; UPSHIFT_FAULT_SEED=N
# replays one. The stack suite runs after the compose one (the compose one
# alone took 26 minutes on a 2-core machine).
faults:
	@if docker info >/dev/null 2>&1; then bash .ci/docker-env; fi
	UPSHIFT_E2E=1 UPSHIFT_FAULT_RUNS=all $(GO) test ./upgrade -count=1 -timeout 90m -run '^(TestFaultInjection|TestStackFaultInjection)$$' -v

# Figures for the README: the real binary against drizzle-orm 0.45.4 (node)
# and psql -1 -f on one throwaway server, then the Go benchmarks.
# The binary measured is the released one: make release into bin/bench-dist
# (needs what make release needs), its linux/amd64 archive and npm packages.
BENCH_RUNS ?= 15
BENCH_DIST := bin/bench-dist
SIM_HISTORY ?= ../shared/realworld/drizzle/sim
bench: build-migrator
	scripts/release v0.0.0-bench $(BENCH_DIST) >/dev/null
	tar -xzf $(BENCH_DIST)/upshift_0.0.0-bench_linux_amd64.tar.gz -C $(BENCH_DIST) upshift
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/upshift-purego ./cmd/upshift
	$(GO) run ./internal/cmd/bench -upshift $(BENCH_DIST)/upshift -migrator $(MIGRATOR_BIN) -runs $(BENCH_RUNS) \
	  -npm $(BENCH_DIST)/npm $(if $(wildcard $(SIM_HISTORY)),-pure-go bin/upshift-purego -lint-history $(SIM_HISTORY))
	$(GO) test ./drizzle ./pgsql ./lint -run '^$$' -bench . -benchtime 10x
	@# Downtime of an upgrade, upshift vs the manual procedure (needs Docker;
	@# skipped without it). UPGRADE_ROUNDS=N for more rounds.
	@if docker info >/dev/null 2>&1; then bash .ci/docker-env >/dev/null; fi
	$(GO) test ./upgrade -run '^$$' -bench "UpgradeDowntime|StackUpgrade|StateStore" -benchtime 1x -v
	@# One compose verb on a 10 MB project: the files vs a run's resolved copy.
	$(GO) test ./compose -run '^$$' -bench LargeComposeVerb -benchtime 3x

# The container images, built without pulling anything (make image
# VERSION=v0.9.0 tags upshift:0.9.0 and upshift:0.9.0-compose):
#   image-migrator  Dockerfile: the static migrator build with cgo linked in,
#                   the host's CA bundle, FROM scratch; the base of db-setup images.
#   image-compose   compose.Dockerfile: the full static binary with the docker
#                   CLI and the compose plugin (the ones on this host when they
#                   are static, else built from their modules), FROM scratch;
#                   runs upgrade and rollback.
IMAGE ?= upshift:$(patsubst v%,%,$(VERSION))
COMPOSE_IMAGE ?= $(IMAGE)-compose
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
DOCKER_CLI ?= $(shell command -v docker)
COMPOSE_PLUGIN ?= $(firstword $(wildcard $(HOME)/.docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose /usr/libexec/docker/cli-plugins/docker-compose /usr/lib/docker/cli-plugins/docker-compose))
image: image-migrator image-compose

image-migrator:
	@test -s $(CA_BUNDLE) || (echo "image: no CA bundle at $(CA_BUNDLE) (apt-get install -y ca-certificates)" && exit 1)
	rm -rf bin/image && mkdir -p bin/image
	$(STATIC) -tags netgo,osusergo,migrator -o bin/image/upshift ./cmd/upshift
	cp $(CA_BUNDLE) bin/image/ca-certificates.crt
	cp Dockerfile bin/image/Dockerfile
	DOCKER_BUILDKIT=0 docker build -q --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) bin/image
	@echo "image: $(IMAGE)"

image-compose:
	@test -s $(CA_BUNDLE) || (echo "image: no CA bundle at $(CA_BUNDLE) (apt-get install -y ca-certificates)" && exit 1)
	rm -rf bin/image-compose && mkdir -p bin/image-compose/tmp && chmod 1777 bin/image-compose/tmp
	@# FROM scratch needs static ones: the installed ones where they are,
	@# else built from their Go modules into the cache (.ci/static-docker-tools).
	@tools="$$(bash .ci/static-docker-tools "$(DOCKER_CLI)" "$(COMPOSE_PLUGIN)")" || exit 1; \
	  set -- $$tools; cp -L "$$1" bin/image-compose/docker && cp -L "$$2" bin/image-compose/docker-compose
	$(STATIC) -tags netgo,osusergo -o bin/image-compose/upshift ./cmd/upshift
	cp $(CA_BUNDLE) bin/image-compose/ca-certificates.crt
	cp compose.Dockerfile bin/image-compose/Dockerfile
	DOCKER_BUILDKIT=0 docker build -q --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(COMPOSE_IMAGE) bin/image-compose
	@echo "image: $(COMPOSE_IMAGE)"

# Every release artifact into $(DIST): the archives for linux and darwin on
# amd64 and arm64, the npm packages, install.sh and checksums.txt
# (scripts/release says how each is built). Needs gcc, Debian's
# crossbuild-essential-arm64 and npm; no network but the Go module proxy.
DIST ?= dist
release:
	@case "$(VERSION)" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "release: say which: make release VERSION=vX.Y.Z (not $(VERSION))"; exit 2 ;; esac
	scripts/release $(VERSION) $(DIST)

# A release built and checked as users install it: every archive and its
# checksum, the arm64 binary under qemu-user, the npm packages installed
# offline into a fresh Node project that migrates a real PostgreSQL, the
# docker CLI plugin, install.sh and the Action's steps against a local
# server (internal/harness/release). .ci/run calls it.
RELEASE_TEST_VERSION ?= v0.0.0-test
release-test:
	scripts/release $(RELEASE_TEST_VERSION) $(DIST)
	UPSHIFT_DIST=$(abspath $(DIST)) UPSHIFT_DIST_VERSION=$(RELEASE_TEST_VERSION) $(GO) test ./internal/harness/release -count=1 -timeout 20m $(TESTFLAGS)

clean:
	rm -rf bin dist
