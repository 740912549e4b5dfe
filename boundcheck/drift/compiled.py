"""flashinfer's own tile-choice and CTA-count host code, compiled with g++ and called by ctypes.

For one release folder (`<cache>/<VERSION>/flashinfer/`, as tools/fetch_flashinfer_sources.py
unpacks it) this extracts BY NAME, from the release's shipped text, and never from a copy
kept in this repository:

- from `data/csrc/trtllm_fused_moe_kernel_launcher.cu`: `nextPowerOfTwo` (0.5.0 -
  0.7.0.post1, defined in the launcher itself), `computeSelectedTileN` (every signature:
  (tiles, num_tokens, top_k, num_local_experts) up to 0.7.2.post1; 0.7.4 adds num_experts
  and num_smaller_tile_candidates = 2), `selectDefaultTileN` (0.6.7+) and
  `resolveMoeTileAndConfig` (0.6.7+: the tuner's tactic [tile_N, config] -> the tile and
  config launched; before, each entry function does it inline, and there is no function);
- from `data/include/flashinfer/trtllm/fused_moe/runner.h`: `getMaxNumCtasInBatchDim` (and
  up to 0.4.0 the `getMaxPermutedPaddedCount` it calls). Releases before 0.5.0 have no
  computeSelectedTileN (the caller passes the tile): their library has `bc_ctas` only.

Comments are stripped, functions are found by brace matching on the text (string and char
literals blanked while matching), and the extracted text is compiled (g++ -O2 -std=c++17
-shared -fPIC) behind a small shim header (TVM_FFI_ICHECK* and FLASHINFER_CHECK throw)
together with `extern "C"` wrappers that evaluate whole arrays of points per call. g++
runs in a process group of its own, at most COMPILE_TIMEOUT_S seconds (or until the
deadline `drift --execute` sets), and is killed with everything it started when the time
is up (boundcheck.drift.processes): a FIFO `#include` cannot hang it.

The shared library is cached, so that releases whose extracted text is identical share
one, in a folder of the user's own: `$BOUNDCHECK_COMPILED_CACHE`, else
`$XDG_CACHE_HOME/boundcheck/compiled`, else `~/.cache/boundcheck/compiled`; created 0700,
and refused (UnsafeCacheError) if it is not a folder, not owned by the user or group- or
world-writable. Each library is named by a hash of everything that makes it (the source,
its headers, the compiler, its version and flags): `<prefix>_<key>.so`, and the sha256 of
the library's bytes, recorded when it was compiled, beside it (`<prefix>_<key>.so.sha256`).
Before a library is loaded the record is checked against the file (both regular files of
the user, not group- or world-writable); on any mismatch it is compiled again. Nothing is
ever loaded from a shared temporary folder.

The wrappers (all arrays are C-contiguous):

- `bc_tiles(tiles[int32, T], T, n, tokens[int64, n], top_k[int64, n], local[int64, n],
  experts[int64, n], mask[uint64, n], default_tile[int64, n], status[int32, n])`:
  mask bit j set when tiles[j] is in the tuner's candidate set (0.7.4: computeSelectedTileN
  with num_experts and its default of 2 smaller candidates, as the tuner calls it; before:
  computeSelectedTileN(tiles, n, k, local)); default_tile: selectDefaultTileN where it
  exists, else `*computeSelectedTileN(...).begin()` (the inline `tile_N == -1` code of
  0.5.0 - 0.6.6). status: 0 ok, 1 the candidate set threw, 2 the default threw, 3 a
  returned tile is not in the ladder. Returns how many points failed.
- `bc_resolve(tiles[int32, T], T, n, tokens[int64, n], top_k[int64, n], local[int64, n],
  tile_in[int64, n], config_in[int64, n], tile_out[int64, n], config_out[int64, n],
  status[int32, n])` (0.6.7+): resolveMoeTileAndConfig(Array{tile_in, config_in}, tiles,
  tokens, top_k, local); status 1 where it threw. Returns how many points failed.
  boundcheck.drift.tactics chooses the tactics and compares them with the model.
- `bc_ctas(n, tokens[int32], top_k[int32], experts[int32], tile[int32], out[int32],
  status[int32])`: getMaxNumCtasInBatchDim. Returns how many points failed.
- `bc_last_error()`: the message of the last exception caught.

Usage: `python tools/compiled_reference.py [VERSION ...]` builds and prints a summary; `boundcheck
drift --execute` runs the comparison on any folder (boundcheck.drift.execute).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE_VARIABLE = "BOUNDCHECK_FLASHINFER_CACHE"
BUILD_VARIABLE = "BOUNDCHECK_COMPILED_CACHE"
LAUNCHER = "data/csrc/trtllm_fused_moe_kernel_launcher.cu"
RUNNER_H = "data/include/flashinfer/trtllm/fused_moe/runner.h"

STATUS_OK, STATUS_SET_THREW, STATUS_DEFAULT_THREW, STATUS_NOT_IN_LADDER = 0, 1, 2, 3


class ExtractionError(RuntimeError):
    pass


def sources_root() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE, "~/.cache/boundcheck/flashinfer-src")).expanduser()


def release_folder(version: str, root: Path | None = None) -> Path:
    return (root or sources_root()) / version / "flashinfer"


def build_root() -> Path:
    """Where compiled libraries are cached: $BOUNDCHECK_COMPILED_CACHE, else
    $XDG_CACHE_HOME/boundcheck/compiled (an absolute XDG_CACHE_HOME only, as the spec
    says), else ~/.cache/boundcheck/compiled. private_build_root() creates and checks it."""
    chosen = os.environ.get(BUILD_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path("~/.cache").expanduser()
    return base / "boundcheck" / "compiled"


class UnsafeCacheError(RuntimeError):
    """The compiled-library folder or a file in it could be written by someone else."""


def _unsafe(path: Path, st, kind: str) -> str | None:
    """Why `path` (stat `st`) may not be trusted, None if it may."""
    import stat as stat_module

    wanted = stat_module.S_ISDIR if kind == "folder" else stat_module.S_ISREG
    if not wanted(st.st_mode):
        return f"{path} is not a {'folder' if kind == 'folder' else 'regular file'}"
    if st.st_uid != os.geteuid():
        return f"{path} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"{path} is group- or world-writable (mode {st.st_mode & 0o7777:04o})"
    return None


def private_build_root() -> Path:
    """build_root(), created 0700 if absent; UnsafeCacheError unless it is a folder of this
    user's that no one else can write."""
    root = build_root()
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(root, 0o700)
            os.chmod(root, 0o700)  # whatever the umask
        except FileExistsError:
            pass
        st = os.stat(root)
    except OSError as error:
        raise UnsafeCacheError(f"the compiled-library folder {root} cannot be made: {error.strerror or error} "
                               f"(set {BUILD_VARIABLE} to a folder of your own)") from None
    reason = _unsafe(root, st, "folder")
    if reason:
        raise UnsafeCacheError(f"refusing the compiled-library folder: {reason} "
                               f"(set {BUILD_VARIABLE} to a folder of your own, mode 0700)")
    return root


