"""GPU tests: skipped, with the reason, where there is no CUDA GPU or no CuPy."""

import importlib.util
import os

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REASON = (
    "no CUDA GPU" if not torch.cuda.is_available()
    else "CuPy is not installed" if importlib.util.find_spec("cupy") is None
    else None
)
# The modules import CuPy at the top: without a GPU, do not import them at all.
collect_ignore_glob = ["test_*.py"] if REASON else []


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if REASON is None:
        return
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(pytest.mark.skip(reason=REASON))


def pytest_report_header(config):
    return f"GPU tests: {REASON or 'enabled on ' + torch.cuda.get_device_name()}"
