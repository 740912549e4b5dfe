"""The engines' own environments: vLLM 0.33.0 and SGLang 0.5.23 venvs, built once by
tools/engine_envs.py outside the repository (about 10 GB and 5 minutes each the first time)
and reused. Tests here install boundcheck into them the way a user would and run the
engines' own code there; without the venvs they are skipped with that reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from engine_envs import ENGINES, venv_path  # noqa: E402

PROBE = Path(__file__).resolve().parent / "env_probe.py"


def engine_python(engine: str) -> Path:
    python = venv_path(engine) / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no {engine} environment at {venv_path(engine)} (python tools/engine_envs.py builds it; "
                    f"set {ENGINES[engine].variable})")
    return python


def pip(python: Path, *argv, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run([str(python), "-m", "pip", *argv], capture_output=True, text=True, timeout=timeout,
                            cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def freeze(python: Path) -> list:
    """The environment's packages as (name, version), boundcheck's own left out (however it
    was installed before: editable from another checkout, regular, or not at all)."""
    listed = json.loads(pip(python, "list", "--format", "json").stdout)
    return sorted((p["name"].lower(), p["version"]) for p in listed if p["name"].lower() != "boundcheck")


def install(python: Path, editable: bool) -> None:
    """boundcheck into the engine's environment, as a user installs it (no --no-deps: its
    requirements must already be met there)."""
    pip(python, "install", "-q", *(["-e"] if editable else ["--force-reinstall", "--no-deps"]), str(ROOT))
    if not editable:
        pip(python, "install", "-q", str(ROOT))  # the dependencies resolved, nothing to change


def probe(python: Path, *argv, env=None, timeout=600, under_exec=None) -> tuple[list, str]:
    """Run env_probe.py in the engine's python (under `boundcheck exec OPTIONS --` when
    under_exec is a list); its JSON lines and its stderr."""
    command = [str(python), str(PROBE), *argv]
    if under_exec is not None:
        command = [str(python), "-m", "boundcheck", "exec", *under_exec, "--", *command]
    environment = dict(os.environ, **(env or {}))
    environment.pop("PYTHONPATH", None)  # the engine's environment alone
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, cwd="/tmp")
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    documents = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return documents, result.stderr + result.stdout
