"""Known faults that chunking cannot fix (boundcheck/known_faults.py): each range against
the fetched sources of every modeled release, faults_for at the range's edges, and what
`chunk` and `status` print and report for a release inside and outside it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from boundcheck.known_faults import KNOWN_FAULTS, ROUTE_MAP_OVER_READ, faults_for
from boundcheck.releases import MODELED_VERSIONS
from boundcheck.versions import version_key

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(os.environ.get("BOUNDCHECK_FLASHINFER_CACHE", "~/.cache/boundcheck/flashinfer-src")).expanduser()
NO_SOURCES = (f"flashinfer sources are not unpacked at {SOURCES}/<VERSION>/flashinfer "
              "(tools/fetch_flashinfer_sources.py fills it; set BOUNDCHECK_FLASHINFER_CACHE)")
LAUNCHER = "data/csrc/trtllm_fused_moe_kernel_launcher.cu"

INSIDE, OUTSIDE = "0.6.11.post2", "0.7.2.post1"  # the release the 305k crash most likely ran; vLLM 0.33.0's


def _launcher(version: str) -> str:
    path = SOURCES / version / "flashinfer" / LAUNCHER
    if not path.is_file():
        pytest.skip(f"{path} is not unpacked ({NO_SOURCES})")
    return path.read_text()


# The route map as a tensor of its own: `[at::Tensor ]permuted_idx_to_token_idx = ALLOC(...)`
# (at::detail::empty_cuda up to 0.5.2, alloc_tensor from 0.5.3, _alloc_tensor in 0.7.4); not
# `workspace.permuted_idx_to_token_idx = ...`, which only passes the pointer on.
ALLOCATION = re.compile(r"(?<![\w.>])(?:at::Tensor\s+)?permuted_idx_to_token_idx\s*=\s*[\w:]+\s*\(")
# 0.2.8 carves it out of the caller's workspace buffer instead.
WORKSPACE_CARVE = "size_t permuted_idx_to_token_idx_size = max_num_padded_tokens * sizeof(int32_t);"


def route_map_allocations(text: str) -> list[tuple[int, str, str]]:
    """(line where the statement starts, the statement with whitespace runs joined, the
    size inside its first braces) for each allocation of the route map."""
    found = []
    for match in ALLOCATION.finditer(text):
        statement = " ".join(text[match.start():text.index(";", match.start()) + 1].split())
        size = re.search(r"\{([^{}]*)\}", statement)
        found.append((text.count("\n", 0, match.start()) + 1, statement, size.group(1).strip() if size else ""))
    return found


def route_map_kind(text: str) -> str:
    """unpadded | padded | workspace; anything else is named, and fails the tests."""
    found = route_map_allocations(text)
    sizes = {size for _, _, size in found}
    if not found:
        return "workspace" if WORKSPACE_CARVE in text else "no route map allocation found"
    if sizes == {"max_num_padded_tokens"}:
        return "unpadded"
    if sizes == {"max_num_padded_tokens + 1"}:
        return "padded"
    return f"unclassified sizes {sorted(sizes)}"


# --- (a) the range, against every fetched release ----------------------------------------

@pytest.mark.skipif(not SOURCES.is_dir(), reason=NO_SOURCES)
@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_route_map_fault_holds_exactly_where_the_allocation_has_no_spare_element(version):
    kind = route_map_kind(_launcher(version))
    assert kind in ("unpadded", "padded", "workspace"), f"flashinfer {version}: {kind}"
    holds = ROUTE_MAP_OVER_READ in faults_for(version)
    # the fault is the unpadded allocation: the padded one is the fix, and in the caller's
    # workspace (0.2.8) the int32 after the route map is still inside the allocation
    assert holds == (kind == "unpadded"), f"flashinfer {version}: route map {kind}, fault listed: {holds}"


@pytest.mark.skipif(not SOURCES.is_dir(), reason=NO_SOURCES)
@pytest.mark.parametrize("citation", ROUTE_MAP_OVER_READ.faulty + ROUTE_MAP_OVER_READ.fixed,
                         ids=lambda c: c.version)
def test_citations_are_the_sources_verbatim(citation):
    """Every allocation of the cited release starts at the cited lines and reads as cited."""
    assert citation.file == LAUNCHER
    found = route_map_allocations(_launcher(citation.version))
    assert tuple(line for line, _, _ in found) == citation.lines
    assert {statement for _, statement, _ in found} == {citation.code}


def test_citations_are_the_edges_of_the_ranges():
    for fault in KNOWN_FAULTS:
        assert [c.version for c in fault.faulty] == [fault.first, fault.last]
        assert [c.version for c in fault.fixed] == [fault.fixed_in, MODELED_VERSIONS[-1]]
        # fixed in the release right after the last faulty one
        assert MODELED_VERSIONS[MODELED_VERSIONS.index(fault.last) + 1] == fault.fixed_in
        assert fault.code == fault.faulty[-1].code and str(fault.faulty[-1].lines[0]) in fault.where


def test_the_fetched_range_is_the_recorded_one():
    """Independent of faults_for: the first and last unpadded release of the sources, and
    the first padded one, are the fault's first, last and fixed_in."""
    if not SOURCES.is_dir():
        pytest.skip(NO_SOURCES)
    kinds = {}
    for version in MODELED_VERSIONS:
        path = SOURCES / version / "flashinfer" / LAUNCHER
        if path.is_file():
            kinds[version] = route_map_kind(path.read_text())
    if len(kinds) < len(MODELED_VERSIONS):
        pytest.skip(f"{len(MODELED_VERSIONS) - len(kinds)} modeled releases are not unpacked")
    unpadded = [v for v in MODELED_VERSIONS if kinds[v] == "unpadded"]
    padded = [v for v in MODELED_VERSIONS if kinds[v] == "padded"]
    fault = ROUTE_MAP_OVER_READ
    assert (unpadded[0], unpadded[-1], padded[0]) == (fault.first, fault.last, fault.fixed_in)
    # one contiguous run each: the pad never went away again
    assert unpadded == list(MODELED_VERSIONS[MODELED_VERSIONS.index(fault.first):MODELED_VERSIONS.index(fault.last) + 1])
    assert padded == list(MODELED_VERSIONS[MODELED_VERSIONS.index(fault.fixed_in):])


