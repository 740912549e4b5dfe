"""On a GPU: the model's int32 bound of flashinfer 0.6.0's DeepSeek FP8 activation index,
shown on the device (issue "int32 offsets", item 4).

    python tools/gpu_int32_overflow.py --out DIR      (needs nvcc; compute-sanitizer for part 2)

flashinfer's activation kernels index the gate-and-up buffer of the permuted rows with
    int const baseIdx = permutedIdx * params.innerDim + hiddenIdx;
    float x1 = (float)params.inPtr[baseIdx];
    float x2 = (float)params.inPtr[baseIdx + params.innerDim / 2];
(trtllm_fused_moe_dev_kernel.cu up to 0.6.5; innerDim = 2 * intermediate_size; int64 from
0.6.6). The demonstration compiles these statements, verbatim and with their int types, in
a kernel of its own (flashinfer's kernel needs its whole build: cutlass, the launch
parameters, PDL), over a buffer of exactly the padded rows the model counts at n tokens
(boundcheck.kernel_limits, the function `chunk` and the guard use), at DeepSeek-V3's shape
(256 experts, top_k 8, intermediate 2048, tile 128):

1. a probe evaluates the index of every (row, column) and counts those outside the buffer:
   none at the proven bound B, some (negative: the int32 product wrapped) at B + 1;
2. under compute-sanitizer's memcheck the real loads of the top rows: no error at B,
   invalid global reads at B + 1.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from boundcheck.kernel_limits import LIMITS_TABLE, Shape, padded_rows  # noqa: E402

RELEASE, TOP_K, EXPERTS, INTERMEDIATE, TILE = "0.6.0", 8, 256, 2048, 128
TOP_ROWS = 64  # the sanitizer run loads these last rows (where the index wraps first)

KERNEL = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// flashinfer 0.6.0, trtllm_fused_moe_dev_kernel.cu, activation kernels: the index, verbatim.
__device__ __forceinline__ int base_index(int permutedIdx, int innerDim, int hiddenIdx) {
  int const baseIdx = permutedIdx * innerDim + hiddenIdx;
  return baseIdx;
}

__global__ void probe(int innerDim, int rows, long long elements, unsigned long long* outside, long long* lowest) {
  long long const half = innerDim / 2;
  for (long long linear = blockIdx.x * (long long)blockDim.x + threadIdx.x; linear < (long long)rows * half;
       linear += (long long)gridDim.x * blockDim.x) {
    int const permutedIdx = (int)(linear / half);
    int const hiddenIdx = (int)(linear % half);
    int const baseIdx = base_index(permutedIdx, innerDim, hiddenIdx);
    int const upIdx = baseIdx + innerDim / 2;
    if (baseIdx < 0 || (long long)baseIdx >= elements || upIdx < 0 || (long long)upIdx >= elements) {
      atomicAdd(outside, 1ULL);
      atomicMin(lowest, (long long)(baseIdx < upIdx ? baseIdx : upIdx));
    }
  }
}

__global__ void touch(const uint8_t* inPtr, int innerDim, int firstRow, int rows, float* sink) {
  long long const half = innerDim / 2;
  float acc = 0.f;
  for (long long linear = blockIdx.x * (long long)blockDim.x + threadIdx.x; linear < (long long)(rows - firstRow) * half;
       linear += (long long)gridDim.x * blockDim.x) {
    int const permutedIdx = firstRow + (int)(linear / half);
    int const hiddenIdx = (int)(linear % half);
    int const baseIdx = base_index(permutedIdx, innerDim, hiddenIdx);
    float x1 = (float)inPtr[baseIdx];
    float x2 = (float)inPtr[baseIdx + innerDim / 2];
    acc += x1 * x2;
  }
  if (acc == 12345.f) *sink = acc;  // keep the loads
}

int main(int argc, char** argv) {
  if (argc != 5) { std::fprintf(stderr, "usage: demo probe|touch ROWS INNER_DIM FIRST_ROW\n"); return 2; }
  bool const isProbe = std::strcmp(argv[1], "probe") == 0;
  int const rows = std::atoi(argv[2]), innerDim = std::atoi(argv[3]), firstRow = std::atoi(argv[4]);
  long long const elements = (long long)rows * innerDim;
  if (isProbe) {
    unsigned long long* outside; long long* lowest;
    cudaMalloc(&outside, sizeof(*outside)); cudaMalloc(&lowest, sizeof(*lowest));
    unsigned long long zero = 0; long long big = (1LL << 62);
    cudaMemcpy(outside, &zero, sizeof(zero), cudaMemcpyHostToDevice);
    cudaMemcpy(lowest, &big, sizeof(big), cudaMemcpyHostToDevice);
    probe<<<4096, 256>>>(innerDim, rows, elements, outside, lowest);
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) { std::printf("probe failed: %s\n", cudaGetErrorString(err)); return 1; }
    unsigned long long h_outside; long long h_lowest;
    cudaMemcpy(&h_outside, outside, sizeof(h_outside), cudaMemcpyDeviceToHost);
    cudaMemcpy(&h_lowest, lowest, sizeof(h_lowest), cudaMemcpyDeviceToHost);
    std::printf("probe rows=%d innerDim=%d elements=%lld: %llu indices outside [0, elements)%s%lld (%s)\n",
                rows, innerDim, elements, h_outside, h_outside ? ", lowest " : "", h_outside ? h_lowest : 0LL,
                cudaGetErrorString(err));
    return 0;
  }
  uint8_t* inPtr; float* sink;
  if (cudaMalloc(&inPtr, (size_t)elements) != cudaSuccess) { std::printf("allocation failed\n"); return 1; }
  cudaMemset(inPtr, 1, (size_t)elements);
  cudaMalloc(&sink, sizeof(float));
  touch<<<1024, 256>>>(inPtr, innerDim, firstRow, rows, sink);
  cudaError_t err = cudaDeviceSynchronize();
  std::printf("touch rows=%d innerDim=%d rows %d..%d loaded: %s\n", rows, innerDim, firstRow, rows - 1,
              cudaGetErrorString(err));
  return err == cudaSuccess ? 0 : 1;
}
"""


