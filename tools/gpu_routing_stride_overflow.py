"""On a GPU: the model's int32 bound of flashinfer's DeepSeek routing thread stride
(kernel_limits entry deepseek_routing_thread_stride), shown on the device.

    python tools/gpu_routing_stride_overflow.py --out DIR   (needs nvcc; compute-sanitizer for part 2)

routingDeepSeek::routingMainKernel (flashinfer 0.7.4, csrc/fused_moe/trtllm_backend/
trtllm_fused_moe_routing_deepseek.cu lines 168-173), launched with grid.x = num_tokens and
blockDim = max(numExpertGroups * 32, getMaxNumExperts(E)) (at most 512), zeroes the expert
counts with
    if (params.mPtrExpertCounts) {
      int32_t globalThreadIdx = blockIdx.x * blockDim.x + threadIdx.x;
      int32_t globalThreadStride = gridDim.x * blockDim.x;
      int32_t expertCountsNum = 2 * (params.mNumExperts + params.mNumFusedSharedExperts);
      initArr(globalThreadIdx, expertCountsNum, globalThreadStride, params.mPtrExpertCounts, 0);
    }
and initArr (include/flashinfer/trtllm/fused_moe/RoutingKernel.cuh line 208) loops
    for (int i = startIdx; i < numElts; i += stride) arr[i] = value;
The demonstration compiles these statements verbatim, with flashinfer's types (a Params
struct holding int32_t* mPtrExpertCounts, int32_t mNumExperts, int32_t mNumFusedSharedExperts),
in a kernel of its own (flashinfer's needs its whole routing build) with 512 threads a block, at
the DeepSeek-tier Nemotron 3 Super shape (mNumExperts 512, mNumFusedSharedExperts 0, so
expertCountsNum 1024), launched with grid.x = n for the model's bound B
(boundcheck.kernel_limits: the loop's largest increment, i + stride for i < expertCountsNum,
must fit: n x 512 + (expertCountsNum - 1) <= 2^31 - 1, so B = 4,194,302), B + 1 (threads 512 ..
1023 wrap i += stride), B + 2 (the stride (B + 2) x 512 = 2^31 itself wraps to -2^31) and the
largest n at which the source's int32 arithmetic writes only inside [0, expertCountsNum)
("exact", computed here from the arithmetic alone: it must equal B).

1. a probe (nothing written): every thread counts a negative globalThreadIdx, the stride is
   recorded, and each thread runs initArr's loop header verbatim, recording the indices it
   would write instead of writing them, for at most --cap passes (4) a thread (a wrapped
   stride loops for ever: i, i - 2^31, i, ...), and counts those outside [0, expertCountsNum).
   The numbers are checked against the same int32 (two's complement) arithmetic in Python;
2. the real writes into a cudaMalloc'd int32_t[expertCountsNum] (allocated first, filled with
   -1), under compute-sanitizer's memcheck where it is installed: (a) "guarded": initArr's loop
   with at most --cap passes a thread (the first out-of-bounds write is what matters; a
   wrapped stride would loop for ever) - memcheck must report 0 errors where the probe finds no
   write outside and invalid global writes (arr[-2^31] is 8 GiB before the allocation) where it
   finds some; also once natively at B + 1; (b) "verbatim": flashinfer's initArr as it is, no
   guard, under `timeout 120`: what nvcc makes of it is recorded, not judged (a signed overflow
   of i += stride is undefined, and nvcc may compile the loop with a trip count that never
   re-tests a wrapped i; the tool keeps the PTX, DIR/routing.ptx, and says so in the log).
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

from boundcheck.facts import INT32_MAX  # noqa: E402
from boundcheck.kernel_limits import DEEPSEEK_MAIN_MAX_THREADS, LIMITS_TABLE, Shape, limits_for  # noqa: E402
from tools.gpu_int32_overflow import build, device_line, run_logged  # noqa: E402
from tools.gpu_requant_overflow import cuda_line  # noqa: E402

ENTRY, RELEASE, PRECISION = "deepseek_routing_thread_stride", "0.7.4", "nvfp4"
# Nemotron 3 Super (boundcheck.shapes, proofs/kernel_limits.py): 512 experts, top_k 22, latent 1024,
# intermediate 2688; the entry depends on none of them but the block (512 threads at E = 512).
EXPERTS, SHARED, TOP_K, HIDDEN, INTERMEDIATE, TILE = 512, 0, 22, 1024, 2688, 128
THREADS = 512  # blockDim: max(numExpertGroups * 32, getMaxNumExperts(512) = 512)
CAP = 4  # passes of initArr's loop a thread, in the probe and the guarded writes

KERNEL = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// flashinfer 0.7.4, include/flashinfer/trtllm/fused_moe/RoutingKernel.h: the fields used (int32_t).
struct Params {
  int32_t* mPtrExpertCounts{nullptr};
  int32_t mNumExperts;
  int32_t mNumFusedSharedExperts{0};
};

// flashinfer 0.7.4, include/flashinfer/trtllm/fused_moe/RoutingKernel.cuh line 208: verbatim.
template <typename DataType>
__device__ void initArr(int startIdx, int numElts, int stride, DataType* arr, DataType value) {
  if (arr != nullptr) {
    for (int i = startIdx; i < numElts; i += stride) {
      arr[i] = value;
    }
  }
}

// The demonstration's copy of initArr: the same loop header, at most maxPasses passes a thread,
// `visit` in place of `arr[i] = value` (the probe records the index, the guarded run writes).
template <typename DataType, typename Visit>
__device__ void initArrCapped(int startIdx, int numElts, int stride, DataType* arr, DataType value, int maxPasses,
                              Visit& visit) {
  if (arr != nullptr) {
    int pass = 0;
    for (int i = startIdx; i < numElts; i += stride) {
      if (pass == maxPasses) { visit.capped(); break; }
      visit(arr, i, value, pass++);
    }
  }
}

#define TRACED 4
#define MAX_CAP 8
struct Stats {
  unsigned long long negativeThreads, inside, outside, cappedThreads;
  int stride, lowestOutside, highestOutside;
  int traceCount[TRACED];
  int trace[TRACED][MAX_CAP];
};

struct Probe {  // records, writes nothing
  Stats* stats; int numElts; int slot;
  __device__ void operator()(int32_t*, int i, int32_t, int pass) {
    if (i >= 0 && i < numElts) atomicAdd(&stats->inside, 1ULL);
    else {
      atomicAdd(&stats->outside, 1ULL);
      atomicMin(&stats->lowestOutside, i);
      atomicMax(&stats->highestOutside, i);
    }
    if (slot >= 0 && pass < MAX_CAP) { stats->trace[slot][pass] = i; stats->traceCount[slot] = pass + 1; }
  }
  __device__ void capped() { atomicAdd(&stats->cappedThreads, 1ULL); }
};

struct Write {  // flashinfer's store
  __device__ void operator()(int32_t* arr, int i, int32_t value, int) { arr[i] = value; }
  __device__ void capped() {}
};

// Traced threads: 0, expertCountsNum / 2 - 1, expertCountsNum / 2, expertCountsNum - 1.
__device__ int traced_slot(int32_t globalThreadIdx, int32_t expertCountsNum) {
  if (globalThreadIdx == 0) return 0;
  if (globalThreadIdx == expertCountsNum / 2 - 1) return 1;
  if (globalThreadIdx == expertCountsNum / 2) return 2;
  if (globalThreadIdx == expertCountsNum - 1) return 3;
  return -1;
}

// mode 0: probe; 1: guarded writes (at most maxPasses a thread); 2: flashinfer's initArr, verbatim.
__global__ void __launch_bounds__(512) routingMainKernelInit(Params params, int mode, int maxPasses, Stats* stats) {
  // flashinfer 0.7.4, trtllm_fused_moe_routing_deepseek.cu lines 168-173, routingMainKernel: verbatim
  // (the call to initArr per mode).
  if (params.mPtrExpertCounts) {
    int32_t globalThreadIdx = blockIdx.x * blockDim.x + threadIdx.x;
    int32_t globalThreadStride = gridDim.x * blockDim.x;
    int32_t expertCountsNum = 2 * (params.mNumExperts + params.mNumFusedSharedExperts);
    if (mode == 2) {
      initArr(globalThreadIdx, expertCountsNum, globalThreadStride, params.mPtrExpertCounts, 0);
    } else if (mode == 1) {
      Write write;
      initArrCapped(globalThreadIdx, expertCountsNum, globalThreadStride, params.mPtrExpertCounts, 0, maxPasses, write);
    } else {
      if (globalThreadIdx < 0) atomicAdd(&stats->negativeThreads, 1ULL);
      if (blockIdx.x == 0 && threadIdx.x == 0) stats->stride = globalThreadStride;
      Probe probe{stats, expertCountsNum, traced_slot(globalThreadIdx, expertCountsNum)};
      initArrCapped(globalThreadIdx, expertCountsNum, globalThreadStride, params.mPtrExpertCounts, 0, maxPasses, probe);
    }
  }
}

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: routing probe|guarded|verbatim GRID NUM_EXPERTS NUM_FUSED_SHARED MAX_PASSES\n");
    return 2;
  }
  int const mode = std::strcmp(argv[1], "probe") == 0 ? 0 : std::strcmp(argv[1], "guarded") == 0 ? 1 : 2;
  unsigned int const grid = (unsigned)std::strtoul(argv[2], nullptr, 10);
  Params params;
  params.mNumExperts = std::atoi(argv[3]);
  params.mNumFusedSharedExperts = std::atoi(argv[4]);
  int const maxPasses = std::atoi(argv[5]);
  int const countsNum = 2 * (params.mNumExperts + params.mNumFusedSharedExperts);
  if (maxPasses < 1 || maxPasses > MAX_CAP) { std::fprintf(stderr, "MAX_PASSES: 1..%d\n", MAX_CAP); return 2; }
  // The expert counts first (nothing allocated just below them), filled with -1.
  cudaError_t err = cudaMalloc(&params.mPtrExpertCounts, sizeof(int32_t) * countsNum);
  if (err != cudaSuccess) { std::printf("allocation failed: %s\n", cudaGetErrorString(err)); return 1; }
  cudaMemset(params.mPtrExpertCounts, 0xFF, sizeof(int32_t) * countsNum);
  Stats init{}; init.lowestOutside = 0x7FFFFFFF; init.highestOutside = (int)0x80000000;
  Stats* stats;
  cudaMalloc(&stats, sizeof(Stats));
  cudaMemcpy(stats, &init, sizeof(Stats), cudaMemcpyHostToDevice);
  routingMainKernelInit<<<grid, 512>>>(params, mode, maxPasses, stats);  // grid.x = num_tokens, 512 threads
  cudaError_t const launch = cudaGetLastError();
  err = cudaDeviceSynchronize();
  if (launch != cudaSuccess) err = launch;
  if (mode == 0) {
    if (err != cudaSuccess) { std::printf("probe failed: %s\n", cudaGetErrorString(err)); return 1; }
    Stats h;
    cudaMemcpy(&h, stats, sizeof(Stats), cudaMemcpyDeviceToHost);
    std::printf("probe grid=%u block=512 expertCountsNum=%d: globalThreadStride %d, %llu threads with negative "
                "globalThreadIdx; loops (at most %d passes a thread): %llu writes inside, %llu outside",
                grid, countsNum, h.stride, h.negativeThreads, maxPasses, h.inside, h.outside);
    if (h.outside) std::printf(" (indices %d .. %d)", h.lowestOutside, h.highestOutside);
    std::printf(", %llu threads still looping at the cap; would write:", h.cappedThreads);
    int const tracedIdx[TRACED] = {0, countsNum / 2 - 1, countsNum / 2, countsNum - 1};
    for (int s = 0; s < TRACED; ++s) {
      std::printf(" thread %d [", tracedIdx[s]);
      for (int p = 0; p < h.traceCount[s]; ++p) std::printf(p ? ", %d" : "%d", h.trace[s][p]);
      std::printf("]");
    }
    std::printf(" (%s)\n", cudaGetErrorString(err));
    return 0;
  }
  std::printf("%s grid=%u block=512 expertCountsNum=%d%s: kernel %s", argv[1], grid, countsNum,
              mode == 1 ? " (at most MAX_PASSES passes a thread)" : " (flashinfer's initArr, no guard)",
              cudaGetErrorString(err));
  int32_t h_counts[4096];
  cudaError_t const copied = cudaMemcpy(h_counts, params.mPtrExpertCounts, sizeof(int32_t) * countsNum,
                                        cudaMemcpyDeviceToHost);
  if (copied == cudaSuccess) {
    int zeroed = 0;
    for (int e = 0; e < countsNum; ++e) zeroed += h_counts[e] == 0;
    std::printf("; %d of %d counts zeroed\n", zeroed, countsNum);
  } else {
    std::printf("; counts not readable (%s)\n", cudaGetErrorString(copied));
  }
  return err == cudaSuccess ? 0 : 1;
}
"""


