"""Reading a flashinfer folder safely: regular files only (checked before opening, so a
FIFO or device cannot block), bounded in size, UTF-8 text without NUL bytes; each file is
read and parsed at most once. Nothing in the folder is imported or executed."""

from __future__ import annotations

import ast
import os
import stat

from ..errors import BoundcheckInputError
from .cxx import _Cpp
from .found import Missing
from ..facts import FUSED_MOE_CORE, LAUNCHER
from .paths import FIXED_PATHS, FUSED_MOE_DIR

MAX_SOURCE_BYTES = 64 * 2**20


def _folder_only(root) -> str:
    if root is None or not str(root).strip():
        raise BoundcheckInputError("--flashinfer-root", "must name a flashinfer package folder, got an empty string")
    root = str(root)
    if not os.path.isdir(root):
        raise BoundcheckInputError("--flashinfer-root", f"not a folder: {root}")
    return root


def _present(root: str) -> list[str]:
    """Every file drift reads that exists under `root` (relative paths)."""
    folder = _Folder(root)
    paths = [path for path in FIXED_PATHS if folder.exists(path)]
    try:
        paths += [path for path in folder.python_modules(FUSED_MOE_DIR) if path not in paths]
    except Missing:
        pass
    return paths


def check_root(root) -> str:
    """`root` if it is a flashinfer package folder: a folder holding at least one of the
    fused-MoE sources drift reads (FIXED_PATHS, fused_moe/*.py), readable or not (a file
    drift cannot read is that fact's MISSING row). Anything else is an input error naming
    --flashinfer-root: a folder with none of them is not a flashinfer package, and reading
    it would only list every fact as missing."""
    root = _folder_only(root)
    if not _present(root):
        hint = ""
        for inner in ("flashinfer", os.path.join("python", "flashinfer")):
            if os.path.isdir(os.path.join(root, inner)) and _present(os.path.join(root, inner)):
                hint = f"; did you mean {os.path.join(root, inner)}?"
                break
        raise BoundcheckInputError(
            "--flashinfer-root", f"not a flashinfer package folder (none of its fused-MoE sources, e.g. {FUSED_MOE_CORE} "
                                 f"or {LAUNCHER}, is there): {root}{hint}")
    return root


def _read_text(full: str) -> str:
    """The file's text; Missing (with the reason) if it is not a readable text file. The
    mode is checked before opening so that a FIFO or device at a source path cannot block."""
    try:
        mode = os.stat(full).st_mode
    except FileNotFoundError:
        raise Missing("file not found") from None
    except OSError as error:
        raise Missing(f"cannot stat: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        raise Missing("not a regular file")
    try:
        with open(full, "rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as error:
        raise Missing(f"unreadable: {error.strerror or error}") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise Missing(f"larger than {MAX_SOURCE_BYTES} bytes")
    if b"\0" in data:
        raise Missing("binary file (NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Missing(f"not UTF-8 text ({error.reason} at byte {error.start})") from None


def _parse_python(path: str, text: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as error:
        raise Missing(f"{path}: not valid Python (line {error.lineno})") from None
    except (RecursionError, MemoryError):
        raise Missing(f"{path}: too complex: nested too deeply for Python's parser") from None
    except ValueError as error:
        raise Missing(f"{path}: not valid Python ({error})") from None


class _Folder:
    """One flashinfer folder; each file is read (and parsed) at most once."""

    def __init__(self, root: str):
        self.root = root
        self._texts: dict = {}
        self._parsed: dict = {}

    def exists(self, path: str) -> bool:
        return os.path.lexists(os.path.join(self.root, path))

    def text(self, path: str) -> str:
        if path not in self._texts:
            try:
                self._texts[path] = _read_text(os.path.join(self.root, path))
            except Missing as missing:
                self._texts[path] = Missing(f"{path}: {missing}")
        result = self._texts[path]
        if isinstance(result, Missing):
            raise result
        return result

    def cpp(self, path: str) -> "_Cpp":
        return self._parse(path, "C++", _Cpp)

    def python(self, path: str) -> ast.Module:
        return self._parse(path, "Python", lambda text: _parse_python(path, text))

    def _parse(self, path, language, parser):
        key = (path, language)
        if key not in self._parsed:
            try:
                self._parsed[key] = parser(self.text(path))
            except Missing as missing:
                self._parsed[key] = missing
        result = self._parsed[key]
        if isinstance(result, Missing):
            raise result
        return result

    def python_modules(self, folder: str) -> list[str]:
        """The *.py files directly under `folder` (sorted)."""
        full = os.path.join(self.root, folder)
        try:
            names = sorted(os.listdir(full))
        except OSError as error:
            raise Missing(f"{folder}/: {error.strerror or error}") from None
        return [f"{folder}/{name}" for name in names if name.endswith(".py")]


def source_paths(root: str) -> list[str]:
    """Every file drift reads that exists under `root` (relative paths)."""
    return _present(check_root(root))
