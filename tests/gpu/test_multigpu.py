"""The seed's distributed scenario on 2+ GPUs: torchrun, NCCL (NVLink multicast off),
DP ranks all-gathering 400,000 tokens for EP; the guard chunks every rank's batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_dp_ep_gathered_batch_is_chunked_and_exact(tmp_path):
    out = tmp_path / "ranks.json"
    env = dict(os.environ, NCCL_NVLS_ENABLE="0", TORCH_SYMM_MEM_DISABLE_MULTICAST="1", NVSHMEM_DISABLE_NVLS="1",
               PYTHONPATH=ROOT)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               os.path.join(ROOT, "examples", "dp_ep_moe.py"), "--tokens-per-rank", "200000",
               "--steps", "2", "--check", "--lifted", "--json-out", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = json.loads(out.read_text())
    assert len(ranks) == 2
    for report in ranks:
        assert report["gathered_tokens"] == 400_000 > report["bound"] == 300_000
        assert report["chunks"] == [200_000, 200_000]
        assert report["lifted_chunks"] == [400_000]
        assert report["exact"] is True
        assert report["error_over_bf16_bound"] <= 1.0
        assert "flashinfer.fused_moe.trtllm_fp4_block_scale_routed_moe" in report["installed"]  # install(), no wrapper
