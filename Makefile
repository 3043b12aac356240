# upshift — see README.md. Every target works on a fresh machine with Go and
# PostgreSQL's server binaries (apt-get install -y postgresql).
GO      ?= go
BIN     := bin/upshift
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build test lint demo bench fuzz clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/upshift

# The test suite starts its own throwaway PostgreSQL cluster (or uses
# TEST_DATABASE_URL) and gives every test its own database.
test:
	$(GO) test -count=1 ./...

lint:
	@test -z "$$(gofmt -s -l . | tee /dev/stderr)" || (echo "gofmt -s: files above need formatting" && exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Short fuzzing of every parser (longer: make fuzz FUZZTIME=5m).
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./drizzle -run '^$$' -fuzz '^FuzzParseJournal$$' -fuzztime $(FUZZTIME)
	$(GO) test ./drizzle -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME)
	$(GO) test ./drizzle -run '^$$' -fuzz '^FuzzDecodeText$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