# g++ gets at most this long per library; drift --execute's child lowers it to its deadline.
COMPILE_TIMEOUT_S = 300.0
COMPILE_DEADLINE: float | None = None  # time.time() by which a compile must end (set by drift --execute)


def compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++")) or shutil.which("g++")


# --- text extraction ------------------------------------------------------------------------

_LEXEMES = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def strip_comments(raw: str) -> str:
    """Comments replaced by blanks of the same length (offsets and newlines kept)."""
    return _LEXEMES.sub(lambda m: _blank(m.group()) if m.group()[0] == "/" else m.group(), raw)


def _blank_literals(text: str) -> str:
    return _LEXEMES.sub(lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[-1]
                        if m.group()[0] in "\"'" else m.group(), text)


def _closing(code: str, start: int) -> int:
    opening = code[start]
    closing = {"(": ")", "{": "}"}[opening]
    depth = 0
    for i in range(start, len(code)):
        c = code[i]
        if c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i
    raise ExtractionError(f"unbalanced {opening!r} at offset {start}")


def find_definitions(raw: str, name: str) -> list[str]:
    """Every definition of the free function `name` in the text (comments stripped): from
    the start of its declaration (after the previous `;`, `{` or `}`, preprocessor lines
    dropped) to its closing brace. Calls (followed by anything but a body) are skipped."""
    text = strip_comments(raw)
    code = _blank_literals(text)
    found = []
    for m in re.finditer(r"(?<![\w.>:])" + re.escape(name) + r"\s*\(", code):
        open_paren = m.end() - 1
        close_paren = _closing(code, open_paren)
        after = re.match(r"\s*(?:const\s*|noexcept\s*)*\{", code[close_paren + 1:])
        if after is None:
            continue
        open_brace = close_paren + after.end()
        close_brace = _closing(code, open_brace)
        start = max(code.rfind(c, 0, m.start()) for c in ";{}") + 1
        head = "\n".join(
            line for line in text[start:m.start()].split("\n") if not line.lstrip().startswith("#")
        )
        definition = head + text[m.start():close_brace + 1]
        lines = [line.rstrip() for line in definition.strip("\n").split("\n")]
        found.append("\n".join(line for line in lines if line.strip()))
    return found


