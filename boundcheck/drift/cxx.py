"""C++ read as text: comments and literals blanked (offsets kept), brackets matched,
function definitions, class bodies, constexpr ints, std::array members and call arguments
found. No preprocessor and no parser: what these helpers cannot find is Missing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .found import Missing

_CPP_LEXEMES = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _squash_tight(text: str) -> str:
    """Whitespace removed around punctuation too, so that formatting never matters."""
    return re.sub(r"\s*([^\w\s])\s*", r"\1", _squash(text))


def _closing(code: str, start: int) -> int:
    """The index of the bracket closing the one at `start` (literals already blanked)."""
    opening = code[start]
    closing = {"(": ")", "{": "}", "[": "]"}[opening]
    depth = 0
    for m in re.compile(re.escape(opening) + "|" + re.escape(closing)).finditer(code, start):
        depth += 1 if m.group() == opening else -1
        if depth == 0:
            return m.start()
    raise Missing(f"unbalanced {opening!r}")


def _starts_a_name(code: str, index: int) -> bool:
    """Not the tail of a longer name, nor a member access (x.name, x->name)."""
    return index == 0 or not (code[index - 1].isalnum() or code[index - 1] in "_.>")


@dataclass(frozen=True)
class _Definition:
    params: str
    body: str  # with its braces


class _Cpp:
    """A C++ file with comments blanked (`text`) and string/char literals blanked too
    (`code`), both the length of the original so that offsets agree: brackets are matched
    in `code`, messages read in `text`."""

    def __init__(self, raw: str):
        def comments_out(m):
            return _blank(m.group()) if m.group()[0] == "/" else m.group()

        def literals_out(m):
            lexeme = m.group()
            return _blank(lexeme) if lexeme[0] == "/" else lexeme[0] + " " * (len(lexeme) - 2) + lexeme[-1]

        self.text = _CPP_LEXEMES.sub(comments_out, raw)
        self.code = _CPP_LEXEMES.sub(literals_out, raw)
        self.entries = None  # trtllm_*_moe definitions, found once
        self._classes = None  # class name -> offset of its body

    def matching(self, start: int) -> int:
        return _closing(self.code, start)

    def definitions(self, name: str, start: int = 0, end: int | None = None) -> list[_Definition]:
        """Every definition (a parameter list followed by a body) of the function `name`."""
        end = len(self.code) if end is None else end
        found = []
        for m in re.compile(rf"{re.escape(name)}\s*\(").finditer(self.code, start, end):
            if not _starts_a_name(self.code, m.start()):
                continue
            close = self.matching(m.end() - 1)
            after = re.compile(r"\s*(?:const\s*)?(?:noexcept\s*)?(?:override\s*)?\{").match(self.code, close + 1)
            if after:
                body_end = self.matching(after.end() - 1)
                found.append(_Definition(self.code[m.end():close], self.code[after.end() - 1:body_end + 1]))
        return found

    def definition(self, name: str, start: int = 0, end: int | None = None) -> _Definition:
        found = self.definitions(name, start, end)
        if not found:
            raise Missing(f"no definition of {name}")
        return found[0]

    def class_span(self, name: str) -> tuple[int, int] | None:
        """(start, end) of the body of class/struct `name`, braces included."""
        if self._classes is None:
            self._classes = {}
            for m in re.finditer(r"\b(?:class|struct)\s+(\w+)\b[^;{}()]*\{", self.code):
                self._classes.setdefault(m.group(1), m.end() - 1)
        start = self._classes.get(name)
        return None if start is None else (start, self.matching(start) + 1)


def _int_constant(text: str, name: str) -> int | None:
    m = re.search(rf"constexpr\s+(?:int|int32_t|int64_t)\s+{name}\s*=\s*(\d+)\s*;", text)
    return int(m.group(1)) if m else None


def _class_arrays(code: str) -> dict:
    """name -> ints of `... std::array<int32_t, N> name = {...};` members."""
    return {m.group(1): tuple(int(x) for x in re.findall(r"\d+", m.group(2)))
            for m in re.finditer(r"std::array<[^>]*>\s+(\w+)\s*=\s*\{([^}]*)\}", code)}


def _call_arguments(code: str, name: str) -> list[list[str]]:
    """The top-level arguments of every call `name(...)` in `code`."""
    calls = []
    for m in re.finditer(rf"{re.escape(name)}\s*\(", code):
        if not _starts_a_name(code, m.start()):
            continue
        depth, current, args = 0, "", []
        for char in code[m.end() - 1:]:
            if char in "([{":
                depth += 1
                if depth == 1:
                    continue
            elif char in ")]}":
                depth -= 1
                if depth == 0:
                    args.append(current.strip())
                    break
            if char == "," and depth == 1:
                args.append(current.strip())
                current = ""
            else:
                current += char
        calls.append([a for a in args if a])
    return calls
