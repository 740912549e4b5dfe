#!/usr/bin/env bash
# Everything GPU in one call (device time is scarce): the GPU tests, then the benchmarks.
# Run from the repository root on a machine with 1+ CUDA GPUs (2+ for the multi-GPU test).
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/boundcheck-gpu}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpus.txt"
python -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__, torch.cuda.get_device_name())"
python -m pytest tests/gpu -v -s -p no:cacheprovider -o cache_dir=/tmp/pytest-cache 2>&1 | tee "$OUT/pytest_gpu.log"
status=${PIPESTATUS[0]}
python -m benchmarks.gpu_chunking 2>&1 | tee "$OUT/bench_gpu.log"
exit $status