def find_definition(raw: str, name: str, where: str, required: bool = True) -> str | None:
    found = find_definitions(raw, name)
    if not found:
        if required:
            raise ExtractionError(f"{name} is not defined in {where}")
        return None
    if len(set(found)) > 1:
        raise ExtractionError(f"{name} is defined {len(found)} times in {where}")
    return found[0]


def parameters(definition: str, name: str) -> list[str]:
    """The parameter declarations of a definition (split at top-level commas)."""
    code = _blank_literals(definition)
    open_paren = code.index(name + "(") + len(name)
    inside = definition[open_paren + 1:_closing(code, open_paren)]
    out, depth, current = [], 0, ""
    for c in inside:
        if c in "(<[{":
            depth += 1
        elif c in ")>]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += c
    if current.strip():
        out.append(current.strip())
    return out


@dataclass(frozen=True)
class Extracted:
    """The functions of one release (or of a mutated launcher text)."""

    next_power_of_two: str | None
    compute_selected_tile_n: str | None  # None before 0.5.0: the caller's tile
    select_default_tile_n: str | None
    get_max_num_ctas: str
    get_max_permuted_padded_count: str | None  # called by 0.2.8 - 0.4.0's formula
    resolve_moe_tile_and_config: str | None = None  # 0.6.7+: the tactic [tile_N, config] -> the tile run

    @property
    def takes_num_experts(self) -> bool:
        """0.7.4's signature: (tiles, num_tokens, top_k, num_local_experts, num_experts,
        num_smaller_tile_candidates = 2)."""
        if self.compute_selected_tile_n is None:
            return False
        params = parameters(self.compute_selected_tile_n, "computeSelectedTileN")
        if len(params) == 4:
            return False
        if len(params) == 6 and "num_experts" in params[4] and "= 2" in params[5]:
            return True
        raise ExtractionError(f"unknown computeSelectedTileN signature: {params}")

    def functions(self) -> dict[str, str | None]:
        return {
            "nextPowerOfTwo": self.next_power_of_two,
            "computeSelectedTileN": self.compute_selected_tile_n,
            "selectDefaultTileN": self.select_default_tile_n,
            "getMaxPermutedPaddedCount": self.get_max_permuted_padded_count,
            "getMaxNumCtasInBatchDim": self.get_max_num_ctas,
            "resolveMoeTileAndConfig": self.resolve_moe_tile_and_config,
        }


