"""The reference NVFP4 kernel: its semantics against a plain float64 computation, and the
guard end to end: chunked output equals unchunked output exactly."""

from __future__ import annotations

import pytest
import torch

from boundcheck.runtime import chunk_cap, guard
from boundcheck.runtime import reference as R

FP4 = "trtllm_fp4_block_scale_moe"
FP4_ROUTED = "trtllm_fp4_block_scale_routed_moe"


def problem(tokens, *, hidden=64, inter=32, experts=16, top_k=4, shared=0, local=None, offset=0,
            activation=R.SWIGLU, seed=0):
    g = torch.Generator().manual_seed(seed)
    local = experts if local is None else local
    n1 = 2 * inter if activation == R.SWIGLU else inter
    hs, hs_scale = R.quantize_nvfp4(torch.randn(tokens, hidden, generator=g))
    w1, w1s = R.quantize_nvfp4(torch.randn(local + shared, n1, hidden, generator=g))
    w2, w2s = R.quantize_nvfp4(torch.randn(local + shared, hidden, inter, generator=g))
    return dict(
        routing_logits=torch.randn(tokens, experts, generator=g).to(torch.bfloat16), routing_bias=None,
        hidden_states=hs, hidden_states_scale=hs_scale.reshape(-1), gemm1_weights=w1,
        gemm1_weights_scale=w1s, gemm1_bias=None, gemm1_alpha=None, gemm1_beta=None,
        gemm1_clamp_limit=None, gemm2_weights=w2, gemm2_weights_scale=w2s, gemm2_bias=None,
        output1_scale_scalar=torch.rand(local + shared, generator=g) + 0.5,
        output1_scale_gate_scalar=torch.rand(local + shared, generator=g) + 0.5,
        output2_scale_scalar=torch.rand(local + shared, generator=g) + 0.5,
        num_experts=experts, top_k=top_k, n_group=None, topk_group=None, intermediate_size=inter,
        local_expert_offset=offset, local_num_experts=local, routed_scaling_factor=None,
        routing_method_type=R.RENORMALIZE, activation_type=activation,
        num_fused_shared_experts=shared or None,
    )


def _exact(a, b):
    return torch.equal(a.view(torch.int16), b.view(torch.int16))  # bitwise, NaN-safe


def test_exp_is_accurate_and_sigmoid_saturates():
    x = torch.linspace(-700, 700, 200001, dtype=torch.float64)
    rel = ((R.exp(x) - torch.exp(x)) / torch.exp(x)).abs().max()
    assert rel < 1e-14
    assert float(R.sigmoid(torch.tensor([-800.0]))) < 1e-300 and float(R.sigmoid(torch.tensor([800.0]))) == 1.0


def test_nvfp4_round_trip():
    x = torch.tensor([[0.0, 0.5, -1.0, 1.5, 2.0, -3.0, 4.0, 6.0] * 2])
    packed, scale = R.quantize_nvfp4(x)
    assert float(scale.to(torch.float32)) == 1.0
    assert torch.equal(R.unpack_e2m1(packed) * scale.to(torch.float32), x)


def test_both_gemm_paths_agree_exactly(monkeypatch):
    g = torch.Generator().manual_seed(5)
    a, a_scale = R.quantize_nvfp4(torch.randn(70, 96, generator=g) * 3)
    w, w_scale = R.quantize_nvfp4(torch.randn(40, 96, generator=g) / 5)
    args = (R.unpack_e2m1(a), a_scale.float(), R.unpack_e2m1(w), w_scale.float())
    one_matmul = R._block_matmul(*args)
    monkeypatch.setattr(R, "EXACT_K", 0)
    assert torch.equal(R._block_matmul(*args), one_matmul)


