# tslab top-level commands.
#
#   make demo          install what is missing, build, run `tslab demo` (table + charts in build/demo)
#   make test          install what is missing, build, run every test (plain, ASan+UBSan, TSan)
#   make bench         the whole suite, `tslab bench --all`, medians of 3 runs (charts in docs/charts)
#   make bench-stats   fast path with statistics compiled in vs out, and snapshot cost
#   make bench-arena   arena allocation against slab allocation
#   make bench-instructions  callgrind instructions per allocation and free, tslab and the peers,
#                      each measurement run twice (build/bench-results/instructions.md)
#   make test-fuzz     the libFuzzer targets (fuzz/), a short bounded run each (part of make test)
#   make fuzz          the same, FUZZ_SECONDS (default 600) per target
#   make deps | build | format | format-check | clean
#
# The command is build/cli/tslab; `cmake --install build --prefix DIR` installs it
# with the libraries, headers, CMake package, tslab.pc and the man page tslab(1).
#
# Build trees: build/ (Release), build-asan/ (ASan+UBSan), build-tsan/ (TSan),
# build-fuzz/ (clang, libFuzzer, ASan+UBSan).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := build

CMAKE ?= cmake
CTEST ?= ctest
CLANG_FORMAT ?= clang-format
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
TEST_JOBS ?= 2
BUILD_TYPE ?= Release

BUILD_DIR := build
ASAN_DIR := build-asan
TSAN_DIR := build-tsan
TSLAB_BIN := $(BUILD_DIR)/cli/tslab

DEPS := build-essential g++ cmake pkg-config libgtest-dev libgmock-dev libbenchmark-dev \
        libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev clang-format python3 \
        python3-matplotlib prometheus clang libclang-rt-14-dev valgrind \
        sqlite3 git perl help2man tmux
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

ASAN_ENV := TSLAB_TEST_SCALE=10 \
            ASAN_OPTIONS=detect_leaks=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV := TSLAB_TEST_SCALE=5 \
            TSAN_OPTIONS='halt_on_error=1 second_deadlock_stack=1' \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FORMAT_DIRS := src include tests bench cli fuzz
FIND_SOURCES := find $(wildcard $(FORMAT_DIRS)) -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.c' \) -print0 2>/dev/null

FUZZ_DIR := build-fuzz
FUZZ_TARGETS ?= fuzz_api_sequence fuzz_handle_decode fuzz_options fuzz_http_request
FUZZ_SECONDS ?= 600
FUZZ_TEST_SECONDS ?= 30

.PHONY: all deps build test test-release test-asan test-tsan test-fuzz fuzz fuzz-build demo bench bench-stats bench-arena bench-instructions format format-check clean

all: build

deps:
	@missing=""; \
	for p in $(DEPS); do \
	  status=$$(dpkg -s "$$p" 2>/dev/null || true); \
	  case "$$status" in *"Status: install ok installed"*) ;; *) missing="$$missing $$p" ;; esac; \
	done; \
	if [ -z "$$missing" ]; then \
	  echo "deps: all packages present"; \
	else \
	  echo "deps: installing$$missing"; \
	  $(APT) update -q; \
	  $(APT) install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

test: build
	$(MAKE) --no-print-directory test-release test-asan test-tsan test-fuzz
	@echo "make test: all test suites passed"

# The Release build: every test, including the package test.
test-release:
	$(CTEST) --test-dir $(BUILD_DIR) --output-on-failure -j$(TEST_JOBS)

# ASan + UBSan: unit and concurrency tests.
test-asan:
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTSLAB_SANITIZE=address -DTSLAB_BUILD_BENCH=OFF -DTSLAB_BUILD_CLI=OFF
	$(CMAKE) --build $(ASAN_DIR) -j$(JOBS)
	$(ASAN_ENV) $(CTEST) --test-dir $(ASAN_DIR) --output-on-failure -j$(TEST_JOBS) -L '^(concurrency|unit)$$'

# TSan: concurrency tests.
test-tsan:
	$(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTSLAB_SANITIZE=thread -DTSLAB_BUILD_BENCH=OFF -DTSLAB_BUILD_CLI=OFF
	$(CMAKE) --build $(TSAN_DIR) -j$(JOBS)
	$(TSAN_ENV) $(CTEST) --test-dir $(TSAN_DIR) --output-on-failure -j$(TEST_JOBS) -L '^concurrency$$'

# libFuzzer targets (fuzz/README.md): clang, ASan+UBSan, a tree of their own.
fuzz-build: deps
	$(CMAKE) -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DTSLAB_BUILD_FUZZ=ON -DTSLAB_BUILD_TESTS=OFF -DTSLAB_BUILD_BENCH=OFF -DTSLAB_BUILD_CLI=OFF -DTSLAB_SANITIZE=address
	$(CMAKE) --build $(FUZZ_DIR) -j$(JOBS) --target tslab_fuzz_targets

# Saved regressions and seeds, then FUZZ_TEST_SECONDS of fuzzing per target from the seeds.
test-fuzz: fuzz-build
	bash fuzz/run_fuzzers.sh --fresh $(FUZZ_DIR) $(FUZZ_TEST_SECONDS) $(FUZZ_TARGETS)

fuzz: fuzz-build
	bash fuzz/run_fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: build
	@if [ ! -x $(TSLAB_BIN) ]; then \
	  echo "error: $(TSLAB_BIN) was not built (is TSLAB_BUILD_CLI OFF?)" >&2; \
	  exit 1; \
	fi
	mkdir -p $(BUILD_DIR)/demo
	$(TSLAB_BIN) demo --plot $(BUILD_DIR)/demo --json $(BUILD_DIR)/demo/results.json

bench: build
	@if [ ! -x $(TSLAB_BIN) ]; then \
	  echo "error: $(TSLAB_BIN) was not built (is TSLAB_BUILD_CLI OFF?)" >&2; \
	  exit 1; \
	fi
	mkdir -p $(BUILD_DIR)/bench-results
	$(TSLAB_BIN) bench --all --runs 3 --plot docs/charts \
	  --json $(BUILD_DIR)/bench-results/results.json --markdown $(BUILD_DIR)/bench-results/results.md

bench-stats: build
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS) --target tslab_stats_bench_stats tslab_stats_bench_nostats
	bash bench/stats/compare.sh $(BUILD_DIR)

bench-arena: build
	$(BUILD_DIR)/bench/tslab_arena_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
	  --benchmark_min_time=1

# Builds only what it runs (the library, tslab_icount, the frozen clock), then
# bench/instructions.py: every workload under callgrind twice, failing if a count moved.
bench-instructions: deps
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS) --target tslab_icount tslab_frozen_clock
	mkdir -p $(BUILD_DIR)/bench-results
	python3 bench/instructions.py --build-dir $(BUILD_DIR) --repeat 2 \
	  --out $(BUILD_DIR)/bench-results/instructions.md

format:
	$(FIND_SOURCES) | xargs -0 -r $(CLANG_FORMAT) -i

format-check:
	$(FIND_SOURCES) | xargs -0 -r $(CLANG_FORMAT) --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
