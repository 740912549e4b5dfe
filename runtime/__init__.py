"""Drop-in guards for flashinfer's trtllm-gen fused MoE entry points.

    from boundcheck.runtime import trtllm_fp4_block_scale_routed_moe   # instead of flashinfer.fused_moe

Each name below is `guard(flashinfer's function, entry_point=name)`: the same signature,
calls through untouched when the tokens fit one launch, and otherwise splits them into
chunks of at most the bound `boundcheck prove` verifies for the installed flashinfer
release (the flashinfer module that runs, read once; see runtime.release). flashinfer is
imported on first use of a wrapper, so `from boundcheck import runtime` works without it. An entry point
the installed release does not have is an AttributeError naming the release that
introduced it. Nothing here imports a solver.
"""

from __future__ import annotations

import importlib

from boundcheck import releases

from .entry_points import ENTRY_POINTS
from .guard import GuardError, guard, unguarded
from .install import ensure_installed, install, install_on_import, install_options, installed, uninstall
from .limits import SMALLEST_BOUND, chunk_cap, max_chunk_tokens, reload_caps, set_chunk_cap
from .release import guarded_release

__all__ = [
    "ENTRY_POINTS",
    "GuardError",
    "SMALLEST_BOUND",
    "chunk_cap",
    "ensure_installed",
    "guard",
    "guarded_release",
    "install",
    "install_on_import",
    "install_options",
    "installed",
    "max_chunk_tokens",
    "reload_caps",
    "set_chunk_cap",
    "unguarded",
    "uninstall",
    *sorted(ENTRY_POINTS),
]

_WRAPPERS: dict = {}


def _unavailable(name: str, error: ImportError):
    def call(*args, **kwargs):
        raise ImportError(
            f"boundcheck.runtime.{name} wraps flashinfer.fused_moe.{name}, but flashinfer could not be "
            f"imported ({error}); install the flashinfer-python release your engine pins "
            f"(boundcheck models {releases.modeled_range()}); installing boundcheck never installs flashinfer"
        ) from error

    call.__name__ = name
    return call


def __getattr__(name: str):
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module 'boundcheck.runtime' has no attribute {name!r}")
    if name not in _WRAPPERS:
        try:
            fused_moe = importlib.import_module("flashinfer.fused_moe")
        except ImportError as error:
            return _unavailable(name, error)
        release = guarded_release()
        if name not in release.era.entry_points or not hasattr(fused_moe, name):
            from .entry_points import first_release_with

            raise AttributeError(
                f"runtime.{name}: flashinfer {release.installed or release.version} has no {name}; "
                f"it exists from flashinfer {first_release_with(name)}"
            )
        # guard() unwraps an installed guard (runtime.install): guards never nest.
        _WRAPPERS[name] = guard(getattr(fused_moe, name), entry_point=name)
    return _WRAPPERS[name]
