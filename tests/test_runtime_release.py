"""The guard follows the flashinfer release that runs.

Each test runs a fresh Python that sees flashinfer VERSION installed: a package folder
whose `_build_meta.py` holds the module's `__version__` and a dist-info folder with the
package metadata, first on its path as pip would leave them (nothing of flashinfer is
imported by the guard), so that the version is read the way a deployment reads it, once
per process. The two may be told to disagree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from boundcheck.bound import max_chunk_tokens
from boundcheck.releases import NEWEST
from boundcheck.resolution import STRICT_VERSION_VARIABLE

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]

# A kernel stand-in that takes whatever it is given (as inference code's wrappers do),
# records the tokens of each call and fills its output rows.
PRELUDE = textwrap.dedent(
    """
    import json, warnings, torch
    from boundcheck import runtime
    from boundcheck.runtime import guard, GuardError
    calls = []
    def refusal(**options):
        try:
            guard(kernel, **options)
        except GuardError as error:
            return str(error)
        return None
    def kernel(*args, **kwargs):
        hidden = kwargs["hidden_states"]
        calls.append(hidden.shape[0])
        out = kwargs.get("output")
        if out is None:
            out = torch.empty(hidden.shape[0], hidden.shape[1], dtype=torch.bfloat16)
        out.fill_(1)
        return out
    def bf16_call(fn, tokens, experts=512, top_k=22, **extra):
        return fn(routing_logits=torch.zeros(tokens, 1), routing_bias=None,
                  hidden_states=torch.zeros(tokens, 8, dtype=torch.bfloat16), gemm1_weights=None,
                  gemm2_weights=None, num_experts=experts, top_k=top_k, n_group=None, topk_group=None,
                  intermediate_size=8, local_expert_offset=0, local_num_experts=experts,
                  routed_scaling_factor=None, routing_method_type=1, **extra)
    """
)


def run_with_installed(version, body, tmp_path, env=None, module_version=None):
    """Run PRELUDE + body in a Python that sees flashinfer `version` installed (module and
    metadata; `module_version` makes the module say another); the body prints one JSON line."""
    site = tmp_path / "site"
    dist = site / f"flashinfer_python-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: flashinfer-python\nVersion: {version}\n")
    package = site / "flashinfer"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('the guard must not import flashinfer here')\n")
    (package / "_build_meta.py").write_text(f"__version__ = {module_version or version!r}\n")
    environment = {k: v for k, v in os.environ.items() if k != STRICT_VERSION_VARIABLE}
    environment.update(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), **(env or {}))
    result = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True,
                            text=True, env=environment, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_with_0_7_4_installed_chunks_never_exceed_its_bound(tmp_path):
    # The release issue's case: BF16 512/22 at 150,000 tokens is one launch under
    # 0.7.2.post1's bound (189,183) but overflows on 0.7.4, whose bound is 94,603.
    out, _ = run_with_installed("0.7.4", """
        g = guard(kernel, entry_point="trtllm_bf16_moe")
        bf16_call(g, 150_000)
        print(json.dumps({"release": runtime.guarded_release().version, "calls": calls,
                          "bound": runtime.max_chunk_tokens(512, 22, precision="bf16")}))
    """, tmp_path)
    assert out["release"] == "0.7.4"
    assert out["bound"] == max_chunk_tokens(512, 22, flashinfer="0.7.4", precision="bf16") == 94_603
    assert sum(out["calls"]) == 150_000 and max(out["calls"]) <= 94_603 and len(out["calls"]) == 2


def test_with_0_7_2_post1_installed_the_same_call_is_one_launch(tmp_path):
    out, _ = run_with_installed("0.7.2.post1", """
        g = guard(kernel, entry_point="trtllm_bf16_moe")
        bf16_call(g, 150_000)
        print(json.dumps({"release": runtime.guarded_release().version, "calls": calls}))
    """, tmp_path)
    assert out == {"release": "0.7.2.post1", "calls": [150_000]}


MIXED = """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = guard(kernel, entry_point="trtllm_bf16_moe")
        bf16_call(g, 150_000)
        release = runtime.guarded_release()
    print(json.dumps({"release": release.version, "witness": release.witness and release.witness.version,
                      "calls": calls, "warnings": [str(w.message) for w in caught],
                      "mxfp4_mxfp8": runtime.max_chunk_tokens(384, 8, precision="mxfp4_mxfp8", cap=None)}))
