#!/usr/bin/env bash
# Builds the loader's libFuzzer targets with clang (ASan + UBSan) and runs each for N seconds.
#
#   fuzz/run.sh [SECONDS_PER_TARGET=30] [target...]     targets: gguf safetensors (default: both)
#
# Needs clang-14 and its runtime (apt-get install -y clang-14 libclang-rt-14-dev); builds in
# build-fuzz/ straight from the sources (no CMake: only the loader, dequantize and dtype files).
# Seeds: the committed fixtures (tests/fixtures/loader, written by tools/gen_loader_fixtures.py).
# The working corpus grows in build-fuzz/corpus-<target>/; findings land in build-fuzz/artifacts/
# and make the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"; shift || true
targets=("$@"); [[ ${#targets[@]} -gt 0 ]] || targets=(gguf safetensors)
CXX="${CXX_FUZZ:-clang++-14}"
out=build-fuzz
mkdir -p "$out/artifacts"
srcs=(src/loader/*.cpp src/quant/dequantize.cpp src/core/dtype.cpp)
status=0
for t in "${targets[@]}"; do
  bin="$out/fuzz_$t"
  echo "fuzz: building $bin" >&2
  # FMT_HEADER_ONLY: the system libfmt is built by gcc; header-only avoids mixing sanitizer ABIs.
  "$CXX" -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -DFMT_HEADER_ONLY -Iinclude -Isrc -Ifuzz \
    "fuzz/fuzz_$t.cpp" "${srcs[@]}" -o "$bin"
  corpus="$out/corpus-$t"
  mkdir -p "$corpus"
  case "$t" in
    gguf) cp -n tests/fixtures/loader/*.gguf "$corpus"/ ;;
    safetensors) cp -n tests/fixtures/loader/*.safetensors tests/fixtures/loader/sharded/*.safetensors "$corpus"/ ;;
  esac
  echo "fuzz: running $t for ${secs}s" >&2
  # pipefail: a finding (non-zero exit of the fuzzer) fails the pipeline and the script.
  if ! "$bin" "$corpus" -dict="fuzz/$t.dict" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" 2>&1 | tee "$out/fuzz-$t.log" | tail -25; then
    echo "fuzz: $t FOUND A PROBLEM: see $out/fuzz-$t.log and $out/artifacts/" >&2
    status=1
  fi
done
exit $status
