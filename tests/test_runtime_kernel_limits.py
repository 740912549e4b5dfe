"""The guard and the other kernels' limits (boundcheck/kernel_limits.py): it reads the
call's hidden width, intermediate_size and output width, chunks at the smaller of the
grid bound and the kernels' bound, and takes the fast path only for sizes at which no
other kernel can bind below its threshold at the call's counts (which the fast path
compares), every precision of the release."""

from __future__ import annotations

import pytest
import torch

from boundcheck.kernel_limits import kernel_bound
from boundcheck.resolution import era_for
from boundcheck.runtime import GuardError, guard, limits
from boundcheck.runtime.release import guarded_release


def _kernel(calls):
    def kernel(*args, **kwargs):
        rows = kwargs["hidden_states"].shape[0]
        calls.append(rows)
        return torch.zeros(rows, 1, dtype=torch.bfloat16)

    return kernel


def _fp8_block_call(g, tokens, intermediate, hidden=256):
    return g(routing_logits=torch.zeros(1, 256).expand(tokens, 256), routing_bias=None,
             hidden_states=torch.zeros(1, hidden, dtype=torch.float8_e4m3fn).expand(tokens, hidden),
             hidden_states_scale=torch.zeros(hidden // 128, 1).expand(hidden // 128, tokens),
             gemm1_weights=None, gemm1_weights_scale=None, gemm2_weights=None, gemm2_weights_scale=None,
             num_experts=256, top_k=8, n_group=None, topk_group=None, intermediate_size=intermediate,
             local_expert_offset=0, local_num_experts=256, routed_scaling_factor=None)


def test_an_old_release_chunks_at_the_deepseek_activation_index():
    """0.6.0's DeepSeek FP8 activation index is int32: with intermediate 16384 it binds near
    4,000 tokens, far below the grid bound and below the fast path's threshold, so even a
    call of 7,000 tokens is chunked, never launched whole."""
    era = era_for("0.6.0")
    expected = kernel_bound("0.6.0", "fp8_block", era.tiles["fp8_block"], 8, 256, 256, 16384).tokens
    assert expected < limits.SMALLEST_BOUND
    calls = []
    g = guard(_kernel(calls), entry_point="trtllm_fp8_block_scale_moe", flashinfer="0.6.0")
    _fp8_block_call(g, 7000, 16384)
    assert sum(calls) == 7000 and max(calls) <= expected and len(calls) == -(-7000 // expected)
    assert g.boundcheck_guard.fast_sizes[0] is None  # these sizes never take the fast path
    calls.clear()
    _fp8_block_call(g, 100, 16384)
    assert calls == [100]
    assert g.boundcheck_guard.fast_sizes[0] is None


def test_safe_sizes_take_the_fast_path_after_one_lookup():
    calls = []
    g = guard(_kernel(calls), entry_point="trtllm_fp8_block_scale_moe", flashinfer="0.6.0")
    state = g.boundcheck_guard
    assert state.fast_sizes[0] is None
    _fp8_block_call(g, 100, 512)
    assert state.fast_sizes[0] == (256, 512)  # 0.6.0's entry has no output / valid_hidden_size
    assert limits.fast_path_safe(256, 512, None, guarded_release("0.6.0"))
    _fp8_block_call(g, 100, 16384)  # other sizes: the slow path again, and not recorded
    assert state.fast_sizes[0] == (256, 512) and calls == [100, 100]


def test_a_narrow_unaligned_output_chunks_at_the_scalar_finalize_on_0_7_4():
    era = era_for("0.7.4")
    expected = kernel_bound("0.7.4", "bf16", era.tiles["bf16"], 22, 512, 8192, 2688, output_width=8190).tokens
    grid = limits.grid_bound("bf16", 512, 22, 512, 0, 8192, "flashinfer", 1, guarded_release("0.7.4"))
    assert expected < grid
    calls = []

    def kernel(*args, **kwargs):
        calls.append(kwargs["hidden_states"].shape[0])
        return [kwargs["output"]]

    g = guard(kernel, entry_point="trtllm_bf16_moe", flashinfer="0.7.4")
    tokens = expected + 5
    g(routing_logits=torch.zeros(1, 512).expand(tokens, 512), routing_bias=None,
      hidden_states=torch.zeros(1, 8192, dtype=torch.bfloat16).expand(tokens, 8192), gemm1_weights=None,
      gemm2_weights=None, num_experts=512, top_k=22, n_group=None, topk_group=None, intermediate_size=2688,
      local_expert_offset=0, local_num_experts=512, routing_method_type=1,
      output=torch.zeros(1, 8190, dtype=torch.bfloat16).expand(tokens, 8190))
    assert max(calls) <= expected and sum(calls) == tokens and len(calls) == 2


def test_a_bad_intermediate_size_is_named():
    g = guard(_kernel([]), entry_point="trtllm_fp8_block_scale_moe", flashinfer="0.6.0")
    with pytest.raises(GuardError, match="intermediate_size"):
        _fp8_block_call(g, 100, -3)


def test_routing_from_logits_binds_only_entry_points_that_take_logits():
    """The routing kernels' int32 offsets from logits (the scores' offset, DeepSeek's main
    kernel's stride) run only when routing from logits: the guard asks for them on the entry
    points with routing_logits and not on the *_routed_moe ones."""
    release = guarded_release()
    with_logits = limits.kernel_bound("bf16", 22, 512, 1024, 2688, None, release, logits=True)
    routed = limits.kernel_bound("bf16", 22, 512, 1024, 2688, None, release, logits=False)
    assert with_logits == 4_194_302 < routed == 2**31 - 1


def test_the_guard_asks_for_the_logits_limit_on_an_entry_point_with_logits(monkeypatch):
    asked = []
    real = limits.kernel_bound

    def recording(*args, **kwargs):
        asked.append(kwargs.get("logits"))
        return real(*args, **kwargs)

    monkeypatch.setattr(limits, "kernel_bound", recording)
    calls = []
    g = guard(_kernel(calls), entry_point="trtllm_fp8_block_scale_moe", flashinfer="0.6.0")
    _fp8_block_call(g, 9_000, 2048)
    assert asked and set(asked) == {True} and sum(calls) == 9_000


def test_the_fast_path_reads_the_recorded_calls_counts():
    """The scalar finalize's small-batch window (2048 experts, top_k 32, tile 256, rows of
    7168: 37 - 42 tokens wrap its int32 index) keeps the fast path off at those counts, and
    only there: DeepSeek-V3's counts at the same width take it."""
    release = guarded_release("0.7.4")
    assert limits.fast_path_safe(7168, 2048, None, release, counts=(8, 256))
    assert not limits.fast_path_safe(7168, 2048, None, release, counts=(32, 2048))
    assert not limits.fast_path_safe(7168, 2048, None, release)  # no counts: the largest accepted


@pytest.mark.parametrize("argument,intermediate,hidden", [("intermediate_size", (1 << 20) + 1, 256),
                                                          ("hidden_states", 512, (1 << 20) + 128)])
def test_widths_beyond_the_proven_ones_are_refused(argument, intermediate, hidden):
    g = guard(_kernel([]), entry_point="trtllm_fp8_block_scale_moe", flashinfer="0.6.0")
    with pytest.raises(GuardError, match=argument):
        _fp8_block_call(g, 10, intermediate, hidden=hidden)