def test_reference_matches_a_plain_float64_moe():
    # TopK routing and ReLU2 use no exp, so a straightforward float64 computation (dequantize,
    # matmul, scatter) must agree to float64 rounding before the final bf16 cast.
    p = problem(40, activation=R.RELU2)
    p.update(routing_method_type=R.TOPK)
    out = R.trtllm_fp4_block_scale_moe(**p)[0].to(torch.float64)
    a = R.unpack_e2m1(p["hidden_states"]).double() * torch.repeat_interleave(
        p["hidden_states_scale"].view(40, -1).to(torch.float64), 16, dim=1)
    logits = p["routing_logits"].double()
    weights, ids = torch.topk(logits, 4)
    expected = torch.zeros(40, 64, dtype=torch.float64)
    for t in range(40):
        for slot in range(4):
            e = int(ids[t, slot])
            w1 = R.unpack_e2m1(p["gemm1_weights"][e]).double() * torch.repeat_interleave(
                p["gemm1_weights_scale"][e].to(torch.float64), 16, dim=1)
            h = torch.clamp(w1 @ a[t] * float(p["output1_scale_scalar"][e]), min=0) ** 2
            packed, scales = R.quantize_nvfp4(h.unsqueeze(0))
            hq = (R.unpack_e2m1(packed).double() * torch.repeat_interleave(scales.to(torch.float64), 16, dim=1))[0]
            w2 = R.unpack_e2m1(p["gemm2_weights"][e]).double() * torch.repeat_interleave(
                p["gemm2_weights_scale"][e].to(torch.float64), 16, dim=1)
            expected[t] += weights[t, slot] * (w2 @ hq) * float(p["output2_scale_scalar"][e])
    assert torch.allclose(out, expected.to(torch.bfloat16).double(), rtol=0, atol=0)


