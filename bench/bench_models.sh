#!/usr/bin/env bash
# End-to-end model benchmarks on this CPU, for both real models (SmolLM2-135M Q4_1: GQA;
# Gemma 3 270M Q4_K_M: MQA + sliding-window layers):
#   1. prompt and generation tok/s with the KV cache and without it (--no-kv-cache recomputes the
#      whole prefix every step: the lecture's baseline), and the speedup;
#   2. flash against standard attention end to end (KV cache on);
#   3. KV-cache bytes over context for each model's layout against MHA of the same width
#      (from `eft inspect`: 2 x layers x kv_heads x head_dim x bytes, sliding layers capped).
# Every run is greedy from the same prompt, so all configurations produce the same tokens.
#
#   bench/bench_models.sh [EFT_BINARY]      env: N (tokens, 32), THREADS (default: all cores),
#                                            REPEATS (3; the median is reported)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EFT="${1:-$ROOT/build/eft}"
N="${N:-32}"
THREADS="${THREADS:-$(nproc)}"
REPEATS="${REPEATS:-3}"
[[ -x "$EFT" ]] || { echo "no eft binary at $EFT (build eft_cli or pass its path)" >&2; exit 1; }
MODELS=("$("$ROOT/tools/fetch_models.sh" smollm2 | tail -1)" "$("$ROOT/tools/fetch_models.sh" gemma3 | tail -1)")

# About 120 tokens of plain prose for both tokenizers.
PROMPT="The history of the printing press begins in the fifteenth century, when Johannes Gutenberg \
combined movable metal type, oil-based ink and a wooden screw press into a system that could produce \
books far faster than scribes. Within fifty years, presses were operating in more than two hundred \
European cities, and millions of volumes had been printed. The consequences reached into religion, \
science and politics: ideas travelled quickly, errors could be corrected in later editions, and \
readers in distant places could study the same text. In the centuries that followed,"

echo "# eft model benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores); threads=$THREADS; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# eft: $EFT ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')); N=$N generated tokens, greedy; median of $REPEATS"
echo

# One run -> "prompt_tokens prompt_tok_s gen_tokens gen_tok_s ttft"
one() {
  local model="$1"; shift
  "$EFT" --threads "$THREADS" run -m "$model" -p "$PROMPT" -n "$N" "$@" 2>&1 >/dev/null | awk '
    /^prompt:/     { pt=$2; ps=$(NF-1) }
    /^generation:/ { gt=$2; gs=$8 }
    /^time to first token:/ { tt=$5 }
    END { print pt, ps, gt, gs, tt }'
}

# Median over REPEATS of each column.
median_run() {
  local model="$1"; shift
  local runs
  runs="$(for _ in $(seq "$REPEATS"); do one "$model" "$@"; done)"
  local mid=$(( (REPEATS + 1) / 2 )) out=()
  for col in 1 2 3 4 5; do
    out+=("$(cut -d' ' -f"$col" <<<"$runs" | sort -g | sed -n "${mid}p")")
  done
  echo "${out[@]}"
}

printf "| model | attention | KV cache | prompt tok | prompt tok/s | gen tok | gen tok/s | TTFT s |\n"
printf "|---|---|---|---|---|---|---|---|\n"
declare -A GEN
for m in "${MODELS[@]}"; do
  name="$(basename "$m" .gguf)"
  for cfg in "flash on" "standard on" "flash off"; do
    set -- $cfg
    extra=(--attention "$1")
    [[ "$2" == off ]] && extra+=(--no-kv-cache)
    read -r pt ps gt gs tt < <(median_run "$m" "${extra[@]}")
    GEN["$name $1 $2"]="$gs"
    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n" "$name" "$1" "$2" "$pt" "$ps" "$gt" "$gs" "$tt"
  done
done
echo
echo "KV-cache speedup of generation (flash, tok/s with cache / without):"
for m in "${MODELS[@]}"; do
  name="$(basename "$m" .gguf)"
  awk -v a="${GEN["$name flash on"]}" -v b="${GEN["$name flash off"]}" -v n="$name" \
    'BEGIN { printf "  %s: %.2fx\n", n, (b > 0 ? a / b : 0) }'
done
echo "flash / standard generation tok/s:"
for m in "${MODELS[@]}"; do
  name="$(basename "$m" .gguf)"
  awk -v a="${GEN["$name flash on"]}" -v b="${GEN["$name standard on"]}" -v n="$name" \
    'BEGIN { printf "  %s: %.2fx\n", n, (b > 0 ? a / b : 0) }'
done
echo
for m in "${MODELS[@]}"; do
  echo "## KV cache of $(basename "$m")"
  "$EFT" inspect "$m" | sed -n '/^heads:/p;/^attention:/p;/^KV cache/,$p'
  echo
done
