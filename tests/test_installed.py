"""Which flashinfer runs (boundcheck.installed): the module's version, read without
importing its kernels; local tags; the loaded module first; every release's package."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from boundcheck import installed
from boundcheck.releases import MODELED_VERSIONS
from boundcheck.resolution import era_for, is_newer_than_modeled, resolve_version

SOURCES = Path(os.environ.get("BOUNDCHECK_FLASHINFER_CACHE", "~/.cache/boundcheck/flashinfer-src")).expanduser()


@pytest.mark.parametrize("version, release", [
    ("0.7.2.post1+cu128", "0.7.2.post1"), (" 0.7.4 ", "0.7.4"), ("0.6.0+cu126torch2.6", "0.6.0"), (None, None),
])
def test_a_local_tag_names_its_release(version, release):
    assert installed.release_of(version) == release


def test_local_tags_are_modeled_as_their_release():
    assert era_for("0.7.2.post1+cu128") is era_for("0.7.2.post1")
    assert resolve_version("0.7.4+cu130") == "0.7.4"
    assert is_newer_than_modeled("0.9.0+cu130") and not is_newer_than_modeled("0.7.4+cu130")


def test_the_installed_module_is_read_without_importing_flashinfer():
    pytest.importorskip("flashinfer", reason="flashinfer-python is not installed here")
    import subprocess

    code = ("import sys; from boundcheck import installed; f = installed.detect(); "
            "print(f.module, f.metadata, f.release, 'flashinfer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    from importlib import metadata

    assert out == [metadata.version("flashinfer-python")] * 3 + ["False"]


def test_a_loaded_module_is_believed_over_the_files(monkeypatch, tmp_path):
    fake = types.ModuleType("flashinfer")
    fake.__version__ = "0.6.18.post1+cu128"
    fake.__path__ = [str(tmp_path)]
    monkeypatch.setitem(sys.modules, "flashinfer", fake)
    found = installed.detect()
    assert found.module == "0.6.18.post1+cu128" and found.release == "0.6.18.post1"
    assert found.location == str(tmp_path)


def test_the_version_literal_is_parsed_never_executed(tmp_path):
    (tmp_path / "_build_meta.py").write_text("raise SystemExit('executed')\n__version__ = '0.7.2.post1'\n")
    assert installed.package_version(tmp_path) == "0.7.2.post1"
    (tmp_path / "_build_meta.py").write_text("__version__ = compute()\n")  # not a literal: next file
    (tmp_path / "version.py").write_text("__version__: str = '0.6.1'\n")
    assert installed.package_version(tmp_path) == "0.6.1"
    (tmp_path / "version.py").write_text("def (\n")  # a syntax error is no version
    assert installed.package_version(tmp_path) is None


def test_module_and_metadata_disagreeing_is_seen():
    assert installed.InstalledFlashinfer("0.7.2.post1", "0.7.0.post1", None).disagree
    assert not installed.InstalledFlashinfer("0.7.2.post1+cu128", "0.7.2.post1", None).disagree
    assert not installed.InstalledFlashinfer(None, "0.7.2.post1", None).disagree
    assert installed.InstalledFlashinfer(None, "0.7.2.post1", None).release == "0.7.2.post1"


def _fetched():
    if not SOURCES.is_dir():
        return []
    return [v for v in MODELED_VERSIONS if (SOURCES / v / ".done").exists()]


@pytest.mark.skipif(not _fetched(), reason=f"no fetched flashinfer sources at {SOURCES} "
                    "(tools/fetch_flashinfer_sources.py fills it; set BOUNDCHECK_FLASHINFER_CACHE)")
def test_every_modeled_release_package_names_itself():
    # Wheels and sdists alike (0.2.8 - 0.4.1) carry the literal the guard reads.
    read = {v: installed.package_version(SOURCES / v / "flashinfer") for v in _fetched()}
    assert {v: found for v, found in read.items() if found != v} == {}
