"""`boundcheck drift` against the installed flashinfer, and against copies with one fact
changed at a time: each change is detected and named."""

from __future__ import annotations

import os
import shutil

import pytest

from boundcheck import facts
from boundcheck.drift import MATCH, installed_root, rows
from boundcheck.cli import main

FILES = (facts.LAUNCHER, facts.RUNNER_H, facts.MOE_RUNNER, facts.FUSED_MOE_UTILS, facts.FUSED_MOE_CORE,
         facts.ROUTING_POLICY, facts.ROUTING_DEEPSEEK, facts.ROUTING_RUNNER, facts.ROUTING_LLAMA4)

MUTATIONS = [
    ("cta_formula", facts.RUNNER_H, "maxNumCtasInBatchDim += (numRemainingTokens / tileTokensDim);",
     "maxNumCtasInBatchDim += ((numRemainingTokens + tileTokensDim - 1) / tileTokensDim);"),
    ("padded_count", facts.RUNNER_H, "return maxCtas * padding;", "return maxCtas * padding + padding;"),
    ("gemm_and_routing_counts", facts.MOE_RUNNER,
     "int32_t const totalLocalExperts = args.local_num_experts + args.num_fused_shared_experts;",
     "int32_t const totalLocalExperts = args.num_experts + args.num_fused_shared_experts;"),
    ("tiles_bf16", facts.LAUNCHER, "static constexpr std::array<int32_t, 5> mSupportedTileNums = {8, 16, 32, 64, 128};\n\n  Bf16MoeLauncher",
     "static constexpr std::array<int32_t, 6> mSupportedTileNums = {4, 8, 16, 32, 64, 128};\n\n  Bf16MoeLauncher"),
    ("tiles_fp8_block", facts.LAUNCHER, "Fp8QuantizationType::MxFp8) {\n      tiles.push_back(256);",
     "Fp8QuantizationType::MxFp8) {\n      tiles.push_back(512);"),
    ("tiles_fp4", facts.LAUNCHER, "tiles.push_back(192);", "tiles.push_back(160);"),
    ("candidate_rule", facts.LAUNCHER, "selected_tile_nums.insert(*std::prev(it));", "/* no smaller neighbour */"),
    ("default_tile", facts.LAUNCHER, "return *selected.begin();", "return *selected.rbegin();"),
    ("bucket_mapping", facts.FUSED_MOE_UTILS, "_PHASE2_STEP = 256", "_PHASE2_STEP = 128"),
    ("tune_max_default", facts.FUSED_MOE_CORE, "tune_max_num_tokens: int = 8192", "tune_max_num_tokens: int = 16384"),
    ("routing_limits", facts.ROUTING_POLICY, "static constexpr int MaxSupportedExperts = 2048;",
     "static constexpr int MaxSupportedExperts = 4096;"),
    ("routing_policy_tiers", facts.ROUTING_POLICY, "Tier<1024, 32>  // Default fallback", "Tier<2048, 32>  // Default fallback"),
]


@pytest.fixture(scope="module")
def root():
    try:
        return installed_root()
    except Exception:
        pytest.skip("flashinfer is not installed")


def test_installed_flashinfer_matches_every_fact(root):
    table = rows(root)
    assert len(table) >= 15
    assert all(r.status == MATCH for r in table), [r for r in table if r.status != MATCH]
    assert main(["drift"]) == 0


@pytest.mark.parametrize("fact,path,old,new", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_single_fact_change_is_caught(root, tmp_path, fact, path, old, new):
    for relative in FILES:
        os.makedirs(tmp_path / os.path.dirname(relative), exist_ok=True)
        shutil.copy(os.path.join(root, relative), tmp_path / relative)
    text = (tmp_path / path).read_text()
    assert text.count(old) >= 1, f"mutation anchor for {fact} not found"
    (tmp_path / path).write_text(text.replace(old, new))
    table = {r.fact: r for r in rows(str(tmp_path))}
    assert table[fact].status != MATCH, table[fact]
    assert [name for name, r in table.items() if r.status != MATCH] == [fact]
    assert main(["drift", "--flashinfer-root", str(tmp_path)]) >= 1


def test_a_missing_file_is_a_failure(root, tmp_path, capsys):
    assert main(["drift", "--flashinfer-root", str(tmp_path)]) == len(rows(str(tmp_path)))
    assert "MISSING" in capsys.readouterr().out
