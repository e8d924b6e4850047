#!/usr/bin/env bash
# A/B of bench_attention_cuda binaries in one device call: the tree's .devbin/bench_attention_cuda
# ("tree") and every .devbin/var/NAME.gz (from tools/gpu/variant.sh), each shape run by each binary
# in turn (interleaved, so drift hits all alike), then a table of ms per binary and its ratio to
# "tree" (> 1: the variant is faster).
#   tools/gpu/ab.sh [--args 'BENCH ARGS'] SHAPE...   e.g. tools/gpu/ab.sh prefill:128:512:32:1 window:16384:1024
# Shapes as bench_attention_cuda --shape takes them. Output also in $OUT/ab.txt.
set -uo pipefail
OUT=${OUT:-/tmp/eft_out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/.devbin/lib:${LD_LIBRARY_PATH:-}
args=""
if [ "${1:-}" = "--args" ]; then args=$2; shift 2; fi
[ $# -ge 1 ] || { sed -n 2,8p "$0"; exit 2; }
names=(tree) bins=(.devbin/bench_attention_cuda)
for v in .devbin/var/*.gz; do
  [ -e "$v" ] || continue
  n=$(basename "$v" .gz)
  gunzip -c "$v" > "/tmp/ab_$n" && chmod +x "/tmp/ab_$n"
  names+=("$n") bins+=("/tmp/ab_$n")
done
raw=$OUT/ab_raw.txt
: > "$raw"
for s in "$@"; do
  for i in "${!bins[@]}"; do
    line=$(timeout 60 ${bins[$i]} $args --shape "$s" 2>&1 | grep "^shape" | tail -1)
    echo "${names[$i]} $line" | tee -a "$raw"
  done
done
python3 - "$raw" "${names[@]}" <<'PY' | tee "$OUT/ab.txt"
import re, sys
raw, names = sys.argv[1], sys.argv[2:]
ms = {}
for line in open(raw):
    m = re.match(r"(\S+) shape (\S+): ([0-9.]+) ms", line)
    if m:
        ms[(m.group(2), m.group(1))] = float(m.group(3))
shapes = list(dict.fromkeys(s for s, _ in ms))
print("| shape | " + " | ".join(f"{n} ms" for n in names) + " | " + " | ".join(f"tree/{n}" for n in names[1:]) + " |")
print("|---" * (1 + 2 * len(names) - 1) + "|")
for s in shapes:
    t = ms.get((s, "tree"))
    cells = [f"{ms[(s, n)]:.4f}" if (s, n) in ms else "–" for n in names]
    rat = [f"{t / ms[(s, n)]:.3f}" if t and (s, n) in ms else "–" for n in names[1:]]
    print(f"| {s} | " + " | ".join(cells) + " | " + " | ".join(rat) + " |")
PY
