"""The C++ statement around a line of a source file, as text: what a parse error lost.

A hole of the inventory (a parse error) is judged by the statement it falls in, so the
statement is recorded with it, whitespace removed (layout changes nothing), in full, and a
statement that changes in a later release no longer matches what was read before.

Boundaries: a `;`, or a brace that ends its line (a block's `{` or `}`); a `{` that ends a
line after `=`, `(`, `,`, `{` or `return` opens an initializer list and is no boundary,
and a brace followed by more code on its line (`MaxOp{}`) is none either. Comments are
dropped (string literals kept, so `"http://..."` stays text) and so are preprocessor lines
with their continuations. An error inside a macro's expansion is placed on the macro's use,
so the use is what is pinned, not the macro's body.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

# a string or character literal (kept), or a comment (dropped)
_TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?\*/', re.S)
_INITIALIZER = re.compile(r"(?:=|\(|,|\{|\breturn)\s*$")
WINDOW = 30  # lines searched either side of the error


@functools.lru_cache(maxsize=64)
def _lines(path: Path) -> tuple:
    try:
        return tuple(path.read_text(errors="replace").splitlines())
    except OSError:
        return ()


def statement_at(path: Path, line: int) -> str:
    """The statement that contains `line` (1-based) of `path`, whitespace removed; "" when
    the file or line does not exist."""
    lines = _lines(Path(path))
    if not 1 <= line <= len(lines):
        return ""
    before = _code(lines[max(0, line - 1 - WINDOW):line - 1])
    after = _code(lines[line - 1:line - 1 + WINDOW])
    starts = [m.end() for m in re.finditer(r";", before)] + [i + 1 for i in _line_end_braces(before)]
    start = max(starts, default=0)
    ends = [m.end() for m in re.finditer(r";", after)] + [i + 1 for i in _line_end_braces(after, opening_only=True)]
    text = before[start:] + (after[:min(ends)] if ends else after)
    return re.sub(r"\s+", "", text)


def _line_end_braces(text: str, opening_only: bool = False) -> list[int]:
    """Positions of the braces that end their line and are block boundaries."""
    out = []
    for m in re.finditer(r"[{}][ \t]*(?=\n|$)", text):
        brace = text[m.start()]
        if brace == "}" and opening_only:
            continue
        if brace == "{" and _INITIALIZER.search(text[:m.start()]):
            continue
        out.append(m.start())
    return out


def _code(lines) -> str:
    kept, continued = [], False
    for line in lines:
        preprocessor = continued or line.lstrip().startswith("#")
        continued = preprocessor and line.rstrip().endswith("\\")
        kept.append("" if preprocessor else line)
    text = "\n".join(kept) + "\n"
    return _TOKENS.sub(lambda m: m.group(0) if m.group(0)[0] in "\"'" else " ", text)
