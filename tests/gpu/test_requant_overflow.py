"""On a GPU: 0.7.2.post1's FP8 per-channel requantization offset (unsigned 32-bit) at the
model's bound and one token past it (tools/gpu_requant_overflow.py; log:
benchmarks/results/2026-12-07_H100_requant_overflow.log)."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.gpu


def test_the_offset_stays_exact_at_the_bound_and_wraps_one_token_past_it(tmp_path):
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not found")
    from tools.gpu_requant_overflow import main, model

    m = model()
    assert m["wrapped"][m["bound"]] == 0 < m["wrapped"][m["bound"] + 1]
    assert main(["--out", str(tmp_path)]) == 0
    log = (tmp_path / "requant_overflow.log").read_text()
    assert ": 0 rows wrapped;" in log and f"first wrapped row {m['first_wrap']}:" in log
    assert "probe verdict: as the model says" in log
    verdict = log.split("load verdict: ", 1)[1]
    assert "NOT as the model says" not in verdict
