"""The distributed example on CPU (gloo), small, with the cap lowered so the guard chunks:
each rank's output equals the single-process computation of the same decomposition."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("flashinfer", ["installed", "absent"])
def test_two_ranks_on_cpu(tmp_path, flashinfer):
    out = tmp_path / "ranks.json"
    path = [ROOT]
    if flashinfer == "absent":  # as on the GPU machine: `import flashinfer` fails
        blocked = tmp_path / "blocked" / "flashinfer"
        blocked.mkdir(parents=True)
        (blocked / "__init__.py").write_text("raise ImportError('flashinfer is not installed here')\n")
        path.insert(0, str(blocked.parent))
    env = dict(os.environ, NCCL_NVLS_ENABLE="0", BOUNDCHECK_MAX_CHUNK_TOKENS="1500", PYTHONPATH=os.pathsep.join(path))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               os.path.join(ROOT, "examples", "dp_ep_moe.py"), "--tokens-per-rank", "2000", "--experts", "16",
               "--top-k", "4", "--hidden", "64", "--intermediate", "32", "--steps", "1", "--check",
               "--json-out", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for report in json.loads(out.read_text()):
        assert report["chunks"] == [1334, 1333, 1333]
        assert report["exact"] is True and report["error_over_bf16_bound"] <= 1.0
        assert "flashinfer.fused_moe.trtllm_fp4_block_scale_routed_moe" in report["installed"]  # install(), no wrapper


def test_refuses_to_run_with_nvlink_multicast_on(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NCCL_NVLS_ENABLE"}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "dp_ep_moe.py")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "NCCL_NVLS_ENABLE=0" in result.stderr
