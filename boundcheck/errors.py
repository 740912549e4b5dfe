"""The one error type for bad input: it names the argument and the limit."""

from __future__ import annotations


class BoundcheckInputError(ValueError):
    """An argument outside what boundcheck models or proves.

    `str()` reads `<argument>: <what is wrong, with the limit>`, one line.
    """

    def __init__(self, argument: str, message: str):
        self.argument = argument
        super().__init__(f"{argument}: {message}")