def extract_texts(launcher_text: str, runner_text: str, where: str = "launcher") -> Extracted:
    ctas = find_definition(runner_text, "getMaxNumCtasInBatchDim", "runner.h")
    padded = "getMaxPermutedPaddedCount" in strip_comments(ctas)
    return Extracted(
        next_power_of_two=find_definition(launcher_text, "nextPowerOfTwo", where, required=False),
        compute_selected_tile_n=find_definition(launcher_text, "computeSelectedTileN", where, required=False),
        select_default_tile_n=find_definition(launcher_text, "selectDefaultTileN", where, required=False),
        get_max_num_ctas=ctas,
        get_max_permuted_padded_count=find_definition(runner_text, "getMaxPermutedPaddedCount", "runner.h")
        if padded else None,
        resolve_moe_tile_and_config=find_definition(launcher_text, "resolveMoeTileAndConfig", where, required=False),
    )


def read_sources(folder: Path) -> tuple[str, str]:
    return (folder / LAUNCHER).read_text(), (folder / RUNNER_H).read_text()


def extract(folder: Path) -> Extracted:
    launcher, runner = read_sources(folder)
    return extract_texts(launcher, runner, str(folder / LAUNCHER))


# --- the shim and the wrappers ----------------------------------------------------------------

SHIM_HEADER = r"""// boundcheck compiled reference: what flashinfer's host functions use, minimally.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bc_shim {
class Fail {
 public:
  explicit Fail(const char* what) { os_ << "check failed: " << what << ": "; }
  Fail(const Fail&) = delete;
  ~Fail() noexcept(false) { throw std::runtime_error(os_.str()); }
  std::ostream& stream() { return os_; }
 private:
  std::ostringstream os_;
};
struct Voidify {
  void operator&(std::ostream&) {}
};
template <typename... A>
[[noreturn]] inline void fail_concat(const char* what, A const&... a) {
  std::ostringstream os;
  os << "check failed: " << what << ": ";
  (void)(os << ... << a);
  throw std::runtime_error(os.str());
}
template <typename T>
inline T ceilDiv(T a, T b) { return (a + b - 1) / b; }
// trtllm/common/cudaUtils.h (0.2.8 - 0.4.0): roundUp(a, b) = divUp(a, b) * b on int.
inline int roundUp(int a, int b) { return (a + b - 1) / b * b; }
}  // namespace bc_shim

#define TVM_FFI_ICHECK(cond) \
  (cond) ? (void)0 : ::bc_shim::Voidify() & ::bc_shim::Fail(#cond).stream()
#define TVM_FFI_ICHECK_EQ(a, b) TVM_FFI_ICHECK((a) == (b))
#define TVM_FFI_ICHECK_NE(a, b) TVM_FFI_ICHECK((a) != (b))
#define TVM_FFI_ICHECK_GE(a, b) TVM_FFI_ICHECK((a) >= (b))
#define TVM_FFI_ICHECK_GT(a, b) TVM_FFI_ICHECK((a) > (b))
#define TVM_FFI_ICHECK_LE(a, b) TVM_FFI_ICHECK((a) <= (b))
#define TVM_FFI_ICHECK_LT(a, b) TVM_FFI_ICHECK((a) < (b))
#define FLASHINFER_CHECK(cond, ...) \
  do { if (!(cond)) ::bc_shim::fail_concat(#cond, ##__VA_ARGS__); } while (0)
namespace common { using ::bc_shim::ceilDiv; using ::bc_shim::roundUp; }
// tvm::ffi::Array<int64_t> as resolveMoeTileAndConfig reads it: size() and operator[].
template <typename T>
struct Array {
  std::vector<T> items;
  size_t size() const { return items.size(); }
  T operator[](size_t i) const { return items.at(i); }
};
"""

