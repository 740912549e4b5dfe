"""Which era a flashinfer version is, as every command and the guard ask it: a modeled
release's (boundcheck.releases, the facts), else the user's adoption of it
(boundcheck.adopted, the store, read only when asked); the installed release; strict mode.

The facts never consult the store: releases.py knows only what this repository models.
"""

from __future__ import annotations

import os

from .errors import BoundcheckInputError
from .installed import release_of
from .releases import NEWEST, MODELED_VERSIONS, Era, era_named, modeled_era, modeled_range
from .versions import version_key


def adoption_of(version: str | None):
    """The user store's adoption of an unmodeled release (boundcheck.adopted), or None."""
    if version is None or modeled_era(version) is not None:
        return None
    from .adopted import lookup  # the store is the user's, not a fact: read only when asked

    return lookup(release_of(version))


def provenance(version: str) -> str:
    """How a release's facts are known: "" for a modeled release, the adoption otherwise."""
    adoption = adoption_of(version)
    return "" if adoption is None else adoption.describe()


def era_for(version: str) -> Era:
    """The era of a modeled release (a local tag, `+cu128`, names its release), or of one
    adopted by executed equivalence (`boundcheck adopt`); an input error listing the
    modeled range otherwise."""
    era = modeled_era(version)
    adoption = adoption_of(version) if era is None else None
    if adoption is not None:
        return era_named(adoption.era)
    if era is None:
        raise BoundcheckInputError(
            "flashinfer",
            f"release {version!r} is not modeled; modeled releases are {modeled_range()}: "
            f"{', '.join(MODELED_VERSIONS)} (a newer release whose geometry equals a modeled era's can be "
            "adopted: boundcheck adopt --flashinfer-root DIR)",
        )
    return era


def _known(version: str | None) -> bool:
    return version is not None and (modeled_era(version) is not None or adoption_of(version) is not None)


def installed_version() -> str | None:
    """The release of the flashinfer module this process would run (boundcheck.installed:
    the module's __version__, read without importing its kernels, else the package
    metadata; local tags dropped); None when flashinfer is not installed."""
    from .installed import detect

    return detect().release


def is_newer_than_modeled(version: str) -> bool:
    try:
        return version_key(release_of(version)) > version_key(NEWEST)
    except ValueError:
        return False


def resolve(flashinfer: str | None) -> Era:
    """--flashinfer VERSION | installed | None (the installed release, else the newest)."""
    if flashinfer is None:
        installed = installed_version()
        return era_for(installed) if _known(installed) else era_for(NEWEST)
    if flashinfer == "installed":
        installed = installed_version()
        if installed is None:
            raise BoundcheckInputError("flashinfer", "'installed' was asked for, but flashinfer-python is not installed here")
        return era_for(installed)
    return era_for(flashinfer)


def resolve_version(flashinfer: str | None) -> str:
    """The release name an answer is for (what every output names)."""
    if flashinfer in (None, "installed"):
        installed = installed_version()
        if _known(installed):
            return installed
        if flashinfer == "installed":
            resolve("installed")  # raises the right error
        return NEWEST
    era_for(flashinfer)
    return release_of(flashinfer)


STRICT_VERSION_VARIABLE = "BOUNDCHECK_STRICT_VERSION"


def strict_version() -> bool:
    """Is BOUNDCHECK_STRICT_VERSION on? Read as runtime/dist_aware.py reads flashinfer's
    switch: on unless unset or one of "", 0, false, no, off, none (case and surrounding
    blanks ignored), so that `false` or `off` never turns strict mode on."""
    value = os.environ.get(STRICT_VERSION_VARIABLE)
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off", "none")
