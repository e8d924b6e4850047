#!/usr/bin/env python3
"""PyTorch's CPU scaled_dot_product_attention on the shapes of `eft bench attention --json`.

Two ways to run:
  --eft BIN [--n 512,1024,...] [other eft bench options]: for each N, runs `BIN bench attention
      --json --n N ...` and right after it torch on the same shapes, so both see the same machine
      load (a shared machine's load drifts over a minute);
  --eft-json FILE: compares against a finished eft run.
Either way it times torch.nn.functional.scaled_dot_product_attention on the same shapes, dtype (f32)
and thread count (eft's config.threads) and prints eft flash's speed relative to torch (torch time /
eft time: > 1 means eft is faster). --out writes everything as JSON.

Layout: eft takes Q [N, heads, d]; torch takes [1, heads, N, d]. Both get standard-normal inputs.
Masks: causal -> is_causal=True; none -> no mask; window:W -> a boolean [N, N] mask allowing keys
i-W+1 .. i (torch has no native sliding window, so it pays for the full mask: noted in the table).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time


def torch_times(torch, n, heads, kv_heads, d, mask, reps, budget_s):
    F = torch.nn.functional
    g = torch.Generator().manual_seed(n)
    q = torch.randn(1, heads, n, d, generator=g)
    k = torch.randn(1, kv_heads, n, d, generator=g)
    v = torch.randn(1, kv_heads, n, d, generator=g)
    kwargs = {}
    if kv_heads != heads:
        kwargs["enable_gqa"] = True  # torch >= 2.5: no K/V copies per head, like eft
    attn_mask = None
    is_causal = False
    if mask == "causal":
        is_causal = True
    elif mask.startswith("window:"):
        w = int(mask.split(":", 1)[1])
        i = torch.arange(n).unsqueeze(1)
        j = torch.arange(n).unsqueeze(0)
        attn_mask = (j <= i) & (j > i - w)
    elif mask != "none":
        raise SystemExit(f"unsupported mask '{mask}'")

    def call():
        with torch.inference_mode():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, **kwargs)

    t0 = time.perf_counter()
    call()  # warm-up (allocator, kernel selection)
    first = time.perf_counter() - t0
    times = [] if first < 0.2 else [first]
    spent = first
    while len(times) < reps and (spent <= budget_s or not times):
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return times


def run_eft(binary, threads, n, eft_args):
    cmd = [binary]
    if threads:
        cmd += ["--threads", str(threads)]
    cmd += ["bench", "attention", "--json", "--n", str(n)] + eft_args
    print("eft: " + " ".join(cmd), file=sys.stderr, flush=True)
    return json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--eft-json", help="output of eft bench attention --json")
    src.add_argument("--eft", help="the eft binary: run it per N, interleaved with torch")
    ap.add_argument("--n", default="512,1024,2048,4096,8192", help="with --eft: sequence lengths")
    ap.add_argument("--threads", type=int, default=0, help="with --eft: eft --threads (torch uses the same)")
    ap.add_argument("--out", help="write eft and torch timings and ratios here (JSON)")
    ap.add_argument("--budget", type=float, default=3.0, help="seconds per N after which no more reps start")
    args, eft_args = ap.parse_known_args()

    import torch  # imported late so --help works without it

    torch_t = {}  # N -> torch call times (s)

    def shapes(cfg):
        return int(cfg["heads"]), int(cfg["kv_heads"]), int(cfg["head_dim"]), cfg["mask"], int(cfg["reps"])

    if args.eft_json:
        with open(args.eft_json) as f:
            eft = json.load(f)
    else:
        eft = None
        for n in [int(x) for x in args.n.split(",")]:
            part = run_eft(args.eft, args.threads, n, eft_args)
            if eft is None:
                eft = part
            else:
                eft["results"] += part["results"]
            torch.set_num_threads(int(part["config"]["threads"]))
            print(f"torch: N={n} ...", file=sys.stderr, flush=True)
            h, kvh, dd, mk, rp = shapes(part["config"])
            torch_t[n] = torch_times(torch, n, h, kvh, dd, mk, rp, args.budget)
    cfg = eft["config"]
    threads = int(cfg["threads"])
    torch.set_num_threads(threads)
    heads, kv_heads, d, mask, reps = shapes(cfg)

    eft_ms = {}
    for r in eft["results"]:
        if not r["skipped"]:
            eft_ms[(r["n"], r["method"])] = r["median_ms"]
    ns = sorted({r["n"] for r in eft["results"]})

    rows = []
    for n in ns:
        if n not in torch_t:
            print(f"torch: N={n} ...", file=sys.stderr, flush=True)
            torch_t[n] = torch_times(torch, n, heads, kv_heads, d, mask, reps, args.budget)
        t = torch_t[n]
        tm = statistics.median(t) * 1e3
        row = {"n": n, "torch_median_ms": tm, "torch_times_ms": [x * 1e3 for x in t]}
        for method in ("flash", "sparse", "standard"):
            if (n, method) in eft_ms:
                row[f"eft_{method}_ms"] = eft_ms[(n, method)]
                row[f"{method}_speed_vs_torch"] = tm / eft_ms[(n, method)]
        rows.append(row)

    print(f"\nPyTorch {torch.__version__} CPU scaled_dot_product_attention vs eft ({cfg.get('cpu', '?')}, "
          f"{threads} threads) | heads {heads}/{kv_heads}, d {d}, mask {mask}, f32, median of up to {reps}")
    print("speed ratio = torch time / eft time (> 1: eft faster)\n")
    have_sparse = any("eft_sparse_ms" in r for r in rows)
    hdr = f"{'N':>7} {'torch ms':>10} {'eft flash ms':>13} {'flash/torch':>12}"
    if have_sparse:
        hdr += f" {'eft sparse ms':>14} {'sparse/torch':>13}"
    print(hdr)
    for r in rows:
        line = f"{r['n']:>7} {r['torch_median_ms']:>10.2f}"
        if "eft_flash_ms" in r:
            line += f" {r['eft_flash_ms']:>13.2f} {r['flash_speed_vs_torch']:>11.2f}x"
        else:
            line += f" {'-':>13} {'-':>12}"
        if have_sparse:
            if "eft_sparse_ms" in r:
                line += f" {r['eft_sparse_ms']:>14.2f} {r['sparse_speed_vs_torch']:>12.2f}x"
            else:
                line += f" {'-':>14} {'-':>13}"
        print(line)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"torch_version": torch.__version__, "threads": threads, "config": cfg, "rows": rows,
                       "eft": eft}, f, indent=2)


if __name__ == "__main__":
    main()