_WRAPPERS = r"""
static std::string bc_error;

extern "C" const char* bc_last_error() { return bc_error.c_str(); }

#if BC_HAS_TILE_RULE
extern "C" int64_t bc_tiles(const int32_t* tiles, int64_t ntiles, int64_t n,
                            const int64_t* tokens, const int64_t* top_k, const int64_t* local,
                            const int64_t* experts, uint64_t* mask, int64_t* default_tile,
                            int32_t* status) {
  std::vector<int32_t> ladder(tiles, tiles + ntiles);
  int64_t failed = 0;
  for (int64_t i = 0; i < n; ++i) {
    status[i] = 0;
    mask[i] = 0;
    default_tile[i] = -1;
    (void)experts;
    try {
#if BC_TAKES_NUM_EXPERTS
      std::set<int32_t> selected =
          bc_ref::computeSelectedTileN(ladder, tokens[i], top_k[i], local[i], experts[i]);
#else
      std::set<int32_t> selected = bc_ref::computeSelectedTileN(ladder, tokens[i], top_k[i], local[i]);
#endif
      for (int32_t t : selected) {
        auto it = std::find(ladder.begin(), ladder.end(), t);
        if (it == ladder.end()) {
          status[i] = 3;
        } else {
          mask[i] |= uint64_t(1) << (it - ladder.begin());
        }
      }
    } catch (std::exception const& e) {
      status[i] = 1;
      bc_error = e.what();
    }
    try {
#if BC_HAS_SELECT_DEFAULT
      default_tile[i] = bc_ref::selectDefaultTileN(ladder, tokens[i], top_k[i], local[i]);
#else
      default_tile[i] = *bc_ref::computeSelectedTileN(ladder, tokens[i], top_k[i], local[i]).begin();
#endif
    } catch (std::exception const& e) {
      if (status[i] == 0) status[i] = 2;
      bc_error = e.what();
    }
    if (status[i] != 0) ++failed;
  }
  return failed;
}
#endif

#if BC_HAS_RESOLVE
// resolveMoeTileAndConfig(tactic = [tile_in[i], config_in[i]]): the tile and config it returns.
extern "C" int64_t bc_resolve(const int32_t* tiles, int64_t ntiles, int64_t n, const int64_t* tokens,
                              const int64_t* top_k, const int64_t* local, const int64_t* tile_in,
                              const int64_t* config_in, int64_t* tile_out, int64_t* config_out,
                              int32_t* status) {
  std::vector<int32_t> ladder(tiles, tiles + ntiles);
  int64_t failed = 0;
  for (int64_t i = 0; i < n; ++i) {
    status[i] = 0;
    try {
      Array<int64_t> tactic{{tile_in[i], config_in[i]}};
      auto resolved = bc_ref::resolveMoeTileAndConfig(tactic, ladder, tokens[i], top_k[i], local[i]);
      tile_out[i] = resolved.first;
      config_out[i] = resolved.second;
    } catch (std::exception const& e) {
      status[i] = 1;
      bc_error = e.what();
      ++failed;
    }
  }
  return failed;
}
#endif

extern "C" int64_t bc_ctas(int64_t n, const int32_t* tokens, const int32_t* top_k,
                           const int32_t* experts, const int32_t* tile, int32_t* out,
                           int32_t* status) {
  int64_t failed = 0;
  for (int64_t i = 0; i < n; ++i) {
    status[i] = 0;
    try {
      out[i] = bc_ref::getMaxNumCtasInBatchDim(tokens[i], top_k[i], experts[i], tile[i]);
    } catch (std::exception const& e) {
      status[i] = 1;
      out[i] = -1;
      bc_error = e.what();
      ++failed;
    }
  }
  return failed;
}
"""


