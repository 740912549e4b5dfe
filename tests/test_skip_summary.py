"""The test command says what it skipped and how to run it, without -rs: each reason once,
with its count (tests/conftest.py's terminal summary)."""

from __future__ import annotations

import inspect
from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")


def _hook_source() -> str:
    namespace: dict = {}
    exec(compile(CONFTEST.read_text(), str(CONFTEST), "exec"), namespace)
    return inspect.getsource(namespace["pytest_terminal_summary"])


def test_the_skips_are_listed_with_how_to_run_them(pytester):
    pytester.makeconftest(_hook_source())
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.parametrize('i', range(3))\n"
        "def test_sources(i):\n"
        "    pytest.skip('sources not fetched: python tools/fetch_flashinfer_sources.py')\n"
        "def test_gpu():\n"
        "    pytest.skip('no CUDA GPU (python -m pytest tests/gpu on one)')\n"
        "def test_runs():\n"
        "    assert True\n")
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines(["*4 skipped, and how to run them*",
                                 "    3  sources not fetched: python tools/fetch_flashinfer_sources.py",
                                 "    1  no CUDA GPU (python -m pytest tests/gpu on one)"])


def test_nothing_is_added_when_nothing_is_skipped(pytester):
    pytester.makeconftest(_hook_source())
    pytester.makepyfile("def test_runs():\n    assert True\n")
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1)
    assert "how to run them" not in result.stdout.str()
