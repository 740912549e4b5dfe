"""`boundcheck report`: its numbers are `boundcheck chunk`'s, its files are self-contained."""

from __future__ import annotations

import json
import random
import re

import pytest

from boundcheck.cli import main
from boundcheck.plan import chunk_count
from boundcheck.report import data
from boundcheck.report.command import build, write
from boundcheck.report.document import Image, to_html, to_markdown
from boundcheck.shapes import SHAPES

pytest.importorskip("matplotlib")

VERSION = "0.7.4"


def _chunk(capsys, *argv) -> dict:
    assert main(["chunk", "--json", "--flashinfer", VERSION, *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("precision", ["nvfp4", "bf16", "fp8_block", "mxfp4_bf16"])
def test_heatmap_cells_are_what_chunk_prints(capsys, precision):
    heat = data.heatmap(VERSION, precision)
    cells = [(i, j) for i in range(len(data.TOP_KS)) for j in range(len(data.EXPERTS))]
    checked = 0
    for i, j in random.Random(precision).sample(cells, 12):
        experts, top_k = data.EXPERTS[j], data.TOP_KS[i]
        code = main(["chunk", "--json", "--flashinfer", VERSION, "--precision", precision,
                     "--num-experts", str(experts), "--top-k", str(top_k)])
        out = capsys.readouterr()
        if heat.bounds[i][j] is None:
            assert code == 2 and heat.why[i][j]  # refused by chunk too, with a reason
        else:
            assert code == 0 and json.loads(out.out)["grid_bound"] == heat.bounds[i][j]
            checked += 1
    assert checked >= 6
    for shape, bound, note, shared in heat.marks:
        # The row shows the fused shared experts its bound was computed with: the shape's, or
        # 0 where the launcher takes none, and then says so.
        assert shared in (0, shape.shared) and (shared == shape.shared or "takes no fused shared experts" in note)
        report = _chunk(capsys, "--precision", precision, "--num-experts", str(shape.experts), "--top-k",
                        str(shape.top_k), "--shared-experts", str(shared))
        assert report["grid_bound"] == bound


def test_gathered_chunks_are_the_guards(capsys):
    # Nemotron 3 Super on 0.7.2.post1: grid bound 567,505, NVFP4 capped at 300,000, so
    # 64 x 8k = 524,288 fits one launch but is split, and larger batches overflow.
    shape = SHAPES[0]
    g = data.gathered("0.7.2.post1", "nvfp4", shape)
    assert main(["chunk", "--json", "--flashinfer", "0.7.2.post1", "--precision", "nvfp4", "--num-experts",
                 str(shape.experts), "--top-k", str(shape.top_k)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (g.grid_bound, g.cap, g.max_chunk) == (report["grid_bound"], report["cap"], report["max_chunk_tokens"])
    for cell in g.cells:
        assert cell.gathered == cell.dp * cell.tokens_per_rank
        assert cell.overflows == (cell.gathered > report["grid_bound"])
        assert cell.chunks == chunk_count(cell.gathered, report["max_chunk_tokens"])
    assert any(c.overflows for c in g.cells) and any(not c.overflows and c.chunks > 1 for c in g.cells)


def test_release_series_follows_each_release():
    series = data.release_series(SHAPES[0], "nvfp4")
    assert len(series.bounds) == len(data.MODELED_VERSIONS)
    first = data.MODELED_VERSIONS.index("0.5.0")
    assert all(b is None for b in series.bounds[:first])  # top_k 22: those routing kernels refuse it
    assert series.bounds[-1] == 378_344 and series.bounds[data.MODELED_VERSIONS.index("0.7.2.post1")] == 567_505


def test_the_report_files_are_self_contained(tmp_path):
    result = write(VERSION, str(tmp_path))
    assert set(result["files"]) == {p.name for p in tmp_path.iterdir()}
    html = (tmp_path / "index.html").read_text()
    assert not re.search(r"(src|href)=['\"]?https?:", html)  # nothing fetched from the network
    assert html.count("data:image/png;base64,") == len(result["files"]) - 2
    markdown = (tmp_path / "report.md").read_text()
    for name in re.findall(r"!\[[^]]*\]\(([^)]+)\)", markdown):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "OVERFLOWS" in markdown and "378,344" in markdown and "flashinfer 0.7.4" in markdown


def test_markdown_and_html_render_the_same_blocks():
    blocks = build("0.6.18.post1")
    markdown, html = to_markdown(blocks), to_html(blocks, "t")
    images = [b for b in blocks if isinstance(b, Image)]
    assert len(images) == len(data.era_for("0.6.18.post1").tiles) + 1
    assert all(f"({b.filename})" in markdown for b in images)
    assert html.count("<img") == len(images)
    assert html.count("<table>") == sum(1 for line in markdown.splitlines() if line.startswith("|---"))


def test_bad_input_is_an_error_naming_the_argument(tmp_path, capsys, monkeypatch):
    assert main(["report", "--out", ""]) == 2
    assert "--out" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", "--out", str(blocker / "sub")]) == 2
    assert "cannot be created" in capsys.readouterr().err
    assert main(["report", "--flashinfer", "0.1.0", "--out", str(tmp_path / "r")]) == 2
    assert "0.2.8" in capsys.readouterr().err  # lists the modeled range
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    assert main(["report", "--out", str(tmp_path / "r")]) == 2
    assert "boundcheck[report]" in capsys.readouterr().err
