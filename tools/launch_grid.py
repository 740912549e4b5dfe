"""The batched GEMM's launch grid as flashinfer ships it: fetched, compiled, evaluated.

    python tools/launch_grid.py [--cache DIR] [VERSION ...]      # fetch and summarize

For each release in boundcheck.releases.GRID_ARTIFACTS this fetches, once, two files into
`<cache>/<VERSION>/` (`$BOUNDCHECK_GRID_CACHE`, else `~/.cache/boundcheck/launch-grid`;
outside the repository, never committed):

- `BatchedGemmInterface.h` (trtllmGen_bmm_export/): from the sdist (0.3.1 - 0.4.1, read and
  never built), the flashinfer-python wheel (0.5.0 - 0.6.4) or flashinfer-cubin's
  batched-GEMM artifact (0.6.5 - 0.6.13);
- `flashinferMetaInfo.h`: the batched-GEMM kernel list of flashinfer-cubin (0.4.0+), every
  config the runner can select.

`grid_function(header)` extracts getGridDim (and getFixedGridDim / getLaunchGrid where
they exist) BY NAME from the header's text, compiles it with g++ behind a shim of the
option fields it reads, and returns a callable giving the launch grid (x, y, z) of a
config for a token-CTA count. `moe_configs(kernel_list)` parses the kernel list and keeps
the configs the MoE runner can select (transposed MMA output, dynamic batch: the
runner's filter in trtllm_batched_gemm_runner.cu).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from boundcheck.releases import GRID_ARTIFACTS  # noqa: E402
from boundcheck.drift.compiled import (  # noqa: E402 (compiler: the tests ask it too)
    ExtractionError, compiler, find_definitions, parameters, strip_comments,  # noqa: F401 (compiler: tests use it)
)

CACHE_VARIABLE = "BOUNDCHECK_GRID_CACHE"
HEADER = "BatchedGemmInterface.h"
KERNEL_LIST = "flashinferMetaInfo.h"
_HEADER_IN_PACKAGE = re.compile(r"(?:^|/)include/flashinfer/trtllm/batched_gemm/trtllmGen_bmm_export/BatchedGemmInterface\.h$")
_HEADER_IN_CUBIN = re.compile(r"^flashinfer_cubin/cubins/[^/]+/batched_gemm-[^/]+/include/trtllmGen_bmm_export/BatchedGemmInterface\.h$")
_LIST_IN_CUBIN = re.compile(r"^flashinfer_cubin/cubins/[^/]+/batched_gemm-[^/]+/include/flashinferMetaInfo\.h$")


def default_cache() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache/boundcheck/launch-grid")


# --- fetching --------------------------------------------------------------------------------

def _pip_download(requirement: str, folder: str, sdist: bool = False) -> None:
    # An sdist's metadata step runs its setup.py (it imports torch); it is never built.
    kind = ["--no-binary=:all:", "--no-build-isolation"] if sdist else ["--only-binary=:all:"]
    result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *kind, requirement, "-d", folder],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip download {requirement} failed: {result.stderr.strip()[-400:]}")


def _member(archive_path: Path, pattern: re.Pattern) -> bytes:
    if archive_path.suffix == ".whl":
        with zipfile.ZipFile(archive_path) as archive:
            names = [n for n in archive.namelist() if pattern.search(n)]
            if len(names) != 1:
                raise RuntimeError(f"{archive_path.name}: {len(names)} members match {pattern.pattern}")
            return archive.read(names[0])
    with tarfile.open(archive_path) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and pattern.search(m.name)]
        if not members:
            raise RuntimeError(f"{archive_path.name}: no member matches {pattern.pattern}")
        return archive.extractfile(members[0]).read()  # the sdist also copies it under flashinfer/data


def fetch(version: str, cache: Path) -> Path:
    """<cache>/<version>/ with the header (and the kernel list where one exists)."""
    artifact = GRID_ARTIFACTS[version]
    destination = cache / version
    if (destination / ".done").exists():
        return destination
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        cubin = None
        if artifact.kernel_list is not None:
            _pip_download(f"flashinfer-cubin=={artifact.kernel_list}", download)
            cubin = next(Path(download).glob("flashinfer_cubin-*.whl"))
            (destination / KERNEL_LIST).write_bytes(_member(cubin, _LIST_IN_CUBIN))
        if artifact.header == "cubin":
            header = _member(cubin, _HEADER_IN_CUBIN)
        else:
            python = Path(download) / "python"
            python.mkdir()
            _pip_download(f"flashinfer-python=={version}", str(python), sdist=artifact.header == "sdist")
            header = _member(next(python.iterdir()), _HEADER_IN_PACKAGE)
        (destination / HEADER).write_bytes(header)
    (destination / ".done").write_text("ok\n")
    return destination


# --- the kernel list ---------------------------------------------------------------------------

_FIELDS = ("mBatchMode", "mClusterDimX", "mClusterDimY", "mClusterDimZ", "mTileM", "mTileN", "mTileScheduler",
           "mNumSlicesForSplitK", "mTransposeMmaOutput", "mIsStaticBatch", "mEnablesEarlyExit",
           "mEnablesDelayedEarlyExit", "mUseFlexibleClusterDims", "mFallbackClusterDimY")


@dataclass(frozen=True)
class Config:
    name: str
    fields: dict  # _FIELDS present in this list's entries -> int

    def __getitem__(self, key):
        return self.fields.get(key, 0)


def parse_kernel_list(text: str) -> list[Config]:
    """Each `{nullptr, ...}` entry's name and its labelled option fields (`/* mX */ value`)."""
    starts = [m.start() for m in re.finditer(r"^\{nullptr", text, re.M)] + [len(text)]
    configs = []
    for begin, end in zip(starts, starts[1:]):
        entry = text[begin:end]
        name = re.search(r'"((?:bmm|batchedGemm)[^"]*)"', entry)
        fields = {}
        for field in _FIELDS:
            match = re.search(r"/\* %s \*/ ([^\n]*)" % field, entry)
            if match:
                value = match.group(1).strip().rstrip(",").strip()
                number = re.search(r"\((-?\d+)\)\s*$", value) or re.fullmatch(r"(-?\d+)", value)
                fields[field] = int(number.group(1)) if number else int(value in ("true",))
        configs.append(Config(name.group(1) if name else "?", fields))
    return configs


