"""Which flashinfer this process runs: the module Python imports, and what the package
metadata says, read without importing flashinfer's kernels.

The two can disagree: a source checkout or a vendored copy on sys.path, an
`pip install --no-deps` over another release's files, a rebuilt wheel that kept the old
metadata. The code that launches is the module's, so the module's `__version__` names
the release; the metadata is the second witness. Local version tags (`0.7.2.post1+cu128`,
how CUDA-specific builds are named) are the release they tag.

Reading order for the module's version: the loaded module's `__version__` when
`flashinfer` is already imported; else the `__version__ = "..."` literal in the package's
`_build_meta.py`, `version.py` or `__init__.py` (parsed, never executed), found with
importlib's path search as `import flashinfer` would find it.
"""

from __future__ import annotations

import ast
import importlib.machinery
import sys
from dataclasses import dataclass
from pathlib import Path

DISTRIBUTIONS = ("flashinfer-python", "flashinfer_python", "flashinfer")
# Where releases keep the literal (0.6.x - 0.7.x: _build_meta.py, read by version.py;
# older wheels: version.py or __init__.py).
VERSION_FILES = ("_build_meta.py", "version.py", "__init__.py")


def release_of(version: str | None) -> str | None:
    """The release a version string names: the local tag dropped, whitespace trimmed."""
    if version is None:
        return None
    return str(version).strip().split("+", 1)[0]


@dataclass(frozen=True)
class InstalledFlashinfer:
    module: str | None  # the importable module's __version__ (local tag kept), None: none
    metadata: str | None  # the distribution's metadata version, None: not installed
    location: str | None  # the package folder the module comes from

    @property
    def release(self) -> str | None:
        """The release that runs: the module's, else (no readable module version) the
        metadata's; local tags dropped."""
        return release_of(self.module) or release_of(self.metadata)

    @property
    def disagree(self) -> bool:
        """Module and metadata name different releases (both known)."""
        return (self.module is not None and self.metadata is not None
                and release_of(self.module) != release_of(self.metadata))

    def describe(self) -> str:
        where = f" at {self.location}" if self.location else ""
        if self.module is None and self.metadata is None:
            return "flashinfer is not installed"
        return f"module {self.module or 'unreadable'}{where}, metadata {self.metadata or 'absent'}"


def metadata_version() -> str | None:
    from importlib import metadata

    for name in DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _literal_version(path: Path) -> str | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        value = getattr(node, "value", None)
        if (any(isinstance(t, ast.Name) and t.id == "__version__" for t in targets)
                and isinstance(value, ast.Constant) and isinstance(value.value, str)):
            return value.value
    return None


def package_version(folder: Path) -> str | None:
    """The `__version__` literal of a flashinfer package folder, None if it has none."""
    for name in VERSION_FILES:
        version = _literal_version(folder / name)
        if version is not None:
            return version
    return None


def _module() -> tuple[str | None, str | None]:
    loaded = sys.modules.get("flashinfer")
    if loaded is not None:
        version = getattr(loaded, "__version__", None)
        folder = (list(getattr(loaded, "__path__", [])) or [None])[0]
        if isinstance(version, str):
            return version, folder
    # What `import flashinfer` would find (PathFinder alone: no import hook runs code).
    spec = importlib.machinery.PathFinder.find_spec("flashinfer", sys.path)
    if spec is None or not spec.submodule_search_locations:
        return None, None
    for location in spec.submodule_search_locations:
        version = package_version(Path(location))
        if version is not None:
            return version, location
    return None, list(spec.submodule_search_locations)[0]


def detect() -> InstalledFlashinfer:
    version, location = _module()
    return InstalledFlashinfer(version, metadata_version(), location)
