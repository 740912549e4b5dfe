"""On a GPU: the model's unsigned 32-bit bound of flashinfer's FP8 per-channel requantization
offset, shown on the device (issue #23, last item).

    python tools/gpu_requant_overflow.py --out DIR    (needs nvcc; compute-sanitizer for part 2)

perTokenQuantization (nv_internal/tensorrt_llm/kernels/quantization.cuh, 0.7.2.post1 line 162),
launched with grid(numRows) over the padded permuted rows, numCols = intermediate_size, finds
its row with
    int const numColVecs = numCols / NUM_ELTS_PER_VEC;
    uint4 const* srcVec = reinterpret_cast<uint4 const*>(src) + blockIdx.x * numColVecs;
an unsigned 32-bit product (blockIdx.x is unsigned). The demonstration compiles these
statements verbatim, with flashinfer's types (T = __nv_bfloat16, int64_t numCols), in a kernel
of its own, at the Mixtral-shaped call the model binds on (8 experts, top_k 2, hidden 4096,
intermediate 14336, fp8_per_channel, flashinfer 0.7.2.post1), launched with grid(P(n)) for
the padded rows P(n) the model counts at its bound B (boundcheck.kernel_limits) and at B + 1:

1. a probe: each block takes its srcVec offset (uint4 elements, a 64-bit difference from src)
   and counts the rows where it differs from the exact 64-bit blockIdx.x * numColVecs. Only
   pointer arithmetic: src is a 16-byte allocation and nothing is loaded through srcVec, so
   the ~69 GB buffer is not needed. None wrapped at B, some at B + 1;
2. the real loads, under compute-sanitizer's memcheck where it is installed: a bf16 buffer of
   exactly P(n) x numCols (64 GiB: it fits an 80 GB H100), its first and last rows marked
   (row, vector) in every uint4, the last rows load their vectors as flashinfer does. At B
   every row reads its own; at B + 1 the wrapped rows read the first rows' vectors, and
   memcheck reports 0 errors: the wrap is silent.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from boundcheck.kernel_limits import LIMITS_TABLE, Shape, kernel_bound, padded_rows  # noqa: E402
from boundcheck.resolution import era_for  # noqa: E402
from tools.gpu_int32_overflow import build, device_line, run_logged  # noqa: E402

ENTRY, RELEASE, PRECISION = "fp8_requant_src_offset", "0.7.2.post1", "fp8_per_channel"
EXPERTS, TOP_K, HIDDEN, INTERMEDIATE = 8, 2, 4096, 14336
ELTS_PER_VEC = 8  # sizeof(uint4) / sizeof(__nv_bfloat16)
TOP_ROWS = 64  # part 2 loads these last rows; the first TOP_ROWS + 1 rows are marked too

KERNEL = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_bf16.h>

// flashinfer 0.7.2.post1, nv_internal/tensorrt_llm/kernels/quantization.cuh, perTokenQuantization
// (T = __nv_bfloat16 as runner.cu instantiates it; numCols is int64_t there): the statements, verbatim.
template <typename T>
__device__ __forceinline__ uint4 const* src_vec(T const* src, int64_t const numCols) {
  static constexpr int NUM_ELTS_PER_VEC = sizeof(uint4) / sizeof(T);
  int const numColVecs = numCols / NUM_ELTS_PER_VEC;
  uint4 const* srcVec = reinterpret_cast<uint4 const*>(src) + blockIdx.x * numColVecs;
  return srcVec;
}

// Part 1: the offset of every row, nothing loaded.
__global__ void probe(__nv_bfloat16 const* src, int64_t const numCols, unsigned long long* wrapped,
                      unsigned int* firstWrapped, long long* offsets) {
  uint4 const* srcVec = src_vec(src, numCols);
  if (threadIdx.x != 0) return;
  long long const offset = srcVec - reinterpret_cast<uint4 const*>(src);  // uint4 elements, 64-bit
  long long const exact = (long long)blockIdx.x * (numCols / 8);
  offsets[blockIdx.x] = offset;
  if (offset != exact) {
    atomicAdd(wrapped, 1ULL);
    atomicMin(firstWrapped, blockIdx.x);
  }
}

// Part 2: every uint4 of the marked rows holds (row, vector index, 0, 0).
__global__ void mark(uint4* buf, long long numColVecs, long long headRows, long long firstRow, long long rows) {
  long long const marked = (headRows + rows - firstRow) * numColVecs;
  long long const stride = (long long)gridDim.x * blockDim.x;
  for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < marked; k += stride) {
    long long row = k / numColVecs;
    if (row >= headRows) row += firstRow - headRows;
    long long const vec = k % numColVecs;
    buf[row * numColVecs + vec] = make_uint4((unsigned)row, (unsigned)vec, 0u, 0u);
  }
}

// flashinfer's loads (`uint4 vec = srcVec[i]`) in the last rows; the other blocks return.
__global__ void touch(__nv_bfloat16 const* src, int64_t const numCols, unsigned int firstRow,
                      unsigned long long* foreign, uint4* firstVecs) {
  uint4 const* srcVec = src_vec(src, numCols);
  if (blockIdx.x < firstRow) return;
  int const numColVecs = numCols / 8;
  for (int i = threadIdx.x; i < numColVecs; i += blockDim.x) {
    uint4 vec = srcVec[i];
    if (vec.x != blockIdx.x || vec.y != (unsigned)i) atomicAdd(foreign, 1ULL);
    if (i == 0) firstVecs[blockIdx.x - firstRow] = vec;
  }
}

static int fail(char const* what, cudaError_t err) {
  std::printf("%s failed: %s\n", what, cudaGetErrorString(err));
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 4) { std::fprintf(stderr, "usage: requant probe ROWS NUM_COLS | touch ROWS NUM_COLS FIRST_ROW HEAD_ROWS\n"); return 2; }
  unsigned int const rows = (unsigned)std::strtoul(argv[2], nullptr, 10);
  int64_t const numCols = std::atoll(argv[3]);
  long long const numColVecs = numCols / 8;
  cudaError_t err;
  if (std::strcmp(argv[1], "probe") == 0) {
    __nv_bfloat16* src; unsigned long long* wrapped; unsigned int* first; long long* offsets;
    cudaMalloc(&src, 16);  // a real device pointer; srcVec is never dereferenced
    cudaMalloc(&wrapped, sizeof(*wrapped)); cudaMalloc(&first, sizeof(*first));
    if ((err = cudaMalloc(&offsets, sizeof(long long) * rows)) != cudaSuccess) return fail("allocation", err);
    cudaMemset(wrapped, 0, sizeof(*wrapped)); cudaMemset(first, 0xFF, sizeof(*first));
    probe<<<rows, 32>>>(src, numCols, wrapped, first, offsets);  // grid(numRows), as flashinfer launches it
    if ((err = cudaDeviceSynchronize()) != cudaSuccess) return fail("probe", err);
    unsigned long long h_wrapped; unsigned int h_first; long long last, atFirst = 0;
    cudaMemcpy(&h_wrapped, wrapped, sizeof(h_wrapped), cudaMemcpyDeviceToHost);
    cudaMemcpy(&h_first, first, sizeof(h_first), cudaMemcpyDeviceToHost);
    cudaMemcpy(&last, offsets + rows - 1, sizeof(last), cudaMemcpyDeviceToHost);
    if (h_wrapped) cudaMemcpy(&atFirst, offsets + h_first, sizeof(atFirst), cudaMemcpyDeviceToHost);
    std::printf("probe grid=%u numCols=%lld numColVecs=%lld: %llu rows wrapped", rows, (long long)numCols, numColVecs,
                h_wrapped);
    if (h_wrapped)
      std::printf(", first wrapped row %u: offset %lld (exact %lld)", h_first, atFirst, (long long)h_first * numColVecs);
    std::printf("; last row %u: offset %lld (exact %lld) (%s)\n", rows - 1, last, (long long)(rows - 1) * numColVecs,
                cudaGetErrorString(cudaGetLastError()));
    return 0;
  }
  if (argc != 6) { std::fprintf(stderr, "touch needs FIRST_ROW HEAD_ROWS\n"); return 2; }
  unsigned int const firstRow = (unsigned)std::strtoul(argv[4], nullptr, 10);
  long long const headRows = std::atoll(argv[5]);
  size_t const bytes = (size_t)rows * (size_t)numCols * sizeof(__nv_bfloat16);
  __nv_bfloat16* src; unsigned long long* foreign; uint4* firstVecs;
  if ((err = cudaMalloc(&src, bytes)) != cudaSuccess) {
    std::printf("allocation of %zu bytes (%u x %lld bf16) failed: %s\n", bytes, rows, (long long)numCols,
                cudaGetErrorString(err));
    return err == cudaErrorMemoryAllocation ? 3 : 1;
  }
  cudaMalloc(&foreign, sizeof(*foreign)); cudaMalloc(&firstVecs, sizeof(uint4) * (rows - firstRow));
  cudaMemset(foreign, 0, sizeof(*foreign));
  cudaMemset(src, 0xFF, bytes);  // unmarked rows read as row 4294967295
  mark<<<1024, 256>>>(reinterpret_cast<uint4*>(src), numColVecs, headRows, firstRow, rows);
  touch<<<rows, 512>>>(src, numCols, firstRow, foreign, firstVecs);  // grid(numRows), block(512) as flashinfer
  if ((err = cudaDeviceSynchronize()) != cudaSuccess) return fail("touch", err);
  unsigned long long h_foreign; uint4 vecs[4096];
  unsigned int const top = rows - firstRow < 4096 ? rows - firstRow : 4096;
  cudaMemcpy(&h_foreign, foreign, sizeof(h_foreign), cudaMemcpyDeviceToHost);
  cudaMemcpy(vecs, firstVecs, sizeof(uint4) * top, cudaMemcpyDeviceToHost);
  unsigned int foreignRows = 0, firstForeign = 0;
  for (unsigned int r = 0; r < top; ++r)
    if (vecs[r].x != firstRow + r) { if (!foreignRows) firstForeign = r; ++foreignRows; }
  std::printf("touch buffer %zu bytes (%u x %lld bf16), rows %u..%u loaded: %u rows read another row's vectors, "
              "%llu foreign vectors", bytes, rows, (long long)numCols, firstRow, rows - 1, foreignRows, h_foreign);
  if (foreignRows)
    std::printf("; row %u's vector 0 holds row %u's vector %u, row %u's holds row %u's vector %u", firstRow + firstForeign,
                vecs[firstForeign].x, vecs[firstForeign].y, rows - 1, vecs[top - 1].x, vecs[top - 1].y);
  std::printf(" (%s)\n", cudaGetErrorString(err));
  return 0;
}
"""