def moe_configs(configs: list[Config]) -> list[Config]:
    """What TrtllmGenBatchedGemmRunner can pick for the MoE GEMMs: transposed MMA output and
    a dynamic batch (it also matches dtypes, tile and activation options, which do not
    change the grid's rule)."""
    return [c for c in configs if c["mTransposeMmaOutput"] == 1 and c["mIsStaticBatch"] == 0]


# --- compiling getGridDim ---------------------------------------------------------------------

_SHIM = r"""
#include <cassert>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace gemm {
inline int32_t divUp(int32_t a, int32_t b) { return (a + b - 1) / b; }
inline int32_t divUpMul(int32_t a, int32_t b) { return divUp(a, b) * b; }
enum class TileScheduler { Static = 0, Persistent, StaticPersistent, PersistentSm90 };
}  // namespace gemm

// The option fields getGridDim / getLaunchGrid read; a field the release's code reads and
// this shim lacks is a compile error, never a silent default.
struct BatchedGemmOptions {
  enum class BatchMode { BatchM = 0, BatchN };
  BatchMode mBatchMode = BatchMode::BatchN;
  bool mIsStaticBatch = false;
  int32_t mNumBatches = 0;
  std::vector<int32_t> mBatchedM, mBatchedN;
  int32_t mM = 0, mN = 0, mTileM = 0, mTileN = 0;
  int32_t mClusterDimX = 1, mClusterDimY = 1, mClusterDimZ = 1;
  int32_t mNumTokens = 0, mNumSlicesForSplitK = 1;
  bool mEnablesEarlyExit = false, mEnablesDelayedEarlyExit = false;
  gemm::TileScheduler mTileScheduler = gemm::TileScheduler::Static;
};

struct Interface {
%(functions)s
};

static std::string last_error;
extern "C" const char* bg_last_error() { return last_error.c_str(); }

// grid (x, y, z) for one config and token-CTA count; returns 0, or 1 when the code threw.
extern "C" int bg_grid(int batch_n, int cluster_x, int cluster_y, int cluster_z, int tile_m, int tile_n,
                       int scheduler, int split_k, int early_exit, int delayed_early_exit, int m, int num_tokens,
                       int max_ctas, int sms, int32_t* out) {
  try {
    BatchedGemmOptions o;
    o.mBatchMode = batch_n ? BatchedGemmOptions::BatchMode::BatchN : BatchedGemmOptions::BatchMode::BatchM;
    o.mClusterDimX = cluster_x; o.mClusterDimY = cluster_y; o.mClusterDimZ = cluster_z;
    o.mTileM = tile_m; o.mTileN = tile_n; o.mM = m; o.mN = m;
    o.mTileScheduler = static_cast<gemm::TileScheduler>(scheduler);
    o.mNumSlicesForSplitK = split_k; o.mEnablesEarlyExit = early_exit; o.mEnablesDelayedEarlyExit = delayed_early_exit;
    o.mNumTokens = num_tokens;
    Interface interface;
%(call)s
    return 0;
  } catch (std::exception const& e) {
    last_error = e.what();
    return 1;
  }
}
"""

