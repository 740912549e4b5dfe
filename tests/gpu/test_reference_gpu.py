"""End to end at scale on a GPU: 400,000 tokens, 512 experts, top_k 22 through the guard
with the reference NVFP4 kernel; the chunked output equals the unchunked output exactly."""

from __future__ import annotations

import inspect
import os
import time

import torch

from boundcheck.runtime import guard
from boundcheck.runtime import reference as R

TOKENS = 400_000
EXPERTS, TOP_K = 512, 22
# Nemotron 3 Super's MoE latent is 1024; 1024 is also the widest contraction for which
# the reference's single float64 GEMM is exact (runtime/reference.py).
HIDDEN = int(os.environ.get("BOUNDCHECK_GPU_HIDDEN", 1024))
INTERMEDIATE = int(os.environ.get("BOUNDCHECK_GPU_INTERMEDIATE", 1024))


def _problem(device="cuda", seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(TOKENS, HIDDEN, device=device, generator=g)
    hs, hs_scale = R.quantize_nvfp4(x)
    del x
    w1, w1s = R.quantize_nvfp4(torch.randn(EXPERTS, INTERMEDIATE, HIDDEN, device=device, generator=g))
    w2, w2s = R.quantize_nvfp4(torch.randn(EXPERTS, HIDDEN, INTERMEDIATE, device=device, generator=g))
    logits = torch.randn(TOKENS, EXPERTS, device=device, generator=g)
    ids, weights = R.route(logits, TOP_K, R.RENORMALIZE)
    return dict(
        topk_ids=(ids.to(torch.int32), weights.to(torch.bfloat16)), routing_bias=None, hidden_states=hs,
        hidden_states_scale=hs_scale.reshape(-1), gemm1_weights=w1, gemm1_weights_scale=w1s, gemm1_bias=None,
        gemm1_alpha=None, gemm1_beta=None, gemm1_clamp_limit=None, gemm2_weights=w2, gemm2_weights_scale=w2s,
        gemm2_bias=None, output1_scale_scalar=torch.ones(EXPERTS, device=device),
        output1_scale_gate_scalar=None, output2_scale_scalar=torch.ones(EXPERTS, device=device) / 64,
        num_experts=EXPERTS, top_k=TOP_K, n_group=None, topk_group=None, intermediate_size=INTERMEDIATE,
        local_expert_offset=0, local_num_experts=EXPERTS, routed_scaling_factor=None,
        routing_method_type=R.RENORMALIZE, activation_type=R.RELU2,  # Nemotron 3 Super: relu2
    )


def test_chunked_equals_unchunked_at_the_seed_scale():
    p = _problem()
    torch.cuda.synchronize()
    start = time.perf_counter()
    unchunked = R.trtllm_fp4_block_scale_routed_moe(**p)[0]
    torch.cuda.synchronize()
    middle = time.perf_counter()
    calls = []
    signature = inspect.signature(R.trtllm_fp4_block_scale_routed_moe)

    def counting(*args, **kwargs):
        calls.append(signature.bind(*args, **kwargs).arguments["hidden_states"].shape[0])
        return R.trtllm_fp4_block_scale_routed_moe(*args, **kwargs)

    counting.__signature__ = signature
    chunked = guard(counting, entry_point="trtllm_fp4_block_scale_routed_moe", flashinfer=R.SIGNATURE_RELEASE)(**p)[0]
    torch.cuda.synchronize()
    end = time.perf_counter()
    print(f"\n{torch.cuda.get_device_name()}: {TOKENS} tokens, {EXPERTS} experts, top_k {TOP_K}, "
          f"hidden {HIDDEN}, intermediate {INTERMEDIATE}, relu2: unchunked {middle - start:.2f} s, "
          f"guarded {end - middle:.2f} s in chunks {calls}; peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    assert calls == [200_000, 200_000]
    assert torch.equal(chunked.view(torch.int16), unchunked.view(torch.int16))
    assert chunked.abs().sum() > 0
