# fieldsync: thin wrapper over CMake.
#   make run    install what is missing, build, start a dev server (data in ./data)
#   make test   build with -Werror and run every test
#   make asan   the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz   build the libFuzzer targets (clang-14) and run each for FUZZ_SECONDS
#   make bench  build and run the benchmarks
#   make crash  the crash-durability harness, longer than its CI run (KILLS=, DEVICES=)
#   make format-check / make format
JOBS ?= $(shell nproc)
DATA ?= data
FUZZ_SECONDS ?= 60
CMAKE ?= cmake
CTEST_ARGS ?=

.PHONY: all deps build run test asan fuzz bench crash format format-check install clean

all: build

deps:
	@sh scripts/deps.sh

build: deps
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build build -j$(JOBS)

run: build
	./build/server/fieldsync-server --dev --data-dir $(DATA) $(ARGS)

test: deps
	$(CMAKE) -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFS_WERROR=ON >/dev/null
	$(CMAKE) --build build-test -j$(JOBS)
	cd build-test && ctest -j$(JOBS) --output-on-failure $(CTEST_ARGS)

asan: deps
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFS_WERROR=ON -DFS_SANITIZE=ON \
		-DFS_BUILD_BENCH=OFF >/dev/null
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest -j$(JOBS) --output-on-failure $(CTEST_ARGS)

fuzz: deps
	@sh scripts/deps.sh --dev-tools
	CC=clang-14 $(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DFS_FUZZ=ON \
		-DFS_BUILD_TESTS=OFF -DFS_BUILD_BENCH=OFF >/dev/null
	$(CMAKE) --build build-fuzz -j$(JOBS)
	sh scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	sh scripts/bench.sh build

KILLS ?= 100
DEVICES ?= 6
crash: build
	FS_SERVER_BIN=$(CURDIR)/build/server/fieldsync-server \
		./build/tests/test_crash_durability --kills $(KILLS) --devices $(DEVICES)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

install: build
	$(CMAKE) --install build $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf build build-test build-asan build-fuzz