def model() -> dict:
    """B, the binding tile and the padded rows at B and B + 1, from boundcheck.kernel_limits."""
    entry = next(e for e in LIMITS_TABLE if e.name == ENTRY)
    era = era_for(RELEASE)
    found = kernel_bound(RELEASE, PRECISION, era.tiles[PRECISION], TOP_K, EXPERTS, HIDDEN, INTERMEDIATE,
                         era.cta_formula)
    assert found.binding is entry, f"{ENTRY} does not bind at this shape: {found}"
    shape = Shape(TOP_K, EXPERTS, found.tile, HIDDEN, INTERMEDIATE, era.cta_formula)
    bound = entry.largest_tokens(shape)
    assert bound == found.tokens
    vecs = INTERMEDIATE // ELTS_PER_VEC
    rows = {n: padded_rows(n, shape) for n in (bound, bound + 1)}
    first_wrap = -(-(entry.limit + 1) // vecs)  # the first row whose offset is >= 2^32
    return {"entry": entry, "shape": shape, "bound": bound, "rows": rows, "vecs": vecs, "first_wrap": first_wrap,
            "wrapped": {n: max(0, r - first_wrap) for n, r in rows.items()}}


def cuda_line() -> str:
    """The driver's CUDA version (nvidia-smi) and nvcc's."""
    versions = []
    for command, pattern in ((["nvidia-smi"], r"CUDA Version:\s*([\d.]+)"), (["nvcc", "--version"], r"release ([\d.]+)")):
        try:
            found = re.search(pattern, subprocess.run(command, capture_output=True, text=True).stdout)
        except FileNotFoundError:
            found = None
        versions.append(found.group(1) if found else "?")
    return f"CUDA {versions[0]} (driver), nvcc {versions[1]}"


def _probe_ok(text: str, wrapped: int, first_wrap: int) -> bool:
    found = re.search(r": (\d+) rows wrapped(?:, first wrapped row (\d+))?", text)
    if not found or int(found.group(1)) != wrapped:
        return False
    return wrapped == 0 or int(found.group(2)) == first_wrap


def _load_verdict(code: int, text: str, wrapped: int, sanitized: bool) -> str:
    """Part 2 at one n: `wrapped` of the loaded rows read other rows' vectors, memcheck silent."""
    if code == 3:
        return "not run (the buffer does not fit this card)"
    found = re.search(r": (\d+) rows read another row's vectors", text)
    silent = not sanitized or "ERROR SUMMARY: 0 errors" in text
    if code == 0 and found and int(found.group(1)) == wrapped and silent:
        return f"{wrapped} rows read another row's vectors, as the model says" + (", memcheck silent" * sanitized)
    return "NOT as the model says"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    m = model()
    bound, vecs = m["bound"], m["vecs"]
    with open(out / "requant_overflow.log", "w") as log:
        log.write(f"model (boundcheck.kernel_limits, {ENTRY}, flashinfer {RELEASE}, {PRECISION}): experts {EXPERTS}, "
                  f"top_k {TOP_K}, hidden {HIDDEN}, intermediate {INTERMEDIATE} (numColVecs {vecs}), "
                  f"binding tile {m['shape'].tile}\n")
        for n, rows in m["rows"].items():
            log.write(f"  n = {n:,} ({'B' if n == bound else 'B + 1'}): {rows:,} padded rows, largest offset "
                      f"{m['entry'].value(n, m['shape']):,} uint4; rows wrapping (offset >= 2^32, from row "
                      f"{m['first_wrap']:,}): {m['wrapped'][n]:,}\n")
        log.write(f"\ndevice: {device_line()}; {cuda_line()}\n\n")
        code, demo = build(KERNEL, out, "requant", log)
        if code:
            return code
        ok = True
        for n, rows in m["rows"].items():
            _, text = run_logged([demo, "probe", str(rows), str(INTERMEDIATE)], log)
            ok &= _probe_ok(text, m["wrapped"][n], m["first_wrap"])
        sanitizer = shutil.which("compute-sanitizer")
        prefix = [sanitizer, "--tool", "memcheck", "--print-limit", "4"] if sanitizer else []
        if not sanitizer:
            log.write("compute-sanitizer not found: part 2 runs without it\n")
        loads = []
        for n, rows in m["rows"].items():
            code, text = run_logged(prefix + [demo, "touch", str(rows), str(INTERMEDIATE), str(rows - TOP_ROWS),
                                              str(TOP_ROWS + 1)], log)
            loads.append(_load_verdict(code, text, min(TOP_ROWS, m["wrapped"][n]), bool(sanitizer)))
        log.write(f"probe verdict: {'as the model says' if ok else 'NOT as the model says'}\n")
        log.write(f"load verdict: {'; '.join(loads)}\n")
    print((out / "requant_overflow.log").read_text())
    (out / "requant").unlink(missing_ok=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
