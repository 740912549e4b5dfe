"""Guard options handed from `boundcheck exec` to its processes (and to the vLLM plugin
running in them) through the environment: BOUNDCHECK_GUARD_OPTIONS, a JSON object.

One checker for both ends: exec checks what it writes, the processes check what they
read, and anything malformed is an error naming the variable, never guards silently
running with other options.
"""

from __future__ import annotations

import json
import os

from boundcheck import releases
from boundcheck.caps import strict_cap
from boundcheck.errors import BoundcheckInputError
from boundcheck.policy import parse_policy

OPTIONS_VARIABLE = "BOUNDCHECK_GUARD_OPTIONS"
KEYS = ("policy", "cap", "cluster_y", "flashinfer")


def checked(options: dict, where: str = OPTIONS_VARIABLE) -> dict:
    """The options, each checked as the guard will use it; an input error otherwise."""
    if not isinstance(options, dict):
        raise BoundcheckInputError(where, f"must be a JSON object with keys among {', '.join(KEYS)}, got {options!r}")
    unknown = sorted(set(options) - set(KEYS))
    if unknown:
        raise BoundcheckInputError(where, f"has unknown keys {unknown}; known: {', '.join(KEYS)}")
    result = {}
    if options.get("policy") is not None:
        if not isinstance(options["policy"], str):
            raise BoundcheckInputError(f"{where}.policy", f"must be a string, got {options['policy']!r}")
        parse_policy(options["policy"])
        result["policy"] = options["policy"]
    if "cap" in options:
        result["cap"] = strict_cap(options["cap"], f"{where}.cap")
    if options.get("cluster_y") is not None:
        value = options["cluster_y"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BoundcheckInputError(f"{where}.cluster_y", f"must be a positive int, got {value!r}")
        result["cluster_y"] = value
    if options.get("flashinfer") is not None:
        result["flashinfer"] = releases.resolve_version(str(options["flashinfer"]))
    return result


def from_environment(environ=None) -> dict:
    """The options `boundcheck exec` set for this process ({} when it set none)."""
    text = (os.environ if environ is None else environ).get(OPTIONS_VARIABLE)
    if text is None or not text.strip():
        return {}
    try:
        options = json.loads(text)
    except ValueError as error:
        raise BoundcheckInputError(OPTIONS_VARIABLE, f"is not JSON ({error}): {text[:200]!r}") from None
    return checked(options)


def to_environment(options: dict) -> str:
    return json.dumps(checked(options))
