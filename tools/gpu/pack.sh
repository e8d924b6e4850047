#!/usr/bin/env bash
# Puts what a device call needs into .devbin/ (git-ignored through .git/info/exclude; carry it with
# `run ... carry: [".devbin"]`): the GPU test binary and the attention bench of BUILD_DIR (debug
# sections stripped; with --linear also the linear-attention bench, for device_run.sh's linear
# step) and the one shared library the device image lacks (fmt). Variants from
# tools/gpu/variant.sh stay in .devbin/var/. The whole carry must stay under 64 MiB.
#   tools/gpu/pack.sh [--linear] [BUILD_DIR]  (default build-cuda, built with CMAKE_CUDA_ARCHITECTURES=90a)
set -euo pipefail
bins=(tests/eft_gpu_tests bench/bench_attention_cuda)
if [ "${1:-}" = "--linear" ]; then bins+=(bench/bench_linear_cuda); shift; fi
build=${1:-build-cuda}
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p .devbin/lib
rm -f .devbin/bench_linear_cuda
for b in "${bins[@]}"; do
  ninja -C "$build" "$(basename "$b")" >/dev/null
  cp "$build/$b" .devbin/
  strip --strip-debug ".devbin/$(basename "$b")"
done
cp -L "$(ldconfig -p | awk '/libfmt\.so\.[0-9]+ .*x86-64/ {print $NF; exit}')" .devbin/lib/
grep -qx '/.devbin/' .git/info/exclude 2>/dev/null || echo '/.devbin/' >> .git/info/exclude
du -sh .devbin
