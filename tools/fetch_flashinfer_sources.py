"""Fetch every modeled flashinfer release's MoE sources into a cache folder, once.

    python tools/fetch_flashinfer_sources.py [--cache DIR] [VERSION ...]

For each release (default: every one boundcheck models) it downloads the wheel with
`pip download --no-deps` into a temporary folder (releases up to 0.4.1 have no wheel:
their sdist, read and never built), keeps only the files the drift check and the
signature recorder read (the fused-MoE launcher, runner and routing sources and
`fused_moe/*.py`, 0.2.8's `fused_moe.py`), laid out as the installed package
(`<cache>/<VERSION>/flashinfer/`; an sdist's `csrc/` and `include/` go under
`flashinfer/data/` as in a wheel), and deletes the download. A release already in the cache is skipped. The cache folder is
`$BOUNDCHECK_FLASHINFER_CACHE`, else `~/.cache/boundcheck/flashinfer-src`; it is outside
the repository, and flashinfer's files are never committed. Exit code: the number of
releases that could not be fetched.
"""

from __future__ import annotations

import argparse
import os
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

CACHE_VARIABLE = "BOUNDCHECK_FLASHINFER_CACHE"

# What drift and tools/record_signatures.py read, relative to the wheel's root.
KEEP_PREFIXES = (
    "flashinfer/data/include/flashinfer/trtllm/fused_moe/",
    "flashinfer/data/csrc/fused_moe/trtllm_backend/",
)
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
    if (destination / ".done").exists():
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
        (destination / ".done").write_text((wheels or sdists)[0].name + "\n")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="releases to fetch (default: every modeled one)")
    parser.add_argument("--cache", type=Path, default=None, help=f"cache folder (default: ${CACHE_VARIABLE} or ~/.cache/...)")
    args = parser.parse_args(argv)
    cache = args.cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    failed = [v for v in (args.versions or MODELED_VERSIONS) if not fetch(v, cache)]
    print(f"flashinfer sources in {cache}: {len(args.versions or MODELED_VERSIONS) - len(failed)} releases"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
