"""One line per process when the guards go in, so that an engine's operator can see the
guard is active: on stderr, and through the engine's logger when an engine is loaded
(vLLM configures the `vllm` logger tree, SGLang the root logger; a child logger of the
engine's own reaches its handlers and format).

Silenced by install(quiet=True), `boundcheck exec --quiet` or BOUNDCHECK_QUIET=1. Later
installs in the same process (new options) log at DEBUG only.
"""

from __future__ import annotations

import logging
import os
import sys

QUIET_VARIABLE = "BOUNDCHECK_QUIET"
_SAID: list = [False]


def quiet_from_environment() -> bool:
    return os.environ.get(QUIET_VARIABLE, "").strip().lower() not in ("", "0", "false", "no", "off")


def engine_logger() -> logging.Logger:
    """The logger whose records the running engine shows."""
    for engine in ("vllm", "sglang"):
        if engine in sys.modules:
            return logging.getLogger(f"{engine}.boundcheck")
    return logging.getLogger("boundcheck")


def say(text: str, level: int = logging.INFO) -> None:
    """One line on stderr, and the same through the engine's logger where logging is
    configured (with no handler anywhere, Python's last-resort handler would print a
    warning or error a second time on stderr)."""
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed stderr never breaks the engine
        pass
    logger = engine_logger()
    if logger.hasHandlers():
        logger.log(level, text)


def line(release, entry_points: int, places: int, options: dict) -> str:
    extra = "".join(f", {key}={value}" for key, value in sorted(options.items()))
    return (f"boundcheck: guarding {entry_points} flashinfer MoE entry points at {places} places in process "
            f"{os.getpid()}: {release.describe()}{extra}")


def announce(release, entry_points: int, places: int, options: dict, quiet: bool | None = None) -> None:
    text = line(release, entry_points, places, options)
    logger = engine_logger()
    if _SAID[0] or (quiet if quiet is not None else quiet_from_environment()):
        logger.debug(text)
        return
    _SAID[0] = True
    say(text)
