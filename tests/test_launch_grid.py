"""The launch grid as flashinfer's own code computes it: getGridDim / getLaunchGrid of each
release's BatchedGemmInterface.h, compiled (tools/launch_grid.py), against the model's
geometry.launched_grid_y, on every MoE-selectable config of the release's kernel list."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from boundcheck.geometry import GRID_CLUSTER_RULES, cta_budget, launched_grid_y, release_cta_budget
from boundcheck.releases import GRID_ARTIFACTS
from boundcheck.resolution import era_for
from boundcheck.proofs.domain import CLUSTER_Y_SIZES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import launch_grid as L  # noqa: E402

COUNTS = [1, 2, 3, 7, 8, 9, 255, 256, 32_767, 32_768, 65_534, 65_535, 65_536, 131_071, 1 << 20]
COUNTS += random.Random(7).sample(range(1, 1 << 22), 40)
# gemm::TileScheduler: StaticPersistent and PersistentSm90 launch a fixed grid (tokens not on Y)
FIXED_GRID_SCHEDULERS = {2, 3}


def _folder(version) -> Path:
    folder = L.default_cache() / version
    if not (folder / L.HEADER).exists():
        pytest.skip(f"{version}'s launch-grid artifact is not fetched: python tools/launch_grid.py")
    return folder


def _grid(version):
    if L.compiler() is None:
        pytest.skip("no C++ compiler")
    return L.grid_function((_folder(version) / L.HEADER).read_text())


def rule_of(grid) -> str:
    """Which of the model's rules the compiled code follows on a BatchN config with early
    exit, for every count and Y cluster size tried ("other" if none)."""
    config = L.Config("probe", {"mBatchMode": 1, "mTileM": 128, "mTileN": 8, "mEnablesEarlyExit": 1})
    for rule in GRID_CLUSTER_RULES:
        if all(grid(config, c, cluster_y=y)[1] == launched_grid_y(c, y, rule=rule) for c in COUNTS for y in (1, 2, 4)):
            return rule
    return "other"


@pytest.mark.parametrize("version", list(GRID_ARTIFACTS))
def test_compiled_grid_follows_the_recorded_rule(version):
    assert rule_of(_grid(version)) == GRID_ARTIFACTS[version].rule


@pytest.mark.parametrize("version", [v for v, a in GRID_ARTIFACTS.items() if a.kernel_list])
def test_every_moe_config_puts_the_tokens_on_y_with_cluster_1(version):
    """The derived cluster size: 1 in Y for every config the MoE runner can select, whose
    grid.y is then the CTA count itself under every rule; checked on the compiled code."""
    grid = _grid(version)
    rule = GRID_ARTIFACTS[version].rule
    configs = L.moe_configs(L.parse_kernel_list((_folder(version) / L.KERNEL_LIST).read_text(errors="replace")))
    assert len(configs) > 400
    for config in configs:
        assert config["mBatchMode"] == 1, config.name  # BatchN: routed tokens on grid Y
        assert config["mClusterDimY"] == 1 and not config["mUseFlexibleClusterDims"], config.name
        assert config["mTileScheduler"] not in FIXED_GRID_SCHEDULERS, config.name
        for count in (1, 65_535, 65_536, 123_457):
            x, y, z = grid(config, count)
            assert y == launched_grid_y(count, 1, rule=rule) == count, (config.name, count, (x, y, z))
            assert z == (config["mNumSlicesForSplitK"] or 1)  # split-K only ever on Z


@pytest.mark.parametrize("version", list(GRID_ARTIFACTS))
def test_the_model_budget_never_exceeds_the_release_grid(version):
    """Each release's era budgets at most what its own getGridDim admits, for every proven
    cluster size (equal where the era's rule is the release's; E16 holds 0.6.10, which
    rounds up, with 0.6.11 - 0.6.12, which multiply, and takes the smaller)."""
    era, rule = era_for(version), GRID_ARTIFACTS[version].rule
    for y in CLUSTER_Y_SIZES:
        ours, theirs = release_cta_budget(65_535, y, era), cta_budget(65_535, y, rule)
        assert ours <= theirs
        assert launched_grid_y(theirs, y, rule=rule) <= 65_535 < launched_grid_y(theirs + 1, y, rule=rule)
    if era.grid_cluster != rule:
        assert (version, era.name, era.grid_cluster, rule) == ("0.6.10", "E16", "multiply", "round_up")


@pytest.mark.parametrize(
    "version,edit",
    [
        ("0.6.4", ("gemm::divUpMul(numCtasBatch, options.mClusterDimY)", "numCtasBatch * options.mClusterDimY")),
        ("0.6.13", ("maxNumCtasInBatchDim.value() * clusterDimInBatchDim", "maxNumCtasInBatchDim.value()")),
        ("0.4.0", ("numCtasBatch = maxNumCtasInBatchDim.value();", "numCtasBatch = maxNumCtasInBatchDim.value() + 1;")),
    ],
)
def test_an_edited_grid_is_caught(version, edit):
    text = (_folder(version) / L.HEADER).read_text()
    assert edit[0] in text
    if L.compiler() is None:
        pytest.skip("no C++ compiler")
    mutated = L.grid_function(text.replace(edit[0], edit[1]))
    assert rule_of(mutated) != GRID_ARTIFACTS[version].rule


def test_kernel_list_parsing_reads_each_labelled_field():
    text = (
        '{nullptr, "bmm_x_bN_dynB", /* mBatchMode */ BatchedGemmOptions::BatchMode(1),\n'
        "/* mClusterDimY */ 2,\n/* mTransposeMmaOutput */ true,\n/* mIsStaticBatch */ false,\n}\n"
        '{nullptr, "bmm_y_static", /* mTransposeMmaOutput */ 1,\n/* mIsStaticBatch */ 1,\n}\n'
    )
    first, second = L.parse_kernel_list(text)
    assert (first.name, first["mBatchMode"], first["mClusterDimY"], first["mTransposeMmaOutput"]) == ("bmm_x_bN_dynB", 1, 2, 1)
    assert L.moe_configs([first, second]) == [first]


def test_the_grid_library_is_built_and_loaded_through_the_private_checked_cache(monkeypatch):
    # It used to be cached in a shared temporary folder and loaded unchecked (issue #24).
    from boundcheck.drift import compiled

    grid = _grid("0.6.13")
    loaded = []
    monkeypatch.setattr(compiled, "verified", lambda lib: loaded.append(lib) or False)
    with pytest.raises(Exception):
        L.GridFunction(L.Path(compiled.private_build_root()) / "grid_planted.so")
    assert loaded and loaded[0].parent == compiled.private_build_root()
    assert grid is not None
