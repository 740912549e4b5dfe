"""Fetch every modeled flashinfer release's MoE sources into a cache folder, once.

    python tools/fetch_flashinfer_sources.py [--cache DIR] [VERSION ...]

For each release (default: every one boundcheck models) it downloads the wheel with
`pip download --no-deps` into a temporary folder (releases up to 0.4.1 have no wheel:
their sdist, read and never built), keeps only the files the drift check, the 32-bit
inventory and the signature recorder read (the fused-MoE launcher, runner and routing
sources, the trtllm headers, nv_internal's kernels, flashinfer's top-level headers and
`fused_moe/*.py`, 0.2.8's `fused_moe.py`), laid out as the installed package
(`<cache>/<VERSION>/flashinfer/`; an sdist's `csrc/` and `include/` go under
`flashinfer/data/` as in a wheel), and deletes the download. A release already in the cache is skipped. The cache folder is
`$BOUNDCHECK_FLASHINFER_CACHE`, else `~/.cache/boundcheck/flashinfer-src`; it is outside
the repository, and flashinfer's files are never committed. A release without the
batched-GEMM export headers in its wheel gets those of its flashinfer-cubin (0.6.5 -
0.6.13); later releases ship none, and 0.6.13's are kept once as a declared stand-in
(`<cache>/_bmm_export_standin`). Exit code: the number of releases that could not be
fetched.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from boundcheck.releases import MODELED_VERSIONS  # noqa: E402
from boundcheck.versions import version_key  # noqa: E402

CACHE_VARIABLE = "BOUNDCHECK_FLASHINFER_CACHE"

# What drift, the 32-bit inventory (boundcheck/drift/inventory.py) and
# tools/record_signatures.py read, relative to the wheel's root: the MoE sources, the
# trtllm headers they include (batched-GEMM runner and, where the wheel ships it, its
# interface), flashinfer's own top-level headers and the nv_internal kernels the runner
# calls (per-token and FP8 requantization).
KEEP_PREFIXES = (
    "flashinfer/data/include/flashinfer/trtllm/",
    # the launcher's own headers from 0.6.18 on (da_moe.cuh)
    "flashinfer/data/include/flashinfer/fused_moe/",
    # the JIT specs: the macros the MoE module is compiled with (the inventory defines them)
    "flashinfer/jit/",
    "flashinfer/data/csrc/fused_moe/trtllm_backend/",
    "flashinfer/data/csrc/nv_internal/",
)
# Bumped when the kept files change: a release fetched with an older layout is fetched again.
LAYOUT = "4"
KEEP_FILES = (
    "flashinfer/__init__.py",
    # where the imported module's __version__ comes from (boundcheck.installed reads it)
    "flashinfer/version.py",
    "flashinfer/_build_meta.py",
    "flashinfer/fused_moe.py",
    "flashinfer/utils.py",
    "flashinfer/tllm_enums.py",
    "flashinfer/autotuner.py",
)


def default_cache() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache/boundcheck/flashinfer-src")


def wanted(name: str) -> bool:
    if name.endswith("/"):
        return False
    if name in KEEP_FILES or name.startswith(KEEP_PREFIXES):
        return True
    if name.startswith("flashinfer/fused_moe/") and name.endswith(".py"):
        return True
    base = name.rsplit("/", 1)[-1]
    top_level = (name.startswith("flashinfer/data/include/flashinfer/") and name.count("/") == 4) or (
        name.startswith("flashinfer/data/csrc/") and name.count("/") == 3)
    if top_level and base.endswith((".h", ".cuh")):  # exception.h, tvm_ffi_utils.h, ...
        return True
    if name.startswith("flashinfer/data/csrc/") and base == "trtllm_batched_gemm_runner.cu":
        return True
    return name.startswith("flashinfer/data/csrc/") and base.startswith("trtllm_fused_moe")


def _download(version: str, folder: str, binary: bool):
    # An sdist's metadata step runs its setup.py (0.2.6 - 0.2.8 import torch there); it is
    # never built.
    kind = ["--only-binary=:all:"] if binary else ["--no-binary=:all:", "--no-build-isolation"]
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *kind, f"flashinfer-python=={version}", "-d", folder],
        capture_output=True, text=True,
    )


def sdist_name(member: str) -> str | None:
    """An sdist member's path as the wheel lays it out (None for what a wheel lacks)."""
    parts = member.split("/", 1)
    if len(parts) < 2:
        return None
    rest = parts[1]
    if rest.startswith(("csrc/", "include/")):
        return "flashinfer/data/" + rest
    return rest if rest.startswith("flashinfer/") else None


