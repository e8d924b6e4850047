#!/usr/bin/env bash
# Builds and runs eft's whole test suite: the Release build (CPU tests, GPU tests SKIPPED where no
# GPU is present), then the CPU tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# Real-model tests need the pinned GGUFs; without network they say SKIPPED instead.
tools/fetch_models.sh all || echo "eft: models could not be fetched; real-model tests will be skipped" >&2
tools/build.sh release
ctest --test-dir build --output-on-failure
tools/build.sh asan
# GPU tests are not built under the sanitizers; short fuzz runs happen in the release pass.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 EFT_TEST_SANITIZER=1 \
  ctest --test-dir build-asan --output-on-failure
# A short fuzzing run of the model-file parsers (libFuzzer + ASan + UBSan): 30 s per target.
fuzz/run.sh "${EFT_FUZZ_SECONDS:-30}"
