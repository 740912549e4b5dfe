"""The twelve wrappers have exactly the signatures of the installed flashinfer, `import
runtime` works without flashinfer, and nothing under runtime/ imports a solver."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import pytest

from boundcheck import runtime
from boundcheck.runtime import reference
from boundcheck.runtime.entry_points import ENTRY_POINTS


def test_twelve_entry_points():
    assert len(ENTRY_POINTS) == 12
    assert set(runtime.__all__) >= set(ENTRY_POINTS)


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_wrapper_signature_is_flashinfers(name):
    fused_moe = pytest.importorskip("flashinfer.fused_moe")
    original = inspect.signature(getattr(fused_moe, name))
    wrapper = getattr(runtime, name)
    assert inspect.signature(wrapper) == original
    assert ENTRY_POINTS[name].params == tuple(original.parameters)
    assert wrapper.boundcheck_guard.fn is getattr(fused_moe, name)


@pytest.mark.parametrize("name", ["trtllm_fp4_block_scale_moe", "trtllm_fp4_block_scale_routed_moe"])
def test_reference_kernel_has_the_nvfp4_signatures(name):
    fused_moe = pytest.importorskip("flashinfer.fused_moe")
    theirs = inspect.signature(getattr(fused_moe, name)).parameters
    ours = inspect.signature(getattr(reference, name)).parameters
    assert list(ours) == list(theirs)
    for p in theirs:
        assert ours[p].default == theirs[p].default, p
        assert ours[p].kind == theirs[p].kind, p


def _python(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)


def test_import_runtime_without_flashinfer_and_a_clear_import_error():
    result = _python(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "flashinfer" or name.startswith("flashinfer."):
                    raise ImportError("no flashinfer here")
        sys.meta_path.insert(0, Block())
        from boundcheck import runtime
        from boundcheck.runtime import trtllm_fp4_block_scale_routed_moe as f
        try:
            f(None)
        except ImportError as e:
            print("IMPORTERROR", e)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "IMPORTERROR boundcheck.runtime.trtllm_fp4_block_scale_routed_moe wraps flashinfer" in result.stdout
    assert "install the flashinfer-python release your engine pins" in result.stdout
    assert "boundcheck[runtime]" not in result.stdout  # no extra installs flashinfer


def test_runtime_imports_no_solver():
    result = _python(
        """
        import sys
        from boundcheck import runtime
        import boundcheck.runtime.reference
        runtime.max_chunk_tokens(512, 22)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("z3", "sympy", "cvc5") or m.startswith("boundcheck.proofs")))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_guard_source_has_no_assert_for_checks():
    import pathlib

    for path in pathlib.Path(runtime.__file__).parent.glob("*.py"):
        assert "\nassert " not in path.read_text() and "    assert " not in path.read_text(), path
