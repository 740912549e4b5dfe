"""flashinfer's C++/CUDA sources as typed syntax trees: libclang, in C++ mode.

The libclang wheel ships no CUDA wrapper headers, so a `.cu` file is parsed as C++ with
`cuda_prelude.h` (blockIdx, the warp intrinsics, with nvcc's types) and two textual
rewrites that keep every line where it was:

- a kernel launch `K<<<grid, block, smem, stream>>>(args);` becomes
  `K(args), __bc_launch(grid, ...);` on the same line (one statement, so that a launch in an
  unbraced if/else branch stays one), so that both the kernel (a call edge) and the
  launch's arithmetic stay in the tree;
- an inline-PTX operand constraint that x86 has no letter for (`"h"`, `"f"`, `"d"`: 16-bit,
  f32 and f64 registers) becomes `"r"`: the statement then parses and its operands are
  read; the letter decides a register class, never an operand's type;
- in 0.4.0 and 0.4.1 only, whose pinned tvm-ffi (0.1.0b15, which no registry here carries)
  gave `Tensor` and `TensorView` an `operator->` to the DLTensor, `t->shape`, `t->dtype`,
  `t->ndim`, `t->device`, `t->strides`, `t->data` become the installed tvm-ffi's accessors
  of the same types (`t.shape()` indexes to int64_t as DLTensor::shape does, `ndim()` is
  int32_t, `dtype()` a DLDataType, `data_ptr()` a void*): without it the launcher's shape
  reads do not parse;
- nothing else: the types are the compiler's, never guessed from the text.

A header that the release does not ship (the batched-GEMM interface after 0.6.13, cutlass
when no flashinfer with it is installed) is replaced by an empty stub after the parser
names it; the expressions that need it become parse errors and are counted (`errors`),
so a release whose sources cannot be read is visible, never silently empty.

Trust: libclang (Sema decides every type and every implicit conversion).
"""

from __future__ import annotations

import functools
import os
import re
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

PRELUDE = Path(__file__).with_name("cuda_prelude.h")
CUDA_ROOTS = ("/usr/local/cuda/include",)
GCC_INCLUDES = (
    "/usr/lib/gcc/x86_64-linux-gnu/12/include",
    "/usr/include/c++/12",
    "/usr/include/x86_64-linux-gnu/c++/12",
    "/usr/include/x86_64-linux-gnu",
    "/usr/include",
)
_MISSING = re.compile(r"'(.+)' file not found")
_LAUNCH = re.compile(r"<<<(.*?)>>>\s*\(", re.S)
# 0.4.0 - 0.4.1: tvm-ffi 0.1.0b15's DLTensor fields through `->` (see the module docstring)
TVM_FFI_POINTER_API = ("0.4.0", "0.4.1")
_TVM_FIELD = re.compile(r"(?<!this)->(dtype|ndim|shape|device|strides|data)\b")
# an asm operand: a string literal directly followed by "(" is nothing else in C++
_PTX_CONSTRAINT = re.compile(r'"([=+&]*)[hfd]"(\s*\()')
MAX_STUBS = 64


class FrontEndUnavailable(RuntimeError):
    """libclang is not installed (pip install 'boundcheck[test]' or libclang)."""


def clang():
    try:
        import clang.cindex as cindex
    except ImportError as error:  # an optional dependency: only the inventory needs it
        raise FrontEndUnavailable("the 32-bit inventory needs libclang: pip install libclang") from error
    return cindex


def _site_include(package: str, *parts: str) -> list[str]:
    root = Path(sysconfig.get_paths()["purelib"]) / package
    path = root.joinpath(*parts)
    return [str(path)] if path.is_dir() else []


def third_party_includes() -> list[str]:
    """Headers flashinfer's sources include that are not flashinfer's: CUDA and its C++
    libraries, tvm-ffi and torch where installed, cutlass from an installed flashinfer."""
    dirs = []
    for root in CUDA_ROOTS:
        if os.path.isdir(root):
            dirs += [os.path.join(root, "cccl"), root]
    dirs += _site_include("tvm_ffi", "include")
    dirs += _site_include("torch", "include") + _site_include("torch", "include", "torch", "csrc", "api", "include")
    dirs += _site_include("flashinfer", "data", "cutlass", "include")
    dirs += _site_include("flashinfer", "data", "cutlass", "tools", "util", "include")
    return dirs


