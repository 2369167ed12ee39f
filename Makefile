# qkv: the two commands a user needs are `make demo` and `make test`.
#   make            build (Release) into build/
#   make test       install missing Debian packages, build, run every test (ctest)
#   make demo       install, build, run the main job on its default data
#   make bench      benchmarks (side-by-side ratios; long)
#   make fuzz       mutation fuzzing of every file reader through the tools (FUZZ_MUTANTS, FUZZ_SEED)
#   make test-asan  the test suite built with AddressSanitizer + UBSan, in build-asan/
#   make install PREFIX=/usr/local
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test demo bench install clean fuzz test-asan

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Thousands of mutants of real qkv files through the tools, a fresh seed each
# run (printed; FUZZ_SEED=N replays one). Findings: /tmp/qkv-fuzz-findings.
FUZZ_MUTANTS ?= 5000
fuzz: build
	cd $(BUILD) && QKV_FUZZ_MUTANTS=$(FUZZ_MUTANTS) QKV_FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
	  tests/fuzz_mutants_test --gtest_filter='FuzzMutants.*'

# ASan + UBSan build of everything, then the whole ctest suite under it.
# Leaks reported only for qkv's own code (tests/asan/lsan.supp says which
# third-party ones are suppressed and why).
ASAN_BUILD ?= build-asan
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  -DCMAKE_C_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
	  $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/asan/lsan.supp:print_suppressions=0 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800

demo: build
	@scripts/install-deps.sh --demo
	scripts/demo.sh $(BUILD)

bench: build
	@scripts/install-deps.sh --bench
	scripts/bench.sh $(BUILD)

install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
