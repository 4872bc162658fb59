"""One figure style for every figure murad draws (seaborn/matplotlib, PNG and SVG, reproducible bytes)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

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
