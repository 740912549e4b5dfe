"""The user's store of adopted flashinfer releases (`boundcheck adopt`).

A release that boundcheck does not model is adopted when its geometry, executed, equals a
modeled era's (boundcheck/adopt.py says what is compared). The store maps the version to
that era, the date, the folder compared and a digest of the files compared; from then on
`resolution.era_for` answers the era for that version, and every output that names the era
says "adopted by executed equivalence". The store lives in $BOUNDCHECK_HOME (default
~/.config/boundcheck) as `adopted.json`; it is read once per process (`reload()` forgets it).
An entry is checked against a folder with `matches(folder)`: the guard ignores, with a
warning, an adoption whose files have changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

HOME_VARIABLE = "BOUNDCHECK_HOME"
STORE_NAME = "adopted.json"
# What a digest covers, relative to the flashinfer package folder: the C++ the geometry and
# the inventory read, and the Python the tile choice, buckets and entry points come from.
DIGEST_GLOBS = ("data/csrc/trtllm_*.cu", "data/csrc/fused_moe/**/*.cu", "data/csrc/fused_moe/**/*.cuh",
                "data/csrc/fused_moe/**/*.h", "data/csrc/nv_internal/tensorrt_llm/kernels/quantization*",
                "data/csrc/nv_internal/cpp/kernels/quantization.cu", "data/include/flashinfer/trtllm/**/*.h",
                "data/include/flashinfer/trtllm/**/*.cuh", "fused_moe/**/*.py", "_build_meta.py")


@dataclass(frozen=True)
class Adoption:
    version: str
    era: str  # the modeled era it executes as
    date: str  # ISO date of the adoption
    folder: str  # the flashinfer package folder compared
    digest: str  # files_digest(folder) at adoption
    compared_with: str  # the modeled release of the era whose recorded inventory it equals

    def describe(self) -> str:
        return f"adopted by executed equivalence with {self.era} ({self.compared_with}) on {self.date}"


def home() -> Path:
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".config" / "boundcheck").expanduser()


def store_path() -> Path:
    return home() / STORE_NAME


def files_digest(folder: Path) -> str:
    """sha256 over the relative path and bytes of every file DIGEST_GLOBS names."""
    folder = Path(folder)
    h = hashlib.sha256()
    files = sorted({p for pattern in DIGEST_GLOBS for p in folder.glob(pattern) if p.is_file()})
    for path in files:
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


_CACHE: dict = {}


def load() -> dict[str, Adoption]:
    """version -> Adoption, read once per process; an unreadable store is an empty one."""
    if "store" not in _CACHE:
        try:
            raw = json.loads(store_path().read_text())
            _CACHE["store"] = {v: Adoption(**entry) for v, entry in raw.get("adopted", {}).items()}
        except (OSError, ValueError, TypeError):
            _CACHE["store"] = {}
    return _CACHE["store"]


def reload() -> dict[str, Adoption]:
    _CACHE.clear()
    return load()


def lookup(version: str) -> Adoption | None:
    return load().get(version)


def record(adoption: Adoption) -> Path:
    """Add (or replace) one adoption; written whole to a temporary file, then renamed."""
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        raw = {}
    adopted = dict(raw.get("adopted", {}))
    adopted[adoption.version] = asdict(adoption)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"adopted": adopted}, indent=1, sort_keys=True) + "\n")
    temporary.replace(path)
    _CACHE.clear()
    return path


def matches(adoption: Adoption, folder: Path) -> bool:
    """Whether `folder`'s files are still the ones adopted."""
    return files_digest(Path(folder)) == adoption.digest
