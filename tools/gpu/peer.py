#!/usr/bin/env python3
"""PyTorch peer for bench_attention_cuda: the same shapes through SDPA's flash (FA2) and cuDNN
backends (and FlexAttention for the sliding window), timed the same way (a CUDA graph of R calls
rotating over input copies, median of 7 replays), written as CSV rows for tools/gpu/report.py.

    python3 tools/gpu/peer.py [--quick] --csv peer.csv
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

DEV = "cuda"
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


def time_graph(fn, copies, reps):
    """Median ms of one call: graph of `reps` calls (call i uses copy i % copies)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(2):
            fn(i % copies)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    try:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for r in range(reps):
                fn(r % copies)
        run = g.replay
    except Exception as e:  # noqa: BLE001 - some backends refuse capture; time plain launches then
        print(f"# graph capture failed ({type(e).__name__}); timing eager launches", file=sys.stderr)
        torch.cuda.synchronize()

        def run():
            for r in range(reps):
                fn(r % copies)
    run()
    torch.cuda.synchronize()
    ms = []
    for _ in range(7):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        run()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b) / reps)
    ms.sort()
    return ms[len(ms) // 2]


def copies_for(nbytes):
    return max(1, min(32, (256 << 20) // max(nbytes, 1) + 1))


def rows_out(out, line):
    print(line, flush=True)
    out.write(line + "\n")
    out.flush()


def prefill(out, quick, only_n=None):
    for D in (64, 128, 256):
        H = 2048 // D
        for N in (512, 2048, 8192, 16384):
            if (quick and N != 2048) or (only_n and N != only_n):
                continue
            B = 16384 // N
            nbytes = 4 * B * H * N * D * 2
            c = copies_for(nbytes)
            qs = [torch.randn(B, H, N, D, device=DEV, dtype=torch.bfloat16) for _ in range(3 * c)]
            for causal in (0, 1):
                flops = 4.0 * B * H * N * N * D / (2 if causal else 1)
                for name in ("flash", "cudnn"):
                    try:
                        with sdpa_kernel([BACKENDS[name]]):
                            ms = time_graph(lambda i: F.scaled_dot_product_attention(
                                qs[3 * i], qs[3 * i + 1], qs[3 * i + 2], is_causal=bool(causal)), c, max(c, 4))
                        rows_out(out, f"peer_prefill,{D},{H},{N},{B},{causal},{name},{ms:.4f},{flops / ms / 1e9:.1f}")
                    except Exception as e:  # noqa: BLE001
                        rows_out(out, f"peer_prefill,{D},{H},{N},{B},{causal},{name},nan,nan  # {type(e).__name__}")
            del qs
            torch.cuda.empty_cache()


def decode(out, quick):
    for B in (1, 16, 64):
        for L in (1024, 4096, 16384, 32768):
            if quick and L != 4096:
                continue
            kv_bytes = 2 * B * L * 8 * 128 * 2
            c = copies_for(kv_bytes)
            q = [torch.randn(B, 32, 1, 128, device=DEV, dtype=torch.bfloat16) for _ in range(c)]
            k = [torch.randn(B, 8, L, 128, device=DEV, dtype=torch.bfloat16) for _ in range(c)]
            v = [torch.randn(B, 8, L, 128, device=DEV, dtype=torch.bfloat16) for _ in range(c)]
            for name in ("flash", "cudnn"):
                note = ""
                try:
                    with sdpa_kernel([BACKENDS[name]]):
                        ms = time_graph(lambda i: F.scaled_dot_product_attention(q[i], k[i], v[i], enable_gqa=True),
                                        c, max(c, 8))
                except Exception as e:  # noqa: BLE001
                    note = f"  # enable_gqa failed ({type(e).__name__}); K/V expanded to 32 heads"
                    try:
                        ke = [x.repeat_interleave(4, dim=1) for x in k]
                        ve = [x.repeat_interleave(4, dim=1) for x in v]
                        with sdpa_kernel([BACKENDS[name]]):
                            ms = time_graph(lambda i: F.scaled_dot_product_attention(q[i], ke[i], ve[i]), c, max(c, 8))
                        del ke, ve
                    except Exception as e2:  # noqa: BLE001
                        rows_out(out, f"peer_decode,{B},{L},{name},nan,nan  # {type(e2).__name__}")
                        continue
                rows_out(out, f"peer_decode,{B},{L},{name},{ms:.4f},{kv_bytes / ms / 1e6:.0f}{note}")
            del q, k, v
            torch.cuda.empty_cache()


def window(out):
    N, W, H, D = 16384, 1024, 16, 128
    q, k, v = (torch.randn(1, H, N, D, device=DEV, dtype=torch.bfloat16) for _ in range(3))
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        ms = time_graph(lambda i: F.scaled_dot_product_attention(q, k, v, is_causal=True), 1, 4)
    rows_out(out, f"peer_window,{N},{W},flash_causal_full,{ms:.4f}")
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        def sliding(b, h, qi, ki):
            return (qi >= ki) & (qi - ki < W)
        bm = create_block_mask(sliding, None, None, N, N, device=DEV)
        flex = torch.compile(flex_attention)
        t0 = time.time()
        flex(q, k, v, block_mask=bm)
        torch.cuda.synchronize()
        print(f"# flex compile {time.time() - t0:.1f}s", file=sys.stderr)
        ms = time_graph(lambda i: flex(q, k, v, block_mask=bm), 1, 4)
        rows_out(out, f"peer_window,{N},{W},flex,{ms:.4f}")
    except Exception as e:  # noqa: BLE001
        rows_out(out, f"peer_window,{N},{W},flex,nan  # {type(e).__name__}: {str(e)[:80]}")


def memory(out):
    for N in (4096, 8192, 16384):
        q, k, v = (torch.randn(1, 16, N, 128, device=DEV, dtype=torch.bfloat16) for _ in range(3))
        for name in ("flash", "math"):
            if name == "math" and N > 8192:
                continue  # 37 GiB at 16k: known from the anchors, not worth the device time
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            with sdpa_kernel([BACKENDS[name]]):
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            torch.cuda.synchronize()
            extra = torch.cuda.max_memory_allocated() - base - o.numel() * 2
            rows_out(out, f"peer_memory,{N},{name},{extra}")
            del o
        del q, k, v
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: prefill,decode,window,memory")
    ap.add_argument("--prefill-n", type=int, default=None, help="prefill shapes of this N only")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with open(args.csv, "w") as out:
        rows_out(out, f"peer_device,{torch.cuda.get_device_name()},torch {torch.__version__},"
                      f"cudnn {torch.backends.cudnn.version()}")
        a = torch.empty(2 << 30, dtype=torch.uint8, device=DEV).fill_(1)
        b = torch.empty_like(a)
        ms = time_graph(lambda i: b.copy_(a), 1, 5)
        rows_out(out, f"peer_copy_gbps,{2 * a.numel() / ms / 1e6:.0f}")
        del a, b
        if "prefill" not in skip:
            prefill(out, args.quick, args.prefill_n)
        if "decode" not in skip:
            decode(out, args.quick)
        if "window" not in skip:
            window(out)
        if "memory" not in skip:
            memory(out)


if __name__ == "__main__":
    main()
