# The two commands (README.md): `make run` and `make test`. Both install what
# is missing first, so they work on a fresh Debian bookworm machine.
.PHONY: all deps build run test unit-asan integration-asan fuzz fuzz-run bench clean format

JOBS ?= $(shell nproc)
BUILD := build/release
ASAN_BUILD := build/asan
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 10
CMAKE_FLAGS := -G Ninja -Wno-dev

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Starts a node with data in ./data; Ctrl-C stops it cleanly.
run: build
	@mkdir -p data
	$(BUILD)/src/cli/skein serve --data ./data

# Every test: unit and integration (ctest), the unit tests again under
# ASan+UBSan, the integration suites against an ASan+UBSan node, then each
# fuzz target for a few seconds.
test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900
	$(MAKE) unit-asan
	$(MAKE) integration-asan
	$(MAKE) fuzz-run

unit-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DSKEIN_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target core_test storage_test runtime_test http_test cli_test kafka_test mqtt_test mesh_test
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -j $(JOBS) -L unit --output-on-failure

# The same integration suites, driving a node built with ASan+UBSan; a
# sanitizer report in a node's log fails the test that started it.
integration-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DSKEIN_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target skein
	SKEIN_BINARY=$(CURDIR)/$(ASAN_BUILD)/src/cli/skein ASAN_OPTIONS=detect_leaks=1 \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

fuzz: deps
	CXX=clang++ cmake -S . -B $(FUZZ_BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKEIN_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Runs every fuzz target on a scratch copy of its seed corpus.
fuzz-run: fuzz
	@set -e; for target in $(FUZZ_BUILD)/fuzz/fuzz_*; do \
	  name=$$(basename $$target | sed 's/^fuzz_//'); \
	  work=$$(mktemp -d); cp -r fuzz/corpus/$$name/. $$work/ 2>/dev/null || true; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  if ! $$target -max_total_time=$(FUZZ_SECONDS) $$work > $$work.log 2>&1; then \
	    tail -n 60 $$work.log; echo "fuzz: $$name FAILED"; exit 1; fi; \
	  tail -n 2 $$work.log; rm -rf $$work $$work.log; \
	done

bench: build
	bench/run-all

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build