def generated_source(ex: Extracted) -> str:
    parts = [
        '#include "bc_shim.h"',
        f"#define BC_TAKES_NUM_EXPERTS {int(ex.takes_num_experts)}",
        f"#define BC_HAS_SELECT_DEFAULT {int(ex.select_default_tile_n is not None)}",
        f"#define BC_HAS_TILE_RULE {int(ex.compute_selected_tile_n is not None)}",
        f"#define BC_HAS_RESOLVE {int(ex.resolve_moe_tile_and_config is not None)}",
        "namespace bc_ref {",
    ]
    for name, text in ex.functions().items():
        if text is not None:
            parts.append(f"// ---- {name} (extracted) ----\n{text}")
    parts.append("}  // namespace bc_ref")
    parts.append(_WRAPPERS)
    return "\n".join(parts) + "\n"


def source_hash(ex: Extracted) -> str:
    """The digest its library is cached under (compile_library)."""
    return library_digest(generated_source(ex), {"bc_shim.h": SHIM_HEADER})


class CompileError(RuntimeError):
    pass


def library_digest(source: str, headers: dict | None = None) -> str:
    """A digest of the source and its headers (Reference.digest: which releases compile the
    same text). The library's file is named by library_key, which adds the compiler."""
    return hashlib.sha256("\0".join([source, *(headers or {}).values()]).encode()).hexdigest()[:16]


_COMPILER_IDS: dict = {}


def _compiler_id(cxx: str) -> str:
    """The compiler's resolved path and `-dumpfullversion -dumpmachine` (once per process)."""
    if cxx not in _COMPILER_IDS:
        from .processes import run_bounded

        version = run_bounded([cxx, "-dumpfullversion", "-dumpmachine"], 60, new_session=False)
        _COMPILER_IDS[cxx] = f"{os.path.realpath(cxx)}\0{version.stdout.strip()}"
    return _COMPILER_IDS[cxx]


def _flags(opt: str) -> list[str]:
    return [opt, "-std=c++17", "-shared", "-fPIC"]


def library_key(source: str, headers: dict | None = None, opt: str = "-O2", cxx: str | None = None) -> str:
    """The hash a library is cached under: its source, headers, compiler (path and version)
    and flags."""
    cxx = cxx or compiler()
    parts = [source, *[f"{name}\0{text}" for name, text in sorted((headers or {}).items())],
             _compiler_id(cxx) if cxx else "no compiler", " ".join(_flags(opt))]
    return hashlib.sha256("\0\0".join(parts).encode()).hexdigest()[:32]


def library_path(prefix: str, source: str, headers: dict | None = None, opt: str = "-O2") -> Path:
    """Where compile_library keeps this library (under build_root())."""
    return build_root() / f"{prefix}_{library_key(source, headers, opt)}.so"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(lib: Path) -> Path:
    return lib.with_name(lib.name + ".sha256")


def verified(lib: Path) -> bool:
    """Is `lib` the library compile_library made: it and its recorded sha256 regular files
    of this user's that no one else can write, in a folder of the same kind, and the
    file's sha256 the one recorded when it was compiled?"""
    record = _record(lib)
    try:
        if _unsafe(lib.parent, os.stat(lib.parent), "folder"):
            return False
        if _unsafe(lib, os.lstat(lib), "file") or _unsafe(record, os.lstat(record), "file"):
            return False
        recorded = record.read_text().strip()
        return len(recorded) == 64 and _sha256_file(lib) == recorded
    except (OSError, UnicodeDecodeError):
        return False


