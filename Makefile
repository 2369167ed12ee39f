# qkv: the two commands a user needs are `make demo` and `make test`.
#   make            build (Release) into build/
#   make test       install missing Debian packages, build, run every test (ctest), then the sanitizer stage (fuzz targets, ASan+UBSan)
#   make demo       install, build, run the main job on its default data
#   make bench      benchmarks (side-by-side ratios; long)
#   make fuzz       libFuzzer targets (fuzz/), ASan+UBSan, each for FUZZ_SECONDS (clang-14, build-fuzz/)
#   make fuzz-mutants  mutation fuzzing of every file reader through the tools (FUZZ_MUTANTS, FUZZ_SEED)
#   make test-asan  the test suite built with AddressSanitizer + UBSan, in build-asan/
#   make install PREFIX=/usr/local
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test demo bench install clean fuzz fuzz-targets fuzz-mutants test-asan

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

# The release suite, then its sanitizer stage (CI runs exactly this): every
# libFuzzer target, built with ASan + UBSan, over its seeds, the committed
# reproducers and FUZZ_SMOKE_RUNS mutations from a fixed seed
# (scripts/fuzz/smoke.sh). The whole suite under ASan is `make test-asan`.
FUZZ_SMOKE_RUNS ?= 100
test: build fuzz-targets
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@test -d $(FUZZ_BUILD)/seeds/h5in || scripts/fuzz/make-seeds.sh $(BUILD)/bin $(FUZZ_BUILD)/seeds
	scripts/fuzz/smoke.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_RUNS)

# Mutants of real qkv files through the tools, 5,000 per file kind (tokenizer,
# tokens, token pairs, patches, checkpoint) by default, JOBS at a time, a fresh seed each run (printed; FUZZ_SEED=N
# replays one). Findings: /tmp/qkv-fuzz-findings.
FUZZ_MUTANTS ?= 25000
fuzz-mutants: build
	cd $(BUILD) && QKV_FUZZ_MUTANTS=$(FUZZ_MUTANTS) QKV_FUZZ_JOBS=$(JOBS) QKV_FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
	  tests/fuzz_mutants_test --gtest_filter='FuzzMutants.*'

# libFuzzer targets (fuzz/*_fuzz.cpp: every reader of outside bytes), built
# with clang-14 (libFuzzer) + ASan + UBSan into $(FUZZ_BUILD), seeds made by
# the release tools (scripts/fuzz/make-seeds.sh), then each target run
# FUZZ_SECONDS (FUZZ_TARGETS: a subset) with -timeout=5 -rss_limit_mb=2048
# -malloc_limit_mb=2048; a table of executions, coverage and findings.
fuzz-targets: deps
	@scripts/install-deps.sh --fuzz
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -DQKV_FUZZ=ON -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets

fuzz: build fuzz-targets
	@test -d $(FUZZ_BUILD)/seeds/h5in || scripts/fuzz/make-seeds.sh $(BUILD)/bin $(FUZZ_BUILD)/seeds
	scripts/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ASan + UBSan build of everything, then the whole ctest suite under it.
# Leaks reported only for qkv's own code (tests/asan/lsan.supp says which
# third-party ones are suppressed and why). allocator_may_return_null: a
# request beyond what can be mapped fails as malloc fails in a release build.
# The Dist* tests (MPI ranks) run with leak detection off: OpenMPI dlcloses
# the components whose allocations it keeps, and LSan cannot name them.
ASAN_BUILD ?= build-asan
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=0:exitcode=86 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/asan/lsan.supp:print_suppressions=0
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  -DCMAKE_C_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
	  $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(ASAN_ENV) ctest --output-on-failure -j $(JOBS) --timeout 1800 -E '^Dist'
	cd $(ASAN_BUILD) && $(ASAN_ENV) ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:exitcode=86 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 -R '^Dist'

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
