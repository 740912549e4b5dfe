"""tools/fetch_flashinfer_sources.py takes the releases from the package registry: the
modeled ones it lists are fetched, a modeled one it no longer lists is named, and a newer
release no one has modeled is named with what to do about it; what it keeps of a wheel
includes the launcher's own headers and the JIT specs the inventory reads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from boundcheck.releases import MODELED_VERSIONS

TOOL = Path(__file__).resolve().parents[1] / "tools" / "fetch_flashinfer_sources.py"


def _tool():
    spec = importlib.util.spec_from_file_location("_fetch_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_registry_decides_what_is_fetched():
    tool = _tool()
    registry = ["0.1.0", *MODELED_VERSIONS[:-1], "9.0.0rc1", "9.0.0"]  # the newest modeled one yanked
    fetch, absent, unmodeled = tool.plan(registry)
    assert fetch == list(MODELED_VERSIONS[:-1])
    assert absent == [MODELED_VERSIONS[-1]]
    assert unmodeled == ["9.0.0rc1", "9.0.0"]  # older unmodeled releases (0.1.0: no trtllm MoE) are not named


def test_without_a_registry_the_modeled_releases_are_fetched():
    assert _tool().plan(None) == (list(MODELED_VERSIONS), [], [])


def test_the_kept_files_include_what_the_inventory_reads():
    tool = _tool()
    assert tool.wanted("flashinfer/data/include/flashinfer/fused_moe/da_moe.cuh")
    assert tool.wanted("flashinfer/jit/fused_moe.py")
    assert tool.wanted("flashinfer/data/csrc/trtllm_fused_moe_kernel_launcher.cu")
    assert not tool.wanted("flashinfer/data/csrc/flashinfer_gemm_binding.cu")
