"""The 32-bit inventory (boundcheck/drift/inventory): libclang parses each fetched
release's MoE path, the findings equal the recorded ones, every 32-bit entry of
boundcheck/kernel_limits.py is found by the parser where it holds, with the compiler's
type, on a path from the launcher, and `drift --inventory` names a release whose 32-bit
arithmetic changed.

That every finding is classified, and that each rule's bound and source facts hold, is
tests/test_inventory_rules.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from pathlib import Path

from boundcheck.drift.compiled import sources_root
from boundcheck.kernel_limits import LIMITS_TABLE
from boundcheck.releases import MODELED_VERSIONS
from boundcheck.versions import version_key

pytest.importorskip("clang.cindex", reason="libclang (pip install libclang) parses the sources")

from boundcheck.drift.inventory import classes, record  # noqa: E402
from boundcheck.drift.inventory.front_end import rewrite_launches  # noqa: E402
from boundcheck.drift.inventory.release import inventory  # noqa: E402

RECORDED = record.load()
FRESH = ("0.2.8", "0.6.11", "0.7.2.post1")  # the first release, the per-token one's first, vLLM's pin


def _data(version):
    data = sources_root() / version / "flashinfer" / "data"
    if not (data / "csrc" / "nv_internal").is_dir() and version_key(version) >= version_key("0.5.0"):
        pytest.skip(f"flashinfer {version} sources with nv_internal not fetched: python tools/fetch_flashinfer_sources.py")
    if not data.is_dir():
        pytest.skip(f"flashinfer {version} sources not fetched: python tools/fetch_flashinfer_sources.py")
    return data


def _squash(text):
    return re.sub(r"\s+", "", text)


def test_a_launch_keeps_its_kernel_call_and_its_lines():
    text = "  k<T, 2><<<grid,\n block, 0, stream>>>(a,\n b);\nnext;\n"
    out = rewrite_launches(text)
    assert "k<T, 2>(a,\n b), __bc_launch(grid,  block, 0, stream);" in out
    assert out.count("\n") == text.count("\n") and out.splitlines()[-1] == "next;"


def test_every_modeled_release_has_a_recorded_inventory():
    assert sorted(RECORDED, key=version_key) == list(MODELED_VERSIONS)
    for version, entry in RECORDED.items():
        assert entry["reached"] >= entry["distinct"] == len(entry["reached_findings"]) > 0, version


def _entries(version):
    v = version_key(version)
    return [e for e in LIMITS_TABLE if e.kind != "grid" and v >= version_key(e.first)
            and (not e.last or v <= version_key(e.last))]


@pytest.mark.parametrize("version", MODELED_VERSIONS)
def test_the_parser_finds_every_32_bit_entry_where_it_holds(version):
    """Each int32/uint32 entry of kernel_limits is, in every release of its range, an
    expression the parser found on a path from the launcher, of the entry's type."""
    found = [tuple(k) for k in RECORDED[version]["reached_findings"]]
    for entry in _entries(version):
        code = _squash(entry.code_in(version))
        hits = [k for k in found if _squash(k[2]) and _squash(k[2]) in code]
        assert hits, f"{entry.name} not found by the parser in {version}"
        want = {"unsigned int"} if entry.kind == "uint32" else {"int"}
        if entry.kind == "int32" and _squash(entry.code_in(version)).startswith("int32_t"):
            want.add("unsigned int")  # an unsigned product declared int32_t: narrowed, so int32's limit
        assert any(k[3].split(" (")[0] in want for k in hits), (entry.name, version, hits)


@pytest.mark.parametrize("version", FRESH)
def test_a_fresh_parse_equals_the_record(version):
    found = inventory(_data(version))
    assert record.compare(found, version).same
    assert record.summary(found)["holes_on_path"] == sorted(map(tuple, RECORDED[version]["holes_on_path"]))
    modeled = classes.counts(found, version)[classes.MODELED]
    assert modeled >= len(_entries(version))
    print(f"{version}: {len(found.findings)} findings, {len(found.reached)} reached, {modeled} modeled")


@pytest.mark.parametrize("version,file,code,ctype", [
    ("0.7.2.post1", "quantization.cuh", "blockIdx.x*numColVecs", "unsigned int"),  # FP8 requantization
    ("0.7.2.post1", "quantization.cuh", "rowIdx*num_vecs_per_row+vecIdx", "unsigned int"),  # per-token NVFP4
    ("0.6.11", "quantization.cuh", "rowIdx*num_vecs_per_row+vecIdx", "unsigned int"),  # its 0.6.11 text
    ("0.7.2.post1", "trtllm_fused_moe_routing_custom.cuh", "tokenIdx*params.mNumExperts", "int (from declarations)"),
])
def test_the_parser_types_the_offsets_as_the_compiler_does(version, file, code, ctype):
    found = [tuple(k) for k in RECORDED[version]["reached_findings"]]
    hits = [k for k in found if k[0].endswith(file) and _squash(k[2]) == code]
    assert hits and {k[3] for k in hits} == {ctype}, hits


def _copy(tmp_path, version):
    source = _data(version).parent
    copy = tmp_path / "flashinfer"
    shutil.copytree(source, copy, symlinks=True)
    return copy


def _drift(root, version):
    result = subprocess.run([sys.executable, "-m", "boundcheck", "drift", "--flashinfer-root", str(root),
                             "--flashinfer", version, "--inventory", "--json"], capture_output=True, text=True,
                            timeout=900)
    return result.returncode, json.loads(result.stdout)["inventory"]


def test_drift_names_a_release_whose_32_bit_arithmetic_changed(tmp_path):
    root = _copy(tmp_path, "0.7.2.post1")
    code, same = _drift(root, "0.7.2.post1")
    assert code == 0 and same["same_as"] == "0.7.2.post1" and not same["added"], same
    quantization = root / "data/csrc/nv_internal/tensorrt_llm/kernels/quantization.cuh"
    text = quantization.read_text()
    assert "blockIdx.x * numColVecs;" in text
    # the same row offset, written as the product of a second unsigned index
    quantization.write_text(text.replace("blockIdx.x * numColVecs;", "blockIdx.x * numColVecs * gridDim.y;", 1))
    code, changed = _drift(root, "0.7.2.post1")
    assert code != 0 and changed["same_as"] is None and changed["compared_with"] == "0.7.2.post1"
    assert any("numColVecs * gridDim . y" in row[2] for row in changed["added"]), changed["added"]


def test_the_docs_table_is_what_the_record_gives():
    result = subprocess.run([sys.executable, "tools/inventory_table.py", "--check"], capture_output=True, text=True,
                            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_holes_are_named_by_function():
    """A parse error is placed in the innermost function definition around it, and that
    function is marked on the path when the launcher reaches it."""
    from boundcheck.drift.inventory.extract import UnitFacts
    from boundcheck.drift.inventory.release import OUTSIDE, holes_of

    facts = UnitFacts(extents={"ns::outer": [("a.cu", 1, 40)], "ns::inner": [("a.cu", 10, 20)],
                               "ns::other": [("b.cu", 1, 5)]})
    sites = [[("a.cu", 12, "no matching function"), ("a.cu", 30, "undeclared"), ("a.cu", 50, "top level")],
             [("a.cu", 12, "no matching function")]]  # a header's error, repeated by a second unit: once
    found = holes_of(Path("/nonexistent"), [facts], sites, reached={"ns::inner"})
    assert [(h.line, h.function, h.reached) for h in found] == [
        (12, "ns::inner", True), (30, "ns::outer", False), (50, OUTSIDE, False)]
