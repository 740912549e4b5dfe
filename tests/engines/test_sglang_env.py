"""boundcheck inside SGLang 0.5.23's own environment: installing changes none of SGLang's
packages, and the two kernels SGLang imports at module level (MXFP4; compressed-tensors
MXINT4) are guarded under `boundcheck exec` and by runtime.install() after the import,
which uninstall() undoes. The modules are the engine map's (examples/engines/)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from examples.engines import sglang_0_5_23 as sglang_map

from .conftest import ROOT, engine_python, freeze, install, pip, probe

ENGINE = "sglang"
# SGLang imports these kernels only where it sees CUDA (env_probe.py says how this is stood in for)
CUDA = {"PROBE_SGLANG_FLASHINFER_AVAILABLE": "1"}


def module_level_import_modules() -> list:
    """The SGLang modules that bind an entry point at module level, from the engine map."""
    files = sorted({site[0] for site in sglang_map.CALL_SITES if site[3] == "module_import"})
    return [f[: -len(".py")].replace("/", ".") for f in files]


@pytest.fixture(scope="module")
def python():
    python = engine_python(ENGINE)
    install(python, editable=False)
    return python


def test_the_map_names_the_two_module_level_imports():
    assert module_level_import_modules() == [
        "sglang.srt.layers.quantization.compressed_tensors.schemes.compressed_tensors_w4a4_mxint4_moe",
        "sglang.srt.layers.quantization.mxfp4_flashinfer_trtllm_moe",
    ]


def test_installing_boundcheck_changes_none_of_the_engines_packages(python):
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        pip(python, "install", "-q", "--dry-run", "--report", str(report), str(ROOT))
        planned = [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]
    assert planned == ["boundcheck"]
    before = freeze(python)
    install(python, editable=False)
    assert freeze(python) == before
    assert dict(before)["flashinfer-python"] == "0.7.2"


def test_module_level_imports_are_guarded_under_exec(python):
    (state,), _ = probe(python, "modules", *module_level_import_modules(), under_exec=["--cap", "999"], env=CUDA)
    assert len(state["guarded"]) == 12 and state["caps"] == ["999"]
    names = state["module_level"]
    assert len(names) == 3, names  # MXFP4's two entry points, MXINT4's one
    assert all(names.values()), names


def test_install_after_the_imports_rebinds_them_and_uninstall_restores(python):
    (state,), _ = probe(python, "install-after", *module_level_import_modules(), env=CUDA)
    assert len(state["before"]) == 3 and not any(state["before"].values())  # imported before install: unguarded
    assert state["during"].keys() == state["before"].keys() and all(state["during"].values())
    assert state["after"] == state["before"]
