"""On a GPU: flashinfer's DeepSeek routing thread stride (kernel_limits entry
deepseek_routing_thread_stride; routingMainKernel's initArr of the expert counts) at the model's
bound B and past it, E = 512, 512 threads a block (tools/gpu_routing_stride_overflow.py)."""

from __future__ import annotations

import re
import shutil

import pytest

pytestmark = pytest.mark.gpu


def _line(log: str, prefix: str) -> str:
    found = [line for line in log.splitlines() if line.startswith(prefix)]
    assert found, f"no line starting {prefix!r}"
    return found[0]


def test_the_loop_stays_inside_at_the_bound_and_wraps_one_token_past_it(tmp_path):
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not found")
    from tools.gpu_routing_stride_overflow import CAP, THREADS, main, model, simulate

    m = model()
    bound, exact, counts = m["bound"], m["exact"], m["counts_num"]
    # the model's B is the int32 arithmetic's own: the last increment fits at B, not at B + 1
    assert bound == exact == 4_194_302 and bound * THREADS + counts - 1 == 2**31 - 1
    assert simulate(bound, THREADS, counts, CAP)["outside"] == 0 < simulate(bound + 1, THREADS, counts, CAP)["outside"]
    assert simulate(bound + 2, THREADS, counts, CAP)["stride"] == -(2**31)

    assert main(["--out", str(tmp_path)]) == 0  # every probe and guarded memcheck run as int32 arithmetic says
    log = (tmp_path / "routing_stride_overflow.log").read_text()
    assert "probe and guarded-memcheck verdict: as the int32 arithmetic says" in log
    assert ", 0 outside, " in _line(log, f"probe grid={bound} ")
    assert ", 0 outside, " not in _line(log, f"probe grid={bound + 1} ")
    assert f"model verdict: B = {bound:,} is safe" in log

    if shutil.which("compute-sanitizer"):
        verdicts = log.split("write verdicts:\n", 1)[1]
        assert re.search(r"^  B[^+:]* guarded: memcheck 0 errors", verdicts, re.M)
        assert re.search(r"^  B \+ 1[^:]* guarded: memcheck [1-9]\d* errors \(invalid global writes\)", verdicts, re.M)
        assert "Invalid __global__ write" in log