def fetch(version: str, cache: Path) -> bool:
    destination = cache / version
    marker = destination / ".done"
    if marker.exists() and (destination / f".layout-{LAYOUT}").exists():
        return True
    with tempfile.TemporaryDirectory() as download:
        result = _download(version, download, binary=True)
        wheels = list(Path(download).glob("*.whl"))
        if not wheels:
            result = _download(version, download, binary=False)
        sdists = list(Path(download).glob("*.tar.gz"))
        if not wheels and not sdists:
            print(f"{version}: download failed: {result.stderr.strip()[-300:]}", file=sys.stderr)
            return False
        if destination.exists():
            shutil.rmtree(destination)
        if wheels:
            with zipfile.ZipFile(wheels[0]) as wheel:
                for name in wheel.namelist():
                    if wanted(name):
                        wheel.extract(name, destination)
        else:
            with tarfile.open(sdists[0]) as sdist:
                for member in sdist.getmembers():
                    name = sdist_name(member.name)
                    if member.isfile() and name and wanted(name):
                        target = destination / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(sdist.extractfile(member).read())
        (destination / f".layout-{LAYOUT}").write_text("")
        marker.write_text((wheels or sdists)[0].name + "\n")
    return True


BMM_EXPORT = "flashinfer/data/include/flashinfer/trtllm/batched_gemm/trtllmGen_bmm_export"
_BMM_IN_CUBIN = re.compile(r"^flashinfer_cubin/cubins/[^/]+/batched_gemm-[^/]+/include/trtllmGen_bmm_export/(.+)$")
# The last flashinfer-cubin with the batched-GEMM headers: the stand-in for later releases,
# which ship none (they are fetched with the cubins at run time).
BMM_STANDIN_RELEASE = "0.6.13"
BMM_STANDIN = "_bmm_export_standin"


def _extract_bmm_export(requirement: str, destination: Path) -> bool:
    """The batched-GEMM export headers of a flashinfer-cubin wheel, into `destination`."""
    with tempfile.TemporaryDirectory() as download:
        result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                 requirement, "-d", download], capture_output=True, text=True)
        wheels = list(Path(download).glob("flashinfer_cubin-*.whl"))
        if not wheels:
            print(f"{requirement}: download failed: {result.stderr.strip()[-300:]}", file=sys.stderr)
            return False
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                match = _BMM_IN_CUBIN.match(name)
                if match and not name.endswith("/"):
                    target = destination / match.group(1)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(name))
    (destination / ".from").write_text(requirement + "\n")
    return True


def fetch_bmm_export(version: str, cache: Path) -> bool:
    """A release without the batched-GEMM headers in its wheel (0.6.5 on) gets those of its
    flashinfer-cubin where that ships them (up to 0.6.13); later releases ship none and the
    32-bit inventory reads 0.6.13's as a declared stand-in (`<cache>/_bmm_export_standin`)."""
    folder = cache / version / BMM_EXPORT
    if folder.is_dir():
        return True
    if version_key(version) <= version_key(BMM_STANDIN_RELEASE):
        return _extract_bmm_export(f"flashinfer-cubin=={version}", folder)
    standin = cache / BMM_STANDIN
    if (standin / ".from").exists():
        return True
    return _extract_bmm_export(f"flashinfer-cubin=={BMM_STANDIN_RELEASE}", standin)


def registry_releases() -> list[str] | None:
    """Every flashinfer-python release the package registry lists (pip's view of it, final
    and pre-releases), oldest first; None when the registry cannot be asked."""
    result = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "--pre", "flashinfer-python"],
                            capture_output=True, text=True)
    match = re.search(r"Available versions:\s*(.+)", result.stdout)
    if result.returncode != 0 or not match:
        return None
    return sorted((v.strip() for v in match.group(1).split(",") if v.strip()), key=version_key)


def plan(registry: list[str] | None) -> tuple[list[str], list[str], list[str]]:
    """(to fetch, modeled but not on the registry, on the registry but not modeled and newer
    than the newest modeled release): what the registry says, not a fixed list."""
    if registry is None:
        return list(MODELED_VERSIONS), [], []
    listed = set(registry)
    newest = version_key(MODELED_VERSIONS[-1])
    return ([v for v in MODELED_VERSIONS if v in listed], [v for v in MODELED_VERSIONS if v not in listed],
            [v for v in registry if v not in MODELED_VERSIONS and version_key(v) > newest])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*",
                        help="releases to fetch (default: every modeled one the registry lists)")
    parser.add_argument("--cache", type=Path, default=None, help=f"cache folder (default: ${CACHE_VARIABLE} or ~/.cache/...)")
    args = parser.parse_args(argv)
    cache = args.cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    versions, absent, unmodeled = (list(args.versions), [], []) if args.versions else plan(registry_releases())
    if absent:
        print(f"modeled, not on the registry (yanked?): {', '.join(absent)}", file=sys.stderr)
    if unmodeled:
        print(f"on the registry, newer than every modeled release: {', '.join(unmodeled)} "
              "(boundcheck adopt --flashinfer-root <its folder>; maintainers: tools/new_release.py)", file=sys.stderr)
    failed = [v for v in versions if not (fetch(v, cache) and fetch_bmm_export(v, cache))]
    print(f"flashinfer sources in {cache}: {len(versions) - len(failed)} releases"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
