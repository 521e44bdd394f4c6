# Developer entry points. `make up` and `make test` work as root on a fresh Debian 12 machine: they
# install what is missing, start dockerd and Open vSwitch, build and install ltb and the example
# images, start the daemon (scripts/setup.sh all; each step checks first, so a second run takes
# seconds), then bring up the example lab or run every test.

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
BUILD_DIR ?= $(ROOT)/build
PREFIX ?= /usr/local
LTB ?= $(PREFIX)/bin/ltb
LAB ?= $(ROOT)/examples/frr-ospf.yaml
CLANG_FORMAT ?= clang-format

SHELL := /bin/bash
SETUP := LTB_BUILD_DIR="$(BUILD_DIR)" PREFIX="$(PREFIX)" $(ROOT)/scripts/setup.sh
TESTS := LTB_BUILD_DIR="$(BUILD_DIR)" $(ROOT)/scripts/run-tests.sh
SAN_BUILD_DIR ?= $(ROOT)/build-san
FUZZ_BUILD_DIR ?= $(ROOT)/build-fuzz
TSAN_BUILD_DIR ?= $(ROOT)/build-tsan
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 10000000
FUZZ_LONG_BUILD_DIR ?= $(ROOT)/build-fuzz-long
SANITIZE := LTB_SAN_BUILD_DIR="$(SAN_BUILD_DIR)" LTB_FUZZ_BUILD_DIR="$(FUZZ_BUILD_DIR)" \
	LTB_TSAN_BUILD_DIR="$(TSAN_BUILD_DIR)" LTB_FUZZ_LONG_BUILD_DIR="$(FUZZ_LONG_BUILD_DIR)" \
	FUZZ_SECONDS="$(FUZZ_SECONDS)" $(ROOT)/scripts/sanitize.sh
FORMAT_FILES = $(shell cd $(ROOT) && find cmd lib tests \( -name '*.cpp' -o -name '*.hpp' \) -print 2>/dev/null | sort)

.DEFAULT_GOAL := help
.PHONY: help up down test setup deps services build web images daemon unit integration bench fault \
	format check-format clean sanitize fuzz fuzz-long tsan

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(lastword $(MAKEFILE_LIST)) | \
		awk -F':.*## ' '{ printf "  make %-13s %s\n", $$1, $$2 }'

up: setup ## set everything up, then bring up the example lab (LAB=...)
	$(LTB) up $(LAB)

down: ## take the example lab down (LAB=...)
	$(LTB) down $(LAB)

# The unit tests run once, under ASan+UBSan (build-san): build/ does not build them for this.
# Both parts run even when the first fails.
test: setup ## set everything up, then run every test: integration (build/), unit under ASan+UBSan (build-san)
	@status=0; \
	$(TESTS) -LE unit || status=1; \
	$(SANITIZE) unit || status=1; \
	exit $$status

setup: ## packages, services, build + install, images, daemon (scripts/setup.sh all)
	$(SETUP) all

deps: ## install the Debian packages ltb needs
	$(SETUP) deps

services: ## start dockerd and Open vSwitch unless they already answer
	$(SETUP) services

build: ## build and install ltb (PREFIX=/usr/local)
	$(SETUP) build

web: ## build the web UI (npm ci, vite) and install it to $(PREFIX)/share/ltb/web (build does this too)
	$(SETUP) web

images: ## build the images: ltb/busybox, ltb/frr, the VM image ltb-vm and the tests' stand-in ltb/vendor-standin (cached by recipe hash)
	$(SETUP) images

daemon: ## make the group ltb and start ltb serve unless it answers (systemd units where systemd runs)
	$(SETUP) daemon

unit: ## build, then build and run the unit tests (build/tests/ltb-unit, not part of make build)
	$(SETUP) build
	cmake --build $(BUILD_DIR) -j$$(nproc) --target ltb-unit
	$(TESTS) -L unit

integration: setup ## set everything up, then run the integration tests
	$(TESTS) -L integration

sanitize: ## the unit tests under ASan+UBSan (clang 14, -O0, in build-san; any report fails; make test runs it)
	$(SANITIZE) unit

fuzz-long: ## the loader's fuzz target for FUZZ_RUNS executions (10,000,000) on every core, at -O2 with LSan+UBSan (build-fuzz-long)
	FUZZ_RUNS="$(FUZZ_RUNS)" $(SANITIZE) fuzz-long

tsan: ## the unit tests of threaded code (executor, apply, scheduler, daemon) under ThreadSanitizer (clang 14, build-tsan)
	$(SANITIZE) tsan

fuzz: ## every fuzz target of tests/fuzz for FUZZ_SECONDS each (60; in build-fuzz): runs, coverage; fails on a crash, hang or leak
	$(SANITIZE) fuzz

bench: setup ## set everything up, then run the benchmarks (tests/bench/run.sh)
	@if [[ -f $(ROOT)/tests/bench/run.sh ]]; then \
		LTB="$(LTB)" LTB_BUILD_DIR="$(BUILD_DIR)" bash $(ROOT)/tests/bench/run.sh; \
	else \
		echo "bench: no tests/bench/run.sh yet"; \
	fi

FAULT_POINTS ?= 1000
FAULT_ROUNDS ?= 100
FAULT_WORKERS ?= 2
FAULT_SERVE_POINTS ?= 50
FAULT_SEED ?= $(shell date -u +%Y%m%d)
fault: setup ## TSan of the threaded code's unit tests (make tsan), then crash tests: FAULT_POINTS kill points (1000), FAULT_SERVE_POINTS in the daemon (50), FAULT_ROUNDS concurrency rounds (100), every service-goes-away case
	$(SANITIZE) tsan
	cd $(BUILD_DIR) && LTB="$$(pwd)/ltb" LTB_SOURCE_DIR="$(ROOT)" CI=true bash $(ROOT)/tests/fault/fault.sh \
		--points $(FAULT_POINTS) --workers $(FAULT_WORKERS) --seed $(FAULT_SEED)
	cd $(BUILD_DIR) && LTB="$$(pwd)/ltb" LTB_SOURCE_DIR="$(ROOT)" CI=true bash $(ROOT)/tests/fault/concurrency.sh \
		--rounds $(FAULT_ROUNDS) --seed $(FAULT_SEED)
	cd $(BUILD_DIR) && LTB="$$(pwd)/ltb" LTB_SOURCE_DIR="$(ROOT)" CI=true bash $(ROOT)/tests/fault/serve.sh \
		--points $(FAULT_SERVE_POINTS) --seed $(FAULT_SEED)
	cd $(BUILD_DIR) && LTB="$$(pwd)/ltb" LTB_SOURCE_DIR="$(ROOT)" CI=true bash $(ROOT)/tests/fault/services.sh

format: ## reformat the C++ sources in place (clang-format 14)
	@cd $(ROOT) && $(CLANG_FORMAT) -i $(FORMAT_FILES)
	@echo "format: $(words $(FORMAT_FILES)) files"

check-format: ## fail if any C++ source is not formatted
	@cd $(ROOT) && $(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)
	@echo "check-format: $(words $(FORMAT_FILES)) files formatted"

clean: ## remove the build directories (images, labs and installed files stay)
	rm -rf $(BUILD_DIR) $(SAN_BUILD_DIR) $(FUZZ_BUILD_DIR) $(TSAN_BUILD_DIR) $(FUZZ_LONG_BUILD_DIR)
