"""What the guard costs on a GPU (a benchmark, not a test; needs CUDA and CuPy).

    PYTHONPATH=. python -m benchmarks.gpu_chunking

1. Per-call overhead on the no-chunk path at small M: guarded against bare, same kernel
   (the geometry stand-in, launched with the trtllm-gen GEMM's grid).
2. Chunking cost at large M: the tile-work stand-in (each CTA reads and writes its tile
   of rows, so its cost grows with the tokens as the GEMM's does) at M just below the
   bound, unchunked against chunked into 2 and 4, and equal-split against greedy-split.
Times are CUDA-event medians over repeats, after warm-up. The card is named.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

import torch

from boundcheck.plan import equal_chunks, greedy_chunks
from boundcheck.runtime import chunk_cap, guard, max_chunk_tokens
from boundcheck.runtime.reference import SIGNATURE_RELEASE
from tests.gpu.standin import StandIn, TileWork, routed_arguments

ENTRY = "trtllm_fp4_block_scale_routed_moe"


def event_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def host_us(fn, calls):
    for _ in range(200):
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls * 1e6


def overhead_table(calls):
    rows = []
    for tokens in (1, 64, 1024, 8192):
        kernel = StandIn(tile="default")
        guarded = guard(kernel, entry_point=ENTRY, flashinfer=SIGNATURE_RELEASE)
        args = routed_arguments(tokens)
        samples = [(host_us(lambda: kernel(**args), calls), host_us(lambda: guarded(**args), calls)) for _ in range(5)]
        kernel.launches.clear()
        bare = statistics.median(s[0] for s in samples)
        wrapped = statistics.median(s[1] for s in samples)
        rows.append((tokens, bare, wrapped))
    return rows


def chunking_table(repeats):
    bound = max_chunk_tokens(512, 22, policy="fixed:128", cap=None, flashinfer=SIGNATURE_RELEASE)
    tokens = bound - 344  # one launch fits: 378,000 tokens, 65,481 CTAs of 128 rows
    kernel = TileWork(max_rows=tokens * 22, width=256, tile=128)
    guarded = guard(kernel, entry_point=ENTRY, policy="fixed:128", cap=None, flashinfer=SIGNATURE_RELEASE)
    args = routed_arguments(tokens)
    rows = []

    def run_with(cap):
        if cap is None:
            return lambda: guarded(**args)

        def chunked():
            with chunk_cap(cap):
                guarded(**args)

        return chunked

    for label, cap in (("unchunked (1 launch)", None), ("equal, 2 chunks", tokens // 2 + 1),
                       ("equal, 4 chunks", tokens // 4 + 1)):
        fn = run_with(cap)
        for _ in range(3):
            fn()
        rows.append((label, event_ms(fn, repeats)))

    def split(plan):
        def run():
            for start, stop in plan:
                kernel(**routed_arguments_view(args, start, stop))
        return run

    cap = int(tokens * 0.45)
    for label, plan in ((f"equal split, cap {cap:,}", equal_chunks(tokens, cap)),
                        (f"greedy split, cap {cap:,}", greedy_chunks(tokens, cap))):
        fn = split(plan)
        for _ in range(3):
            fn()
        sizes = [b - a for a, b in plan]
        rows.append((f"{label} {sizes}", event_ms(fn, repeats)))
    kernel.launches.clear()
    return tokens, rows


def routed_arguments_view(args, start, stop):
    view = dict(args)
    for name in ("hidden_states", "topk_ids"):
        view[name] = args[name][start:stop]
    per = args["hidden_states_scale"].numel() // args["hidden_states"].shape[0]
    view["hidden_states_scale"] = args["hidden_states_scale"][start * per: stop * per]
    return view


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, {datetime.date.today()}")
    print("\n1. no-chunk path, host time per call (us), geometry stand-in kernel")
    print(f"{'tokens':>8} {'bare':>8} {'guarded':>8} {'overhead':>9}")
    for tokens, bare, wrapped in overhead_table(args.calls):
        print(f"{tokens:>8} {bare:>8.2f} {wrapped:>8.2f} {wrapped - bare:>9.2f}")
    tokens, rows = chunking_table(args.repeats)
    base = rows[0][1]
    print(f"\n2. chunking at {tokens:,} tokens (512 experts, top_k 22, tile 128), tile-work stand-in, ms")
    for label, ms in rows:
        print(f"  {label:<70} {ms:8.3f} ms  {100 * (ms / base - 1):+6.2f}%")


if __name__ == "__main__":
    main()
