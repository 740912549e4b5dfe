"""The seed's scenario across GPUs: data-parallel ranks gather their batches for expert
parallelism, and the guard chunks each rank's gathered batch.

    NCCL_NVLS_ENABLE=0 torchrun --nproc-per-node 2 examples/dp_ep_moe.py [--tokens-per-rank 200000]

Every rank: holds its own batch (NVFP4 hidden states and its routing); all-gathers every
rank's hidden states, scales and routing (torch.distributed, NCCL); runs its slice of the
experts (local_expert_offset, local_num_experts) with the gathered token count, calling
`flashinfer.fused_moe.trtllm_fp4_block_scale_routed_moe` as vLLM does (looked up on the
module at call time), guarded by `runtime.install()` with no change to that call site;
reduce-scatters the partial outputs back to their owners. flashinfer's FP4 kernel needs a
Blackwell GPU, so the reference NVFP4 kernel (runtime.reference) takes its place in
flashinfer.fused_moe before install(); where flashinfer is not installed (the GPU machine)
a module of that name holds it.
With 512 experts and top_k 22 (Nemotron 3 Super) the guard's bound is 300,000 tokens
(the NVFP4 cap; the grid bound is larger), so 2 ranks x 200,000 tokens must chunk.

--check compares each rank's output with a single-process, unchunked computation of the
same tokens; --lifted also times the same step with the bound lifted (chunk_cap(None)).
Runs on CPU with gloo too (reduce-scatter as all-reduce and a slice), for testing.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import time
import types

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from boundcheck.runtime import chunk_cap, install, installed, max_chunk_tokens  # noqa: E402
from boundcheck.runtime import reference as R  # noqa: E402

ENTRY = "trtllm_fp4_block_scale_routed_moe"


def weights(experts, hidden, inter, device):
    """The model's expert weights: the same on every rank (common seed)."""
    g = torch.Generator(device=device).manual_seed(1234)
    w1, w1s = R.quantize_nvfp4(torch.randn(experts, 2 * inter, hidden, device=device, generator=g))
    w2, w2s = R.quantize_nvfp4(torch.randn(experts, hidden, inter, device=device, generator=g))
    s1 = torch.rand(experts, device=device, generator=g) + 0.5
    s1g = torch.rand(experts, device=device, generator=g) + 0.5
    s2 = (torch.rand(experts, device=device, generator=g) + 0.5) / 16
    return w1, w1s, w2, w2s, s1, s1g, s2


def local_batch(rank, tokens, experts, top_k, hidden, device):
    """This rank's own tokens and their routing (Renormalize over 512 experts)."""
    g = torch.Generator(device=device).manual_seed(100 + rank)
    hs, hs_scale = R.quantize_nvfp4(torch.randn(tokens, hidden, device=device, generator=g))
    ids, w = R.route(torch.randn(tokens, experts, device=device, generator=g), top_k, R.RENORMALIZE)
    return hs, hs_scale, ids.to(torch.int32), w.to(torch.bfloat16)


