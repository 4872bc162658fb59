"""One figure style for every figure murad draws (seaborn/matplotlib, PNG and SVG, reproducible bytes)."""

from __future__ import annotations

import itertools
from pathlib import Path
from unittest import mock

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.text import Text  # noqa: E402

# Fixed metadata and hash salt so that the same data gives byte-identical PNG and SVG files on every run.
_SVG_METADATA = {"Date": None, "Creator": None}
_PNG_METADATA = {"Software": None}


def apply_style(style: str = "whitegrid", palette: str = "colorblind") -> None:
    """The report's style (``report.style`` / ``report.palette`` in config)."""
    sns.set_theme(context="paper", style=style, palette=palette)
    plt.rcParams["svg.hashsalt"] = "murad"
    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["figure.dpi"] = 100


def save_figure(figure, png_path: str | Path, svg_path: str | Path | None = None, dpi: int = 150) -> None:
    """Write ``figure`` as PNG (and SVG) without timestamps, then close it (formats explicit: paths may be staged)."""
    figure.savefig(png_path, format="png", dpi=dpi, bbox_inches="tight", metadata=_PNG_METADATA)
    if svg_path is not None:
        figure.savefig(svg_path, format="svg", bbox_inches="tight", metadata=_SVG_METADATA)
    plt.close(figure)


def overlapping_texts(figure, gap: float = 2.0) -> list[tuple[str, str]]:
    """The pairs of texts in ``figure`` that run into each other as the renderer draws them: their boxes overlap, or
    follow each other along the line of text less than ``gap`` points apart (a box holds its line's full height, so
    lines may stack touching, as in a paragraph).

    Every visible, non-empty text the renderer draws counts (titles, axis and tick labels, annotations, legends,
    colorbar labels); one it does not draw (a tick label outside the view) does not.
    """
    drawn = []
    draw = Text.draw

    def record(text, renderer):
        drawn.append(text)
        draw(text, renderer)

    with mock.patch.object(Text, "draw", record):  # Annotation.draw ends in Text.draw, so annotations are seen too
        figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    pad = renderer.points_to_pixels(gap) / 2

    def box(text):  # widened by half the gap at both ends of its line (upright text runs up the page)
        upright = text.get_rotation() % 180 == 90
        return text.get_window_extent(renderer).padded(0 if upright else pad, pad if upright else 0)

    boxes = [(t.get_text(), box(t)) for t in drawn if t.get_visible() and t.get_text()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.fully_overlaps(box_b)]
