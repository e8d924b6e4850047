#!/usr/bin/env bash
# Builds a git branch's GPU test binary and attention bench for a device call beside the tree's,
# without a second build directory: checks the branch out, brings BUILD_DIR up to date (only what
# differs recompiles), keeps the two binaries (stripped, gzipped) and checks the starting branch
# out again (and rebuilds it). Needs a clean working tree.
#   tools/gpu/branch.sh NAME BRANCH [BUILD_DIR]   (default build-cuda)
# Output: .devbin/var/NAME.gz (a bench variant for tools/gpu/ab.sh) and .devbin/tests/NAME.gz (run
# on the device by `tools/gpu/device_run.sh branch-tests`, GTEST_FILTER taken from the environment).
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,9p "$0"; exit 2; }
name=$1 branch=$2 build=${3:-build-cuda}
root=$(git rev-parse --show-toplevel)
cd "$root"
git diff --quiet && git diff --cached --quiet || { echo "branch.sh: the working tree has changes; commit or stash them" >&2; exit 2; }
start=$(git symbolic-ref --short -q HEAD || git rev-parse HEAD)
trap 'git checkout -q "$start" && ninja -C "$build" eft_gpu_tests bench_attention_cuda >/dev/null' EXIT
git checkout -q "$branch"
ninja -C "$build" eft_gpu_tests bench_attention_cuda >/dev/null
mkdir -p .devbin/var .devbin/tests
strip --strip-debug -o "$build/branch_tests.tmp" "$build/tests/eft_gpu_tests"
strip --strip-debug -o "$build/branch_bench.tmp" "$build/bench/bench_attention_cuda"
gzip -c "$build/branch_tests.tmp" > ".devbin/tests/$name.gz"
gzip -c "$build/branch_bench.tmp" > ".devbin/var/$name.gz"
rm -f "$build/branch_tests.tmp" "$build/branch_bench.tmp"
ls -la ".devbin/tests/$name.gz" ".devbin/var/$name.gz"
