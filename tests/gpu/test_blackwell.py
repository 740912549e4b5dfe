"""The real kernel through the guard, where it exists: an SM100/SM103 GPU with flashinfer
and its cubins. Skipped elsewhere, with the reason."""

from __future__ import annotations

import pytest
import torch


def _skip_reason():
    if not torch.cuda.is_available():
        return "no CUDA GPU (the real kernel through the guard runs on an SM100/SM103 GPU with flashinfer: python -m " \
               "pytest tests/gpu/test_blackwell.py)"
    major, minor = torch.cuda.get_device_capability()
    if major != 10:
        return f"trtllm-gen MoE kernels need SM100/SM103 (Blackwell); this GPU is SM{major}{minor}"
    try:
        import flashinfer.fused_moe  # noqa: F401
    except ImportError as error:
        return f"flashinfer is not importable: {error}"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _arguments(tokens, experts=512, top_k=22, hidden=256, inter=256, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    u8 = lambda *shape: torch.randint(0, 256, shape, dtype=torch.uint8, device="cuda", generator=g)  # noqa: E731
    scales = lambda *shape: (torch.rand(*shape, device="cuda", generator=g) + 0.5).to(torch.float8_e4m3fn)  # noqa: E731
    ids = torch.stack([torch.randperm(experts, device="cuda", generator=g)[:top_k] for _ in range(tokens)]) \
        if tokens <= 4096 else torch.randint(0, experts, (tokens, top_k), device="cuda", generator=g)
    weights = torch.rand(tokens, top_k, device="cuda", generator=g).to(torch.bfloat16)
    return dict(
        topk_ids=(ids.to(torch.int32), weights), routing_bias=None, hidden_states=u8(tokens, hidden // 2),
        hidden_states_scale=scales(tokens, hidden // 16), gemm1_weights=u8(experts, 2 * inter, hidden // 2),
        gemm1_weights_scale=scales(experts, 2 * inter, hidden // 16), gemm1_bias=None, gemm1_alpha=None,
        gemm1_beta=None, gemm1_clamp_limit=None, gemm2_weights=u8(experts, hidden, inter // 2),
        gemm2_weights_scale=scales(experts, hidden, inter // 16), gemm2_bias=None,
        output1_scale_scalar=torch.full((experts,), 1e-3, device="cuda"),
        output1_scale_gate_scalar=torch.full((experts,), 1e-3, device="cuda"),
        output2_scale_scalar=torch.full((experts,), 1e-3, device="cuda"), num_experts=experts, top_k=top_k,
        n_group=None, topk_group=None, intermediate_size=inter, local_expert_offset=0, local_num_experts=experts,
        routed_scaling_factor=None, routing_method_type=1, hidden_states_scale_layout=2,
    )


def test_real_kernel_chunked_equals_unchunked_below_the_limit():
    import flashinfer.fused_moe as fused_moe

    from boundcheck import runtime

    args = _arguments(20_000)
    unchunked = fused_moe.trtllm_fp4_block_scale_routed_moe(**args)[0]
    with runtime.chunk_cap(7_000):
        chunked = runtime.trtllm_fp4_block_scale_routed_moe(**args)[0]
    torch.cuda.synchronize()
    # Each chunk may run another tile (the tile depends on the token count), so the
    # accumulation order of a row can differ: equal up to bf16 rounding.
    torch.testing.assert_close(chunked.float(), unchunked.float(), rtol=2e-2, atol=1e-2)


def test_real_kernel_through_the_guard_above_the_limit():
    from boundcheck import runtime

    args = _arguments(400_000)
    output = runtime.trtllm_fp4_block_scale_routed_moe(**args)[0]
    torch.cuda.synchronize()
    assert output.shape == (400_000, 256) and torch.isfinite(output.float()).all()
