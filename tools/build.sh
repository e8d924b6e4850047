#!/usr/bin/env bash
# Configures and builds eft. Usage: tools/build.sh [release|asan] [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-release}"; shift || true
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DEFT_SANITIZE=ON -DEFT_CUDA=OFF) ;;
  *) echo "usage: $0 [release|asan] [targets...]" >&2; exit 2 ;;
esac
[[ -f "$dir/build.ninja" ]] || cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$dir" -- "$@"