def _compile_timeout() -> float:
    timeout = COMPILE_TIMEOUT_S
    if COMPILE_DEADLINE is not None:
        import time

        timeout = min(timeout, COMPILE_DEADLINE - time.time())
    if timeout <= 0:
        raise CompileError("no time left to compile (the --execute-timeout is spent)")
    return timeout


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, as a file only this user can write."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def compile_library(prefix: str, source: str, label: str = "", headers: dict | None = None, opt: str = "-O2") -> Path:
    """g++ -shared of `source` (with `headers` beside it), cached in private_build_root()
    as `<prefix>_<key>.so` (library_key), with the sha256 of the library recorded beside
    it and the source kept. A cached library is reused only if verified(); otherwise, and
    when absent, it is compiled (in a process group of its own, within _compile_timeout())."""
    from .processes import run_bounded

    cxx = compiler()
    if cxx is None:
        raise CompileError("g++ not found")
    headers = headers or {}
    root = private_build_root()
    key = library_key(source, headers, opt, cxx)
    lib = root / f"{prefix}_{key}.so"
    if verified(lib):
        return lib
    timeout = _compile_timeout()
    work = Path(tempfile.mkdtemp(prefix=f".{prefix}_{key}_", dir=root))
    try:
        for name, text in headers.items():
            (work / name).write_text(text)
        (work / f"{prefix}.cpp").write_text(f"// {label}\n" + source)
        # Relative names (run in `work`) so that the library's bytes do not name the folder.
        result = run_bounded([cxx, *_flags(opt), "-o", "lib.so", f"{prefix}.cpp"], timeout, new_session=False,
                             cwd=str(work))
        if result.timed_out:
            raise CompileError(f"g++ ran past {timeout:g} s for {label or key} and was killed with what it started")
        if result.returncode != 0:
            raise CompileError(f"g++ failed for {label or key}:\n{result.stderr[-4000:]}")
        built = work / "lib.so"
        os.chmod(built, 0o700)
        digest = _sha256_file(built)
        os.replace(built, lib)
        _write_private(_record(lib), (digest + "\n").encode())
        _write_private(root / f"{prefix}_{key}.cpp", source.encode())
        for name, text in headers.items():
            _write_private(root / name, text.encode())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lib


def load_library(lib: Path) -> ctypes.CDLL:
    """ctypes.CDLL of a library compile_library made, after verified() checks it again."""
    if not verified(lib):
        raise UnsafeCacheError(f"{lib}: not the library boundcheck compiled (its recorded sha256 or its owner "
                               f"or mode differ); not loaded")
    return ctypes.CDLL(str(lib))


def build(ex: Extracted, label: str = "") -> Path:
    """The shared library for these functions (compiled once per distinct source)."""
    return compile_library("bc_ref", generated_source(ex), label, {"bc_shim.h": SHIM_HEADER})


_I64 = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
_I32 = np.ctypeslib.ndpointer(dtype=np.int32, flags="C_CONTIGUOUS")
_U64 = np.ctypeslib.ndpointer(dtype=np.uint64, flags="C_CONTIGUOUS")


