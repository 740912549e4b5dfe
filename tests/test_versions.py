"""boundcheck.versions: the one order of flashinfer's version strings."""

from __future__ import annotations

from boundcheck.releases import MODELED_VERSIONS
from boundcheck.versions import version_key


def test_post_releases_follow_their_release_and_precede_the_next():
    assert version_key("0.6.7") < version_key("0.6.7.post1") < version_key("0.6.7.post3") < version_key("0.6.8")
    assert version_key("0.7.2.post1") == (0, 7, 2, -1, 1)


def test_the_modeled_releases_are_in_that_order():
    assert list(MODELED_VERSIONS) == sorted(MODELED_VERSIONS, key=version_key)


def test_a_piece_that_is_no_number_counts_as_zero():
    assert version_key("9.0.0rc1") == (9, 0, 0) and version_key("0.7.4") < version_key("9.0.0rc1")
