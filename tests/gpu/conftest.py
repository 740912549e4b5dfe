"""GPU tests: skipped, with the reason, where there is no CUDA GPU or no CuPy."""

import importlib.util
import os

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REASON = (
    "no CUDA GPU (on a machine with one and CuPy: python -m pytest tests/gpu; the runs on H100 and H200 are "
    "in benchmarks/results/)" if not torch.cuda.is_available()
    else "CuPy is not installed (pip install cupy-cuda12x, then python -m pytest tests/gpu)"
    if importlib.util.find_spec("cupy") is None
    else None
)


class _SkippedTests(pytest.Item):
    def runtest(self):
        pytest.skip(REASON)

    def reportinfo(self):
        return self.path, 0, self.name


class _SkippedModule(pytest.File):
    """A GPU test module without a GPU: listed and skipped with the reason, never imported
    (the modules import CuPy at the top)."""

    def collect(self):
        yield _SkippedTests.from_parent(self, name="gpu tests")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    if REASON and os.path.dirname(str(module_path)) == HERE and module_path.name.startswith("test_"):
        return _SkippedModule.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if REASON is None:
        return
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(pytest.mark.skip(reason=REASON))


def pytest_report_header(config):
    return f"GPU tests: {REASON or 'enabled on ' + torch.cuda.get_device_name()}"
