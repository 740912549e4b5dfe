"""The engine maps of examples/engines/ checked against the engines' own sources: every line of
the installed vLLM 0.33.0 / SGLang 0.5.23 that calls one of flashinfer's trtllm-gen MoE entry
points (or a wrapper of one), imports one at module level, reads one or names one in a string is
in the map's CALL_SITES, and nothing else is; each listed line really holds that call.

The scan reads every .py file of the engine's package that mentions a tracked name and walks its
syntax tree (comments and docstrings do not count): a call `NAME(...)` or `anything.NAME(...)`,
a call through a local alias (`f = NAME` ... `f(...)`, `from m import NAME as f`), a module-level
`from ... import NAME` (the lookup site: the name is bound once, at import), any other read of
NAME, and a string constant equal to NAME (getattr / hasattr / lazy wrappers / __all__).

Sources: vLLM from its venv; SGLang from its venv or the unzipped wheel (/tmp/sglang-src);
BOUNDCHECK_VLLM_SITE_PACKAGES / BOUNDCHECK_SGLANG_SITE_PACKAGES name another site-packages.
Without them the source tests skip, saying where they looked."""

from __future__ import annotations

import ast
import importlib
import os
import re
from pathlib import Path

import pytest

from boundcheck.resolution import era_for

ENGINES = {
    "vllm_0_33_0": [Path("/root/.cache/boundcheck/engines/vllm-0.33.0/lib/python3.11/site-packages")],
    "sglang_0_5_23": [Path("/root/.cache/boundcheck/engines/sglang-0.5.23/lib/python3.11/site-packages"),
                      Path("/tmp/sglang-src")],  # the wheel, unzipped
}
_CACHE: dict = {}


def _engine(module_name):
    return importlib.import_module(f"examples.engines.{module_name}")


def _names(engine):
    """Every tracked name: flashinfer's entry points (as the pinned release has them) and the
    engine's wrappers of them."""
    return tuple(era_for(engine.FLASHINFER).entry_points) + tuple(engine.WRAPPERS)


