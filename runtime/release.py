"""Which flashinfer release the guard guards, read once per process.

Trust: boundcheck.releases (the modeled releases), boundcheck.installed (which flashinfer
runs). flashinfer's kernels are not imported: the release is the importable module's
`__version__` (the loaded module's, else the literal in its package folder), local tags
(`+cu128`) dropped; reload() re-reads it.

- The module's version and the package metadata name different releases: the code that
  runs is the module's, but which one is wrong is not known, so the guard warns once and
  uses the smaller bound of the two (`witness`, when the metadata's release is modeled).

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

import dataclasses
import warnings
from dataclasses import dataclass

from boundcheck import installed as installed_flashinfer
from boundcheck import releases
from boundcheck import resolution
from boundcheck.errors import BoundcheckInputError


@dataclass(frozen=True)
class GuardedRelease:
    version: str  # the release the bounds are for (installed, or the newest modeled)
    installed: str | None  # what the metadata says, None when flashinfer is not installed
    era: releases.Era  # the era whose facts the guard uses
    fallback: bool  # True: an unmodeled newer release, bounded by the `any` policy
    adoption: object | None = None  # boundcheck.adopted.Adoption: an unmodeled release adopted
    # The metadata's release where it disagrees with the module's: its bound applies too
    # (the guard takes the smaller). None when they agree or the metadata's is unmodeled.
    witness: GuardedRelease | None = None

    def describe(self) -> str:
        if self.fallback:
            text = (f"flashinfer {self.installed} (not modeled; newest modeled {releases.NEWEST}): "
                    "the `any` bound over every modeled tile set")
        elif self.adoption is not None:
            text = f"flashinfer {self.version} ({self.era.name}, {self.adoption.describe()})"
        else:
            text = f"flashinfer {self.version} ({self.era.name})"
        if self.witness is not None:
            text += f", bounded by {self.witness.version} too (its package metadata)"
        return text

    def releases(self) -> tuple:
        """This release and its witness: every bound is the smallest over them."""
        return (self,) if self.witness is None else (self, self.witness)


_CACHE: dict = {}


def for_version(version: str | None, installed: str | None = None, location: str | None = None) -> GuardedRelease:
    """The guarded release for an explicit version string (None: not installed); an adopted
    release is its era's, unless `location` (the installed package folder) no longer holds
    the files it was adopted with: then it is ignored, with a warning."""
    if version is None:
        return GuardedRelease(releases.NEWEST, None, resolution.era_for(releases.NEWEST), False)
    adoption = resolution.adoption_of(version)
    if adoption is not None:
        from boundcheck.adopted import matches

        if location is None or matches(adoption, location):
            return GuardedRelease(version, installed, resolution.era_for(version), False, adoption=adoption)
        warnings.warn(
            f"boundcheck: the adoption of flashinfer {version} ({adoption.describe()}, files of {adoption.folder}) "
            f"does not match the files at {location}: ignored; run `boundcheck adopt` again",
            RuntimeWarning,
            stacklevel=3,
        )
    if version not in releases.MODELED_VERSIONS and resolution.is_newer_than_modeled(version):
        if resolution.strict_version():
            raise BoundcheckInputError(
                "flashinfer",
                f"flashinfer {version} is newer than every modeled release ({releases.modeled_range()}) "
                f"and {resolution.STRICT_VERSION_VARIABLE}=1 forbids the unproven fallback",
            )
        return GuardedRelease(version, installed, resolution.era_for(releases.NEWEST), True)
    if adoption is not None:
        raise BoundcheckInputError("flashinfer", f"flashinfer {version}: its adoption no longer matches the files "
                                                 f"at {location}, and it is not modeled; run `boundcheck adopt`")
    # A modeled release; anything else is the input error that lists the modeled ones.
    return GuardedRelease(version, installed, resolution.era_for(version), False)


# The unmodeled newer releases already warned about in this process: the fallback is
# announced once per version, whether the release is the installed one or named.
_WARNED: set = set()


def _warn_fallback(release: GuardedRelease, stacklevel: int, always: bool = False) -> None:
    """Warn that `release` is unmodeled and bounded by the `any` fallback (once per version
    unless `always`: the installed release warns on every reload())."""
    if not always and release.version in _WARNED:
        return
    _WARNED.add(release.version)
    warnings.warn(
        f"boundcheck: {release.describe()}; `boundcheck adopt` adopts it if its executed geometry equals a "
        f"modeled era's; set {resolution.STRICT_VERSION_VARIABLE}=1 to refuse unmodeled releases instead",
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )


def guarded_release(flashinfer: str | None = None) -> GuardedRelease:
    """flashinfer=None: the release that runs here (read once); else the version named (an
    unmodeled newer one warns once per version, as the installed one does)."""
    if flashinfer is not None:
        release = for_version(flashinfer, flashinfer)
        if release.fallback:
            _warn_fallback(release, stacklevel=3)
        return release
    if "installed" not in _CACHE:
        _CACHE["installed"] = _installed_release(installed_flashinfer.detect())
    return _CACHE["installed"]


def _installed_release(found: installed_flashinfer.InstalledFlashinfer) -> GuardedRelease:
    release = for_version(found.release, found.module or found.metadata, found.location)
    if release.fallback:
        _warn_fallback(release, stacklevel=4, always=True)
    if found.disagree:
        try:
            witness = for_version(installed_flashinfer.release_of(found.metadata), found.metadata)
        except BoundcheckInputError:
            witness = None  # an unmodeled older metadata release has no bound to compare
        release = dataclasses.replace(release, witness=witness)
        warnings.warn(
            f"boundcheck: the flashinfer module that runs ({found.describe()}) and its package metadata "
            f"name different releases; guarding {release.describe()}"
            + ("" if witness else " (the metadata's release is not modeled)"),
            RuntimeWarning,
            stacklevel=4,
        )
    return release


def reload() -> GuardedRelease:
    """Forget the cached installed version (after installing another flashinfer) and the
    adoptions store (after `boundcheck adopt`)."""
    from boundcheck import adopted

    _CACHE.clear()
    adopted.reload()
    return guarded_release()
