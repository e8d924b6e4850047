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
echo "# OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} (on a loaded machine, passive avoids OpenMP spin-waits stalling on descheduled threads)"
echo "# eft: $EFT ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')); N=$N generated tokens, greedy; median of $REPEATS"
echo

# One run -> "prompt_tokens prompt_tok_s gen_tokens gen_tok_s ttft prompt_tok_per_cpu_s gen_tok_per_cpu_s"
one() {
  local model="$1"; shift
  "$EFT" --threads "$THREADS" run -m "$model" -p "$PROMPT" -n "$N" "$@" 2>&1 >/dev/null | tr '(;)' '   ' | awk '
    /^prompt:/     { pt=$2; ps=$8; pc=$11 }
    /^generation:/ { gt=$2; gs=$8; gc=$11 }
    /^time to first token:/ { tt=$5 }
    END { printf "%s %s %s %s %s %.1f %.1f\n", pt, ps, gt, gs, tt, (pc > 0 ? pt / pc : 0), (gc > 0 ? (gt - 1) / gc : 0) }'
}

CONFIGS=("flash on" "standard on" "flash off")
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# Repeats outermost, configurations interleaved: a burst of load from other processes spreads
# over every configuration instead of landing on one.
for r in $(seq "$REPEATS"); do
  for mi in "${!MODELS[@]}"; do
    for ci in "${!CONFIGS[@]}"; do
      set -- ${CONFIGS[$ci]}
      extra=(--attention "$1")
      [[ "$2" == off ]] && extra+=(--no-kv-cache)
      one "${MODELS[$mi]}" "${extra[@]}" >> "$TMP/$mi.$ci"
    done
  done
done

median() {  # file column
  local mid=$(( (REPEATS + 1) / 2 ))
  cut -d' ' -f"$2" "$1" | sort -g | sed -n "${mid}p"
}

echo "Wall-clock tok/s depend on the machine's load; tok per CPU-second (process CPU time, all"
echo "threads) is what this process itself spent, the steadier figure on a shared machine."
echo
printf "| model | attention | KV cache | prompt tok | prompt tok/s | prompt tok/CPU-s | gen tok | gen tok/s | gen tok/CPU-s | TTFT s |\n"
printf "|---|---|---|---|---|---|---|---|---|---|\n"
declare -A GEN
for mi in "${!MODELS[@]}"; do
  name="$(basename "${MODELS[$mi]}" .gguf)"
  for ci in "${!CONFIGS[@]}"; do
    f="$TMP/$mi.$ci"
    set -- ${CONFIGS[$ci]}
    GEN["$name $1 $2"]="$(median "$f" 7)"
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" "$name" "$1" "$2" "$(median "$f" 1)" \
      "$(median "$f" 2)" "$(median "$f" 6)" "$(median "$f" 3)" "$(median "$f" 4)" "$(median "$f" 7)" "$(median "$f" 5)"
  done
done
echo
echo "KV-cache speedup of generation (flash, tok/CPU-s with cache / without):"
for m in "${MODELS[@]}"; do
  name="$(basename "$m" .gguf)"
  awk -v a="${GEN["$name flash on"]}" -v b="${GEN["$name flash off"]}" -v n="$name" \
    'BEGIN { printf "  %s: %.1fx\n", n, (b > 0 ? a / b : 0) }'
done
echo "flash / standard, generation tok/CPU-s:"
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