def gather(tensor, world):
    out = torch.empty((world * tensor.shape[0], *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    raw = tensor.view(torch.uint8) if tensor.dtype == torch.float8_e4m3fn else tensor
    target = out.view(torch.uint8) if out.dtype == torch.float8_e4m3fn else out
    dist.all_gather_into_tensor(target, raw.contiguous())
    return out


def reduce_scatter(partial, world, rank):
    if dist.get_backend() == "nccl":
        out = torch.empty((partial.shape[0] // world, *partial.shape[1:]), dtype=partial.dtype, device=partial.device)
        dist.reduce_scatter_tensor(out, partial, op=dist.ReduceOp.SUM)
        return out
    total = partial.float()  # gloo has no reduce-scatter: sum everywhere, keep our rows
    dist.all_reduce(total)
    rows = partial.shape[0] // world
    return total[rank * rows:(rank + 1) * rows].to(partial.dtype)


def moe_arguments(hs, hs_scale, ids, w, model, experts, top_k, inter, offset, local):
    w1, w1s, w2, w2s, s1, s1g, s2 = model
    sl = slice(offset, offset + local)
    return dict(
        topk_ids=(ids, w), routing_bias=None, hidden_states=hs, hidden_states_scale=hs_scale.reshape(-1),
        gemm1_weights=w1[sl], gemm1_weights_scale=w1s[sl], gemm1_bias=None, gemm1_alpha=None, gemm1_beta=None,
        gemm1_clamp_limit=None, gemm2_weights=w2[sl], gemm2_weights_scale=w2s[sl], gemm2_bias=None,
        output1_scale_scalar=s1[sl], output1_scale_gate_scalar=s1g[sl], output2_scale_scalar=s2[sl],
        num_experts=experts, top_k=top_k, n_group=None, topk_group=None, intermediate_size=inter,
        local_expert_offset=offset, local_num_experts=local, routed_scaling_factor=None,
        routing_method_type=R.RENORMALIZE, activation_type=R.SWIGLU,
    )


def stand_in_kernel(kernel):
    """Put `kernel` where flashinfer's FP4 routed entry point is (creating the module
    flashinfer.fused_moe when flashinfer is not installed)."""
    try:
        import flashinfer.fused_moe as fused_moe
    except ImportError:
        package, fused_moe = types.ModuleType("flashinfer"), types.ModuleType("flashinfer.fused_moe")
        package.__path__, package.fused_moe = [], fused_moe
        sys.modules["flashinfer"], sys.modules["flashinfer.fused_moe"] = package, fused_moe
    setattr(fused_moe, ENTRY, kernel)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens-per-rank", type=int, default=200_000)
    parser.add_argument("--experts", type=int, default=512)
    parser.add_argument("--top-k", type=int, default=22)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--intermediate", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--lifted", action="store_true")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()

    if os.environ.get("NCCL_NVLS_ENABLE") != "0":
        sys.exit("set NCCL_NVLS_ENABLE=0 (NVLink multicast stays off)")
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if args.experts % world:
        sys.exit(f"--experts {args.experts} must divide among {world} ranks")
    local, offset = args.experts // world, rank * (args.experts // world)
    model = weights(args.experts, args.hidden, args.intermediate, device)
    mine = local_batch(rank, args.tokens_per_rank, args.experts, args.top_k, args.hidden, device)

    chunks = []
    signature = inspect.signature(R.trtllm_fp4_block_scale_routed_moe)

    def kernel(*a, **k):  # the reference kernel, counting the tokens of each call
        chunks.append(signature.bind(*a, **k).arguments["hidden_states"].shape[0])
        return R.trtllm_fp4_block_scale_routed_moe(*a, **k)

    kernel.__signature__ = signature
    stand_in_kernel(kernel)
    install(flashinfer=R.SIGNATURE_RELEASE)  # the reference has 0.7.2.post1's signatures

    def step():
        import flashinfer  # as vllm/.../experts/trtllm_nvfp4_moe.py does, at call time

        hs, hs_scale, ids, w = (gather(t, world) for t in mine)
        partial = flashinfer.fused_moe.trtllm_fp4_block_scale_routed_moe(**moe_arguments(
            hs, hs_scale, ids, w, model, args.experts, args.top_k, args.intermediate, offset, local))[0]
        return reduce_scatter(partial, world, rank), (hs, hs_scale, ids, w)

    def timed(n):
        times = []
        for _ in range(n):
            dist.barrier()
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = step()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return result, times

    gathered_tokens = world * args.tokens_per_rank
    bound = max_chunk_tokens(args.experts, args.top_k, precision="nvfp4", local_experts=local,
                             flashinfer=R.SIGNATURE_RELEASE)
    (output, gathered), times = timed(args.steps)
    chunks_per_step = chunks[: len(chunks) // args.steps]
    report = {
        "rank": rank, "world": world, "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "tokens_per_rank": args.tokens_per_rank, "gathered_tokens": gathered_tokens, "bound": bound,
        "chunks": chunks_per_step, "hidden": args.hidden, "intermediate": args.intermediate,
        "step_seconds": statistics.median(times),
        "installed": sorted(where for where, name in installed().items() if name == ENTRY),
    }
    if args.lifted:
        chunks.clear()
        with chunk_cap(None):
            (_, _), lifted = timed(args.steps)
        report["lifted_chunks"] = chunks[: len(chunks) // args.steps]
        report["lifted_step_seconds"] = statistics.median(lifted)
    if args.check:
        # The same tokens in one process, unchunked: every expert slice, then the sum the
        # reduce-scatter computes (NCCL adds bf16 in float and rounds once).
        hs, hs_scale, ids, w = gathered
        rows = slice(rank * args.tokens_per_rank, (rank + 1) * args.tokens_per_rank)
        partials = [
            R.trtllm_fp4_block_scale_routed_moe(**moe_arguments(
                hs, hs_scale, ids, w, model, args.experts, args.top_k, args.intermediate, r * local, local))[0][rows]
            for r in range(world)
        ]
        summed = partials[0].float()
        for p in partials[1:]:
            summed = summed + p.float()
        expected = summed.to(torch.bfloat16)
        report["exact"] = bool(torch.equal(output.view(torch.int16), expected.view(torch.int16)))
        whole = R.trtllm_fp4_block_scale_routed_moe(**moe_arguments(
            hs, hs_scale, ids, w, model, args.experts, args.top_k, args.intermediate, 0, args.experts))[0][rows]
        # Against one pass over all experts (float64 sum, one bf16 rounding): the EP path
        # rounds each rank's partial to bf16 (unit roundoff u = 2^-8), then their sum: so
        # |difference| <= 2u (|p_0| + |p_1| + ...) + u |whole|, up to float64 rounding.
        difference = (output.double() - whole.double()).abs()
        bound = 2.0**-7 * sum(p.double().abs() for p in partials) + 2.0**-8 * whole.double().abs()
        report["max_abs_vs_single_pass"] = float(difference.max())
        report["error_over_bf16_bound"] = float((difference / bound.clamp(min=1e-300)).max())
    reports = [None] * world
    dist.all_gather_object(reports, report)
    if rank == 0:
        print(json.dumps(reports, indent=2))
        if args.json_out:
            with open(args.json_out, "w") as handle:
                json.dump(reports, handle, indent=2)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
