"""`boundcheck report [--flashinfer VERSION|installed] [--out DIR]`: where a gathered batch
overflows, for every precision, as DIR/index.html (self-contained) and DIR/report.md (its
PNGs beside it)."""

from __future__ import annotations

import os
import time

from .. import releases
from .. import resolution
from ..folders import writable_folder, write_file
from ..shapes import SHAPES
from . import data, figures
from .document import Heading, Image, Paragraph, Table, to_html, to_markdown


def add_parser(sub):
    from ..cli import add_flashinfer  # here, not at module level: cli imports this module

    p = sub.add_parser("report", help="write an HTML and Markdown report of the proven bounds (needs matplotlib)")
    add_flashinfer(p, "VERSION | installed: the release of the heatmaps and the gathered-batch tables "
                      "(default: the installed release if modeled, else the newest modeled); the release "
                      "plot covers every modeled release")
    p.add_argument("--out", default="boundcheck-report", help="output folder (default: boundcheck-report)")
    p.set_defaults(run=run)


def _gathered_cell(cell: data.GatheredCell) -> str:
    if cell.overflows:
        return f"OVERFLOWS: {cell.chunks} chunks"
    return "fits" if cell.chunks == 1 else f"{cell.chunks} chunks (cap)"


def build(version: str) -> list:
    era = resolution.era_for(version)
    precisions = list(era.tiles)
    blocks = [
        Heading(1, f"boundcheck report: flashinfer {version}"),
        Paragraph(
            f"Era {era.name} ({era.first} - {era.last})"
            + (f"; flashinfer {version} is {resolution.provenance(version)}" if resolution.provenance(version) else "")
            + ". Every number is what `boundcheck chunk --flashinfer "
            f"{version}` computes: the proven grid bound (largest n such that every token count in [1, n] launches "
            "with grid.y <= 65,535) under the flashinfer policy, tune_max_num_tokens 8192, cluster_y 1, "
            "every expert local (no expert parallelism); the guard's chunk count also applies the empirical cap of the precision, if any."
        ),
        Heading(2, "Proven bound per precision"),
    ]
    for precision in precisions:
        heat = data.heatmap(version, precision)
        blocks.append(Heading(3, precision))
        blocks.append(Image(f"heatmap_{precision}.png", figures.heatmap_png(heat), f"bound heatmap, {precision}"))
        blocks.append(Table(
            ("shape", "experts", "top_k", "fused shared", "bound (tokens)", "note"),
            tuple((s.name, s.experts, s.top_k, shared, f"{b:,}" if b is not None else "-", note)
                  for s, b, note, shared in heat.marks),
        ))
    blocks.append(Heading(2, "The model shapes across releases"))
    series = {p: [data.release_series(shape, p) for shape in SHAPES] for p in releases.ALL_PRECISIONS}
    blocks.append(Image("releases.png", figures.releases_png(series), "bound per release"))
    blocks.append(Heading(2, "Gathered batches"))
    blocks.append(Paragraph(
        "Data-parallel ranks each holding max_num_batched_tokens gather DP x that many tokens on every rank "
        "for expert parallelism. OVERFLOWS: one launch of the gathered batch exceeds the grid bound (the launch "
        "fails without chunking); the number is the chunks the guard runs. (cap): fits the grid but exceeds "
        "the precision's empirical cap, so the guard still splits it."
    ))
    columns = tuple(f"{dp} x {per_rank // 1024}k = {dp * per_rank:,}" for dp in data.DP_SIZES for per_rank in data.TOKENS_PER_RANK)
    for precision in precisions:
        blocks.append(Heading(3, precision))
        rows = []
        for shape in SHAPES:
            g = data.gathered(version, precision, shape)
            if g.grid_bound is None:
                continue
            rows.append((shape.name, f"{g.grid_bound:,}", f"{g.cap:,}" if g.cap else "none",
                         *(_gathered_cell(c) for c in g.cells)))
        # One row per (DP, tokens per rank), one column per shape: transposed for reading.
        header = ("DP x tokens per rank = gathered", *(r[0] + f" (bound {r[1]}, cap {r[2]})" for r in rows))
        blocks.append(Table(header, tuple((column, *(r[3 + i] for r in rows)) for i, column in enumerate(columns))))
    blocks.append(Heading(2, "Engine paths"))
    blocks.append(Paragraph(
        "vLLM 0.33.0's and SGLang 0.5.23's MoE paths (examples/engines/), each audited with the "
        "tune_max_num_tokens the engine passes at five models under the release it pins: "
        "`python tools/engine_table.py` (about 40 s; the table is in the README, section \"Engines\"). "
        "Not drawn here: those audits are for the engines' pinned releases, not for this report's."
    ))
    return blocks


def write(version: str, out: str) -> dict:
    writable_folder(out, "out")  # before the minutes of computing, not after
    blocks = build(version)
    written = []
    for block in blocks:
        if isinstance(block, Image):
            write_file(out, block.filename, block.png, "out")
            written.append(block.filename)
    write_file(out, "report.md", to_markdown(blocks), "out")
    write_file(out, "index.html", to_html(blocks, f"boundcheck report: flashinfer {version}"), "out")
    return {"flashinfer": version, "out": out, "files": ["index.html", "report.md", *written]}


def run(args) -> int:
    version = resolution.resolve_version(args.flashinfer)
    start = time.perf_counter()
    result = write(version, args.out)
    print(f"flashinfer {version}: wrote {os.path.join(args.out, 'index.html')} and report.md "
          f"({len(result['files']) - 2} images) in {time.perf_counter() - start:.1f} s")
    return 0