class Reference:
    """A loaded library: the release's own functions over arrays of points."""

    def __init__(self, ex: Extracted, label: str = ""):
        self.extracted = ex
        self.label = label
        self.digest = source_hash(ex)
        self.path = build(ex, label)
        self._lib = load_library(self.path)
        if ex.compute_selected_tile_n is not None:
            self._lib.bc_tiles.restype = ctypes.c_int64
            self._lib.bc_tiles.argtypes = [_I32, ctypes.c_int64, ctypes.c_int64, _I64, _I64, _I64, _I64,
                                           _U64, _I64, _I32]
        if ex.resolve_moe_tile_and_config is not None:
            self._lib.bc_resolve.restype = ctypes.c_int64
            self._lib.bc_resolve.argtypes = [_I32, ctypes.c_int64, ctypes.c_int64, _I64, _I64, _I64, _I64, _I64,
                                             _I64, _I64, _I32]
        self._lib.bc_ctas.restype = ctypes.c_int64
        self._lib.bc_ctas.argtypes = [ctypes.c_int64, _I32, _I32, _I32, _I32, _I32, _I32]
        self._lib.bc_last_error.restype = ctypes.c_char_p

    @property
    def last_error(self) -> str:
        return self._lib.bc_last_error().decode(errors="replace")

    def tiles(self, ladder, tokens, top_k, local, experts=None):
        """(mask, default_tile, status) arrays for the points (broadcast to one length)."""
        if self.extracted.compute_selected_tile_n is None:
            raise ExtractionError(f"{self.label}: no computeSelectedTileN (the caller picks the tile)")
        experts = local if experts is None else experts
        tokens, top_k, local, experts = (np.ascontiguousarray(a, dtype=np.int64)
                                         for a in np.broadcast_arrays(tokens, top_k, local, experts))
        n = tokens.size
        ladder = np.ascontiguousarray(ladder, dtype=np.int32)
        if ladder.size > 64:
            raise ValueError("ladders of more than 64 tiles do not fit the mask")
        mask = np.zeros(n, dtype=np.uint64)
        default = np.zeros(n, dtype=np.int64)
        status = np.zeros(n, dtype=np.int32)
        self._lib.bc_tiles(ladder, ladder.size, n, tokens.ravel(), top_k.ravel(), local.ravel(),
                           experts.ravel(), mask, default, status)
        return mask, default, status

    def resolve(self, ladder, tokens, top_k, local, tile, config):
        """(tile, config, status) arrays: resolveMoeTileAndConfig of the tactic [tile, config]."""
        if self.extracted.resolve_moe_tile_and_config is None:
            raise ExtractionError(f"{self.label}: no resolveMoeTileAndConfig (before 0.6.7)")
        arrays = (np.ascontiguousarray(a, dtype=np.int64).ravel()
                  for a in np.broadcast_arrays(tokens, top_k, local, tile, config))
        tokens, top_k, local, tile, config = arrays
        ladder = np.ascontiguousarray(ladder, dtype=np.int32)
        tile_out, config_out = np.zeros(tokens.size, dtype=np.int64), np.zeros(tokens.size, dtype=np.int64)
        status = np.zeros(tokens.size, dtype=np.int32)
        self._lib.bc_resolve(ladder, ladder.size, tokens.size, tokens, top_k, local, tile, config,
                             tile_out, config_out, status)
        return tile_out, config_out, status

    def ctas(self, tokens, top_k, experts, tile):
        """(getMaxNumCtasInBatchDim, status) arrays; inputs must fit int32 (and their
        product tokens * top_k too: the C++ multiplies in int32)."""
        arrays = np.broadcast_arrays(tokens, top_k, experts, tile)
        for a in arrays:
            if a.size and (np.min(a) < -(2**31) or np.max(a) > 2**31 - 1):
                raise ValueError("getMaxNumCtasInBatchDim takes int32 arguments")
        tokens, top_k, experts, tile = (np.ascontiguousarray(a, dtype=np.int32).ravel() for a in arrays)
        out = np.zeros(tokens.size, dtype=np.int32)
        status = np.zeros(tokens.size, dtype=np.int32)
        self._lib.bc_ctas(tokens.size, tokens, top_k, experts, tile, out, status)
        return out, status


_LOADED: dict[str, Reference] = {}


def reference_for_texts(launcher_text: str, runner_text: str, label: str = "") -> Reference:
    ex = extract_texts(launcher_text, runner_text, label or "launcher")
    digest = source_hash(ex)
    if digest not in _LOADED:
        _LOADED[digest] = Reference(ex, label)
    return _LOADED[digest]


def reference_for(version: str, root: Path | None = None) -> Reference:
    folder = release_folder(version, root)
    launcher, runner = read_sources(folder)
    return reference_for_texts(launcher, runner, f"flashinfer {version}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = sources_root()
    versions = argv or sorted(p.name for p in root.iterdir() if (p / "flashinfer" / LAUNCHER).exists())
    for v in versions:
        ref = reference_for(v, root)
        present = [k for k, t in ref.extracted.functions().items() if t is not None]
        print(f"{v}: {ref.digest} num_experts={ref.extracted.takes_num_experts} {', '.join(present)}")
    print(f"{len(_LOADED)} distinct compiled variants under {build_root()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
