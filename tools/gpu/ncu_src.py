#!/usr/bin/env python3
"""Summarises a per-instruction ncu export (tools/gpu/device_run.sh ncu-src: `ncu --page source
--csv --print-source sass`): total warp samples, the stall reasons' shares, the instructions with
the most samples (stall reasons beside them), and samples by code region. Out-of-line retry loops
(mbarrier waits that ptxas moves past the kernel's end) are counted at the branch that enters them.

  tools/gpu/ncu_src.py FILE.csv [--top N] [--regions OFF1,OFF2,...] [--names a,b,...]

--regions: hexadecimal byte offsets from the kernel's first instruction where regions begin (the
first at 0); --names labels them. Without them, 8 KB buckets."""
import argparse
import csv
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--regions", default="")
    ap.add_argument("--names", default="")
    a = ap.parse_args()
    rows = list(csv.reader(open(a.csv)))
    hdr = next(r for r in rows if "Address" in r and "Source" in r)
    data = rows[rows.index(hdr) + 1:]
    col = {h: i for i, h in enumerate(hdr)}
    samples = col["Warp Stall Sampling (All Samples)"]
    reasons = [h for h in hdr if h.startswith("stall_") and "Not Issued" not in h]
    recs = []
    for r in data:
        if len(r) < len(hdr) or not r[col["Address"]].startswith("0x"):
            continue
        recs.append((int(r[col["Address"]], 16), float(r[samples] or 0), r[col["Source"]],
                     {h: float(r[col[h]] or 0) for h in reasons}, r[col["Instructions Executed"]]))
    if not recs:
        sys.exit(f"{a.csv}: no instruction rows")
    base = min(x[0] for x in recs)
    end = max(x[0] for x in recs) - base
    total = sum(x[1] for x in recs)
    print(f"{len(recs)} instructions ({end + 16} bytes), {total:.0f} warp samples")
    by_reason = {h: sum(x[3][h] for x in recs) for h in reasons}
    print("stall reasons: " + ", ".join(f"{h[6:]} {v / total * 100:.1f} %" for h, v in
                                        sorted(by_reason.items(), key=lambda kv: -kv[1]) if v > 0))

    # Out-of-line loops: the last EXIT before them ends the kernel's main body; a branch into the
    # tail from the body names the loop.
    exits = [x[0] - base for x in recs if re.search(r"\bEXIT\b", x[2])]
    entry = {}
    for off, _, src, _, _ in recs:
        m = re.search(r"BRA (?:\S+, )?(0x[0-9a-f]+)", src)
        if m:
            t = int(m.group(1), 16) - base
            if exits and t > max(exits) and off - base < max(exits):
                entry.setdefault(t, off - base)
    targets = sorted(entry)

    def home(off):
        if not targets or off <= max(exits):
            return off
        t = max((t for t in targets if t <= off), default=None)
        return entry[t] if t is not None else off

    def desc(x):
        top = sorted(x[3].items(), key=lambda kv: -kv[1])[:2]
        why = " ".join(f"{h[6:]}={v:.0f}" for h, v in top if v > 0)
        return f"{x[0] - base:#8x} {x[1]:7.0f} {x[1] / total * 100:5.1f} %  ex {x[4]:>9}  {x[2][:64]:64} {why}"

    print(f"\ntop {a.top} instructions (offset, samples, share, executions, SASS, top stall reasons):")
    for x in sorted(recs, key=lambda x: -x[1])[:a.top]:
        print(desc(x))

    if a.regions:
        starts = [int(v, 16) for v in a.regions.split(",")]
        names = a.names.split(",") if a.names else [f"{s:#x}" for s in starts]
    else:
        starts = list(range(0, end + 1, 0x2000))
        names = [f"{s:#x}" for s in starts]
    acc = [0.0] * len(starts)
    for x in recs:
        o = home(x[0] - base)
        i = max(k for k, s in enumerate(starts) if s <= o) if o >= starts[0] else 0
        acc[i] += x[1]
    print("\nsamples by region (retry loops counted at their entry):")
    for n, s, v in zip(names, starts, acc):
        if v > 0:
            print(f"  {n:>14} from {s:#8x}: {v:8.0f} {v / total * 100:5.1f} %")


if __name__ == "__main__":
    main()