"""


@pytest.mark.parametrize("module, metadata", [("0.7.2.post1", "0.7.4"), ("0.7.4", "0.7.2.post1")])
def test_module_and_metadata_disagree_the_smaller_bound_of_the_two(tmp_path, module, metadata):
    out, _ = run_with_installed(metadata, MIXED, tmp_path, module_version=module)
    assert out["release"] == module and out["witness"] == metadata  # the module is what runs
    assert len(out["warnings"]) == 1
    assert f"module {module}" in out["warnings"][0] and f"metadata {metadata}" in out["warnings"][0]
    smaller = min(max_chunk_tokens(512, 22, flashinfer=v, precision="bf16") for v in (module, metadata))
    assert smaller == 94_603 and max(out["calls"]) <= smaller and sum(out["calls"]) == 150_000


def test_the_issues_case_metadata_0_7_0_post1_module_0_7_2_post1(tmp_path):
    # 1,100,000 MXFP4 x MXFP8 tokens at 384/8 went out as one launch when the guard read the
    # metadata alone (0.7.0.post1); 0.7.2.post1 (the module) binds at 1,042,479.
    out, _ = run_with_installed("0.7.0.post1", MIXED, tmp_path, module_version="0.7.2.post1")
    assert out["release"] == "0.7.2.post1" and out["witness"] == "0.7.0.post1"
    both = [max_chunk_tokens(384, 8, flashinfer=v, precision="mxfp4_mxfp8") for v in ("0.7.2.post1", "0.7.0.post1")]
    assert both[0] == 1_042_479 and out["mxfp4_mxfp8"] == min(both) < 1_100_000


def test_a_local_version_tag_names_its_release(tmp_path):
    out, _ = run_with_installed("0.7.2.post1+cu128", MIXED, tmp_path)
    assert out["release"] == "0.7.2.post1" and out["witness"] is None and out["warnings"] == []
    assert out["calls"] == [150_000]  # 0.7.2.post1's bound, 189,183: one launch


def test_entry_points_a_release_lacks_are_named(tmp_path):
    out, _ = run_with_installed("0.6.18.post1", """
        print(json.dumps({"message": refusal(entry_point="trtllm_fp8_per_channel_scale_moe")}))
    """, tmp_path)
    assert "0.6.18.post1 has no trtllm_fp8_per_channel_scale_moe" in out["message"]
    assert "from flashinfer 0.7.0" in out["message"]


def test_a_newer_release_warns_once_and_gets_the_any_bound(tmp_path):
    out, stderr = run_with_installed("0.9.0", """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = guard(kernel, entry_point="trtllm_bf16_moe")
            guard(kernel, entry_point="trtllm_bf16_routed_moe")
            bf16_call(g, 100_000)
        print(json.dumps({"warnings": [str(w.message) for w in caught], "calls": calls,
                          "bound": runtime.max_chunk_tokens(512, 22, precision="bf16"),
                          "fallback": runtime.guarded_release().fallback}))
    """, tmp_path)
    assert out["fallback"] is True
    assert len(out["warnings"]) == 1 and "0.9.0" in out["warnings"][0] and "not modeled" in out["warnings"][0]
    tile_8 = max_chunk_tokens(512, 22, flashinfer=NEWEST, precision="bf16", policy="any")
    assert out["bound"] == tile_8 and max(out["calls"]) <= tile_8 and sum(out["calls"]) == 100_000


def test_strict_version_refuses_a_newer_release(tmp_path):
    out, _ = run_with_installed("0.9.0", """
        print(json.dumps({"message": refusal(entry_point="trtllm_bf16_moe")}))
    """, tmp_path, env={STRICT_VERSION_VARIABLE: "1"})
    assert "newer than every modeled release" in out["message"]


def test_an_older_unmodeled_release_is_refused(tmp_path):
    out, _ = run_with_installed("0.2.7.post1", """
        print(json.dumps({"message": refusal(entry_point="trtllm_bf16_moe")}))
    """, tmp_path)
    assert "0.2.7.post1" in out["message"] and "not modeled" in out["message"]


def test_routing_metadata_fixes_the_tile_on_0_7_4():
    # 0.7.4 runs the metadata's tile; the metadata covers the whole batch, so above that
    # tile's bound the guard refuses instead of splitting.
    import torch

    from boundcheck.runtime import GuardError, guard

    class Slot:
        tile_n = 8

    calls = []

    def kernel(*args, **kwargs):
        calls.append(kwargs["hidden_states"].shape[0])
        return [kwargs["output"]]

    g = guard(kernel, entry_point="trtllm_fp4_block_scale_routed_moe", flashinfer="0.7.4")
    bound_8 = max_chunk_tokens(256, 8, flashinfer="0.7.4", precision="nvfp4", policy="fixed:8", shared_experts=0)

    def call(tokens):
        return g(topk_ids=torch.zeros(tokens, 8, dtype=torch.int32), routing_bias=None,
                 hidden_states=torch.zeros(tokens, 32, dtype=torch.uint8),
                 hidden_states_scale=torch.zeros(tokens * 4, dtype=torch.uint8),
                 gemm1_weights=None, gemm1_weights_scale=None, gemm1_bias=None, gemm1_alpha=None,
                 gemm1_beta=None, gemm1_clamp_limit=None, gemm2_weights=None, gemm2_weights_scale=None,
                 gemm2_bias=None, output1_scale_scalar=None, output1_scale_gate_scalar=None,
                 output2_scale_scalar=None, num_experts=256, top_k=8, n_group=None, topk_group=None,
                 intermediate_size=64, local_expert_offset=0, local_num_experts=256, routed_scaling_factor=None,
                 routing_method_type=1, output=torch.empty(tokens, 64, dtype=torch.bfloat16),
                 routing_metadata=Slot())

    call(bound_8)
    assert calls == [bound_8]
    with pytest.raises(GuardError, match="routing_metadata"):
        call(bound_8 + 1)
    assert calls == [bound_8]  # refused before any launch


def test_the_callers_tile_tokens_dim_sets_the_bound_up_to_0_4_1():
    # 0.3.0 launches the caller's tile (default 8); 0.4.1's FP4 with tile_tokens_dim=None
    # runs Python's calculate_tile_tokens_dim, bound by `flashinfer` as the model says.
    import torch

    from boundcheck.runtime import GuardError, guard

    calls = []

    def kernel(*args, **kwargs):
        calls.append(kwargs["hidden_states"].shape[0])
        return torch.ones(kwargs["hidden_states"].shape[0], 8, dtype=torch.bfloat16)

    g = guard(kernel, entry_point="trtllm_fp8_per_tensor_scale_moe", flashinfer="0.3.0")

    def call(tokens, **extra):
        return g(routing_logits=torch.zeros(tokens, 1), routing_bias=None,
                 hidden_states=torch.zeros(tokens, 8, dtype=torch.float8_e4m3fn), gemm1_weights=None,
                 output1_scales_scalar=None, output1_scales_gate_scalar=None, gemm2_weights=None,
                 output2_scales_scalar=None, num_experts=256, top_k=8, n_group=None, topk_group=None,
                 intermediate_size=8, local_expert_offset=0, local_num_experts=256, routed_scaling_factor=None,
                 use_routing_scales_on_input=False, **extra)

    bound_8 = max_chunk_tokens(256, 8, flashinfer="0.3.0", precision="fp8_per_tensor", policy="fixed:8")
    bound_64 = max_chunk_tokens(256, 8, flashinfer="0.3.0", precision="fp8_per_tensor", policy="fixed:64")
    assert bound_8 == 65_311 and bound_64 > 7 * bound_8
    out = call(bound_8 + 1)
    assert len(calls) == 2 and sum(calls) == bound_8 + 1 and max(calls) <= bound_8 and out.shape[0] == bound_8 + 1
    calls.clear()
    call(bound_8 + 1, tile_tokens_dim=64)
    assert calls == [bound_8 + 1]  # within tile 64's bound: one launch
    calls.clear()
    with pytest.raises(GuardError, match="tile_tokens_dim"):
        call(bound_8 + 1, tile_tokens_dim=48)
    assert calls == []
    assert max_chunk_tokens(256, 8, flashinfer="0.4.1", precision="nvfp4") == 1_044_511
