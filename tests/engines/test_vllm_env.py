"""boundcheck inside vLLM 0.33.0's own environment: installing changes none of vLLM's
packages, the plugin loads through vLLM's own load_general_plugins() after flashinfer was
imported (editable and regular installs), the line saying so goes through vLLM's logger,
and `boundcheck exec` reaches spawn, forkserver and subprocess children and vLLM's worker
init with its options intact."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from .conftest import ROOT, engine_python, freeze, install, pip, probe

ENGINE = "vllm"


@pytest.fixture(scope="module")
def python():
    return engine_python(ENGINE)


def test_installing_boundcheck_changes_none_of_the_engines_packages(python):
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        pip(python, "install", "-q", "--dry-run", "--report", str(report), str(ROOT))
        planned = [(item["metadata"]["name"], item["metadata"]["version"])
                   for item in json.loads(report.read_text())["install"]]
    assert planned == [("boundcheck", "0.1.0")]  # the project alone: z3, sympy, numpy are the engine's
    before = freeze(python)
    install(python, editable=False)
    assert freeze(python) == before
    versions = dict(before)
    assert versions["z3-solver"].startswith("4.15.")  # tilelang's range: < 4.15.5
    assert versions["flashinfer-python"] == "0.7.2.post1"


@pytest.mark.parametrize("editable", [False, True], ids=["regular", "editable"])
def test_the_plugin_loads_after_flashinfer_was_imported(python, editable):
    install(python, editable)
    (state,), output = probe(python, "plugin")
    assert state["guarded"] and len(state["guarded"]) == 12  # 0.7.2.post1's twelve entry points
    runtime_file = Path(state["runtime_file"])
    if editable:
        assert runtime_file == ROOT / "runtime" / "__init__.py"
    else:
        assert runtime_file.parts[-3:] == ("boundcheck", "runtime", "__init__.py") and "site-packages" in str(runtime_file)
    # cutlass still puts a top-level `runtime` on sys.path: it is not ours, and nothing of ours needs it
    assert "boundcheck" not in state["top_level_runtime"]
    assert state["z3"].startswith("4.15.")  # tilelang imported with the engine's z3
    # one line from the guard on stderr, and the same through vLLM's logger (its format: "INFO ... [file:line]")
    ours = [line for line in output.splitlines() if "boundcheck: guarding 12 flashinfer MoE entry points" in line]
    assert len(ours) == 2, output[-3000:]
    assert any(line.startswith("boundcheck: guarding") for line in ours)
    assert any("INFO" in line and not line.startswith("boundcheck:") for line in ours)


def test_nothing_but_boundcheck_lands_at_the_top_of_site_packages(python):
    install(python, editable=False)
    record = pip(python, "show", "-f", "boundcheck").stdout
    files = [line.strip() for line in record.split("Files:", 1)[1].splitlines() if line.strip()]
    tops = {f.split("/", 1)[0] for f in files if not f.startswith("..")}
    assert tops <= {"boundcheck", "boundcheck-0.1.0.dist-info"} and "boundcheck" in tops
    assert "boundcheck/runtime/guard.py" in files and "boundcheck/proofs/bound.py" in files


def test_exec_reaches_every_child_and_vllms_worker_init_with_its_options(python):
    install(python, editable=False)
    states, output = probe(python, "children", under_exec=["--cap", "4321", "--policy", "any"],
                           env={"VLLM_WORKER_MULTIPROC_METHOD": "spawn"})
    by_process = {s["process"]: s for s in states}
    assert set(by_process) == {"command", "spawn", "forkserver", "vllm worker init", "subprocess"}
    for state in states:
        assert len(state["guarded"]) == 12, state
        assert state["caps"] == ["4321"] and state["policies"] == ["any"], state  # the plugin kept exec's options
    assert len({s["pid"] for s in states}) == 5
    # one line per process (each has its own guards), and --quiet silences them
    assert output.count("boundcheck: guarding 12 flashinfer MoE entry points") >= 5
    quiet, quiet_output = probe(python, "children", under_exec=["--quiet", "--cap", "4321"],
                                env={"VLLM_WORKER_MULTIPROC_METHOD": "spawn"})
    assert len(quiet) == 5 and "boundcheck: guarding" not in quiet_output
