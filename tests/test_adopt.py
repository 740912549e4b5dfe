"""`boundcheck adopt` on a simulated next release: 0.7.4's sources relabeled 0.7.5 are
adopted as E24 (every comparison equal), after which `chunk`, `prove` and the guard treat
0.7.5 as E24 and say so; the same folder with one geometry function changed is refused,
nothing recorded, the executed function named; an adoption whose files changed since is
ignored by the guard with a warning. Needs the fetched 0.7.4 sources, a C++ compiler
(`drift --execute`) and libclang (the inventory)."""

from __future__ import annotations

import io
import json
import shutil
import warnings
from contextlib import redirect_stdout

import pytest

from boundcheck import adopted, resolution
from boundcheck.cli import main
from boundcheck.drift.compiled import sources_root
from boundcheck.runtime import release as runtime_release

pytest.importorskip("clang.cindex", reason="libclang (pip install libclang) parses the sources")

SOURCE = "0.7.4"
NEW = "0.7.5"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(adopted.HOME_VARIABLE, str(tmp_path / "home"))
    adopted.reload()
    yield tmp_path / "home"
    monkeypatch.delenv(adopted.HOME_VARIABLE)
    adopted.reload()


def _release_copy(tmp_path, name="next"):
    source = sources_root() / SOURCE / "flashinfer"
    if not (source / "data" / "csrc").is_dir() or shutil.which("g++") is None:
        pytest.skip(f"flashinfer {SOURCE} sources (tools/fetch_flashinfer_sources.py) and g++ needed")
    folder = tmp_path / name / "flashinfer"
    shutil.copytree(source, folder, symlinks=True)
    meta = folder / "_build_meta.py"
    meta.write_text(meta.read_text().replace(f'__version__ = "{SOURCE}"', f'__version__ = "{NEW}"'))
    return folder


def _run(*argv):
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def test_an_equal_release_is_adopted_and_every_command_follows(tmp_path, home):
    folder = _release_copy(tmp_path)
    with pytest.raises(Exception, match="not modeled"):
        resolution.era_for(NEW)
    code, out = _run("adopt", "--flashinfer-root", str(folder), "--json")
    report = json.loads(out)
    assert code == 0 and report["adopted"]["era"] == "E24" and report["adopted"]["compared_with"] == SOURCE, out
    assert [a["equal"] for a in report["attempts"]] == [True]
    stored = json.loads((home / "adopted.json").read_text())["adopted"][NEW]
    assert stored["digest"] == adopted.files_digest(folder) and stored["folder"] == str(folder)
    # every command takes 0.7.5 as E24 and says how it is known
    assert resolution.era_for(NEW).name == "E24"
    code, out = _run("chunk", "--num-experts", "256", "--top-k", "8", "--flashinfer", NEW, "--json")
    chunk = json.loads(out)
    assert code == 0 and chunk["era"] == "E24" and chunk["adopted"].startswith("adopted by executed equivalence")
    code, reference = _run("chunk", "--num-experts", "256", "--top-k", "8", "--flashinfer", SOURCE, "--json")
    assert json.loads(reference)["max_chunk_tokens"] == chunk["max_chunk_tokens"]
    assert json.loads(reference)["adopted"] is None
    code, out = _run("chunk", "--num-experts", "256", "--top-k", "8", "--flashinfer", NEW)
    assert "adopted by executed equivalence with E24 (0.7.4)" in out.splitlines()[0]
    code, out = _run("prove", "--flashinfer", NEW)
    assert code == 0 and "adopted by executed equivalence" in out
    # the guard: the installed folder still holds the adopted files
    guarded = runtime_release.for_version(NEW, NEW, str(folder))
    assert guarded.era.name == "E24" and not guarded.fallback and "adopted" in guarded.describe()


def test_a_changed_geometry_is_refused_and_nothing_recorded(tmp_path, home):
    folder = _release_copy(tmp_path)
    runner = folder / "data" / "include" / "flashinfer" / "trtllm" / "fused_moe" / "runner.h"
    text = runner.read_text()
    old = "maxNumCtasInBatchDim += numExpertsFilled;"
    assert old in text
    runner.write_text(text.replace(old, "maxNumCtasInBatchDim += numExpertsFilled + 1;", 1))
    code, out = _run("adopt", "--flashinfer-root", str(folder), "--json")
    report = json.loads(out)
    assert code == 1 and report["adopted"] is None and not (home / "adopted.json").exists()
    differences = [d["what"] for a in report["attempts"] for d in a["differences"]]
    assert any("getMaxNumCtasInBatchDim" in what for what in differences), differences
    with pytest.raises(Exception, match="not modeled"):
        resolution.era_for(NEW)


def test_an_adoption_whose_files_changed_is_ignored_by_the_guard(tmp_path, home):
    folder = tmp_path / "f" / "flashinfer"
    runner = folder / "data" / "csrc" / "trtllm_fused_moe_runner.cu"  # a file the digest covers
    runner.parent.mkdir(parents=True)
    runner.write_text("int x;\n")
    empty = adopted.files_digest(tmp_path)
    adopted.record(adopted.Adoption(NEW, "E24", "2026-12-07", str(folder), adopted.files_digest(folder), SOURCE))
    assert adopted.lookup(NEW).digest != empty
    assert runtime_release.for_version(NEW, NEW, str(folder)).era.name == "E24"
    runner.write_text("long x;\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        guarded = runtime_release.for_version(NEW, NEW, str(folder))
    assert guarded.fallback and guarded.adoption is None  # newer than modeled: the `any` fallback again
    assert any("does not match the files" in str(w.message) for w in caught)


def test_a_modeled_release_needs_no_adoption(tmp_path, home):
    source = sources_root() / SOURCE / "flashinfer"
    if not source.is_dir():
        pytest.skip("sources not fetched")
    code, out = _run("adopt", "--flashinfer-root", str(source))
    assert code == 0 and "is modeled (E24): nothing to adopt" in out and not (home / "adopted.json").exists()


def test_a_bad_store_or_timeout_is_named(tmp_path, home):
    home.mkdir(parents=True)
    (home / "adopted.json").write_text("{not json")
    assert adopted.reload() == {}
    assert main(["adopt", "--flashinfer-root", str(tmp_path), "--execute-timeout", "0"]) == 2
