"""A report as a list of blocks, written once and rendered twice: Markdown (images beside
it) and one self-contained HTML file (images embedded, no network)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str  # plain text; `code` spans are rendered as code


@dataclass(frozen=True)
class Image:
    filename: str
    png: bytes
    alt: str


@dataclass(frozen=True)
class Table:
    header: tuple
    rows: tuple


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Image):
            out.append(f"![{block.alt}]({block.filename})")
        elif isinstance(block, Table):
            out.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
            out.append("|" + "---|" * len(block.header))
            out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows)
        out.append("")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escape, then render `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}"
    "td,th{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}th{background:#f0f0f0}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}code{background:#f4f4f4;padding:0 0.2em}"
    ".over{background:#f8d0d0;font-weight:600}.cap{background:#fff1c4}"
)


def to_html(blocks, title: str) -> str:
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_STYLE}</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Image):
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f"<img alt='{html.escape(block.alt)}' src='data:image/png;base64,{data}'>")
        elif isinstance(block, Table):
            out.append("<table><tr>" + "".join(f"<th>{_inline(str(h))}</th>" for h in block.header) + "</tr>")
            for row in block.rows:
                cells = []
                for cell in row:
                    text = str(cell)
                    css = " class='over'" if text.startswith("OVERFLOWS") else " class='cap'" if "(cap)" in text else ""
                    cells.append(f"<td{css}>{_inline(text)}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)