_CALL_LAUNCH_GRID = """    std::vector<int32_t> grid = interface.getLaunchGrid(o, max_ctas%s);
    out[0] = grid[0]; out[1] = grid[1]; out[2] = grid[2];"""
# Before getLaunchGrid (0.6.3) run() laid the grid out itself: batchM ? {batch, tile, inner}
# : {tile, batch, inner}.
_CALL_GRID_DIM = """    auto [batch, tile, inner] = interface.getGridDim(o, max_ctas);
    bool const batchM = o.mBatchMode == BatchedGemmOptions::BatchMode::BatchM;
    out[0] = batchM ? batch : tile; out[1] = batchM ? tile : batch; out[2] = inner;"""


def generated_source(header_text: str) -> str:
    code = strip_comments(header_text)
    functions = []
    for name in ("getFixedGridDim", "getGridDim", "getLaunchGrid"):
        found = find_definitions(code, name)
        if len(found) > 1:
            raise ExtractionError(f"{HEADER}: {len(found)} definitions of {name}")
        functions.extend(found)
    if not any("getGridDim(" in f.split("{", 1)[0] for f in functions):
        raise ExtractionError(f"{HEADER}: getGridDim not found")
    launch = [f for f in functions if "getLaunchGrid(" in f.split("{", 1)[0]]
    if launch:
        # 0.6.7+ also take the SM count (for the fixed-grid schedulers); 0.6.3 - 0.6.4 do not.
        call = _CALL_LAUNCH_GRID % (", sms" if len(parameters(launch[0], "getLaunchGrid")) > 2 else "")
    else:
        call = _CALL_GRID_DIM
    return _SHIM % {"functions": "\n".join(functions), "call": call}


class GridFunction:
    """The compiled getLaunchGrid (or getGridDim) of one header."""

    def __init__(self, library: Path):
        from boundcheck.drift.compiled import load_library

        self._lib = load_library(library)  # the recorded sha256, owner and mode checked first
        self._lib.bg_grid.restype = ctypes.c_int
        self._lib.bg_last_error.restype = ctypes.c_char_p

    def __call__(self, config: Config, max_ctas: int, cluster_y: int | None = None, m: int = 4096,
                 num_tokens: int = 1, sms: int = 148) -> tuple[int, int, int]:
        out = (ctypes.c_int32 * 3)()
        failed = self._lib.bg_grid(
            int(config["mBatchMode"] == 1), config["mClusterDimX"] or 1,
            config["mClusterDimY"] or 1 if cluster_y is None else cluster_y, config["mClusterDimZ"] or 1,
            config["mTileM"], config["mTileN"], config["mTileScheduler"], config["mNumSlicesForSplitK"] or 1,
            config["mEnablesEarlyExit"], config["mEnablesDelayedEarlyExit"], m, num_tokens, max_ctas, sms, out,
        )
        if failed:
            raise RuntimeError(f"{config.name}: {self._lib.bg_last_error().decode()}")
        return out[0], out[1], out[2]


def grid_function(header_text: str) -> GridFunction:
    """The header's grid code compiled by boundcheck's one g++ helper: cached in the private,
    hash-checked build folder (boundcheck.drift.compiled.compile_library), never in a
    shared temporary folder."""
    from boundcheck.drift.compiled import CompileError, compile_library

    try:
        return GridFunction(compile_library("grid", generated_source(header_text), "launch grid", opt="-O1"))
    except CompileError as error:
        raise RuntimeError(f"the extracted grid code: {error}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="releases (default: every one in GRID_ARTIFACTS)")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    cache = args.cache or default_cache()
    failed = 0
    for version in args.versions or sorted(GRID_ARTIFACTS, key=list(GRID_ARTIFACTS).index):
        try:
            folder = fetch(version, cache)
        except Exception as error:  # noqa: BLE001 (reported per release, counted in the exit code)
            print(f"{version}: {error}", file=sys.stderr)
            failed += 1
            continue
        line = f"{version}: {HEADER}"
        if (folder / KERNEL_LIST).exists():
            configs = moe_configs(parse_kernel_list((folder / KERNEL_LIST).read_text(errors="replace")))
            ys = sorted({c["mClusterDimY"] for c in configs})
            line += f", {len(configs)} MoE-selectable configs, Y cluster sizes {ys}"
        print(line)
    print(f"launch-grid artifacts in {cache}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
