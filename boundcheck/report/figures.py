"""The report's figures as PNG bytes (matplotlib, the `report` extra; no display needed)."""

from __future__ import annotations

import io
import math

from ..errors import BoundcheckInputError
from ..releases import ERAS, MODELED_VERSIONS
from .data import EXPERTS, TOP_KS, Heatmap

_MARKERS = "osD^v"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise BoundcheckInputError(
            "report", "needs matplotlib: pip install 'boundcheck[report]' (or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def heatmap_png(map_: Heatmap) -> bytes:
    plt = _pyplot()
    from matplotlib.colors import LogNorm
    import numpy as np

    values = np.ma.masked_invalid(np.array(
        [[math.nan if b is None else float(b) for b in row] for row in map_.bounds], dtype=float))
    figure, axes = plt.subplots(figsize=(9.5, 7.0))
    axes.set_facecolor("#d9d9d9")  # refused configurations show as grey
    x_edges = [math.log2(e) - 0.5 for e in EXPERTS] + [math.log2(EXPERTS[-1]) + 0.5]
    y_edges = [k - 0.5 for k in TOP_KS] + [TOP_KS[-1] + 0.5]
    present = values.compressed()
    norm = LogNorm(vmin=float(present.min()), vmax=float(present.max())) if present.size else None
    mesh = axes.pcolormesh(x_edges, y_edges, values, cmap="viridis", norm=norm, shading="flat")
    bar = figure.colorbar(mesh, ax=axes)
    bar.set_label("proven chunk bound (tokens per launch)")
    axes.set_xticks([math.log2(e) for e in EXPERTS], [f"{e:,}" for e in EXPERTS])
    axes.set_yticks([1, 4, 8, 12, 16, 20, 22, 24, 28, 32])
    axes.set_xlabel("num_experts (log scale)")
    axes.set_ylabel("top_k")
    axes.set_title(f"{map_.precision}, flashinfer {map_.version}: largest safe tokens per launch "
                   f"(grey: refused by the release)", fontsize=10)
    for i, (shape, bound, note, _) in enumerate(map_.marks):
        label = f"{shape.name}: {bound:,}" if bound is not None else f"{shape.name}: {note}"
        if bound is not None and note:
            label += f" ({note})"
        axes.plot(math.log2(shape.experts), shape.top_k, _MARKERS[i % len(_MARKERS)], color="white",
                  markeredgecolor="black", markersize=9, linestyle="none", label=label)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize=8, frameon=False)
    return _png(figure)


def releases_png(series_by_precision: dict) -> bytes:
    """One panel per precision: each shape's bound in every modeled release."""
    plt = _pyplot()
    precisions = list(series_by_precision)
    rows = math.ceil(len(precisions) / 2)
    figure, grid = plt.subplots(rows, 2, figsize=(14, 3.1 * rows), sharex=True, squeeze=False)
    x = list(range(len(MODELED_VERSIONS)))
    era_starts = [MODELED_VERSIONS.index(era.first) for era in ERAS]
    for panel, precision in zip(grid.flat, precisions):
        for i, series in enumerate(series_by_precision[precision]):
            y = [math.nan if b is None else b for b in series.bounds]
            panel.plot(x, y, marker=_MARKERS[i % len(_MARKERS)], markersize=3, linewidth=1.2,
                       label=series.shape.name, drawstyle="steps-mid")
        for start in era_starts:
            panel.axvline(start - 0.5, color="#bbbbbb", linewidth=0.5)
        panel.set_yscale("log")
        panel.set_title(precision, fontsize=10)
        panel.set_ylabel("tokens")
        panel.grid(axis="y", which="major", linewidth=0.3)
    for panel in grid.flat[len(precisions):]:
        panel.set_visible(False)
    for panel in grid[-1]:
        panel.set_xticks(x[::3], MODELED_VERSIONS[::3], rotation=70, fontsize=7)
    handles, labels = grid.flat[0].get_legend_handles_labels()
    figure.suptitle("Proven chunk bound per modeled release (flashinfer policy; grey lines: era boundaries; "
                    "gaps: the release cannot run it)", fontsize=10)
    figure.tight_layout(rect=(0, 0.03, 1, 0.98))
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False,
                  bbox_to_anchor=(0.5, 0.0))
    return _png(figure)
