"""What a reader of one fact returns: `Found` (the value, in the model's terms, and how the
row shows it) or raises `Missing` (the fact is not stated, or not in a form drift reads)."""

from __future__ import annotations

from dataclasses import dataclass


class Missing(Exception):
    """A fact the sources do not state, or state in a form drift cannot read; the message
    says which and why."""


@dataclass(frozen=True)
class Found:
    value: object  # compared with the era's value
    text: str  # the source's value as the row shows it
    where: str = ""  # where it was read, when that is not what the era cites
