"""Output folders named on the command line (--out, --smt-dir): checked before any work,
so that a folder that cannot take the files is a one-line input error, not a traceback
after minutes of computing."""

from __future__ import annotations

import os
import tempfile

from .errors import BoundcheckInputError


def writable_folder(path, argument: str) -> str:
    """`path`, created if need be, once a file could really be created in it (os.access
    says yes to root on read-only file systems and /proc: a probe file does not lie)."""
    if path is None or not str(path).strip():
        raise BoundcheckInputError(argument, f"must name a folder, got {path!r}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise BoundcheckInputError(argument, f"cannot be created: {error.strerror or error} ({path})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".boundcheck-probe-"):
            pass
    except OSError as error:
        raise BoundcheckInputError(argument, f"is not writable: {error.strerror or error} ({path})") from None
    return path


def write_file(folder: str, name: str, data, argument: str) -> None:
    """Write one output file; a failure (disk full, the folder removed meanwhile) names the argument."""
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(os.path.join(folder, name), mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(data)
    except OSError as error:
        raise BoundcheckInputError(argument, f"cannot be written: {error.strerror or error} ({os.path.join(folder, name)})") from None