def scan(site_packages: Path, package: str, names) -> tuple[set, dict]:
    """(file, line, name, name on the line, role) for every site of a name in `names` under
    site_packages/package, role one of call, import (module level), ref, string; and the module
    each import row imports from."""
    names = frozenset(names)
    word = re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")
    found, modules = set(), {}
    for path in sorted((site_packages / package).rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if not word.search(text):
            continue
        rel = path.relative_to(site_packages).as_posix()
        tree = ast.parse(text, filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

        def in_function(node):
            while node in parents:
                node = parents[node]
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    return True
            return False

        aliases: dict = {}  # a local name -> the tracked names it may hold
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name in names and a.asname and a.asname != a.name:
                        aliases.setdefault(a.asname, set()).add(a.name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in names:
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        aliases.setdefault(target.id, set()).add(node.value.id)
        callees = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            callees.add(id(func))
            key = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if key in names:
                found.add((rel, func.end_lineno, key, key, "call"))
            elif isinstance(func, ast.Name) and key in aliases:
                found.update((rel, func.lineno, name, key, "call") for name in aliases[key])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not in_function(node):
                for a in node.names:
                    if a.name in names:
                        found.add((rel, a.lineno, a.name, a.asname or a.name, "import"))
                        modules[(rel, a.lineno, a.name)] = "." * node.level + (node.module or "")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.add((rel, node.lineno, node.value, node.value, "string"))
            elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load) \
                    and id(node) not in callees:
                key = node.id if isinstance(node, ast.Name) else node.attr
                if key in names:
                    found.add((rel, node.end_lineno, key, key, "ref"))
    return found, modules


def _site_packages(module_name) -> Path:
    engine = _engine(module_name)
    package, version = engine.ENGINE
    override = os.environ.get(f"BOUNDCHECK_{package.upper()}_SITE_PACKAGES")
    candidates = [Path(override)] if override else ENGINES[module_name]
    for root in candidates:
        if (root / package / "__init__.py").is_file() and (root / f"{package}-{version}.dist-info").is_dir():
            return root
    pytest.skip(f"{package} {version}'s sources not found (looked for {package}/ and "
                f"{package}-{version}.dist-info in: {', '.join(map(str, candidates))})")


def _scanned(module_name):
    if module_name not in _CACHE:
        engine = _engine(module_name)
        root = _site_packages(module_name)
        extra = tuple(getattr(engine, "EXPERIMENTAL_LORA_NAMES", ()))
        _CACHE[module_name] = (root, *scan(root, engine.ENGINE[0], _names(engine) + extra))
    return _CACHE[module_name]


def _expected(engine):
    return {(file, line, entry, name, engine.LOOKUPS[kind][0]) for file, line, entry, kind, name in engine.CALL_SITES}


@pytest.mark.parametrize("module_name", sorted(ENGINES))
def test_the_map_lists_every_site_in_the_engine_and_nothing_else(module_name):
    engine = _engine(module_name)
    root, found, _ = _scanned(module_name)
    tracked = set(_names(engine))
    wrappers = engine.WRAPPERS
    found = {(file, line, wrappers.get(name, name), on_line, role)
             for file, line, name, on_line, role in found if name in tracked}
    expected = _expected(engine)
    missing, extra = sorted(found - expected), sorted(expected - found)
    assert not missing and not extra, (
        f"{engine.ENGINE} in {root}:\n  in the sources, not in CALL_SITES: {missing}\n"
        f"  in CALL_SITES, not in the sources: {extra}")


@pytest.mark.parametrize("module_name", sorted(ENGINES))
def test_each_listed_line_holds_the_call(module_name):
    engine = _engine(module_name)
    root, _, modules = _scanned(module_name)
    lines = {}
    for file, line, entry, kind, name in engine.CALL_SITES:
        text = lines.setdefault(file, (root / file).read_text(encoding="utf-8").splitlines())[line - 1]
        role = engine.LOOKUPS[kind][0]
        pattern = {"call": rf"\b{name}\s*\(", "import": rf"\b{name}\b", "ref": rf"\b{name}\b(?!\s*\()",
                   "string": rf"[\"']{name}[\"']"}[role]
        assert re.search(pattern, text), f"{file}:{line} ({kind}) does not hold {name}: {text.strip()!r}"
        if kind == "module_import":
            assert modules[(file, line, name)].startswith("flashinfer"), (file, line)
        elif role == "import":
            assert not modules[(file, line, name)].startswith("flashinfer"), (file, line)


def test_sglang_experimental_lora_moe_is_every_call_listed():
    """SGLang's experimental TRT-LLM LoRA MoE, listed as not guardable: every call of its
    kernels' names is in EXPERIMENTAL_LORA, at a line that holds it."""
    engine = _engine("sglang_0_5_23")
    root, found, _ = _scanned("sglang_0_5_23")
    names = set(engine.EXPERIMENTAL_LORA_NAMES)
    calls = {(file, line, on_line) for file, line, name, on_line, role in found if name in names and role == "call"}
    assert calls == set(engine.EXPERIMENTAL_LORA), (sorted(calls - set(engine.EXPERIMENTAL_LORA)),
                                                      sorted(set(engine.EXPERIMENTAL_LORA) - calls))
    for file, line, name in engine.EXPERIMENTAL_LORA:
        assert re.search(rf"\b{name}\s*\(", (root / file).read_text(encoding="utf-8").splitlines()[line - 1])


@pytest.mark.parametrize("module_name", sorted(ENGINES))
def test_the_maps_are_consistent(module_name):
    """No sources needed: SITES is keyed like PATHS, every row names a known entry point and
    lookup kind, the audited paths hold only guardable sites, and CALL_SITES is SITES plus
    OTHER_SITES without repeats."""
    engine = _engine(module_name)
    entry_points = set(era_for(engine.FLASHINFER).entry_points)
    assert [p[0] for p in engine.PATHS] == list(engine.SITES)
    assert all(len(p) == 5 for p in engine.PATHS)
    assert set(engine.WRAPPERS.values()) <= entry_points
    rows = [row for rows in engine.SITES.values() for row in rows] + engine.OTHER_SITES
    assert rows == engine.CALL_SITES and len(set(rows)) == len(rows)
    for name, rows in engine.SITES.items():
        assert any(engine.LOOKUPS[kind][0] == "call" for _, _, _, kind, _ in rows), name
        for file, line, entry, kind, on_line in rows:
            assert entry in entry_points and kind in engine.LOOKUPS, (name, file, line)
            assert engine.LOOKUPS[kind][1] is not False, (name, file, line, kind)
    for file, line, entry, kind, on_line in engine.CALL_SITES:
        assert entry in entry_points and kind in engine.LOOKUPS
        assert on_line == entry or engine.WRAPPERS.get(on_line) == entry or kind.startswith("module_bound")


def test_vllm_has_13_call_sites_none_bound_at_import():
    engine = _engine("vllm_0_33_0")
    calls = [row for row in engine.CALL_SITES if engine.LOOKUPS[row[3]][0] == "call"]
    assert len(calls) == 13 and all(engine.LOOKUPS[row[3]][1] is True for row in calls)
    assert {row[3] for row in calls} == {"fused_moe_attr", "local_from_flashinfer", "local_from_fused_moe"}


def test_sglang_module_level_imports_are_mxfp4_and_mxint4():
    engine = _engine("sglang_0_5_23")
    imports = {(file.rsplit("/", 1)[1], entry) for file, _, entry, kind, _ in engine.CALL_SITES
               if kind == "module_import"}
    assert imports == {("mxfp4_flashinfer_trtllm_moe.py", "trtllm_fp4_block_scale_moe"),
                       ("mxfp4_flashinfer_trtllm_moe.py", "trtllm_fp4_block_scale_routed_moe"),
                       ("compressed_tensors_w4a4_mxint4_moe.py", "trtllm_mxint4_block_scale_moe")}


def test_the_scan_finds_each_kind_of_site(tmp_path):
    """The scan on a small package written as the engines write their calls."""
    package = tmp_path / "eng"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        'if True:\n'
        '    from flashinfer.fused_moe import (\n'
        '        trtllm_bf16_moe,\n'                       # 3: module-level import
        '        trtllm_fp8_block_scale_moe as fp8,\n'     # 4: ... under another name
        '    )\n'
        '# trtllm_bf16_moe(x) in a comment\n'
        'def f(x):\n'
        '    """trtllm_bf16_moe(x) in a docstring"""\n'
        '    import flashinfer\n'
        '    flashinfer.fused_moe.trtllm_fp4_block_scale_moe(x)\n'  # 10: attribute call
        '    from flashinfer import trtllm_mxint4_block_scale_moe\n'
        '    trtllm_mxint4_block_scale_moe(\n'                      # 12: local import, call
        '        x)\n'
        '    call = trtllm_bf16_moe\n'                               # 14: read
        '    call(x)\n'                                              # 15: call through the alias
        '    fp8(x)\n'                                               # 16: call through the import alias
        '    return getattr(flashinfer.fused_moe, "trtllm_bf16_routed_moe")\n'  # 17: string
    )
    names = tuple(era_for("0.7.2").entry_points)
    found, modules = scan(tmp_path, "eng", names)
    assert found == {
        ("eng/a.py", 3, "trtllm_bf16_moe", "trtllm_bf16_moe", "import"),
        ("eng/a.py", 4, "trtllm_fp8_block_scale_moe", "fp8", "import"),
        ("eng/a.py", 10, "trtllm_fp4_block_scale_moe", "trtllm_fp4_block_scale_moe", "call"),
        ("eng/a.py", 12, "trtllm_mxint4_block_scale_moe", "trtllm_mxint4_block_scale_moe", "call"),
        ("eng/a.py", 14, "trtllm_bf16_moe", "trtllm_bf16_moe", "ref"),
        ("eng/a.py", 15, "trtllm_bf16_moe", "call", "call"),
        ("eng/a.py", 16, "trtllm_fp8_block_scale_moe", "fp8", "call"),
        ("eng/a.py", 17, "trtllm_bf16_routed_moe", "trtllm_bf16_routed_moe", "string"),
    }
    assert modules[("eng/a.py", 3, "trtllm_bf16_moe")] == "flashinfer.fused_moe"


def test_engine_table_says_how_each_path_looks_the_kernel_up():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tools.engine_table import call_sites_line, looked_up

    vllm, sglang = _engine("vllm_0_33_0"), _engine("sglang_0_5_23")
    assert looked_up(vllm, "TrtLlmMxfp4LoRAExperts") == "`from flashinfer import X` in the function"
    assert looked_up(sglang, "compressed-tensors mxint4 (module-level import)") == (
        "module-level `from flashinfer.fused_moe import X`")
    assert call_sites_line("vLLM 0.33.0", vllm) == (
        "vLLM 0.33.0: 13 lines call an entry point, in 12 paths, all guarded by runtime.install().")
    line = call_sites_line("SGLang 0.5.23", sglang)
    assert line.startswith("SGLang 0.5.23: 17 lines call an entry point and 5 call the engine's wrappers of one")
    assert "not guardable" in line and "core.py:95" in line
