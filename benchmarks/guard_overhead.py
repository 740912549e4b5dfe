"""Per-call overhead of the guard on the no-chunk path, against a bare call of the same
kernel (a benchmark, not a test). The kernel is a no-op with flashinfer's signature, so
the difference is the guard alone.

    python -m benchmarks.guard_overhead [--calls 200000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from runtime import guard
from runtime.entry_points import ENTRY_POINTS

from .hardware import describe

NAME = "trtllm_fp4_block_scale_routed_moe"


def noop_kernel():
    """A do-nothing function with the entry point's named parameters, as flashinfer's is
    (a *args/**kwargs stand-in would charge the bare call for packing its arguments)."""
    namespace = {}
    exec(f"def kernel({', '.join(p + '=None' for p in ENTRY_POINTS[NAME].params)}):\n    return None", namespace)
    return namespace["kernel"]


def arguments(tokens):
    return dict(
        topk_ids=torch.zeros(tokens, 8, dtype=torch.int32), hidden_states=torch.zeros(tokens, 64, dtype=torch.uint8),
        hidden_states_scale=torch.zeros(tokens * 8, dtype=torch.uint8).view(torch.float8_e4m3fn),
        gemm1_weights_scale=torch.zeros(256, 256, 8, dtype=torch.uint8).view(torch.float8_e4m3fn),
        num_experts=256, top_k=8,
        local_expert_offset=0, local_num_experts=256, intermediate_size=128, tune_max_num_tokens=8192,
        routing_method_type=1, do_finalize=True,
    )


def per_call_ns(fn, kwargs, calls):
    for _ in range(1000):
        fn(**kwargs)
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn(**kwargs)
    return (time.perf_counter_ns() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    bare = noop_kernel()
    guarded = guard(bare, entry_point=NAME)
    print(f"hardware: {describe()}; torch {torch.__version__}")
    print(f"{'tokens':>8}  {'path':<22} {'bare ns':>8} {'guarded ns':>11} {'overhead ns':>12}")
    for tokens, path in ((64, "fast (M <= 14,997)"), (20_000, "lookup (M <= C)")):
        kwargs = arguments(tokens)
        rows = []
        for _ in range(args.repeats):
            b = per_call_ns(bare, kwargs, args.calls)
            g = per_call_ns(guarded, kwargs, args.calls)
            rows.append((b, g))
        b = statistics.median(r[0] for r in rows)
        g = statistics.median(r[1] for r in rows)
        print(f"{tokens:>8}  {path:<22} {b:>8.0f} {g:>11.0f} {g - b:>12.0f}")


if __name__ == "__main__":
    main()