def wrap32(x: int) -> int:
    """x as an int32_t (two's complement, as the device computes it)."""
    return (x + 2**31) % 2**32 - 2**31


def simulate(grid: int, threads: int, counts_num: int, cap: int) -> dict:
    """The probe's numbers by the source's int32 arithmetic (each int operation wrapping, two's
    complement): initArr's loop for every thread that enters it (globalThreadIdx < numElts, a
    wrapped, negative one included)."""
    total = grid * threads
    assert total - 2**31 <= 2**20, "too many threads with a wrapped globalThreadIdx to simulate"
    stride = wrap32(total)
    inside = outside = capped = 0
    lowest = highest = None
    traces = {}
    traced = (0, counts_num // 2 - 1, counts_num // 2, counts_num - 1)
    starts = list(range(min(total, counts_num))) + [wrap32(g) for g in range(2**31, total)]
    for start in starts:
        i, passes, trace = start, 0, []
        while i < counts_num:
            if passes == cap:
                capped += 1
                break
            trace.append(i)
            if 0 <= i < counts_num:
                inside += 1
            else:
                outside += 1
                lowest = i if lowest is None else min(lowest, i)
                highest = i if highest is None else max(highest, i)
            passes += 1
            i = wrap32(i + stride)
        if start in traced:
            traces[start] = trace
    return {"stride": stride, "negative": max(0, total - 2**31), "inside": inside, "outside": outside,
            "lowest": lowest, "highest": highest, "capped": capped, "traces": traces}


def model() -> dict:
    """B from boundcheck.kernel_limits and the grids to launch."""
    entry = next(e for e in LIMITS_TABLE if e.name == ENTRY)
    shape = Shape(TOP_K, EXPERTS + SHARED, TILE, HIDDEN, INTERMEDIATE)
    assert entry in limits_for(RELEASE, PRECISION, shape), f"{ENTRY} does not hold in {RELEASE}"
    assert entry.multiplier(shape) == DEEPSEEK_MAIN_MAX_THREADS == THREADS
    bound = entry.largest_tokens(shape)
    counts_num = 2 * (EXPERTS + SHARED)
    # The verbatim int32 arithmetic: the stride and the increment i += stride (i < expertCountsNum) fit.
    exact = (INT32_MAX - (counts_num - 1)) // THREADS
    # B + 2: globalThreadIdx itself wraps (block B + 1's threads are 2^31 and up).
    grids = sorted({bound, bound + 1, bound + 2, exact, exact + 1})
    return {"entry": entry, "shape": shape, "bound": bound, "exact": exact, "counts_num": counts_num,
            "grids": grids}


def sanitizer_version(sanitizer: str | None) -> str:
    if not sanitizer:
        return "compute-sanitizer not found"
    text = subprocess.run([sanitizer, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"Version ([\w.]+)", text)
    return f"compute-sanitizer {found.group(1) if found else '?'}"


PROBE = re.compile(r"globalThreadStride (-?\d+), (\d+) threads with negative globalThreadIdx; .*?: (\d+) writes "
                   r"inside, (\d+) outside(?: \(indices (-?\d+) \.\. (-?\d+)\))?, (\d+) threads still looping")


def probe_agrees(text: str, sim: dict) -> bool:
    found = PROBE.search(text)
    if not found:
        return False
    stride, negative, inside, outside, lowest, highest, capped = found.groups()
    traces = {int(t): [int(v) for v in vals.split(", ") if v]
              for t, vals in re.findall(r"thread (\d+) \[([-\d, ]*)\]", text)}
    return (int(stride), int(negative), int(inside), int(outside), int(capped)) == (
        sim["stride"], sim["negative"], sim["inside"], sim["outside"], sim["capped"]) and (
        sim["outside"] == 0 or (int(lowest), int(highest)) == (sim["lowest"], sim["highest"])) and (
        traces == sim["traces"])


def errors(text: str) -> int | None:
    found = re.search(r"ERROR SUMMARY: (\d+) error", text)
    return int(found.group(1)) if found else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--cap", type=int, default=CAP, help="passes of initArr's loop a thread (1..8)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    m = model()
    bound, exact, counts_num = m["bound"], m["exact"], m["counts_num"]
    sims = {g: simulate(g, THREADS, counts_num, args.cap) for g in m["grids"]}
    sanitizer = shutil.which("compute-sanitizer")
    logfile = out / "routing_stride_overflow.log"

    def label(g):
        names = [name for name, value in (("B", bound), ("B + 1", bound + 1), ("B + 2", bound + 2),
                                          ("exact", exact), ("exact + 1", exact + 1)) if value == g]
        return " = ".join(names)

    with open(logfile, "w") as log:
        log.write(f"model (boundcheck.kernel_limits, {ENTRY}, flashinfer {RELEASE}): "
                  f"`{m['entry'].code_in(RELEASE)}` with blockDim {THREADS}, mNumExperts {EXPERTS}, "
                  f"mNumFusedSharedExperts {SHARED} (expertCountsNum {counts_num}); "
                  f"B = {bound:,} tokens: B x {THREADS} = {m['entry'].value(bound, m['shape']):,} <= 2^31 - 1\n")
        log.write(f"int32 arithmetic of the verbatim loop: the stride n x {THREADS} and the increment i += stride "
                  f"for i < {counts_num} fit up to n x {THREADS} + {counts_num - 1} <= 2^31 - 1, n <= {exact:,}"
                  f" (\"exact\")\n")
        for g in m["grids"]:
            s = sims[g]
            log.write(f"  grid.x = {g:,} ({label(g)}): stride {s['stride']:,}, {s['negative']} threads with a "
                      f"negative globalThreadIdx; loops of at most {args.cap} passes: "
                      f"{s['inside']} writes inside, {s['outside']} outside"
                      + (f" (indices {s['lowest']:,} .. {s['highest']:,})" if s["outside"] else "")
                      + f", {s['capped']} threads still looping at the cap\n")
        log.write(f"\ndevice: {device_line()}; {cuda_line()}; {sanitizer_version(sanitizer)}\n\n")
        code, demo = build(KERNEL, out, "routing", log)
        if code:
            return code
        # The PTX (kept in DIR): how nvcc compiled flashinfer's initArr loop.
        run_logged(["nvcc", "-O2", "-arch=sm_90", "-ptx", "-o", str(out / "routing.ptx"), str(out / "routing.cu")],
                   log)
        ptx = (out / "routing.ptx").read_text() if (out / "routing.ptx").exists() else ""
        if "div.u32" in ptx:
            log.write("PTX: nvcc compiled the verbatim initArr (mode verbatim) with a trip count, "
                      "(numElts - startIdx - 1) / (unsigned) stride + 1 passes (div.u32; it may: a signed overflow "
                      "of i += stride is undefined), and steps the address in 64 bits; the capped copy re-tests "
                      "i < numElts after each wrapping i += stride (no div.u32 in its path)\n\n")
        agrees = True
        for g in m["grids"]:
            _, text = run_logged([demo, "probe", str(g), str(EXPERTS), str(SHARED), str(args.cap)], log)
            agrees &= probe_agrees(text, sims[g])
        verdicts = []
        prefix = [sanitizer, "--tool", "memcheck", "--print-limit", "4"] if sanitizer else []
        if not sanitizer:
            log.write("compute-sanitizer not found: part 2 runs without it\n")
        for g in m["grids"]:
            runs = [("guarded", prefix), ("verbatim", prefix)]
            if sanitizer and g == bound + 1:
                runs.append(("guarded", []))  # and natively, without the sanitizer
            for mode, pre in runs:
                code, text = run_logged(["timeout", "120"] + pre + [demo, mode, str(g), str(EXPERTS), str(SHARED),
                                                                    str(args.cap)], log)
                zeroed = re.search(r"(\d+) of \d+ counts zeroed|counts not readable", text)
                tail = f"; {zeroed.group(0)}" if zeroed else ""
                if code == 124:
                    tail += "; timed out (120 s)"
                if not pre:
                    faulted = re.search(r"kernel (?!no error)", text) is not None
                    verdicts.append(f"{label(g)} {mode} natively: kernel "
                                    + ("faulted" if faulted else "ran") + f" (exit {code}){tail}")
                    continue
                found = errors(text)
                written = " (invalid global writes)" if found and "Invalid __global__ write" in text else ""
                if mode == "verbatim":  # nvcc's code, not the source's arithmetic: recorded, not judged
                    verdicts.append(f"{label(g)} {mode}: memcheck {found} errors{written}{tail}")
                    continue
                ok = found is not None and (found == 0) == (sims[g]["outside"] == 0) and (found == 0 or bool(written))
                agrees &= ok
                verdicts.append(f"{label(g)} {mode}: memcheck {found} errors{written}{tail}"
                                + (", as the int32 arithmetic says" if ok else ", NOT as the int32 arithmetic says"))
        log.write("probe and guarded-memcheck verdict: "
                  f"{'as the int32 arithmetic says' if agrees else 'NOT as the int32 arithmetic says'}\n")
        log.write("write verdicts:\n" + "".join(f"  {v}\n" for v in verdicts))
        clean_at_b = sims[bound]["outside"] == 0
        log.write(f"model verdict: B = {bound:,} is {'safe' if clean_at_b else 'NOT safe'} in the source's int32 "
                  f"arithmetic at this shape"
                  + ("" if clean_at_b else f" ({sims[bound]['outside']} writes outside [0, {counts_num}) at B, by the "
                     f"increment i += stride of threads {INT32_MAX - bound * THREADS + 1} .. "
                     f"{counts_num - 1}; the largest safe n is {exact:,})") + "\n")
    print(logfile.read_text())
    (out / "routing").unlink(missing_ok=True)
    return 0 if agrees else 1


if __name__ == "__main__":
    sys.exit(main())
