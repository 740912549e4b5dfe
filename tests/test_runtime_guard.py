"""The guard with a recording fake kernel: chunk plans, views, untouched arguments, caps,
and every error path."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from boundcheck import runtime
from boundcheck.caps import DEFAULT
from boundcheck.runtime import GuardError, chunk_cap, guard
from boundcheck.runtime.entry_points import ENTRY_POINTS

from .fakes import Recorder, make_arguments

ALL = sorted(ENTRY_POINTS)


def _run(name, tokens, cap=DEFAULT, **overrides):
    kernel = Recorder(name)
    guarded = guard(kernel, entry_point=name, cap=cap)
    arguments = make_arguments(name, tokens, **overrides)
    result = guarded(**arguments)
    return kernel, arguments, result


def _equal(a, b):
    if a.dtype == torch.float8_e4m3fn:
        a, b = a.view(torch.uint8), b.view(torch.uint8)
    return torch.equal(a, b)


def _same_storage(view, base):
    return view.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()


@pytest.mark.parametrize("name", ALL)
def test_chunks_cover_every_token_once_with_views(name):
    tokens, cap = 1000, 300
    kernel, arguments, result = _run(name, tokens, cap)
    entry = ENTRY_POINTS[name]
    # ceil(1000 / 300) = 4 nearly equal chunks, in order, each at most the cap.
    sizes = [c["hidden_states"].shape[0] for c in kernel.calls]
    assert sizes == [250, 250, 250, 250]
    position = 0
    for call in kernel.calls:
        rows = call["hidden_states"].shape[0]
        for token_major in entry.token_major():
            original = arguments.get(token_major)
            if original is None or token_major == "output":
                continue
            chunk = call[token_major]
            if token_major == "hidden_states_scale" and entry.scale_layout == "fp8_block":
                assert _equal(chunk, original[:, position:position + rows])  # the one copy
                continue
            if original.dim() == 1 and token_major == "hidden_states_scale":
                assert chunk.dim() == 1
                per = original.numel() // tokens
                assert _equal(chunk, original[position * per:(position + rows) * per])
            else:
                assert _equal(chunk, original[position:position + rows])
            assert _same_storage(chunk, original)  # a view, not a copy
        # Arguments without a token dimension go through as the very same objects.
        for other, value in arguments.items():
            if other not in entry.token_major() and other != "routing_replay_out":
                assert call[other] is value or call[other] == value
        position += rows
    assert position == tokens
    output = result if entry.scalar_return else result[0]
    assert output.shape[0] == tokens
    hidden = arguments["hidden_states"]
    expected = hidden.view(torch.uint8).to(torch.float32).sum(1).to(torch.bfloat16)
    assert torch.equal(output[:, 0], expected)  # row r of the output came from token r


@pytest.mark.parametrize("name", ALL)
def test_no_chunking_when_tokens_fit(name):
    kernel, arguments, result = _run(name, 500, 600)
    assert len(kernel.calls) == 1
    assert kernel.calls[0]["hidden_states"] is arguments["hidden_states"]


def test_fast_path_does_not_bind_or_look_up(monkeypatch):
    name = "trtllm_fp4_block_scale_routed_moe"
    kernel = Recorder(name)
    guarded = guard(kernel, entry_point=name)
    state = guarded.boundcheck_guard
    monkeypatch.setattr(state, "call", lambda *a: pytest.fail("slow path taken"))
    arguments = make_arguments(name, runtime.SMALLEST_BOUND // 1000)
    guarded(**arguments)
    assert len(kernel.calls) == 1


def test_output_given_is_written_in_place_by_rows():
    name = "trtllm_fp4_block_scale_moe"
    output = torch.full((1000, 64), -1.0, dtype=torch.bfloat16)
    kernel, _, result = _run(name, 1000, 300, output=output)
    assert result[0] is output
    for call, start in zip(kernel.calls, (0, 250, 500, 750)):
        assert call["output"].data_ptr() == output[start].data_ptr()
    assert not (output == -1).any()


def test_routing_replay_rows_and_tuple_routing():
    name = "trtllm_bf16_moe"
    replay = torch.zeros(1200, 2, dtype=torch.int16)  # larger than M, as for CUDA graphs
    kernel, _, _ = _run(name, 1000, 300, routing_replay_out=replay)
    assert [c["routing_replay_out"].data_ptr() for c in kernel.calls] == [replay[s].data_ptr() for s in (0, 250, 500, 750)]
    name = "trtllm_fp4_block_scale_routed_moe"
    ids = torch.randint(0, 8, (1000, 2), dtype=torch.int32)
    weights = torch.rand(1000, 2)
    kernel, _, _ = _run(name, 1000, 300, topk_ids=(ids, weights))
    for call, start in zip(kernel.calls, (0, 250, 500, 750)):
        assert call["topk_ids"][0].data_ptr() == ids[start].data_ptr()
        assert call["topk_ids"][1].data_ptr() == weights[start].data_ptr()


def test_lora_delta_is_split_and_the_permuted_outputs_stay_consistent():
    name = "trtllm_fp4_block_scale_routed_moe"
    delta = torch.randn(1000, 2, 64).to(torch.bfloat16)
    kernel, _, result = _run(name, 1000, 300, gemm1_lora_delta=delta)
    assert [c["gemm1_lora_delta"].data_ptr() for c in kernel.calls] == [delta[s].data_ptr() for s in (0, 250, 500, 750)]
    output, index, activation = result
    assert index.shape[0] == 1000 * 2 and activation.shape[0] == 4 * 250 * 2
    # Each chunk's indices are shifted past the rows of the chunks before it; -1 stays.
    chunk_index = torch.arange(250 * 2, dtype=torch.int32) % (250 * 2)
    chunk_index[::3] = -1
    for c in range(4):
        got = index[c * 500:(c + 1) * 500]
        want = torch.where(chunk_index >= 0, chunk_index + c * 500, chunk_index)
        assert torch.equal(got, want)
        valid = got[got >= 0].long()
        # the row each index names is the row that chunk's kernel wrote there
        assert torch.equal(activation[valid, 0], (valid - c * 500).float())


def test_fp8_per_channel_has_no_output_argument_so_chunks_are_copied_in():
    kernel, arguments, result = _run("trtllm_fp8_per_channel_scale_moe", 1000, 300)
    assert isinstance(result, torch.Tensor) and result.shape[0] == 1000
    assert len(kernel.calls) == 4


def test_zero_tokens():
    for name in ALL:
        kernel, arguments, result = _run(name, 0, None)
        output = result if ENTRY_POINTS[name].scalar_return else result[0]
        assert output.shape[0] == 0 and output.dtype == torch.bfloat16
        assert kernel.calls == []  # no launch with an empty grid


@given(
    tokens=st.integers(1, 3000),
    cap=st.integers(1, 400),
    experts=st.sampled_from([4, 8, 64]),
    top_k=st.integers(1, 4),
)
@settings(max_examples=60, deadline=None)
def test_property_chunks_at_most_the_bound(tokens, cap, experts, top_k):
    name = "trtllm_fp4_block_scale_routed_moe"
    kernel, _, result = _run(name, tokens, cap, experts=experts, top_k=top_k)
    bound = runtime.max_chunk_tokens(experts, top_k, precision="nvfp4", cap=cap)
    sizes = [c["hidden_states"].shape[0] for c in kernel.calls]
    assert sum(sizes) == tokens and all(1 <= s <= bound for s in sizes)
    assert len(sizes) == -(-tokens // bound)
    assert max(sizes) - min(sizes) <= 1
    assert result[0].shape[0] == tokens


def test_caps_environment_and_context(monkeypatch):
    name = "trtllm_bf16_moe"
    monkeypatch.setenv("BOUNDCHECK_MAX_CHUNK_TOKENS", "400")
    # Read at import and by reload_caps() only: no call reads the environment.
    assert runtime.max_chunk_tokens(512, 22, policy="fixed:128") == 300_000
    runtime.reload_caps()
    assert runtime.max_chunk_tokens(512, 22, policy="fixed:128") == 400
    try:
        kernel, _, _ = _run(name, 1000, DEFAULT)
        assert [c["hidden_states"].shape[0] for c in kernel.calls] == [334, 333, 333]
        with chunk_cap(200):
            kernel, _, _ = _run(name, 1000, DEFAULT)
            assert len(kernel.calls) == 5
    finally:
        monkeypatch.delenv("BOUNDCHECK_MAX_CHUNK_TOKENS")
        runtime.reload_caps()
    assert runtime.max_chunk_tokens(512, 22, policy="fixed:128") == 300_000
    assert runtime.max_chunk_tokens(512, 22, policy="fixed:128", cap=None) == 378_344
    with chunk_cap(None):
        assert runtime.max_chunk_tokens(512, 22, policy="fixed:128") == 378_344


def test_precision_is_inferred_as_the_launcher_does():
    from boundcheck.runtime.precision import infer_precision

    from boundcheck.resolution import era_for

    e23, e21, e10 = era_for("0.7.2.post1"), era_for("0.6.18.post1"), era_for("0.6.2")
    fp4 = ENTRY_POINTS["trtllm_fp4_block_scale_moe"]
    nv = make_arguments(fp4.name, 32, hidden=64)
    nv.update(activation_type=3, num_fused_shared_experts=None)
    assert infer_precision(fp4, nv, e23) == "nvfp4"
    mx_weights = dict(nv, gemm1_weights_scale=torch.ones(8, 64, 2).to(torch.float8_e4m3fn))
    assert infer_precision(fp4, mx_weights, e23) == "mxfp8"  # MxE2m1 weights with E2m1 acts: no 192
    bf16_act = dict(nv, hidden_states=torch.randn(32, 64).to(torch.bfloat16), hidden_states_scale=None)
    assert infer_precision(fp4, bf16_act, e23) == "mxfp4_bf16"
    mxfp8_act = dict(mx_weights, hidden_states=torch.randn(32, 64).to(torch.float8_e4m3fn),
                     hidden_states_scale=torch.ones(32 * 2, dtype=torch.uint8))
    assert infer_precision(fp4, mxfp8_act, e23) == "mxfp4_mxfp8"
    block = ENTRY_POINTS["trtllm_fp8_block_scale_moe"]
    assert infer_precision(block, {"fp8_quantization_type": 2}, e23) == "mxfp8"
    assert infer_precision(block, {"fp8_quantization_type": 1}, e23) == "fp8_block"
    # Per-token NVFP4: 0.6.18 drops 192 for it (its own tile set); 0.7.x does not.
    per_token = dict(nv, per_token_scale=torch.ones(32))
    assert infer_precision(fp4, per_token, e21) == "nvfp4_per_token"
    assert e21.tiles["nvfp4_per_token"] == (8, 16, 32, 64, 128, 256)
    assert e23.tiles[infer_precision(fp4, per_token, e23)] == e23.tiles["nvfp4"]
    # Before 0.6.4 the block-scale launcher has no MxFp8 tile set.
    assert infer_precision(block, {"fp8_quantization_type": 2}, e10) == "fp8_block"


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name,tokens,overrides,argument,needle",
    [
        ("trtllm_fp4_block_scale_moe", 1000, dict(hidden_states_scale_layout=0), "hidden_states_scale_layout", "linear"),
        ("trtllm_fp4_block_scale_moe", 1000, dict(hidden_states_scale=torch.ones(1001).to(torch.float8_e4m3fn)),
         "hidden_states_scale", "layout not recognized"),
        ("trtllm_fp4_block_scale_moe", 1000, dict(routing_logits=torch.randn(999, 8)), "routing_logits", "first dimension"),
        ("trtllm_fp4_block_scale_routed_moe", 1000, dict(per_token_scale=torch.ones(10)), "per_token_scale", "first dimension"),
        ("trtllm_bf16_moe", 1000, dict(output=torch.empty(1000, 65, dtype=torch.bfloat16)), "output", "shape"),
        ("trtllm_bf16_moe", 1000, dict(routing_replay_out=torch.zeros(10, 2, dtype=torch.int16)), "routing_replay_out", "at least 1000"),
        ("trtllm_fp8_block_scale_moe", 1000, dict(hidden_states_scale=torch.ones(1000, 1)), "hidden_states_scale", "DeepSeek"),
    ],
)
def test_errors_when_chunking(name, tokens, overrides, argument, needle):
    with pytest.raises(GuardError) as caught:
        _run(name, tokens, 300, **overrides)
    assert caught.value.argument == argument
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    "overrides,argument,needle",
    [
        (dict(experts=4096, local=4096), "num_experts", "[1, 2048]"),
        (dict(experts=64, top_k=40), "top_k", "[1, 32]"),
        (dict(experts=64, local=16, offset=60), "local_expert_offset", "must lie in"),
        (dict(num_fused_shared_experts=3), "num_fused_shared_experts", "[0, 2]"),
        (dict(tune_max_num_tokens=0), "tune_max_num_tokens", "[1, 2147483647]"),
        (dict(routing_method_type=3, experts=256), "num_experts", "Llama4 routing takes at most 128"),
        (dict(routing_method_type=0, experts=512, top_k=8), "num_experts", "Default routing takes at most 256"),
        (dict(routing_method_type=2, experts=256, top_k=8, n_group=9, topk_group=4), "n_group", "at most 8"),
        (dict(routing_method_type=42), "routing_method_type", "must be one of"),
    ],
)
def test_counts_outside_the_domain_are_refused(overrides, argument, needle):
    experts = overrides.pop("experts", 8)
    top_k = overrides.pop("top_k", 2)
    local = overrides.pop("local", None)
    offset = overrides.pop("offset", 0)
    with pytest.raises(GuardError) as caught:
        _run("trtllm_fp4_block_scale_moe", 20_000, None, experts=experts, top_k=top_k, local=local,
             offset=offset, **overrides)
    assert caught.value.argument == argument
    assert needle in str(caught.value)


def test_bad_guard_settings():
    kernel = Recorder("trtllm_bf16_moe")
    with pytest.raises(GuardError, match="entry_point"):
        guard(kernel, entry_point="trtllm_fp16_moe")
    with pytest.raises(Exception, match="policy"):
        guard(kernel, entry_point="trtllm_bf16_moe", policy="sometimes")
    with pytest.raises(Exception, match="cluster_y"):
        guard(kernel, entry_point="trtllm_bf16_moe", cluster_y=3)
    with pytest.raises(Exception, match="cap"):
        guard(kernel, entry_point="trtllm_bf16_moe", cap=0)


@pytest.mark.parametrize("version,groups", [("0.2.10", 8), ("0.4.1", 12), ("0.7.2.post1", 8)])
def test_deepseek_group_limits_are_the_releases(version, groups):
    """n_group is checked against the release's own limit (releases.Routing, stated once):
    `mNumExpertGroups <= NumWarps` up to 0.4.1 (256 threads: 8; 384 from 0.4.0: 12), then
    MaxNumGroups = 8; topk_group at most MaxNumTopGroups = 4 throughout."""
    from boundcheck.resolution import era_for
    from boundcheck.runtime import limits

    era = era_for(version)
    assert era.routing.deepseek_groups == groups and era.routing.deepseek_topk_groups == 4
    call = dict(routing_method_type=2, num_experts=192, top_k=4, topk_group=2)
    limits.check_routing(dict(call, n_group=groups), False, era)
    with pytest.raises(Exception, match=f"n_group.*at most {groups}"):
        limits.check_routing(dict(call, n_group=groups + 1), False, era)
    with pytest.raises(Exception, match="topk_group.*at most 4"):
        limits.check_routing(dict(call, n_group=groups, topk_group=5), False, era)


@pytest.mark.parametrize("version", ["0.2.8", "0.2.10", "0.3.1.post1", "0.4.0", "0.4.1"])
def test_the_caller_eras_group_limit_is_the_kernels_warps(version):
    """Up to 0.4.1 the DeepSeek routing kernel checks `mNumExpertGroups <= NumWarps`,
    NumThreads / 32 of the file that checks it: the era's deepseek_groups."""
    import re

    from boundcheck.drift.compiled import sources_root
    from boundcheck.resolution import era_for

    csrc = sources_root() / version / "flashinfer" / "data" / "csrc"
    if not csrc.is_dir():
        pytest.skip("sources not fetched (tools/fetch_flashinfer_sources.py)")
    text = next(p.read_text() for p in sorted(csrc.glob("trtllm_fused_moe_routing_*.cu"))
                if "mNumExpertGroups <= NumWarps" in p.read_text())
    threads = int(re.search(r"static constexpr int NumThreads = (\d+);", text).group(1))
    assert era_for(version).routing.deepseek_groups == threads // 32
    # a constant, or (0.4.x) getMaxNumTopGroups' value when groups are used
    top = (re.search(r"MaxNumTopGroups = (\d+);", text)
           or re.search(r"getMaxNumTopGroups\(const bool useGroups.*?if \(useGroups[^{]*\{\s*return (\d+);", text, re.S))
    assert top is not None and int(top.group(1)) == era_for(version).routing.deepseek_topk_groups