# --- (b) faults_for at the edges ------------------------------------------------------------

@pytest.mark.parametrize("version,holds", [
    ("0.2.8", False), ("0.2.9", True), ("0.6.0", True), ("0.6.8.post1", True), (INSIDE, True),
    ("0.6.15", True), ("0.6.15.post1", True), ("0.6.15.post1+cu128", True), ("0.6.16", False),
    ("0.6.16.post4", False), (OUTSIDE, False), ("0.7.4", False), ("0.8.0", False),
])
def test_faults_for_at_the_edges(version, holds):
    assert (faults_for(version) == [ROUTE_MAP_OVER_READ]) is holds
    assert faults_for(version) == [] or holds


def test_faults_for_follows_the_release_order():
    first, last = version_key(ROUTE_MAP_OVER_READ.first), version_key(ROUTE_MAP_OVER_READ.last)
    for version in MODELED_VERSIONS:
        assert bool(faults_for(version)) == (first <= version_key(version) <= last), version
    assert faults_for(None) == []


# --- the command line -----------------------------------------------------------------------

def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "boundcheck", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


CHUNK = ("chunk", "--num-experts", "512", "--top-k", "22", "--precision", "nvfp4")


def test_chunk_reports_the_fault_inside_the_range():
    result = run(*CHUNK, "--flashinfer", INSIDE, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [f["name"] for f in report["known_faults"]] == ["route_map_over_read"]
    fault = report["known_faults"][0]
    assert (fault["first"], fault["last"], fault["fixed_in"]) == ("0.2.9", "0.6.15.post1", "0.6.16")
    assert "max_num_padded_tokens}" in fault["code"] and "+ 1" not in fault["code"]
    assert fault["message"].startswith(f"known fault in flashinfer {INSIDE} that chunking cannot fix: ")
    assert report["max_chunk_tokens"] == 300_000 and report["grid_bound"] == 378_344  # bounds unchanged

    text = run(*CHUNK, "--flashinfer", INSIDE)
    assert text.returncode == 0, text.stderr
    lines = [line for line in text.stdout.splitlines() if line.startswith("known fault")]
    assert lines == [fault["message"]]
    assert "route map" in lines[0] and "fixed in 0.6.16" in lines[0]


def test_chunk_reports_no_fault_outside_the_range():
    result = run(*CHUNK, "--flashinfer", OUTSIDE, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["known_faults"] == []
    text = run(*CHUNK, "--flashinfer", OUTSIDE)
    assert text.returncode == 0 and "known fault" not in text.stdout


def status(*argv, env=None):
    return run("status", *argv, env=env)


def test_status_reports_the_fault_of_the_release_it_bounds():
    pytest.importorskip("flashinfer.fused_moe")
    from importlib import metadata

    installed = metadata.version("flashinfer-python")
    if faults_for(installed):
        pytest.skip(f"the installed flashinfer {installed} has a known fault itself")
    result = status("--json", "--num-experts", "512", "--top-k", "22", "--precision", "nvfp4", "--flashinfer", INSIDE)
    assert result.returncode == 0, result.stderr  # the guards still engage: exit code unchanged
    doc = json.loads(result.stdout)
    assert doc["known_faults"] == []  # the release that runs here
    assert [f["name"] for f in doc["bounds"]["known_faults"]] == ["route_map_over_read"]
    message = doc["bounds"]["known_faults"][0]["message"]
    assert f"flashinfer {INSIDE} that chunking cannot fix" in message

    text = status("--num-experts", "512", "--top-k", "22", "--precision", "nvfp4", "--flashinfer", INSIDE)
    assert text.returncode == 0 and message in text.stdout.splitlines()

    outside = status("--json", "--num-experts", "512", "--top-k", "22", "--precision", "nvfp4",
                     "--flashinfer", OUTSIDE)
    assert outside.returncode == 0, outside.stderr
    doc = json.loads(outside.stdout)
    assert doc["known_faults"] == [] and doc["bounds"]["known_faults"] == []
    plain = status()
    assert plain.returncode == 0 and "known fault" not in plain.stdout


def test_status_reports_the_fault_of_the_release_that_runs(tmp_path):
    """A flashinfer module of an affected release (one that does not import: exit 1 as before)."""
    pytest.importorskip("flashinfer.fused_moe")
    package = tmp_path / "flashinfer"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('broken build')\n")
    (package / "_build_meta.py").write_text(f"__version__ = '{INSIDE}'\n")
    result = status("--json", env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert result.returncode == 1  # the guards do not engage; the fault changes no exit code
    doc = json.loads(result.stdout)
    assert doc["flashinfer"]["release"] == INSIDE
    assert [f["name"] for f in doc["known_faults"]] == ["route_map_over_read"]
    text = status(env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert text.returncode == 1 and doc["known_faults"][0]["message"] in text.stdout.splitlines()
