"""The seed's crash on real hardware, and the guard preventing it (any CUDA GPU).

A stand-in kernel is launched with the trtllm-gen GEMM's grid (tests/gpu/standin.py):
the grid-Y limit is CUDA's, so the failure and its fix are the real ones even though
the NVFP4 kernel itself needs Blackwell."""

from __future__ import annotations

import pytest
import torch

cupy = pytest.importorskip("cupy")

from boundcheck import facts  # noqa: E402
from boundcheck.bound import max_chunk_tokens  # noqa: E402
from boundcheck.runtime import guard  # noqa: E402
from boundcheck.runtime.reference import SIGNATURE_RELEASE  # noqa: E402

from .standin import StandIn, max_grid_dim_y, routed_arguments  # noqa: E402

ENTRY = "trtllm_fp4_block_scale_routed_moe"
SEED_TOKENS = 400_000  # DP=8 ranks x 50k tokens gathered for EP (vLLM PR #43599)


def test_the_model_limit_is_the_device_limit():
    assert max_grid_dim_y() == facts.GRID_DIM_Y_MAX


def test_seed_crash_reproduced_without_the_guard():
    kernel = StandIn(tile=128)
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="INVALID_VALUE"):
        kernel(**routed_arguments(SEED_TOKENS))
        torch.cuda.synchronize()
    assert kernel.launches == [] or kernel.launches[-1][1] > 65535


def test_guard_chunks_and_every_cta_runs_once():
    kernel = StandIn(tile=128)
    guarded = guard(kernel, entry_point=ENTRY, policy="fixed:128", flashinfer=SIGNATURE_RELEASE)
    guarded(**routed_arguments(SEED_TOKENS))
    torch.cuda.synchronize()
    assert [t for t, *_ in kernel.launches] == [200_000, 200_000]  # NVFP4 cap 300k: 2 equal chunks
    for tokens, ctas, grid_y, per_cta in kernel.launches:
        assert grid_y == ctas <= 65535
        assert torch.equal(per_cta, torch.ones_like(per_cta))  # every CTA index written once


@pytest.mark.parametrize(
    "precision,tile,experts,top_k,policy",
    [("nvfp4", 128, 512, 22, "fixed:128"),            # vLLM's assumption, Nemotron 3 Super
     ("fp8_per_tensor", "default", 256, 8, "flashinfer")],  # DeepSeek shape: tile 64 binds
)
def test_bound_launches_and_bound_plus_one_fails(precision, tile, experts, top_k, policy):
    bound = max_chunk_tokens(experts, top_k, precision=precision, policy=policy, flashinfer=SIGNATURE_RELEASE)
    kernel = StandIn(tile=tile, precision=precision)
    kernel(**routed_arguments(bound, experts, top_k))
    torch.cuda.synchronize()
    tokens, ctas, grid_y, per_cta = kernel.launches[-1]
    assert ctas == 65535 and torch.equal(per_cta, torch.ones_like(per_cta))
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="INVALID_VALUE"):
        kernel(**routed_arguments(bound + 1, experts, top_k))
        torch.cuda.synchronize()


def test_cluster_of_two_multiplies_the_grid():
    # 0.6.11+ count the token dimension in clusters: with a Y cluster of 2, grid.y = 2 x
    # CTAs, so the cluster-2 bound keeps the CTAs at 32,767 (grid.y 65,534).
    bound = max_chunk_tokens(512, 22, policy="fixed:128", cluster_y=2, flashinfer=SIGNATURE_RELEASE)
    kernel = StandIn(tile=128, cluster_y=2)
    kernel(**routed_arguments(bound))
    torch.cuda.synchronize()
    assert kernel.launches[-1][1:3] == (32767, 65534)
    with pytest.raises(cupy.cuda.driver.CUDADriverError):
        kernel(**routed_arguments(bound + 1))
        torch.cuda.synchronize()
    with pytest.raises(cupy.cuda.driver.CUDADriverError):
        kernel(**routed_arguments(max_chunk_tokens(512, 22, policy="fixed:128", flashinfer=SIGNATURE_RELEASE)))
        torch.cuda.synchronize()


def test_guarded_call_is_graph_capturable_syncs_nothing_allocates_only_the_output():
    kernel = StandIn(tile=128)
    guarded = guard(kernel, entry_point=ENTRY, policy="fixed:128", flashinfer=SIGNATURE_RELEASE)
    args = routed_arguments(SEED_TOKENS)
    args["output"] = torch.zeros(SEED_TOKENS, 64, dtype=torch.bfloat16, device="cuda")
    guarded(**args)  # warm up: the bound is looked up and cached outside the graph
    torch.cuda.synchronize()
    # No host-device synchronisation on the guarded path.
    torch.cuda.set_sync_debug_mode("error")
    try:
        guarded(**args)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    # Capture, then replay: the chunks launch from the graph.
    kernel.launches.clear()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        guarded(**args)
    captured = [p for *_, p in kernel.launches]
    for p in captured:
        p.zero_()
    graph.replay()
    torch.cuda.synchronize()
    assert len(captured) == 2 and all(torch.equal(p, torch.ones_like(p)) for p in captured)
    # Allocation: with the output given, only the stand-in's own counters (2 x grid.y
    # int32); with none, exactly the output in addition.
    counters = sum(p.numel() * 4 for p in captured)
    for given, extra in ((True, 0), (False, SEED_TOKENS * 64 * 2)):
        call = dict(args) if given else {k: v for k, v in args.items() if k != "output"}
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        result = guarded(**call)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
        assert peak <= counters + extra + 2 * 512, (given, peak)
        assert result[0].shape == (SEED_TOKENS, 64)
        del result
