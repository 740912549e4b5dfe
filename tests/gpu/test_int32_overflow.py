"""On a GPU: 0.6.0's int32 DeepSeek FP8 activation index at the model's bound and one token
past it (tools/gpu_int32_overflow.py; log: benchmarks/results/2026-11-29_H200_int32_overflow.log)."""

from __future__ import annotations

import shutil

import pytest


def test_the_index_stays_in_range_at_the_bound_and_wraps_one_token_past_it(tmp_path):
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not found")
    from tools.gpu_int32_overflow import main

    assert main(["--out", str(tmp_path)]) == 0
    log = (tmp_path / "int32_overflow.log").read_text()
    assert "0 indices outside [0, elements)" in log and "probe verdict: as the model says" in log
    if shutil.which("compute-sanitizer"):
        assert "ERROR SUMMARY: 0 errors" in log and "Invalid __global__ read" in log