def flashinfer_includes(data: Path) -> list[str]:
    """The include folders flashinfer's JIT passes for its MoE modules, where they exist."""
    candidates = [
        data / "include", data / "csrc", data / "csrc" / "nv_internal", data / "csrc" / "nv_internal" / "include",
        data / "csrc" / "nv_internal" / "tensorrt_llm" / "cutlass_extensions" / "include",
        data / "csrc" / "fused_moe" / "trtllm_backend",
        data / "include" / "flashinfer" / "trtllm" / "fused_moe",
        # the export headers include each other as "trtllm/gen/...", relative to their folder
        data / "include" / "flashinfer" / "trtllm" / "batched_gemm" / "trtllmGen_bmm_export",
    ]
    return [str(c) for c in candidates if c.is_dir()]


def rewrite_launches(text: str) -> str:
    """`K<<<cfg>>>(args);` -> `K(args), __bc_launch(cfg);`: the kernel stays a call (the
    call-graph edge, its arguments typed) and the launch configuration stays in the tree
    as the arguments of a declared function. A configuration that spans lines is joined
    and its line breaks are put back after the statement, so later lines keep their
    numbers (inside a macro, as continuation lines)."""
    out, position = [], 0
    for match in _LAUNCH.finditer(text):
        if match.start() < position:
            continue
        close = _matching_paren(text, match.end() - 1)
        semicolon = text.find(";", close) if close >= 0 else -1
        if close < 0 or semicolon < 0 or text[close + 1:semicolon].strip():
            continue  # not `K<<<...>>>(...);`: left for the parser to report
        config = match.group(1)
        breaks = config.count("\n")
        in_macro = "\\\n" in config
        config = config.replace("\\\n", " ").replace("\n", " ")
        out.append(text[position:match.start()])
        # one expression statement (the comma operator), so that a launch that is an
        # unbraced if/else branch stays one
        out.append(text[match.end() - 1:semicolon] + ",")
        out.append(f" __bc_launch({config});" + (" \\\n" if in_macro else "\n") * breaks)
        position = semicolon + 1
    out.append(text[position:])
    return "".join(out)


def rewrite_ptx_constraints(text: str) -> str:
    """`"=f"(x)` -> `"=r"(x)`, `"h"(y)` -> `"r"(y)`: constraints x86's parser accepts."""
    return _PTX_CONSTRAINT.sub(r'"\1r"\2', text)


def rewrite_tvm_ffi_pointer_api(text: str) -> str:
    """`t->shape[0]` -> `t.shape()[0]`, `t->data` -> `t.data_ptr()` (0.4.0 - 0.4.1 only)."""
    return _TVM_FIELD.sub(lambda m: "." + ("data_ptr" if m.group(1) == "data" else m.group(1)) + "()", text)


def uses_tvm_ffi_pointer_api(data: Path) -> bool:
    from boundcheck.installed import package_version

    return package_version(Path(data).parent) in TVM_FFI_POINTER_API


