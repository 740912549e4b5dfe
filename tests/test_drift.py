"""`boundcheck drift` on the unpacked sources of every modeled release (each matches its own
era and identifies as it), on copies with one fact changed (each change is named and the
copy no longer identifies as its release), and on bad input (empty, binary, FIFO)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from boundcheck import drift
from boundcheck.cli import main
from boundcheck.drift import FUSED_MOE_CORE, FUSED_MOE_UTILS, LAUNCHER, MATCH, MISMATCH, MISSING, RUNNER_H, identify, rows
from boundcheck.releases import MODELED_VERSIONS
from boundcheck.resolution import era_for, installed_version

# Where tools/fetch_flashinfer_sources.py unpacks every modeled release (.ci/run runs it).
SOURCES = Path(os.environ.get("BOUNDCHECK_FLASHINFER_CACHE", "~/.cache/boundcheck/flashinfer-src")).expanduser()
NO_SOURCES = (f"flashinfer sources are not unpacked at {SOURCES}/<VERSION>/flashinfer "
              "(tools/fetch_flashinfer_sources.py fills it; set BOUNDCHECK_FLASHINFER_CACHE)")
needs_sources = pytest.mark.skipif(not SOURCES.is_dir(), reason=NO_SOURCES)


def source_root(version: str) -> Path:
    root = SOURCES / version / "flashinfer"
    if not root.is_dir():
        pytest.skip(f"{root} is not unpacked")
    return root


def failing(table):
    return {r.fact: r for r in table if r.status != MATCH}


# --- every cached release -------------------------------------------------------------------

@needs_sources
@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_each_release_matches_its_era_and_identifies_as_it(version):
    root = str(source_root(version))
    era = era_for(version)
    assert failing(rows(root, era)) == {}
    assert [e.name for e in identify(root)] == [era.name]


# --- one fact changed at a time (copies of 0.7.2.post1 and 0.7.4) ----------------------------

def copy_sources(version: str, destination: Path) -> Path:
    """Only the files drift reads."""
    root = source_root(version)
    for relative in drift.source_paths(str(root)):
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, destination / relative)
    return destination


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, f"mutation anchor {old!r} not found in {path}"
    path.write_text(text.replace(old, new))


def tile_rule_block(text: str) -> str:
    """computeSelectedTileN and selectDefaultTileN (and their comments), up to resolveMoeTileAndConfig."""
    m = re.search(r"(?:^//[^\n]*\n)*std::set<int32_t> computeSelectedTileN\(.*?(?=^// Resolve the \(tile_N)",
                  text, re.S | re.M)
    assert m, "computeSelectedTileN block not found"
    return m.group()


def remove_tile_192(root: Path) -> None:
    edit(root / LAUNCHER, "tiles.push_back(192);", "")


def take_0_7_4_candidate_rule(root: Path) -> None:
    launcher = root / LAUNCHER
    text = launcher.read_text()
    newer = tile_rule_block((source_root("0.7.4") / LAUNCHER).read_text())
    launcher.write_text(text.replace(tile_rule_block(text), newer))


def change_phase_constant(root: Path) -> None:
    edit(root / FUSED_MOE_UTILS, "_PHASE2_STEP = 256", "_PHASE2_STEP = 128")


def build_launchers_for_candidates_only(root: Path) -> None:
    launcher = root / LAUNCHER
    text = re.sub(r"[ \t]*// Build launchers for ALL supported tiles[^\n]*\n", "", launcher.read_text())
    text, loops = re.subn(r"for \(int32_t curr_tile_N : (\w+)\)",
                          r"for (int32_t curr_tile_N : computeSelectedTileN(\1, num_tokens, top_k, local_num_experts))",
                          text)
    assert loops >= 5
    launcher.write_text(text)


def add_entry_point(root: Path) -> None:
    with open(root / FUSED_MOE_CORE, "a") as handle:
        handle.write("\n\ndef trtllm_fp16_moe(hidden_states, tune_max_num_tokens: int = 8192):\n"
                     "    raise NotImplementedError\n")


def take_0_4_1_cta_formula(root: Path) -> None:
    runner_h = root / RUNNER_H
    newer = (source_root("0.4.1") / RUNNER_H).read_text()
    pattern = r"inline int32_t getMaxNumCtasInBatchDim\(.*?\n}\n"
    older = re.search(pattern, runner_h.read_text(), re.S).group()
    runner_h.write_text(runner_h.read_text().replace(older, re.search(pattern, newer, re.S).group()))


def default_tile_16(root: Path) -> None:
    edit(root / FUSED_MOE_CORE, "tile_tokens_dim: int = 8", "tile_tokens_dim: int = 16", count=2)


def fp4_tile_from_the_caller_only(root: Path) -> None:
    edit(root / FUSED_MOE_CORE, "max_tile_tokens_dim=64 if dtype_act == DtypeTrtllmGen.Bfloat16 else 128",
         "max_tile_tokens_dim=64 if dtype_act == DtypeTrtllmGen.Bfloat16 else 256")


MUTATIONS = [
    # (release copied, mutation, facts that must mismatch: at least the first, at most these)
    ("0.3.0", take_0_4_1_cta_formula, ("cta_formula",)),
    ("0.3.0", default_tile_16, ("tile_source",)),
    ("0.4.1", fp4_tile_from_the_caller_only, ("tile_source",)),
    ("0.7.2.post1", remove_tile_192, ("tiles_nvfp4", "tiles_nvfp4_per_token", "tiles_mxfp4_mxfp8")),
    ("0.7.2.post1", take_0_7_4_candidate_rule, ("candidate_rule",)),
    ("0.7.4", change_phase_constant, ("buckets",)),
    ("0.7.2.post1", build_launchers_for_candidates_only, ("tuned_tile",)),
    ("0.7.4", build_launchers_for_candidates_only, ("tuned_tile",)),
    ("0.7.4", add_entry_point, ("entry_points",)),
]


@needs_sources
@pytest.mark.parametrize("version,mutate,facts", MUTATIONS, ids=[f"{m[0]}-{m[1].__name__}" for m in MUTATIONS])
def test_a_changed_fact_is_named_and_the_release_no_longer_identifies(tmp_path, version, mutate, facts):
    root = copy_sources(version, tmp_path)
    mutate(root)
    era = era_for(version)
    table = failing(rows(str(root), era))
    assert facts[0] in table and set(table) <= set(facts), table
    assert all(r.status == MISMATCH for r in table.values()), table
    assert era not in identify(str(root))
    assert main(["drift", "--flashinfer-root", str(root), "--flashinfer", version]) == len(table)


@needs_sources
def test_the_unchanged_copy_still_identifies(tmp_path):
    assert [e.name for e in identify(str(copy_sources("0.7.2.post1", tmp_path)))] == ["E23"]


# --- the command ------------------------------------------------------------------------------

@needs_sources
def test_json_names_the_era_asked_for_and_the_era_identified(capsys):
    root = str(source_root("0.7.4"))
    assert main(["drift", "--flashinfer-root", root, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["era"], report["era_from"], report["failures"]) == ("E24", "identified from the sources", 0)
    assert report["identification"] == "sources match era E24 (versions 0.7.4)"

    failures = main(["drift", "--flashinfer-root", root, "--flashinfer", "0.7.2.post1"])
    out = capsys.readouterr().out
    assert failures == 2  # 0.7.4 adds the two-smaller/global candidate rule and the metadata tile
    assert "flashinfer 0.7.2.post1 (era E23" in out and "sources match era E24 (versions 0.7.4)" in out
    assert "MISMATCH candidate_rule" in out and "MISMATCH routing_metadata_tile" in out


def test_an_empty_root_is_an_input_error(capsys):
    assert main(["drift", "--flashinfer-root", ""]) == 2
    assert "--flashinfer-root" in capsys.readouterr().err
    with pytest.raises(drift.BoundcheckInputError):
        rows("", era_for("0.7.4"))


def test_an_empty_folder_is_not_a_flashinfer_folder(tmp_path, capsys):
    """No fused-MoE source at all: an input error, not a table of MISSING rows
    (tests/test_drift_adversarial.py has more)."""
    assert main(["drift", "--flashinfer-root", str(tmp_path), "--flashinfer", "0.7.4"]) == 2
    assert "--flashinfer-root: not a flashinfer package folder" in capsys.readouterr().err
    with pytest.raises(drift.BoundcheckInputError):
        identify(str(tmp_path))


def test_a_folder_with_one_empty_source_is_read_and_matches_no_era(tmp_path, capsys):
    (tmp_path / "fused_moe").mkdir()
    (tmp_path / FUSED_MOE_CORE).write_text("")
    table = rows(str(tmp_path), era_for("0.7.4"))
    assert table and all(r.status == MISSING for r in table if r.fact not in ("entry_points", "routing_metadata_tile"))
    assert identify(str(tmp_path)) == []
    assert main(["drift", "--flashinfer-root", str(tmp_path), "--flashinfer", "0.7.4"]) == len(table)
    assert "sources match no modeled era" in capsys.readouterr().out


def test_binary_undecodable_and_fifo_sources_are_missing_with_the_reason(tmp_path):
    (tmp_path / LAUNCHER).parent.mkdir(parents=True)
    os.mkfifo(tmp_path / LAUNCHER)  # opening it would block until a writer came
    (tmp_path / drift.RUNNER_H).parent.mkdir(parents=True)
    (tmp_path / drift.RUNNER_H).write_bytes(b"int32_t x;\0\1\2")
    (tmp_path / FUSED_MOE_CORE).parent.mkdir(parents=True)
    (tmp_path / FUSED_MOE_CORE).write_bytes(b"\xff\xfe not utf-8")
    def blocked(*_):
        pytest.fail("drift opened the FIFO and blocked")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)
    try:
        table = {r.fact: r for r in rows(str(tmp_path), era_for("0.7.4"))}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "not a regular file" in table["candidate_rule"].source
    assert "binary" in table["cta_formula"].source
    assert "not UTF-8" in table["tune_max_default"].source
    assert all(r.status == MISSING for r in table.values())


def _write_hybrid_tuning_config(root):
    """A fused_moe/core.py whose tuning config maps buckets with map_to_hybrid_bucket."""
    (root / "fused_moe").mkdir()
    (root / FUSED_MOE_CORE).write_text(
        "def get_trtllm_moe_sm100_module():\n"
        "    def _make_tuning_config(tune_max_num_tokens):\n"
        "        return DynamicTensorSpec((0,), (0,), None, lambda x: map_to_hybrid_bucket(x, tune_max_num_tokens))\n")


def test_the_bucket_map_is_evaluated_never_executed(tmp_path):
    """A map_to_hybrid_bucket doing anything but arithmetic is MISSING, and does not run."""
    sentinel = tmp_path / "executed"
    _write_hybrid_tuning_config(tmp_path)
    (tmp_path / FUSED_MOE_UTILS).write_text(
        "_PHASE1_END = 256\n_PHASE2_STEP = 256\n_PHASE2_END = 2048\n_PHASE3_STEP = 512\n_PHASE3_END = 4096\n\n"
        "def map_to_hybrid_bucket(x: int, max_num_tokens: int) -> int:\n"
        f"    open({str(sentinel)!r}, 'w')\n"
        "    return x\n")
    table = {r.fact: r for r in rows(str(tmp_path), era_for("0.7.4"))}
    assert table["buckets"].status == MISSING and "does not evaluate" in table["buckets"].source
    assert not sentinel.exists()


def test_a_hybrid_map_with_another_phase_is_a_mismatch_naming_where(tmp_path):
    _write_hybrid_tuning_config(tmp_path)
    (tmp_path / FUSED_MOE_UTILS).write_text(
        "_PHASE1_END = 256\n_PHASE2_STEP = 128\n_PHASE2_END = 2048\n_PHASE3_STEP = 512\n_PHASE3_END = 4096\n\n"
        "def _ceil_to_step(x: int, step: int) -> int:\n    return ((x + step - 1) // step) * step\n\n"
        "def map_to_hybrid_bucket(x: int, max_num_tokens: int) -> int:\n"
        "    if x <= 0:\n        return 1\n    if x >= max_num_tokens:\n        return max_num_tokens\n"
        "    if x <= _PHASE1_END:\n        return next_positive_power_of_2(x)\n"
        "    if x <= _PHASE2_END:\n        return min(_ceil_to_step(x, _PHASE2_STEP), max_num_tokens)\n"
        "    if x <= _PHASE3_END:\n        return min(_ceil_to_step(x, _PHASE3_STEP), max_num_tokens)\n"
        "    return min(next_positive_power_of_2(x), max_num_tokens)\n")
    row = {r.fact: r for r in rows(str(tmp_path), era_for("0.7.4"))}["buckets"]
    assert row.status == MISMATCH
    assert "phases 256/128/2048/512/4096" in row.source and "differs at" in row.source


@pytest.mark.skipif(importlib.util.find_spec("flashinfer") is None, reason="flashinfer is not installed here")
def test_the_installed_flashinfer_matches_its_release(capsys):
    version = installed_version()
    if version not in MODELED_VERSIONS:
        pytest.skip(f"the installed flashinfer {version} is not a modeled release")
    assert main(["drift", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["flashinfer"], report["era"], report["era_from"]) == (version, era_for(version).name, "default")
    assert [e["era"] for e in report["identified"]] == [era_for(version).name]


@pytest.mark.skipif(importlib.util.find_spec("flashinfer") is not None, reason="flashinfer is installed here")
def test_without_flashinfer_or_a_root_it_is_an_input_error(capsys):
    assert main(["drift"]) == 2
    assert "--flashinfer-root" in capsys.readouterr().err
