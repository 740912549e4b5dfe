"""The order of flashinfer's version strings: version parsing, apart from the release facts.

`version_key("0.6.7.post1") > version_key("0.6.7")`; a piece that is not a number (an
"rc1", a local tag's remains) counts as 0, so a pre-release sorts with its final release.
The release table (boundcheck.releases) and everything that compares releases use this one
function.
"""

from __future__ import annotations


def version_key(version: str) -> tuple:
    """A sortable key of a flashinfer version string ("0.7.2.post1" -> (0, 7, 2, -1, 1))."""
    parts = []
    for piece in version.replace(".post", ".-1.").split("."):
        parts.append(int(piece) if piece.lstrip("-").isdigit() else 0)
    return tuple(parts)
