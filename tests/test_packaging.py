"""What `pip install` puts into an engine's environment: the wheel holds the `boundcheck`
package alone (runtime/ and proofs/ inside it), every source file of the three folders,
the vLLM plugin entry point; the requirements hold the engines' versions and the oldest
ones CI proves with."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
Requirement = pytest.importorskip("packaging.requirements").Requirement


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = out.glob("boundcheck-*.whl")
    return zipfile.ZipFile(path)


def test_nothing_but_boundcheck_at_the_top_of_site_packages(wheel):
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert tops == {"boundcheck", "boundcheck-0.1.0.dist-info"}


def test_every_source_file_is_in_the_wheel_inside_the_namespace(wheel):
    names = set(wheel.namelist())
    expected = {f"boundcheck/{p.relative_to(ROOT / 'boundcheck').as_posix()}" for p in (ROOT / "boundcheck").rglob("*.py")}
    for folder in ("runtime", "proofs"):
        expected |= {f"boundcheck/{folder}/{p.relative_to(ROOT / folder).as_posix()}" for p in (ROOT / folder).rglob("*.py")}
    assert {n for n in expected if "__pycache__" not in n} <= names
    assert "boundcheck/runtime/autoinstall/sitecustomize.py" in names
    # the inventory's package data: the CUDA prelude it parses with and the recorded inventory
    assert {"boundcheck/drift/inventory/cuda_prelude.h", "boundcheck/drift/inventory/recorded.json",
            "boundcheck/runtime/signatures.json"} <= names


def test_the_plugin_entry_point_names_the_namespaced_module(wheel):
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "[vllm.general_plugins]\nboundcheck = boundcheck.runtime.plugin:register" in text
    assert "boundcheck = boundcheck.cli:main" in text


def _requirements(wheel) -> dict:
    metadata = wheel.read("boundcheck-0.1.0.dist-info/METADATA").decode()
    found = {}
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1].strip())
            found.setdefault(requirement.name, []).append(requirement)
    return found


def test_no_requirement_or_extra_names_flashinfer_and_the_core_is_ranges(wheel):
    requirements = _requirements(wheel)
    assert "flashinfer-python" not in requirements and "flashinfer" not in requirements
    core = {name: r for name, rs in requirements.items() for r in rs if r.marker is None}
    assert set(core) == {"z3-solver", "sympy", "numpy"}
    assert all("==" not in str(r.specifier) for r in core.values())


@pytest.mark.parametrize("engine, versions", [
    # what vLLM 0.33.0's and SGLang 0.5.23's environments carry (tests/engines/ checks the real ones)
    ("vLLM 0.33.0", {"z3-solver": "4.15.4.0", "sympy": "1.14.0", "numpy": "2.3.5"}),
    ("SGLang 0.5.23", {"z3-solver": "4.15.4.0", "sympy": "1.14.0"}),
])
def test_the_engines_versions_satisfy_the_requirements(wheel, engine, versions):
    requirements = _requirements(wheel)
    for name, version in versions.items():
        for requirement in requirements[name]:
            if requirement.marker is None:
                assert requirement.specifier.contains(version), (engine, name, version, str(requirement))


def test_ci_proves_with_the_oldest_versions_the_requirements_admit(wheel):
    from packaging.version import Version

    ci = (ROOT / ".ci" / "run").read_text()
    pins = dict(re.findall(r'"(z3-solver|sympy)==([0-9.]+)"', ci))
    assert set(pins) == {"z3-solver", "sympy"}
    requirements = _requirements(wheel)
    for name, pinned in pins.items():
        (requirement,) = [r for r in requirements[name] if r.marker is None]
        (lower,) = [s.version for s in requirement.specifier if s.operator == ">="]
        assert Version(pinned) == Version(lower), (name, pinned, lower)  # 4.13.0.0 == 4.13.0
