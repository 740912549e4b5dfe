"""Shared fixtures: one `boundcheck prove --json --smt-dir` run per test session."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def proved(tmp_path_factory):
    smt_dir = tmp_path_factory.mktemp("smt")
    # The releases engines pin and the newest (`.ci/run` proves every modeled release).
    from boundcheck.releases import PINNED

    result = subprocess.run(
        [sys.executable, "-m", "boundcheck", "prove", "--json", "--smt-dir", str(smt_dir),
         "--flashinfer", ",".join(PINNED)],
        capture_output=True, text=True,
    )
    return result, smt_dir, (json.loads(result.stdout) if result.returncode == 0 else None)