def run_logged(command, log):
    """Run `command`, write it and its output (a sanitizer's repeats cut) to `log`."""
    log.write(f"$ {' '.join(command)}\n")
    result = subprocess.run(command, capture_output=True, text=True, timeout=540)
    text = (result.stdout + result.stderr).strip()
    lines = text.splitlines()
    if len(lines) > 40:  # the sanitizer repeats one report per thread: keep its head and summary
        lines = lines[:25] + [f"... ({len(lines) - 35} lines)"] + lines[-10:]
    log.write("\n".join(lines) + f"\n(exit {result.returncode})\n\n")
    log.flush()
    return result.returncode, text


def device_line() -> str:
    """The card and its driver, as nvidia-smi names them."""
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        return "no nvidia-smi"


def build(source: str, out: Path, name: str, log) -> tuple[int, str]:
    """Write `source` to out/name.cu and compile it for Hopper: (exit code, the program's path)."""
    (out / f"{name}.cu").write_text(textwrap.dedent(source))
    code, _ = run_logged(["nvcc", "-O2", "-arch=sm_90", "-o", str(out / name), str(out / f"{name}.cu")], log)
    return code, str(out / name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entry = next(e for e in LIMITS_TABLE if e.name == "deepseek_activation_index")
    shape = Shape(TOP_K, EXPERTS, TILE, 7168, INTERMEDIATE)
    bound = entry.largest_tokens(shape)
    rows_at, rows_past = padded_rows(bound, shape), padded_rows(bound + 1, shape)
    inner = 2 * INTERMEDIATE
    with open(out / "int32_overflow.log", "w") as log:
        log.write(f"model (boundcheck.kernel_limits, {entry.name}, flashinfer {RELEASE}): experts {EXPERTS}, "
                  f"top_k {TOP_K}, intermediate {INTERMEDIATE} (innerDim {inner}), tile {TILE}\n"
                  f"  bound B = {bound:,} tokens: {rows_at:,} padded rows, largest index "
                  f"{entry.value(bound, shape):,}\n  B + 1 = {bound + 1:,}: {rows_past:,} rows, largest index "
                  f"{entry.value(bound + 1, shape):,} > 2^31 - 1\n\n")
        log.write(f"device: {device_line()}\n\n")
        code, demo = build(KERNEL, out, "demo", log)
        if code:
            return code
        _, at = run_logged([demo, "probe", str(rows_at), str(inner), "0"], log)
        _, past = run_logged([demo, "probe", str(rows_past), str(inner), "0"], log)
        ok = ": 0 indices outside" in at and ": 0 indices outside" not in past
        sanitizer = shutil.which("compute-sanitizer")
        if sanitizer:
            for rows in (rows_at, rows_past):
                run_logged([sanitizer, "--tool", "memcheck", "--print-limit", "4", demo, "touch", str(rows), str(inner),
                      str(rows - TOP_ROWS)], log)
        else:
            log.write("compute-sanitizer not found: part 2 not run\n")
        log.write(f"probe verdict: {'as the model says' if ok else 'NOT as the model says'}\n")
    print((out / "int32_overflow.log").read_text())
    (out / "demo").unlink(missing_ok=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
