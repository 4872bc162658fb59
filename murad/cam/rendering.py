"""The maps drawn over the radiographs: overlays (PNG, on the original image, the lesion box in green) and the
per-model grid figure like the paper's Figure 1."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from .localization import row_box
from .maps import CamMethod, normalise

BOX_COLOUR = (0, 230, 0)


# --------------------------------------------------------------------------------------------------- overlays


def overlay_rows(scores: pd.DataFrame, per_body_part: int) -> list[int]:
    """Positions (in ``scores``) of the images drawn as overlays: per body part (sorted), those with a lesion box
    first, then in table order, ``per_body_part`` of each."""
    chosen = []
    has_box = scores["kind"].notna().to_numpy()
    for part in sorted(scores["body_part"].unique()):
        rows = np.flatnonzero(scores["body_part"].to_numpy() == part)
        rows = sorted(rows, key=lambda r: (not has_box[r], r))
        chosen.extend(int(r) for r in rows[:per_body_part])
    return chosen


def overlay_name(path: str) -> str:
    """``MURA-v1.1/valid/XR_ELBOW/patient00338/study1_positive/image1.png`` ->
    ``XR_ELBOW_patient00338_study1_positive_image1.png``."""
    parts = PurePosixPath(path).with_suffix(".png").parts[-4:]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "_".join(parts))


def colour_lut(colormap: str) -> np.ndarray:
    """A matplotlib colour map as a (256, 3) uint8 lookup table."""
    import matplotlib

    return (matplotlib.colormaps[colormap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def overlay(radiograph: np.ndarray, heat: np.ndarray, lut: np.ndarray, alpha: float) -> np.ndarray:
    """The normalised heat map in colour over the grayscale radiograph: (1 - alpha) x image + alpha x colour."""
    colour = lut[np.clip(np.rint(normalise(heat) * 255), 0, 255).astype(np.uint8)].astype(np.float32)
    grey = np.repeat(radiograph[..., None].astype(np.float32), 3, axis=2)
    return np.clip(np.rint((1 - alpha) * grey + alpha * colour), 0, 255).astype(np.uint8)


def draw_box(rgb: np.ndarray, box, colour=BOX_COLOUR) -> np.ndarray:
    picture = Image.fromarray(rgb)
    x0, y0, x1, y1 = box
    width = max(1, round(0.008 * max(rgb.shape[:2])))
    ImageDraw.Draw(picture).rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
    return np.asarray(picture)


def save_png(picture: np.ndarray, path: str | Path, compress_level: int = 6) -> None:
    """An RGB (H, W, 3) or grayscale (H, W) uint8 picture as PNG (``compress_level`` 1: several times faster, a
    little larger)."""
    Image.fromarray(picture).save(path, format="PNG", compress_level=compress_level)


def thumbnail(picture: np.ndarray, longest: int = 256) -> np.ndarray:
    """A smaller copy for a figure panel (drawn at the original's extent, so boxes stay in original pixels)."""
    height, width = picture.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1:
        return picture
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR))


# ------------------------------------------------------------------------------------------ the grid figure


@dataclass
class Panel:
    """One image of the per-model grid."""

    body_part: str
    radiograph: np.ndarray
    overlay: np.ndarray
    prob: float
    label: int
    box: tuple[int, int, int, int] | None = None
    kind: str | None = None
    hit: bool | None = None
    peak: tuple[int, int] | None = None

    @classmethod
    def of(cls, image: pd.Series, radiograph: np.ndarray, overlay: np.ndarray) -> Panel:
        """A panel from one row of the scores (:func:`.localization.score_images`)."""
        top = None if pd.isna(image["peak_x"]) else (int(image["peak_x"]), int(image["peak_y"]))
        hit = None if pd.isna(image["pointing_hit"]) else bool(image["pointing_hit"])
        return cls(
            image["body_part"],
            radiograph,
            overlay,
            float(image["prob"]),
            int(image["label"]),
            row_box(image),
            None if pd.isna(image["kind"]) else image["kind"],
            hit,
            top,
        )


def method_note(model: str, method: CamMethod) -> str:
    if method.name == "CAM":
        return (
            f"{model}: CAM (Zhou et al. 2016), $M = \\sum_k w_k f_k$ over the maps of {method.layer}, "
            "$w$ the head's weights"
        )
    return (
        f"{model}: Grad-CAM (Selvaraju et al. 2017) on {method.layer} (the head is not global average "
        "pooling -> one linear layer, so the CAM equation does not apply)"
    )


def _draw_panel(left, right, panel: Panel) -> None:
    """The radiograph (left) beside its heat map (right), titled with the body part, truth and probability."""
    from matplotlib.patches import Rectangle

    height, width = panel.radiograph.shape[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    left.imshow(thumbnail(panel.radiograph), cmap="gray", vmin=0, vmax=255, extent=extent)
    right.imshow(thumbnail(panel.overlay), extent=extent)
    if panel.peak is not None:
        right.plot(*panel.peak, marker="+", color="white", markersize=7, markeredgewidth=1.2)
    truth = "abnormal" if panel.label == 1 else "normal"
    left.set_title(f"{panel.body_part}\ntrue: {truth}" + (f" ({panel.kind})" if panel.kind else ""), fontsize=6)
    hit = "" if panel.hit is None else (" · peak in box" if panel.hit else " · peak outside")
    hit = " · flat map" if panel.peak is None else hit
    right.set_title(f"p(abnormal) = {panel.prob:.2f}{hit}", fontsize=6)
    if panel.box is not None:
        x0, y0, x1, y1 = panel.box
        for ax in (left, right):
            corner, size = (x0 - 0.5, y0 - 0.5), (x1 - x0, y1 - y0)
            ax.add_patch(Rectangle(corner, *size, fill=False, edgecolor=np.array(BOX_COLOUR) / 255, linewidth=1.0))


def grid_figure(model: str, method: CamMethod, panels: list[Panel], scored: bool):
    """The paper's Figure 1 per model: per body part, each image beside its heat map, with probability, true label
    and (on synthetic data) the ground-truth box. The figure's title (two lines) and the first row's panel titles
    share a fixed top margin of 0.75 inch, the title above."""
    import matplotlib.pyplot as plt

    if not panels:
        figure, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        note = f"{method_note(model, method)}\nno images selected for overlays"
        ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=8, wrap=True)
        return figure
    parts = sorted({p.body_part for p in panels})
    columns = 2 * max(sum(p.body_part == part for p in panels) for part in parts)
    figure_height = 1.95 * len(parts) + 0.6
    figure, axes = plt.subplots(len(parts), columns, figsize=(1.7 * columns, figure_height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, part in enumerate(parts):
        for slot, panel in enumerate([p for p in panels if p.body_part == part]):
            _draw_panel(axes[row, 2 * slot], axes[row, 2 * slot + 1], panel)
    legend = (
        "green box: ground-truth lesion (lesions.csv); +: the map's maximum"
        if scored
        else "no ground-truth boxes (real MURA: localization not scored)"
    )
    figure.suptitle(f"{method_note(model, method)}\n{legend}", fontsize=7, y=1 - 0.08 / figure_height)
    # Fixed spacing: tight_layout costs about a second per figure and the panels are all alike.
    top = 1 - 0.75 / figure_height
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=top, wspace=0.06, hspace=0.3)
    return figure
