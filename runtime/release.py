"""Which flashinfer release the guard guards, read once from the package metadata.

Trust: boundcheck.releases (the modeled releases). flashinfer itself is not imported:
its version comes from importlib.metadata, once per process (reload() re-reads it).

- A modeled release: that release's era (tile sets, candidate rule, buckets, entry points).
- A release newer than the newest modeled one: no bound of that release is proven. The
  guard warns once and applies the `any` bound (every tile may run) over the union of
  every modeled tile set, whose smallest tile is 8; BOUNDCHECK_STRICT_VERSION=1 makes it
  refuse instead.
- An older, unmodeled release (0.2.8 - 0.4.1) or an unparsable version: refused.
- flashinfer not installed: the newest modeled release (what `pip install` would bring),
  for guards around other callables (the reference kernel, tests).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from boundcheck import releases
from boundcheck.errors import BoundcheckInputError


@dataclass(frozen=True)
class GuardedRelease:
    version: str  # the release the bounds are for (installed, or the newest modeled)
    installed: str | None  # what the metadata says, None when flashinfer is not installed
    era: releases.Era  # the era whose facts the guard uses
    fallback: bool  # True: an unmodeled newer release, bounded by the `any` policy

    def describe(self) -> str:
        if self.fallback:
            return (f"flashinfer {self.installed} (not modeled; newest modeled {releases.NEWEST}): "
                    "the `any` bound over every modeled tile set")
        return f"flashinfer {self.version} ({self.era.name})"


_CACHE: dict = {}


def for_version(version: str | None, installed: str | None = None) -> GuardedRelease:
    """The guarded release for an explicit version string (None: not installed)."""
    if version is None:
        return GuardedRelease(releases.NEWEST, None, releases.era_for(releases.NEWEST), False)
    if version not in releases.MODELED_VERSIONS and releases.is_newer_than_modeled(version):
        if releases.strict_version():
            raise BoundcheckInputError(
                "flashinfer",
                f"flashinfer {version} is newer than every modeled release ({releases.modeled_range()}) "
                f"and {releases.STRICT_VERSION_VARIABLE}=1 forbids the unproven fallback",
            )
        return GuardedRelease(version, installed, releases.era_for(releases.NEWEST), True)
    # A modeled release; anything else is the input error that lists the modeled ones.
    return GuardedRelease(version, installed, releases.era_for(version), False)


def guarded_release(flashinfer: str | None = None) -> GuardedRelease:
    """flashinfer=None: the installed release (read once); else the version named."""
    if flashinfer is not None:
        return for_version(flashinfer, flashinfer)
    if "installed" not in _CACHE:
        installed = releases.installed_version()
        _CACHE["installed"] = for_version(installed, installed)
        if _CACHE["installed"].fallback:
            warnings.warn(
                f"boundcheck: {_CACHE['installed'].describe()}; set {releases.STRICT_VERSION_VARIABLE}=1 to refuse "
                "unmodeled releases instead",
                RuntimeWarning,
                stacklevel=3,
            )
    return _CACHE["installed"]


def reload() -> GuardedRelease:
    """Forget the cached installed version (after installing another flashinfer)."""
    _CACHE.clear()
    return guarded_release()
