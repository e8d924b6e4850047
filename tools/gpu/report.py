#!/usr/bin/env python3
"""Joins bench_attention_cuda's CSV (ours) with peer.py's CSV (PyTorch, same device call) into
markdown tables with ratios.   python3 tools/gpu/report.py ours.csv peer.csv > tables.md"""
import sys


def read(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.split("#")[0].strip() if not line.startswith("#") else ""
                if line:
                    rows.append(line.split(","))
    except FileNotFoundError:
        pass
    return rows


def num(x):
    try:
        return float(x)
    except ValueError:
        return float("nan")


def ratio(a, b):
    return f"{a / b:.2f}" if b == b and b > 0 and a == a else "–"


def main():
    ours, peer = read(sys.argv[1]), read(sys.argv[2])
    dev = next((r for r in ours if r[0] == "device"), ["device", "?", "?"])
    bw = next((num(r[1]) for r in ours if r[0] == "copy_gbps"), float("nan"))
    pdev = next((r for r in peer if r[0] == "peer_device"), None)
    print(f"Device: {dev[1]} ({dev[2]} SMs); measured device-to-device copy {bw:.0f} GB/s (read + write)")
    if pdev:
        print(f"Peer: {', '.join(pdev[2:])}")
    pc = next((num(r[1]) for r in peer if r[0] == "peer_copy_gbps"), None)
    if pc:
        print(f"torch copy_ of 2 GiB in the same run: {pc:.0f} GB/s (read + write)")
    print()
    pp = {(r[1], r[3], r[5], r[6]): num(r[8]) for r in peer if r[0] == "peer_prefill"}
    print("Prefill, 16k tokens total, bf16, TFLOP/s (4·B·H·N²·D, halved if causal)\n")
    # eft = the automatic main loop (on Hopper: warp-specialized wgmma for D 128 / 256, plain wgmma
    # for D 64); eft wgmma / eft mma.sync = the same shape forced onto the plain wgmma grid / the
    # sm_80 main loop in the same run (the switches, side by side; – where it is the automatic one).
    mma = {tuple(r[1:6]): num(r[7]) for r in ours if r[0] == "prefill_mma_sync"}
    wg = {tuple(r[1:6]): num(r[7]) for r in ours if r[0] == "prefill_wgmma"}
    print("| D / H | N | causal | eft | eft wgmma | eft mma.sync | torch FA2 | cuDNN | eft / FA2 | eft / cuDNN |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in ours:
        if r[0] != "prefill":
            continue
        D, H, N, B, c, ms, tf = r[1:8]
        fa, cu = pp.get((D, N, c, "flash"), float("nan")), pp.get((D, N, c, "cudnn"), float("nan"))
        t = num(tf)
        m = mma.get((D, H, N, B, c), float("nan"))
        wv = wg.get((D, H, N, B, c))
        w_txt = f"{wv:.0f}" if wv is not None else "–"
        print(f"| {D} / {H} | {N} | {'yes' if c == '1' else 'no'} | {t:.0f} | {w_txt} | {m:.0f} | {fa:.0f} | {cu:.0f} | "
              f"{ratio(t, fa)} | {ratio(t, cu)} |")
    pd = {(r[1], r[2], r[3]): num(r[5]) for r in peer if r[0] == "peer_decode"}
    print("\nDecode, 1 query token, GQA 32/8, D=128, bf16, GB/s of K+V read (fraction of copy bandwidth)\n")
    print("| batch | KV | eft contiguous | eft paged (16) | paged / contig | torch FA2 | cuDNN | eft / FA2 | "
          "eft / cuDNN | splits contig / paged |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    dec = {(r[1], r[2], r[3]): r for r in ours if r[0] == "decode"}
    for (B, L, pg), r in dec.items():
        if pg != "0":
            continue
        g = num(r[5])
        rp = dec.get((B, L, "1"))
        gp = num(rp[5]) if rp else float("nan")
        fa, cu = pd.get((B, L, "flash"), float("nan")), pd.get((B, L, "cudnn"), float("nan"))
        print(f"| {B} | {L} | {g:.0f} ({g / bw:.0%}) | {gp:.0f} ({gp / bw:.0%}) | {ratio(gp, g)} | {fa:.0f} | "
              f"{cu:.0f} | {ratio(g, fa)} | {ratio(g, cu)} | {r[7]} / {rp[7] if rp else '–'} |")
    w = next((r for r in ours if r[0] == "window"), None)
    pw = {r[3]: num(r[4]) for r in peer if r[0] == "peer_window"}
    if w:
        print("\nSliding window, N=16384, W=1024 (causal band), 16 heads, D=128, bf16, ms\n")
        print("| eft window | eft causal | speedup | ideal N/(2W) | torch FA2 causal | FlexAttention | "
              "eft speed / Flex speed |")
        print("|---|---|---|---|---|---|---|")
        fl = pw.get("flex", float("nan"))
        print(f"| {num(w[3]):.3f} | {num(w[4]):.3f} | {w[5]}× | {w[6]}× | {pw.get('flash_causal_full', float('nan')):.3f}"
              f" | {fl:.3f} | {ratio(fl, num(w[3]))} |")
    print("\nExtra device memory of one call, 1×16×N×128 causal (MiB)\n")
    print("| N | eft prefill | torch flash | torch math |")
    print("|---|---|---|---|")
    pm = {(r[1], r[2]): num(r[3]) for r in peer if r[0] == "peer_memory"}
    for r in ours:
        if r[0] == "memory" and r[2] == "prefill":
            N = r[1]
            mib = lambda x: f"{x / 2**20:.1f}" if x == x else "–"  # noqa: E731
            print(f"| {N} | {mib(num(r[3]))} | {mib(pm.get((N, 'flash'), float('nan')))} | "
                  f"{mib(pm.get((N, 'math'), float('nan')))} |")
    for r in ours:
        if r[0] == "memory" and r[2] != "prefill":
            print(f"\nDecode batch 1, KV 32k: split-KV workspace {num(r[3]) / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
