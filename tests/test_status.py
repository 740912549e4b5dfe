"""`boundcheck status`: what runs here, what the guard applies, what it guards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from boundcheck.runtime.entry_points import ENTRY_POINTS

pytest.importorskip("flashinfer.fused_moe")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def status(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "boundcheck", "status", *argv], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


def test_status_reports_the_release_the_plugin_and_every_guarded_place():
    from importlib import metadata

    from boundcheck import runtime

    result = status("--json", "--num-experts", "512", "--top-k", "22")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    version = metadata.version("flashinfer-python")
    assert doc["flashinfer"]["module"] == doc["flashinfer"]["metadata"] == version and not doc["flashinfer"]["disagree"]
    assert doc["release"]["version"] == version and doc["release"]["witness"] is None
    assert doc["vllm_plugin"]["registered"] and doc["vllm_plugin"]["loads"] is True
    assert doc["vllm_plugin"]["target"] == "boundcheck.runtime.plugin:register"
    guarded = {name for name, entry in doc["guard"]["entry_points"].items() if entry["guarded_at"]}
    assert guarded == set(ENTRY_POINTS)  # 0.7.2.post1 has all twelve
    assert all(f"flashinfer.fused_moe.{name}" in doc["guard"]["entry_points"][name]["guarded_at"] for name in guarded)
    rows = {row["precision"]: row for row in doc["bounds"]["rows"]}
    assert rows["bf16"]["grid_bound"] == runtime.max_chunk_tokens(512, 22, precision="bf16", cap=None) == 189_183
    assert rows["nvfp4"]["with_cap"] == 300_000 and rows["nvfp4"]["grid_bound"] == 567_505


def test_status_text_says_what_is_engaged_and_the_plugin_switch():
    result = status(env=dict(os.environ, VLLM_PLUGINS="someone_else"))
    assert result.returncode == 0, result.stderr
    assert "guards: engaged at" in result.stdout
    assert "disabled by VLLM_PLUGINS=someone_else" in result.stdout


def test_status_without_an_importable_flashinfer_exits_1(tmp_path):
    package = tmp_path / "flashinfer"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('broken build')\n")
    (package / "_build_meta.py").write_text("__version__ = '0.7.2.post1'\n")
    result = status(env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert result.returncode == 1
    assert "guards: NOT engaged: import flashinfer.fused_moe failed: ImportError: broken build" in result.stdout


@pytest.mark.parametrize("argv, flag", [(["--num-experts", "8"], "--top-k"),
                                        (["--num-experts", "8", "--top-k", "2", "--hidden-size", "64"],
                                         "--intermediate-size")])
def test_status_refuses_half_a_shape(argv, flag):
    result = status(*argv)
    assert result.returncode == 2 and flag in result.stderr and len(result.stderr.strip().splitlines()) == 1
