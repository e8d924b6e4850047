#!/usr/bin/env bash
# eft's CPU flash attention against PyTorch's CPU scaled_dot_product_attention, same shapes and
# thread count, in one run.
#
#   bench/run_cpu_peer.sh [extra `eft bench attention` options, e.g. --n 1024,4096 --mask none]
#
# Creates a venv (EFT_PEER_VENV, default ~/.cache/eft/venv) and installs the plain `torch` wheel
# from the default PyPI index when torch is missing, builds the eft CLI when EFT_BIN is not given,
# then for each N runs `eft bench attention --json` (methods flash and sparse unless --methods is
# passed; --n 512,1024,... picks the lengths) and torch right after it on the same shapes, and
# prints the speed ratio. Everything lands in $EFT_PEER_OUT (default build/peer/)/peer.json.
# Threads: EFT_THREADS, else all cores; both engines get the same number.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${EFT_PEER_VENV:-$HOME/.cache/eft/venv}"
threads="${EFT_THREADS:-$(nproc)}"
out="${EFT_PEER_OUT:-build/peer}"
mkdir -p "$out"

if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
  echo "run_cpu_peer: installing torch into $venv (default PyPI index)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch
fi

eft="${EFT_BIN:-}"
if [[ -z "$eft" ]]; then
  tools/build.sh release eft_cli >&2
  eft=build/eft
fi

args=("$@")
methods=(--methods flash,sparse)
for a in "${args[@]}"; do
  [[ "$a" == --methods* ]] && methods=()
done

echo "run_cpu_peer: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads, $(date -u +%FT%TZ)" >&2
# Per N: eft first, torch right after on the same shapes (see torch_cpu_attention.py).
OMP_NUM_THREADS="$threads" "$venv/bin/python" bench/torch_cpu_attention.py --eft "$eft" --threads "$threads" \
  --out "$out/peer.json" "${methods[@]}" "${args[@]}"
