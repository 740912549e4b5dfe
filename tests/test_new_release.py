"""The next patch release, simulated: tools/new_release.py adds one line to one data file
(boundcheck/releases.py) and what derives from it follows: the guard's signatures, the
32-bit inventory and its docs table and the README's tables are regenerated, `drift --execute --inventory` finds the
release equal to its era; `chunk`, `prove` and the guard's signature reader take the new
release as its era. The release is 0.7.5, a copy of 0.7.4's
sources under another name, in a copy of this checkout."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boundcheck.drift.compiled import CACHE_VARIABLE, sources_root
from boundcheck.releases import MODELED_VERSIONS

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("new_release", REPO / "tools" / "new_release.py")
new_release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(new_release)

TEXT = (REPO / "boundcheck" / "releases.py").read_text()


def _changed_lines(old: str, new: str) -> list:
    return [(a, b) for a, b in zip(old.splitlines(), new.splitlines()) if a != b]


def test_a_release_is_one_line_in_its_era():
    new = new_release.add_version(TEXT, "E24", "0.7.5")
    assert len(new.splitlines()) == len(TEXT.splitlines())
    [(before, after)] = _changed_lines(TEXT, new)
    assert '("0.7.4",)' in before and '("0.7.4", "0.7.5",)' in after
    # a release inside an era goes to its place there
    [(_, after)] = _changed_lines(TEXT, new_release.add_version(TEXT, "E17", "0.6.13.post1"))
    assert '("0.6.13", "0.6.13.post1", "0.6.14")' in after


@pytest.mark.parametrize("era, version, word", [
    ("E23", "0.7.5", "release order"),  # after E24's 0.7.4: not E23's
    ("E24", "0.7.4", "modeled already"),
    ("E99", "0.7.5", "no era 'E99'"),
    ("E1", "0.2.9.post1", "release order"),  # E2's 0.2.9 precedes it
])
def test_a_release_out_of_place_is_refused(era, version, word):
    with pytest.raises(new_release.NewReleaseError, match=word):
        new_release.add_version(TEXT, era, version)


def _run(args, cwd, env, timeout=600):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A copy of the checkout (imports resolve to it), a sources folder where 0.7.5 is 0.7.4's
    tree, and tools/new_release.py run on it."""
    real = sources_root()
    if not all((real / v / "flashinfer").is_dir() for v in MODELED_VERSIONS):
        pytest.skip("flashinfer's sources not fetched: python tools/fetch_flashinfer_sources.py")
    root = tmp_path_factory.mktemp("next-release")
    repo = root / "repo"
    for name in ("boundcheck", "runtime", "proofs", "tools"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "docs").mkdir()
    shutil.copy(REPO / "README.md", repo / "README.md")
    # the installed layout: boundcheck.runtime and boundcheck.proofs inside the package
    (repo / "boundcheck" / "runtime").symlink_to(repo / "runtime", target_is_directory=True)
    (repo / "boundcheck" / "proofs").symlink_to(repo / "proofs", target_is_directory=True)
    src = root / "src"
    src.mkdir()
    for entry in real.iterdir():
        (src / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (src / "0.7.5").symlink_to(real / "0.7.4", target_is_directory=True)
    env = dict(os.environ, PYTHONPATH=str(repo), **{CACHE_VARIABLE: str(src)})
    out = _run([sys.executable, "tools/new_release.py", "0.7.5", "--era", "E24", "--src", str(src), "--repo",
                str(repo)], repo, env, timeout=1200)
    return repo, env, out


def test_the_edit_is_one_line_of_one_data_file(simulated):
    repo, _, out = simulated
    changed = [p.relative_to(repo).as_posix() for p in (repo / "boundcheck").rglob("*.py")
               if p.read_bytes() != (REPO / "boundcheck" / p.relative_to(repo / "boundcheck")).read_bytes()]
    assert changed == ["boundcheck/releases.py"]
    assert len(_changed_lines(TEXT, (repo / "boundcheck" / "releases.py").read_text())) == 1
    assert "0.7.5 is modeled as E24" in out
    # the check it ran last: facts, executed geometry and inventory equal to the era's
    assert "sources match era E24 (versions 0.7.4, 0.7.5)" in out


def test_the_derived_tables_follow(simulated):
    repo, _, _ = simulated
    signatures = json.loads((repo / "runtime" / "signatures.json").read_text())
    assert signatures["versions"][-2:] == ["0.7.4", "0.7.5"]
    recorded = json.loads((repo / "boundcheck" / "drift" / "inventory" / "recorded.json").read_text())["releases"]
    assert recorded["0.7.5"] == recorded["0.7.4"]
    assert "| 0.7.5 |" in (repo / "docs" / "int32_inventory.md").read_text()
    readme = (repo / "README.md").read_text()
    assert "| E24 | 0.7.4 - 0.7.5 |" in readme and "\n| 0.7.4 - 0.7.5 | 378,344 (128) |" in readme
    assert "\n| 0.7.4 |" not in readme


def test_chunk_prove_and_the_guard_take_it_as_its_era(simulated):
    repo, env, _ = simulated
    shape = ["--num-experts", "256", "--top-k", "8", "--precision", "nvfp4", "--json"]
    chunk = {v: json.loads(_run([sys.executable, "-m", "boundcheck", "chunk", "--flashinfer", v, *shape], repo, env))
             for v in ("0.7.4", "0.7.5")}
    assert chunk["0.7.5"].pop("flashinfer") == "0.7.5" and chunk["0.7.4"].pop("flashinfer") == "0.7.4"
    assert chunk["0.7.5"] == chunk["0.7.4"] and chunk["0.7.5"]["era"] == "E24"
    proved = _run([sys.executable, "-m", "boundcheck", "prove", "--flashinfer", "0.7.5"], repo, env)
    assert "0.7.5" in proved and "18/18 theorems proved, 17/17 broken twins refuted" in proved
    probe = ("from boundcheck.runtime.signatures import signature_for as s; "
             "print(s('trtllm_fp4_block_scale_moe', '0.7.5') == s('trtllm_fp4_block_scale_moe', '0.7.4') is not None)")
    assert _run([sys.executable, "-c", probe], repo, env).strip() == "True"
    # the guard, with 0.7.5 installed: its era's bounds, not the unproven fallback for a newer release
    probe = ("from boundcheck.runtime.release import for_version; r = for_version('0.7.5', '0.7.5'); "
             "print(r.era.name, r.fallback, r.describe())")
    assert _run([sys.executable, "-c", probe], repo, env).strip() == "E24 False flashinfer 0.7.5 (E24)"
    # the twin: in this checkout, without the line, 0.7.5 is an unmodeled newer release
    import warnings

    from boundcheck.runtime.release import for_version

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert for_version("0.7.5", "0.7.5").fallback
