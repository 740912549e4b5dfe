"""`boundcheck drift --execute`: a folder's own geometry code, compiled and run in a child
process, against the model. Unmodified releases match; edited copies whose text still
reads alike are flagged, naming the function and one input where the answers differ;
nothing from the folder runs without the flag; a hanging folder is cut off. (Launchers
built only for the candidates is not host arithmetic: the text fact tuned_tile catches it,
tests/test_drift.py.) The README's table of what --execute runs is the generated one."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boundcheck.drift import tactics
from boundcheck.drift.compiled import LAUNCHER, RUNNER_H, compiler, sources_root
from boundcheck.drift.execute import executed_functions
from boundcheck.releases import MODELED_VERSIONS
from boundcheck.resolution import era_for

ROOT = sources_root()
UTILS = "fused_moe/utils.py"


def _folder(version) -> Path:
    folder = ROOT / version / "flashinfer"
    if not (folder / LAUNCHER).is_file():
        pytest.skip(f"flashinfer {version} sources not fetched: python tools/fetch_flashinfer_sources.py")
    if compiler() is None:
        pytest.skip("no C++ compiler")
    return folder


def _drift(folder, *extra, execute=True, timeout=600):
    argv = [sys.executable, "-m", "boundcheck", "drift", "--flashinfer-root", str(folder), "--json", *extra]
    if execute:
        argv.append("--execute")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    report = json.loads(result.stdout)
    return result.returncode, report, {r["function"]: r for r in report["executed"]}


# What `drift --execute` reads from a folder: releases of one era whose four files are
# byte-identical get identical answers, so one of them stands for the group.
EXECUTED_FILES = (LAUNCHER, RUNNER_H, "utils.py", UTILS)


def _release_groups() -> list[tuple[str, ...]]:
    """Every modeled release, grouped by (era, the bytes of EXECUTED_FILES); a release
    whose sources are not fetched is a group of its own (and skips)."""
    groups: dict = {}
    for version in MODELED_VERSIONS:
        folder = ROOT / version / "flashinfer"
        digest = hashlib.sha256()
        for relative in EXECUTED_FILES:
            path = folder / relative
            digest.update(path.read_bytes() if path.is_file() else version.encode())
            digest.update(b"\0")
        groups.setdefault((era_for(version).name, digest.hexdigest()), []).append(version)
    return [tuple(g) for g in groups.values()]


@pytest.mark.parametrize("group", _release_groups(), ids=lambda g: "+".join(g))
def test_unmodified_releases_match_when_executed(group):
    """Every modeled release (60, in about 42 groups of identical executed files)."""
    version = group[0]
    code, report, executed = _drift(_folder(version), "--flashinfer", version)
    assert code == 0 and report["failures"] == 0, report["executed"]
    assert executed["getMaxNumCtasInBatchDim"]["status"] == "match"
    assert executed["getMaxNumCtasInBatchDim"]["points"] > 1_000_000
    buckets = [executed.get(name, {}).get("status") for name in ("map_to_hybrid_bucket", "last_positive_power_of_2")]
    if era_for(version).tile_source == "launcher":
        assert "match" in buckets  # the folder's own bucket map, executed
    assert all(r["status"] in ("match", "absent") for r in executed.values())
    # the rows are the functions the README's table lists for the release (those it runs
    # as another's callee aside)
    listed = executed_functions(_folder(version), era_for(version))
    assert {n for n, r in executed.items() if r["status"] != "absent"} == \
        {n for n, compared in listed.items() if not compared.startswith("called by")}, (listed, executed)
    resolve = executed["resolveMoeTileAndConfig"]  # 0.6.7+: executed; before, resolved inline
    assert resolve["status"] == ("match" if tactics.expected(era_for(version)) else "absent"), resolve
    assert (resolve["points"] > 200_000) == tactics.expected(era_for(version))
    if era_for(version).tile_source == "launcher":
        tile_sets = [name for name in executed if "SupportedTileN" in name or "(inline" in name]
        assert tile_sets and all(executed[name]["status"] == "match" for name in tile_sets)


@pytest.fixture
def copy_of_0_7_2(tmp_path):
    source = _folder("0.7.2.post1")
    target = tmp_path / "flashinfer"
    shutil.copytree(source, target)
    return target


def _edit(folder, relative, pattern, replacement, count=1):
    path = folder / relative
    text, made = re.subn(pattern, replacement, path.read_text())
    assert made == count, f"{relative}: {pattern!r} matched {made} times"
    path.write_text(text)


_TWO_SMALLER = """auto down = it;
  for (int i = 0; i < 2 && down != supported_tile_nums.begin(); ++i) {
    down = std::prev(down);
    selected_tile_nums.insert(*down);
  }"""

EDITS = {
    # 0.7.4's extra tuner candidate in 0.7.2.post1's computeSelectedTileN
    "two smaller candidates": (LAUNCHER,
                               r"if \(it != supported_tile_nums\.begin\(\)\) \{\s*selected_tile_nums\.insert\(\*std::prev\(it\)\);\s*\}",
                               _TWO_SMALLER, ("computeSelectedTileN", "selectDefaultTileN", "resolveMoeTileAndConfig")),
    # the default tile returned early: the largest candidate instead of the smallest (and
    # resolveMoeTileAndConfig, which falls back to it, launches that tile)
    "default returns early": (LAUNCHER, r"return \*selected\.begin\(\);", "return *selected.rbegin();",
                              ("selectDefaultTileN", "resolveMoeTileAndConfig")),
    # which tactics keep their tile: 0.7.4's rule (a tile without a config is kept) pasted in
    "a tile without a config keeps it": (LAUNCHER, r"if \(tile_N == -1 \|\| config == -1\) \{", "if (tile_N == -1) {",
                                         ("resolveMoeTileAndConfig",)),
    # which tactics keep their tile: those of tiles above 128 fall back to the default
    "large tiles fall back": (LAUNCHER, r"if \(tile_N == -1 \|\| config == -1\) \{",
                              "if (tile_N == -1 || config == -1 || tile_N > 128) {", ("resolveMoeTileAndConfig",)),
    # one CTA more in runner.h's count
    "a term added to the CTA count": (RUNNER_H, r"maxNumCtasInBatchDim \+= \(numRemainingTokens / tileTokensDim\);",
                                      "maxNumCtasInBatchDim += (numRemainingTokens / tileTokensDim) + 1;",
                                      ("getMaxNumCtasInBatchDim",)),
    # 192 offered to MxFP4 weights with any activation (the pair condition loosened)
    "a loosened tile-set condition": (LAUNCHER, r"\(dtype_weights == btg::Dtype::MxE2m1 && dtype_act == btg::Dtype::MxE4m3\)",
                                      "(dtype_weights == btg::Dtype::MxE2m1)", ("FP4BlockScaleLauncher::getSupportedTileNums",)),
    # phase 2 of the hybrid buckets rounding one token further, the constants unchanged
    "bucket rounding": (UTILS, r"return min\(_ceil_to_step\(x, _PHASE2_STEP\), max_num_tokens\)",
                        "return min(_ceil_to_step(x + 1, _PHASE2_STEP), max_num_tokens)", ("map_to_hybrid_bucket",)),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_meaning_is_flagged_by_function_with_an_input(copy_of_0_7_2, edit):
    relative, pattern, replacement, functions = EDITS[edit]
    _edit(copy_of_0_7_2, relative, pattern, replacement)
    code, report, executed = _drift(copy_of_0_7_2, "--flashinfer", "0.7.2.post1")
    assert code != 0
    for function in functions:  # the edited one, and what is computed from it
        assert executed[function]["status"] == "differs", report["executed"]
        detail = executed[function]["detail"]
        assert "first" in detail and "flashinfer" in detail and "model" in detail
    others = [r for name, r in executed.items() if name not in functions]
    assert others and all(r["status"] == "match" for r in others), others


def test_0_7_4_with_the_older_tactic_rule_is_flagged(tmp_path):
    """0.7.4 keeps a tactic's tile whose config is -1; its resolveMoeTileAndConfig edited back
    to 0.7.2.post1's rule (such a tactic falls back to the default tile) reads alike to every
    text fact, and drift --execute names the function and a tactic with config -1."""
    target = tmp_path / "flashinfer"
    shutil.copytree(_folder("0.7.4"), target)
    _edit(target, LAUNCHER, r"if \(tile_N == -1\) \{", "if (tile_N == -1 || config == -1) {")
    code, report, executed = _drift(target, "--flashinfer", "0.7.4")
    assert code != 0 and report["failures"] >= 1
    row = executed["resolveMoeTileAndConfig"]
    assert row["status"] == "differs", report["executed"]
    assert re.search(r"first: tactic=\[\d+, -1\] .*: flashinfer \(\d+, -1\), model \(\d+, -1\)", row["detail"]), row
    assert all(r["status"] == "match" for name, r in executed.items() if name != "resolveMoeTileAndConfig")
    assert all(f["status"] == "match" for f in report["facts"]), report["facts"]


README = Path(__file__).resolve().parents[1] / "README.md"
_LIST = re.compile(r"<!-- executed functions: (.*?) -->\n(.*?)\n<!-- end of the executed functions -->", re.S)


def test_the_readme_lists_every_executed_function_with_its_releases():
    """The README's table is what tools/compiled_reference.py --executed-list prints from
    the sources of every modeled release (resolveMoeTileAndConfig included)."""
    from boundcheck.drift.execute import executed_functions_markdown

    for version in MODELED_VERSIONS:
        if not (ROOT / version / "flashinfer" / LAUNCHER).is_file():
            pytest.skip(f"flashinfer {version} sources not fetched: python tools/fetch_flashinfer_sources.py")
    found = _LIST.findall(README.read_text())
    assert len(found) == 1, "the README has no (or more than one) generated list of executed functions"
    (how, table), = found
    assert "tools/compiled_reference.py --executed-list" in how
    generated = executed_functions_markdown(ROOT)
    assert table == generated, "the README's list is stale: python tools/compiled_reference.py --executed-list"
    assert re.search(r"^\| `resolveMoeTileAndConfig` \| 0\.6\.7 - 0\.7\.4 \(32\) \|", generated, re.M)


def test_nothing_runs_without_the_flag_and_a_hang_is_cut_off(copy_of_0_7_2, tmp_path):
    marker = tmp_path / "ran"
    _edit(copy_of_0_7_2, UTILS, r"(def map_to_hybrid_bucket\(x: int, max_num_tokens: int\) -> int:\n)",
          rf"\1    open({str(marker)!r}, 'w').close()\n")
    code, report, executed = _drift(copy_of_0_7_2, "--flashinfer", "0.7.2.post1", execute=False)
    assert not marker.exists() and executed == {}
    _drift(copy_of_0_7_2, "--flashinfer", "0.7.2.post1")
    assert marker.exists()  # executed, in the child, because it was asked for
    _edit(copy_of_0_7_2, UTILS, r"(def map_to_hybrid_bucket\(x: int, max_num_tokens: int\) -> int:\n)",
          r"\1    while True:\n        pass\n")
    code, report, executed = _drift(copy_of_0_7_2, "--flashinfer", "0.7.2.post1", "--execute-timeout", "20", timeout=300)
    # Cut off by the call's own budget (1 s), or the comparison's child killed at 20 s; the
    # other comparisons (each with its own 20 s) still report.
    row = executed.get("map_to_hybrid_bucket") or executed["(tuning buckets)"]
    assert code != 0 and row["status"] in ("error", "timeout") and "ran past" in row["detail"], row
    assert "(all)" not in executed
    assert "getMaxNumCtasInBatchDim" in executed or "(compiled functions)" in executed


def test_bad_timeout_is_an_input_error(copy_of_0_7_2):
    result = subprocess.run([sys.executable, "-m", "boundcheck", "drift", "--flashinfer-root", str(copy_of_0_7_2),
                             "--execute", "--execute-timeout", "nan"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--execute-timeout" in result.stderr


def test_launchers_built_only_for_the_candidates_fail_drift_execute(copy_of_0_7_2):
    """The fourth kind of edit is structure, not host arithmetic: which tiles get a runner.
    `drift --execute` still fails on it, through the text fact tuned_tile, while every
    executed function matches (their arithmetic did not change)."""
    from tests.test_drift import build_launchers_for_candidates_only

    build_launchers_for_candidates_only(copy_of_0_7_2)
    code, report, executed = _drift(copy_of_0_7_2, "--flashinfer", "0.7.2.post1")
    assert code != 0
    flagged = [f["fact"] for f in report["facts"] if f["status"] != "match"]
    assert flagged == ["tuned_tile"], report["facts"]
    assert all(r["status"] == "match" for r in executed.values())
