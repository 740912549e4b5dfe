"""Where the inventory cannot see: the parse errors of a release, by the function they fall in.

An expression inside a statement libclang could not parse is not in the inventory, so the
inventory is complete only outside these places. `python -m boundcheck.drift.inventory
--holes VERSION` prints, per function of flashinfer's files with errors, how many, whether
the function is on a call path from the launcher, and the commonest messages; and the
headers the release includes but does not ship (parsed as empty files). The errors come
with the inventory's own parse (cached), so this costs what the inventory costs.

`recorded.json` keeps the holes on the path per release; tests/test_inventory_holes.py
fails on any that is not accepted in ACCEPTED below (with the reason it hides no finding).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass


def key(hole) -> tuple:
    """What is recorded of a hole on the path: not its line, which moves with unrelated edits."""
    return (hole.file, hole.function, hole.message, hole.statement)


@dataclass(frozen=True)
class Accepted:
    """A parse error on the path that hides no finding, read by a person: the statement
    (whitespace removed, as shipped) is pinned, so an edited statement is read again."""

    files: tuple  # the file names (no folder) it may be in
    message: str  # a regular expression the error message matches
    statement: str  # the statement's text, whitespace removed
    reason: str

    def covers(self, hole_key) -> bool:
        file, _, message, statement = hole_key
        return (statement == self.statement and file.rsplit("/", 1)[-1] in self.files
                and re.search(self.message, message) is not None)


_CUBLAS_STATUSES = ("SUCCESS", "NOT_INITIALIZED", "ALLOC_FAILED", "INVALID_VALUE", "ARCH_MISMATCH", "MAPPING_ERROR",
                    "EXECUTION_FAILED", "INTERNAL_ERROR", "NOT_SUPPORTED", "LICENSE_ERROR")
_CUBLAS = ("the cuBLAS overload of TensorRT-LLM's error-string helper (cudaUtils.h), which the MoE path names "
           "only through its check macros: a switch that returns string literals; cublas_v2.h is not on this machine")
_CUB_FILES = ("trtllm_fused_moe_dev_kernel.cu", "quantization.cuh", "RoutingCustomPolicy.cuh")
_CUB = ("a block-wide reduction of floats through cub's BlockReduce, which libclang in C++ mode cannot instantiate "
        "(cub's device-only internals): its operands are float values (the declared float, or the float vector "
        "packedTypeFromArray builds), no integer is computed or narrowed")
_FAILED_CALLEE = ("a call of a function template whose body does not instantiate here (its cub reduction, above); the "
                  "arguments are names and a pointer plus an int64_t offset (scoreBase = int64_t{tokenIdx} x "
                  "int64_t{numExperts}, a statement the inventory reads)")
_FAILED_KERNEL = ("the launch of nvfp4QuantAndPerTokenScaleFP32Kernel, whose body does not instantiate here (its cub "
                  "reduction, above): the arguments are names (uint32_t m, n and pointers), the configuration's "
                  "names (grid, block, smem_size) are computed in statements the inventory reads, and the kernel's "
                  "own offsets are those of its sibling nvfp4QuantAndPerTokenScaleKernel, which is read "
                  "(per_token_quant_vec_offset)")
_KERNEL_LIST = ("the batched-GEMM kernel list or its length (sizeof / sizeof, a 64-bit size_t), from "
                "flashinferMetaInfo.h, which comes with the cubins: configuration data, no token count")
_TVM_ALLOC = ("tvm-ffi 0.1.0b15's allocator call in 0.4.x's alloc_tensor (the installed tvm-ffi names it "
              "differently): the shape it receives is computed by the callers, whose statements the inventory reads")
_LOG = "a log line of SM counts (at most the GPU's SMs): flashinfer's logging through spdlog, not on this machine"
_FLOAT_ARRAYS = ("0.7.2.post1's second input of the finalize (a fused residual): expertResult is a ComputeElem, "
                 "cutlass::Array<float, N> (`using ComputeElem = cutlass::Array<float, ...>` in the same kernel), and "
                 "arrayConvert<T, U> returns its U, here ComputeElem: a sum of float arrays; the subscript j or ki is "
                 "a loop index below the vector count, which the inventory reads")
_FLOAT_ACCUMULATOR = ("the small-batch finalize's accumulation of float partial sums: acc is a ComputeElem (a "
                      "cutlass::Array of float, named through the kernel's template parameters, so its element type "
                      "is not in the declarations) and partialSmem a float array; the subscripts are an int the "
                      "inventory reads (g x blockDim.x + threadIdx.x, below the block's threads times its groups)")

ACCEPTED: tuple = (
    Accepted(("cudaUtils.h",), "unknown type name 'cublasStatus_t'", "staticcharconst*_cudaGetErrorEnum(cublasStatus_terror){",
             _CUBLAS),
    *(Accepted(("cudaUtils.h",), f"undeclared identifier 'CUBLAS_STATUS_{name}'", f'caseCUBLAS_STATUS_{name}:return"CUBLAS_STATUS_{name}";',
               _CUBLAS) for name in _CUBLAS_STATUSES),
    *(Accepted(_CUB_FILES, r"no matching member function for call to '(Reduce|Sum)'", statement, _CUB) for statement in (
        "autoaMaxPacked=BlockReduce(tempStorage).Reduce(absOutPacked,MaxOp{});",
        "floataMax=BlockReduce(temp_storage).Reduce(fabsf(acc),cuda::maximum<>{});",
        "globalAmax=BlockReduce(tempStorage).Reduce(globalAmax,cuda::maximum<>{});",
        "floatglobalAmax=BlockReduce(tempStorage).Reduce(localAmax,cuda::maximum<>{});",
        "floatrowAmax=BlockReduce(tempStorage).Reduce(localAmax,cuda::maximum<>{});",
        "floatblockMax=BlockReduce(reduceStorage).Reduce(localMax,cuda::maximum<>{});",
        "floatblockSum=BlockReduce(reduceStorage).Sum(localSum);")),
    Accepted(("trtllm_fused_moe_routing_custom.cu", "trtllm_fused_moe_routing_custom.cuh"),
             "no matching function for call to 'applyToSmem'",
             "PreProc::templateapplyToSmem<kBlockScoresKernelBlockDim>(block,params.mPtrScores+scoreBase,"
             "params.mNumExperts,smemBiased,auxPtr,params.mExpertSelectParams.mPreprocessParams);", _FAILED_CALLEE),
    Accepted(("quantization.cu",), "no matching function for call to 'nvfp4QuantAndPerTokenScaleFP32Kernel'",
             "nvfp4QuantAndPerTokenScaleFP32Kernel<BLOCK_SIZE,SF_LAYOUT><<<grid,block,smem_size,stream>>>(m,n,input,"
             "globalScaleInv,expandedIdxToPermutedIdx,weightOutput,scaleOutput,perTokenScaleOutput);", _FAILED_KERNEL),
    *(Accepted(("BatchedGemmInterface.h",), r"no member named 'tllmGenBatchedGemmList(Len)?' in namespace "
               r"'tensorrt_llm::kernels'", statement,
               _KERNEL_LIST) for statement in (
        "returntensorrt_llm::kernels::tllmGenBatchedGemmList;",
        "returnsizeof(tensorrt_llm::kernels::tllmGenBatchedGemmList)/sizeof(tensorrt_llm::kernels::"
        "tllmGenBatchedGemmList[0]);",
        "returntensorrt_llm::kernels::tllmGenBatchedGemmListLen;")),
    *(Accepted(("tvm_ffi_utils.h",), message,
               "returnffi::Tensor::FromDLPackAlloc(TVMFFIEnvGetTensorAllocator(),shape,dtype,device);",
               _TVM_ALLOC) for message in (r"no member named 'FromDLPackAlloc' in 'tvm::ffi::Tensor'",
                                            r"undeclared identifier 'TVMFFIEnvGetTensorAllocator'")),
    Accepted(("RoutingKernel.cuh",), "use of undeclared identifier 'spdlog'",
             'FLASHINFER_LOG_INFO("TRT-LLMfusedMoEcooperativelaunchSMallocation:{}SMsusedforMoE,{}SMs""reserved'
             'foroverlappingkernels(totalSMs:{})",counts.moeSms,counts.reservedSms,counts.moeSms+counts.reservedSms);',
             _LOG),
    Accepted(("trtllm_fused_moe_dev_kernel.cu",),
             r"^dependent \(not typed\): acc \[ e \] \+= partialSmem \[ g \* blockDim \. x \+ threadIdx \. x \] \[ e \]$",
             "acc[e]+=partialSmem[g*blockDim.x+threadIdx.x][e];", _FLOAT_ACCUMULATOR),
    *(Accepted(("trtllm_fused_moe_dev_kernel.cu",),
               "^" + re.escape(f"dependent (not typed): expertResult + arrayConvert < {source} , ComputeElem > ( {argument} )")
               + "$",
               f"expertResult=expertResult+arrayConvert<{source},ComputeElem>({argument.replace(' ', '')});", _FLOAT_ARRAYS)
      for source, argument in (("VecElem", "in2 [ j ]"), ("InputElem", "inputElemArr2 [ ki ]"))),
)

# Headers a release includes and the parse does not find, each with why none is
# flashinfer's own MoE code: libraries the path names but whose code is not on it, and the
# batched-GEMM kernel list that comes with the cubins at run time. Any other missing
# header fails tests/test_inventory_holes.py (the fetcher must bring it).
_CUDA_LIBRARY = "a CUDA library's API header (not in this machine's toolkit): status enums and handles, no MoE arithmetic"
THIRD_PARTY_HEADERS = {
    "cublasLt.h": _CUDA_LIBRARY,
    "cublas_v2.h": _CUDA_LIBRARY,
    "curand_kernel.h": _CUDA_LIBRARY,
    "cusolverDn.h": _CUDA_LIBRARY,
    "cusolver_common.h": _CUDA_LIBRARY,
    "cusparse.h": _CUDA_LIBRARY,
    "nvrtc.h": _CUDA_LIBRARY,
    "c10/cuda/impl/cuda_cmake_macros.h": "torch's build configuration header (generated at torch's build time)",
    "Python.h": "CPython's C API (torch's extension headers include it): no MoE code",
    "spdlog/spdlog.h": "the logging library of flashinfer's logging.h: log calls only",
    "spdlog/sinks/stdout_color_sinks.h": "the logging library of flashinfer's logging.h: log calls only",
    "flashinferMetaInfo.h": "the batched-GEMM kernel list (tllmGenBatchedGemmList), fetched with the cubins at run "
                            "time: configuration data the model reads from flashinfer-cubin, no code",
}


def accepted(hole_key) -> Accepted | None:
    return next((a for a in ACCEPTED if a.covers(hole_key)), None)


def report(version: str, found) -> str:
    by_function = defaultdict(Counter)
    reached = {}
    for hole in found.holes:
        by_function[(hole.file, hole.function)][hole.message[:90]] += 1
        reached[(hole.file, hole.function)] = hole.reached
    lines = [f"{version}: parse errors by function (the inventory does not see inside them)"]
    order = sorted(by_function, key=lambda k: (not reached[k], -sum(by_function[k].values()), k))
    for file, function in order:
        messages = by_function[(file, function)]
        mark = "ON THE PATH" if reached[(file, function)] else "not on the path"
        common = "; ".join(f"{n} x {m}" for m, n in messages.most_common(2))
        lines.append(f"  {sum(messages.values()):5d}  {function}  [{file}; {mark}]  {common}")
    stubs = sorted({stub for _, _, unit_stubs in found.units for stub in unit_stubs})
    lines.append(f"  headers not found, parsed as empty: {', '.join(stubs) if stubs else 'none'}")
    return "\n".join(lines)