CASES = {
    "renormalize": dict(),
    "default_softmax": dict(routing_method_type=R.DEFAULT),
    "topk_relu2": dict(routing_method_type=R.TOPK, activation=R.RELU2),
    "deepseek_grouped_shared": dict(routing_method_type=R.DEEPSEEK_V3, experts=32, top_k=6, shared=1,
                                    n_group=4, topk_group=2, routed_scaling_factor=2.5, bias=True),
    "expert_parallel_slice": dict(local=6, offset=5),
    "per_token_scale_and_replay": dict(per_token=True, replay=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_guard_end_to_end_chunked_equals_unchunked(case):
    spec = dict(CASES[case])
    extra = {k: spec.pop(k) for k in ("routing_method_type", "n_group", "topk_group", "routed_scaling_factor")
             if k in spec}
    bias, per_token, replay = spec.pop("bias", False), spec.pop("per_token", False), spec.pop("replay", False)
    tokens = 301
    p = problem(tokens, **spec)
    p.update(extra)
    if bias:
        p["routing_bias"] = torch.randn(p["num_experts"], generator=torch.Generator().manual_seed(3))
    if per_token:
        p["per_token_scale"] = torch.rand(tokens) + 0.5
    replay_out = torch.zeros(tokens, p["top_k"], dtype=torch.int16) if replay else None
    unchunked = R.trtllm_fp4_block_scale_moe(**dict(p, routing_replay_out=replay_out))[0]
    guarded = guard(R.trtllm_fp4_block_scale_moe, entry_point=FP4, flashinfer=R.SIGNATURE_RELEASE)
    replay_buffer = torch.full((tokens + 7, p["top_k"]), -1, dtype=torch.int16) if replay else None
    with chunk_cap(64):
        chunked = guarded(**dict(p, routing_replay_out=replay_buffer))[0]
    assert _exact(chunked, unchunked)
    assert chunked.abs().sum() > 0
    if replay:
        assert (replay_buffer[:tokens] >= 0).all() and (replay_buffer[tokens:] == -1).all()


@pytest.mark.parametrize("packed", [False, True])
def test_routed_variant_end_to_end(packed):
    tokens = 257
    p = problem(tokens, top_k=3)
    ids, weights = R.route(p["routing_logits"], 3, R.RENORMALIZE)
    ids, weights = ids.to(torch.int32), weights.to(torch.bfloat16)
    if packed:
        topk = (ids << 16) | weights.view(torch.int16).to(torch.int32) & 0xFFFF
    else:
        topk = (ids, weights)
    routed = {k: v for k, v in p.items() if k not in ("routing_logits",)}
    routed["topk_ids"] = topk
    unchunked = R.trtllm_fp4_block_scale_routed_moe(**routed)[0]
    output = torch.empty_like(unchunked)
    with chunk_cap(50):
        result = guard(R.trtllm_fp4_block_scale_routed_moe, entry_point=FP4_ROUTED, flashinfer=R.SIGNATURE_RELEASE)(**routed, output=output)
    assert result[0] is output
    assert _exact(output, unchunked)


def test_reference_refuses_what_it_does_not_model():
    p = problem(8)
    with pytest.raises(NotImplementedError, match="gemm1_bias"):
        R.trtllm_fp4_block_scale_moe(**dict(p, gemm1_bias=torch.zeros(1)))
    with pytest.raises(NotImplementedError, match="routing_method_type 3"):
        R.trtllm_fp4_block_scale_moe(**dict(p, routing_method_type=3))
    with pytest.raises(NotImplementedError, match="activation_type 9"):
        R.trtllm_fp4_block_scale_moe(**dict(p, activation_type=9))


# --- do_finalize=False (deferred top-k reduction, as vLLM runs it) -------------------------

def test_unfinalized_output_has_flashinfers_contract_and_finalizes_to_the_output():
    tokens = 37
    p = problem(tokens, experts=16, top_k=4, shared=1, local=6, offset=5)
    finalized = R.trtllm_fp4_block_scale_moe(**p)[0]
    rows, weights, index = R.trtllm_fp4_block_scale_moe(**dict(p, do_finalize=False))
    slots = p["top_k"] + 1
    assert rows.dtype == torch.bfloat16 and rows.shape[1] == 64 and rows.shape[0] % R.UNFINALIZED_PADDING == 0
    assert weights.dtype == torch.bfloat16 and weights.shape == (tokens, slots)
    assert index.dtype == torch.int32 and index.shape == (tokens * slots,)
    ids, _ = R.route(p["routing_logits"], p["top_k"], R.RENORMALIZE)
    local = (ids >= 5) & (ids < 11)
    routed = index.view(tokens, slots)
    assert torch.equal(routed[:, :4] >= 0, local) and (routed[:, 4] >= 0).all()  # the shared expert is local
    used = routed[routed >= 0]
    assert used.unique().numel() == used.numel() and int(used.max()) < rows.shape[0]  # one row per route
    # The reduction of bf16 rows and weights is the finalized output up to that rounding:
    # rows and weights each within 2^-8 relative, both results rounded to bf16 once.
    magnitude = R.finalize(rows.abs(), weights.abs(), index).double()
    difference = (R.finalize(rows, weights, index).double() - finalized.double()).abs()
    assert (difference <= 3 * 2**-8 * magnitude + 2 * 2**-8 * finalized.double().abs()).all()
    assert magnitude.sum() > 0


@pytest.mark.parametrize("routed", [False, True])
def test_guard_chunks_deferred_finalize_and_it_equals_the_unchunked_result(routed):
    tokens = 301
    p = problem(tokens, experts=16, top_k=4, local=10, offset=3, seed=7)
    name, kernel = FP4, R.trtllm_fp4_block_scale_moe
    if routed:
        ids, weights = R.route(p.pop("routing_logits"), p["top_k"], R.RENORMALIZE)
        p["topk_ids"] = (ids.to(torch.int32), weights.to(torch.bfloat16))
        name, kernel = FP4_ROUTED, R.trtllm_fp4_block_scale_routed_moe
    p["do_finalize"] = False
    rows, weights, index = kernel(**p)
    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs["hidden_states"].shape[0])
        return kernel(*args, **kwargs)

    with chunk_cap(64):
        c_rows, c_weights, c_index = guard(counting, entry_point=name, flashinfer=R.SIGNATURE_RELEASE)(**p)
    assert calls == [61, 60, 60, 60, 60]
    assert _exact(c_weights, weights)
    assert torch.equal(c_index < 0, index < 0)  # the same routes are remote
    assert c_index.dtype == torch.int32 and int(c_index.max()) < c_rows.shape[0]
    here, there = c_index >= 0, index >= 0
    assert _exact(c_rows[c_index[here].long()], rows[index[there].long()])  # each route's row, bit for bit
    assert _exact(R.finalize(c_rows, c_weights, c_index), R.finalize(rows, weights, index))