def _matching_paren(text: str, opening: int) -> int:
    depth = 0
    for i in range(opening, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


@dataclass
class Parsed:
    unit: object  # clang.cindex.TranslationUnit
    errors: list = field(default_factory=list)  # (file, line, message) in flashinfer's files
    stubs: list = field(default_factory=list)  # headers replaced by empty files
    included: list = field(default_factory=list)  # flashinfer files the unit read


# What every unit includes that is not flashinfer's: parsed once per process into a
# precompiled header (about half of a unit's parse time).
COMMON_HEADERS = ("cuda_fp16.h", "cuda_bf16.h", "cuda_fp8.h", "cub/cub.cuh", "vector", "string", "algorithm", "map",
                  "unordered_map", "functional", "memory", "iostream", "sstream")
_PCH: dict = {}
# After the common headers (they keep their host view): flashinfer's own sources are read as
# nvcc's device pass for Blackwell reads them, so that kernel bodies under
# `#if __CUDA_ARCH__ >= 900` are parsed. nvcc's version is 12.8: the per-token quantization
# then takes 8 elements a vector (16 from 12.9), the larger count kernel_limits models, and
# quantization.cu's constant that spells the same test in C++ parses.
DEVICE_PASS = "#define __CUDA_ARCH__ 1000\n#define __CUDACC_VER_MAJOR__ 12\n#define __CUDACC_VER_MINOR__ 8\n"


def _base_args() -> list[str]:
    return ["-std=c++17", "-D__BOUNDCHECK_INVENTORY__", "-Wno-everything", "-ferror-limit=0"]


# What flashinfer's JIT core (jit/core.py) passes to every CUDA module on Blackwell: the
# common cflags (NDEBUG, the FLASHINFER_ENABLE_* dtypes) and sm100's two.
JIT_COMMON_DEFINES = ("NDEBUG", "FLASHINFER_ENABLE_F16", "FLASHINFER_ENABLE_BF16", "FLASHINFER_ENABLE_FP8_E4M3",
                      "FLASHINFER_ENABLE_FP8_E5M2", "FLASHINFER_ENABLE_FP8_E8M0", "FLASHINFER_ENABLE_FP4_E2M1")
LAUNCHER_SOURCE = "trtllm_fused_moe_kernel_launcher.cu"


class JitSpecNotFound(RuntimeError):
    """The release's Python names no JIT module built from the MoE launcher."""


def jit_defines(data: Path) -> tuple[str, ...]:
    """The macros the trtllm-gen MoE module is compiled with, read from the release's own
    JIT code (`jit/fused_moe.py`; `fused_moe/core.py` or `fused_moe.py` before): in the
    function whose string literals name the launcher, every `-D` literal listed in a list
    literal that no `if` guards (Rubin's flag, `["-DTLLM_RUBIN_FEATURES"] if enable_rubin
    else []`, is not taken); then JIT_COMMON_DEFINES. ENABLE_FP8 and its siblings guard
    whole kernels: a parse without them would not see them, and say nothing. A valued
    literal keeps its value (`CUTLASS_ENABLE_GDC_FOR_SM100=1`: cutlass's grid-dependency
    PTX is parsed); a value the JIT computes (an f-string: `TLLM_GEN_GEMM_CUBIN_PATH`, the
    cubin folder) gets PLACEHOLDER, a string literal where the JIT writes one, so that
    the branches it guards (GemmOptions.h's cubin file read) are parsed too."""
    import ast

    package = Path(data).parent
    found: list[str] = []
    files = sorted(package.glob("jit/**/*.py")) + sorted(package.glob("fused_moe/*.py")) + sorted(
        package.glob("fused_moe.py"))
    for path in files:
        text = path.read_text(errors="replace")
        if LAUNCHER_SOURCE not in text:
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and any(
                    isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith(LAUNCHER_SOURCE)
                    for n in ast.walk(fn)):
                found += [flag[2:] for flag in _unconditional_flags(fn)]
    if not found:
        raise JitSpecNotFound(f"no JIT spec compiles {LAUNCHER_SOURCE} under {package}")
    return tuple(dict.fromkeys(found + list(JIT_COMMON_DEFINES)))


def _unconditional_flags(node) -> list[str]:
    """The `-D...` elements of the list literals under `node`, outside any if; an f-string's
    computed value replaced by PLACEHOLDER."""
    import ast

    if isinstance(node, (ast.If, ast.IfExp)):
        return []
    out = []
    if isinstance(node, ast.List):
        for element in node.elts:
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                flag = element.value
            elif isinstance(element, ast.JoinedStr) and element.values and isinstance(element.values[0], ast.Constant):
                flag = _placeholder_flag(str(element.values[0].value))
            else:
                continue
            if flag and flag.startswith("-D"):
                out.append(flag)
    for child in ast.iter_child_nodes(node):
        out += _unconditional_flags(child)
    return out


PLACEHOLDER = "boundcheck-placeholder"


def _placeholder_flag(head: str) -> str | None:
    """`-DNAME=\\"` (an f-string's literal head) -> `-DNAME="boundcheck-placeholder"`;
    `-DNAME=` -> `-DNAME=boundcheck_placeholder`; anything else -> None."""
    match = re.fullmatch(r'(-D\w+=)(\\?")?', head)
    if match is None:
        return None
    return match.group(1) + (f'"{PLACEHOLDER}"' if match.group(2) else PLACEHOLDER.replace("-", "_"))


def _system_args() -> list[str]:
    return [f"-isystem{d}" for d in third_party_includes() + list(GCC_INCLUDES)]


def precompiled_prelude(folder: str) -> str:
    """The prelude and COMMON_HEADERS as a precompiled header in `folder` (once per folder)."""
    if folder in _PCH:
        return _PCH[folder]
    cindex = clang()
    header = Path(folder) / f"boundcheck_common_{os.getpid()}.h"  # one per worker process
    header.write_text(f'#include "{PRELUDE}"\n' + "".join(f"#include <{h}>\n" for h in COMMON_HEADERS)
                      + DEVICE_PASS)
    unit = cindex.Index.create().parse(str(header), args=["-x", "c++-header"] + _base_args() + _system_args())
    path = str(header.with_suffix(".pch"))
    unit.save(path)
    _PCH[folder] = path
    return path


def parse(path: Path, data: Path, work: str, standin: Path | None = None) -> Parsed:
    """One translation unit of a release folder `data` (`.../flashinfer/data`). `work`: a
    private scratch folder (stubs, the precompiled prelude); `standin`: headers to read
    where the release ships none (the batched-GEMM export of an earlier release)."""
    cindex = clang()
    own = str(data)
    stubs = Path(work) / "stubs" / _digest_name(own)
    stubs.mkdir(parents=True, exist_ok=True)
    if standin is not None:
        link = stubs / "flashinfer/trtllm/batched_gemm/trtllmGen_bmm_export"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(standin, target_is_directory=True)
            except FileExistsError:  # another worker of the same release made it
                pass
    args = ["-x", "c++"] + _base_args() + ["-include-pch", precompiled_prelude(work)]
    args += [f"-D{name}" for name in jit_defines(data)]
    args += [f"-I{d}" for d in flashinfer_includes(data)] + ([f"-I{standin}"] if standin is not None else [])
    args += _system_args() + [f"-I{stubs}"]
    unsaved = _rewritten_files(data)
    index = cindex.Index.create()
    made: list[str] = []
    for _ in range(MAX_STUBS):
        unit = index.parse(str(path), args=args, unsaved_files=unsaved)
        missing = [m.group(1) for d in unit.diagnostics if d.severity == 4 for m in [_MISSING.search(d.spelling)] if m]
        if not missing:
            break
        for name in missing:
            stub = stubs / name
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("")
            made.append(name)
    errors = [(d.location.file.name[len(own) + 1:], d.location.line, d.spelling) for d in unit.diagnostics
              if d.severity >= 3 and d.location.file and d.location.file.name.startswith(own)]
    included = sorted({i.include.name[len(own) + 1:] for i in unit.get_includes()
                       if i.include is not None and i.include.name.startswith(own)} | {str(path)[len(own) + 1:]})
    return Parsed(unit, errors, made, included)


def _digest_name(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _rewritten_files(data: Path) -> list:
    """Every flashinfer file under `data` with a kernel launch or inline PTX, rewritten
    (unsaved files)."""
    out = []
    pointer_api = uses_tvm_ffi_pointer_api(data)
    for folder in (data / "csrc", data / "include"):
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.suffix in (".cu", ".cuh", ".h", ".hpp", ".cpp") and path.is_file():
                text = path.read_text(errors="replace")
                rewritten = rewrite_ptx_constraints(rewrite_launches(text)) if "<<<" in text or "asm" in text else text
                if pointer_api and path.parent.name == "csrc":
                    rewritten = rewrite_tvm_ffi_pointer_api(rewritten)
                if rewritten != text:
                    out.append((str(path), rewritten))
    return out
