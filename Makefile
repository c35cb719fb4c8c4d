# gateway: the two commands a new user needs are `make run` and `make test` (README.md).
# Each installs what it needs first (scripts/setup.sh; missing Debian packages via apt-get as root).

SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

SWIFT ?= swift
CONFIG ?= pipeline.json
RUNS ?= 1000000

.PHONY: run test build release terraform fuzz bench soak clean

## run: build a release binary and serve ./pipeline.json (https://localhost:8443, http://localhost:8080)
run:
	@scripts/setup.sh run
	@echo "make: building the optimized gateway (.build/release/gateway). The first build compiles everything and prints little for a while: about 2 minutes on an idle 2-core machine, much longer if other builds share it. Later builds take seconds."
	$(SWIFT) build -c release --product gateway
	@[ -f certs/gateway.pem ] || .build/release/gateway cert --dev
	exec .build/release/gateway serve --config $(CONFIG)

## test: every unit and end-to-end suite (installs the real clients and servers they drive);
## the signal, timeout and TLS suites run once more against the optimized binary `make run` starts.
## The end-to-end suites run apart: they block test threads while they wait on processes and
## sockets, which would starve the in-process servers of the unit suites of Swift's thread pool.
## The catalog's browser suites run last, on their own: Chromium's processes would slow the suites
## that count a stand-in's calls under timeouts.
test:
	@scripts/setup.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) build -c release --product gateway
	$(SWIFT) test --skip-build --filter 'PipelineTests|MiddlewaresTests'
	GATEWAY_BIN=$(CURDIR)/.build/release/gateway $(SWIFT) test --skip-build --filter 'EndToEndTests\.(LifecycleTests|TimeoutTests|TLSTests)'
	$(SWIFT) test --skip-build --filter EndToEndTests --skip 'EndToEndTests\.Catalog'
	$(SWIFT) test --skip-build --filter 'EndToEndTests\.Catalog'

## terraform: terraform 1.0.3 into .venv/bin for the README's quick start (prints where it is)
terraform:
	@scripts/setup.sh terraform

## build: debug build
build:
	@scripts/setup.sh run
	$(SWIFT) build

## release: optimized build at .build/release/gateway
release:
	@scripts/setup.sh run
	$(SWIFT) build -c release --product gateway

## fuzz: libFuzzer on the HTTP/1.1 parser and chunked decoder, the JSON parser, HTTP/2 frames
## and HPACK into the request head (through nghttp2), the PROXY protocol header parser, JWTs and
## JWKS, and OpenPGP armor, keys and signatures, RUNS executions each (default 1000000)
fuzz:
	@scripts/setup.sh fuzz
	scripts/fuzz.sh $(RUNS)

## bench: every bench/*.sh (gateway vs nginx side by side on loopback; prints ratios)
bench:
	@scripts/setup.sh bench
	$(SWIFT) build -c release --product gateway
	@set -e; for script in bench/*.sh; do [ "$$script" = bench/soak.sh ] && continue; echo "== $$script"; bash "$$script"; done

## soak: bench/soak.sh, mixed load for DURATION seconds (default 1800) with RSS, descriptors and p99
## latency sampled into bench/out/soak/soak.csv and soak.png (not part of test or bench)
soak:
	@scripts/setup.sh soak
	$(SWIFT) build -c release --product gateway
	bash bench/soak.sh

clean:
	rm -rf .build bench/out fuzz/corpus-run
