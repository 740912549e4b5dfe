"""Guard options handed from `boundcheck exec` to its processes (and to the vLLM plugin
running in them) through the environment: BOUNDCHECK_GUARD_OPTIONS, a JSON object.

One checker for both ends: exec checks what it writes, the processes check what they
read, and anything malformed is an error naming the variable, never guards silently
running with other options.
"""

from __future__ import annotations

import json
import os

from boundcheck import resolution
from boundcheck.caps import strict_cap
from boundcheck.domain import CLUSTER_Y_SIZES
from boundcheck.errors import BoundcheckInputError
from boundcheck.policy import parse_policy

OPTIONS_VARIABLE = "BOUNDCHECK_GUARD_OPTIONS"
KEYS = ("policy", "cap", "cluster_y", "flashinfer")


def checked(options: dict, where: str | None = OPTIONS_VARIABLE) -> dict:
    """The options, each checked as the guards will use them in this environment, so that
    nothing is accepted that install() would then refuse inside the user's import of
    flashinfer: the release must be the one that runs here (the guards patch that module),
    a fixed tile one the release runs, the cluster size one the proofs cover."""
    if not isinstance(options, dict):
        raise BoundcheckInputError(where or "options", f"must be a JSON object with keys among {', '.join(KEYS)}, got {options!r}")
    unknown = sorted(set(options) - set(KEYS))
    if unknown:
        raise BoundcheckInputError(where or "options", f"has unknown keys {unknown}; known: {', '.join(KEYS)}")
    result = {}
    if options.get("flashinfer") is not None:
        result["flashinfer"] = _running_release(str(options["flashinfer"]), _name(where, "flashinfer"))
    if options.get("policy") is not None:
        if not isinstance(options["policy"], str):
            raise BoundcheckInputError(_name(where, "policy"), f"must be a string, got {options['policy']!r}")
        try:
            policy = parse_policy(options["policy"])
        except BoundcheckInputError as error:
            raise BoundcheckInputError(_name(where, "policy"), str(error).split(": ", 1)[1]) from None
        if policy.kind == "fixed":
            era = resolution.resolve(result.get("flashinfer"))
            tiles = sorted({tile for tiles in era.tiles.values() for tile in tiles})
            if policy.tile not in tiles:
                raise BoundcheckInputError(_name(where, "policy"), f"tile {policy.tile} is not one flashinfer "
                                           f"{era.last if result.get('flashinfer') is None else result['flashinfer']} "
                                           f"runs; its tiles are {', '.join(map(str, tiles))}")
        result["policy"] = options["policy"]
    if "cap" in options:
        result["cap"] = strict_cap(options["cap"], _name(where, "cap"))
    if options.get("cluster_y") is not None:
        value = options["cluster_y"]
        if isinstance(value, bool) or value not in CLUSTER_Y_SIZES:
            raise BoundcheckInputError(_name(where, "cluster_y"), f"must be one of {', '.join(map(str, CLUSTER_Y_SIZES))} "
                                       f"(the cluster sizes the proofs cover), got {value!r}")
        result["cluster_y"] = value
    return result


def _name(where: str | None, key: str) -> str:
    """How an error names an option: VARIABLE.key in the environment, --key on exec's command line."""
    return f"{where}.{key}" if where else "--" + key.replace("_", "-")


def _running_release(version: str, where: str) -> str:
    """A modeled release that is the flashinfer running here (when one is found here)."""
    from boundcheck.installed import detect

    try:
        named = resolution.resolve_version(version)
    except BoundcheckInputError as error:
        raise BoundcheckInputError(where, str(error).split(": ", 1)[1]) from None
    running = detect().release
    if running is not None and running != named:
        raise BoundcheckInputError(where, f"{version} is not the flashinfer that runs here ({running}): the guards "
                                   "patch the module that runs, whose release they read themselves")
    return named


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
