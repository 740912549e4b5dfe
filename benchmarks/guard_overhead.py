"""Per-call overhead of the guard on the no-chunk path, against a bare call of the same
kernel (a benchmark, not a test). The kernel is a no-op with flashinfer's signature, so
the difference is the guard alone. Two entry points: the FP4 routed one (36 parameters, one
short of the widest) and BF16 (26): CPython 3.11 passes a call of more than 30 arguments
through a list-built tuple, which costs about 500 ns on its own. One row guards a
(*args, **kwargs) wrapper of the FP4 kernel, which forwards what its caller passed (its
bare call is the wrapper's, unguarded).

    python -m benchmarks.guard_overhead [--calls 200000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from boundcheck.runtime import guard
from boundcheck.runtime.entry_points import ENTRY_POINTS

from .hardware import describe

FP4 = "trtllm_fp4_block_scale_routed_moe"  # 36 parameters
BF16 = "trtllm_bf16_moe"  # 26 parameters


def noop_kernel(name):
    """A do-nothing function with the entry point's named parameters, as flashinfer's is
    (a *args/**kwargs stand-in would charge the bare call for packing its arguments)."""
    namespace = {}
    exec(f"def kernel({', '.join(p + '=None' for p in ENTRY_POINTS[name].params)}):\n    return None", namespace)
    return namespace["kernel"]


def arguments(name, tokens):
    """What inference code passes by keyword (a dozen counts and tensors)."""
    counts = dict(num_experts=256, top_k=8, local_expert_offset=0, local_num_experts=256, intermediate_size=128)
    if name == BF16:
        return dict(
            routing_logits=torch.zeros(tokens, 256), hidden_states=torch.zeros(tokens, 64, dtype=torch.bfloat16),
            gemm1_weights=torch.zeros(256, 256, 64, dtype=torch.bfloat16), n_group=None, topk_group=None,
            tune_max_num_tokens=8192, routing_method_type=1, **counts,
        )
    return dict(
        topk_ids=torch.zeros(tokens, 8, dtype=torch.int32), hidden_states=torch.zeros(tokens, 64, dtype=torch.uint8),
        hidden_states_scale=torch.zeros(tokens * 8, dtype=torch.uint8).view(torch.float8_e4m3fn),
        gemm1_weights_scale=torch.zeros(256, 256, 8, dtype=torch.uint8).view(torch.float8_e4m3fn),
        tune_max_num_tokens=8192, routing_method_type=1, do_finalize=True, **counts,
    )


def per_call_ns(fn, kwargs, calls):
    for _ in range(1000):
        fn(**kwargs)
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn(**kwargs)
    return (time.perf_counter_ns() - start) / calls


def variadic_wrapper(kernel):
    def wrapper(*args, **kwargs):
        return kernel(*args, **kwargs)

    return wrapper


ROWS = (  # entry point, tokens, path, the bare callable
    (FP4, 64, "fast (M <= 7,288)", noop_kernel),
    (FP4, 20_000, "lookup (M <= C)", noop_kernel),
    (FP4, 64, "fast, (*args, **kwargs) fn", lambda name: variadic_wrapper(noop_kernel(name))),
    (BF16, 64, "fast (M <= 7,288)", noop_kernel),
    (BF16, 20_000, "lookup (M <= C)", noop_kernel),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"hardware: {describe()}; torch {torch.__version__}")
    print(f"{'entry point':<36} {'params':>6} {'tokens':>7}  {'path':<28} {'bare ns':>8} {'guarded ns':>11} {'overhead ns':>12}")
    for name, tokens, path, make in ROWS:
        bare = make(name)
        guarded = guard(bare, entry_point=name)
        kwargs = arguments(name, tokens)
        rows = []
        for _ in range(args.repeats):
            rows.append((per_call_ns(bare, kwargs, args.calls), per_call_ns(guarded, kwargs, args.calls)))
        b = statistics.median(r[0] for r in rows)
        g = statistics.median(r[1] for r in rows)
        overheads = sorted(r[1] - r[0] for r in rows)
        print(f"{name:<36} {len(ENTRY_POINTS[name].params):>6} {tokens:>7}  {path:<28} {b:>8.0f} {g:>11.0f} {g - b:>12.0f}"
              f"   (per repeat {overheads[0]:.0f} - {overheads[-1]:.0f})")


if __name__ == "__main__":
    main()
