"""flashinfer's C++/CUDA sources as typed syntax trees: libclang, in C++ mode.

The libclang wheel ships no CUDA wrapper headers, so a `.cu` file is parsed as C++ with
`cuda_prelude.h` (blockIdx, the warp intrinsics, with nvcc's types) and two textual
rewrites that keep every line where it was:

- a kernel launch `K<<<grid, block, smem, stream>>>(args)` becomes `K(args)` followed by a
  call of `__bc_launch(grid, ...)` on the same line, so that both the kernel (a call edge)
  and the launch's arithmetic stay in the tree;
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
import tempfile
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
    """`K<<<cfg>>>(args);` -> `K(args); __bc_launch(cfg);`: the kernel stays a call (the
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
        out.append(text[match.end() - 1:semicolon + 1])
        out.append(f" __bc_launch({config});" + (" \\\n" if in_macro else "\n") * breaks)
        position = semicolon + 1
    out.append(text[position:])
    return "".join(out)


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
# `#if __CUDA_ARCH__ >= 900` are parsed. __CUDACC_VER_MAJOR__ stays undefined: the per-token
# quantization then takes 8 elements a vector, the larger count kernel_limits models.
DEVICE_PASS = "#define __CUDA_ARCH__ 1000\n"


def _base_args() -> list[str]:
    return ["-std=c++17", "-D__BOUNDCHECK_INVENTORY__", "-Wno-everything", "-ferror-limit=0"]


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
    """Every flashinfer file under `data` with a kernel launch, rewritten (unsaved files)."""
    out = []
    for folder in (data / "csrc", data / "include"):
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.suffix in (".cu", ".cuh", ".h", ".hpp", ".cpp") and path.is_file():
                text = path.read_text(errors="replace")
                if "<<<" in text:
                    out.append((str(path), rewrite_launches(text)))
    return out
