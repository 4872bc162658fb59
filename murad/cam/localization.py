"""Where a map points, against a lesion box: the scores per image (``scores.csv``) and per model (the localization
table).

**Localization scores** (on the synthetic data, whose ``lesions.csv`` gives each shown abnormality's box in
original pixels, half-open ``[x0, x1) x [y0, y1)``; the map upsampled to the original image, :func:`.maps.upsample`):

- *pointing game*: a hit when the map's maximum (pixel position on the upsampled map; of tied pixels, the one
  nearest the image centre, i.e. the map cell's centre on a border plateau) lies within ``tolerance x max(W, H)``
  pixels of the box (Euclidean distance to the box, 0 inside). A flat map (no contrast: Grad-CAM is all zeros when
  no location raises the logit) has no maximum and counts as a miss; ``flat`` in the table is the share of such
  maps.
- *energy share*: the share of the min-max normalised map's sum that falls inside the box (a flat map counts as
  uniform, i.e. the box fraction).
- *chance*: box area / image area: the expected energy share of a uniform map, and the chance that a uniformly
  random peak falls inside the box. ``chance_pointing`` is the same chance with the tolerance (the share of pixels
  within the tolerance of the box), the fair baseline for the pointing game.
- *centre baseline*: a map that always peaks at the image centre (a Gaussian with sigma = a quarter of each side),
  scored exactly like a model's map.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from ..errors import InputError
from .maps import CamMethod, is_flat, normalise, upsample

ALL_KINDS = "all"
CENTRE_SIGMA = 0.25  # the centre baseline's Gaussian: sigma = this share of each side
BOX_COLUMNS = ["x0", "y0", "x1", "y1"]

SCORE_COLUMNS = [
    "path",
    "body_part",
    "label",
    "prob",
    "logit",
    "method",
    "layer",
    "width",
    "height",
    "kind",
    *BOX_COLUMNS,
    "peak_x",
    "peak_y",
    "pointing_hit",
    "energy_share",
    "chance",
    "chance_pointing",
    "centre_hit",
    "centre_energy",
]
LOCALIZATION_KEYS = ["model", "method", "layer", "kind"]
LOCALIZATION_MEANS = [  # over a model's images of one kind
    "pointing",
    "energy",
    "chance",
    "chance_pointing",
    "centre_pointing",
    "centre_energy",
    "flat",
]
LOCALIZATION_COLUMNS = [*LOCALIZATION_KEYS, "images", *LOCALIZATION_MEANS]


# ------------------------------------------------------------------------------------- one map against one box


def peak(heat: np.ndarray) -> tuple[int, int] | None:
    """(x, y) of the map's maximum; None if the map is flat.

    Ties go to the pixel nearest the image centre: bilinear upsampling (``align_corners=False``) holds a border
    cell's value constant from the cell's centre out to the image edge, and this picks the cell centre, where the
    network's map actually has that value, rather than a point of the plateau out at the edge.
    """
    if is_flat(heat):
        return None
    low, high = float(heat.min()), float(heat.max())
    ys, xs = np.nonzero(heat >= high - 1e-6 * (high - low))
    height, width = heat.shape
    nearest = np.argmin((xs - (width - 1) / 2) ** 2 + (ys - (height - 1) / 2) ** 2)
    return int(xs[nearest]), int(ys[nearest])


def _gap(start: int, stop: int, at):
    """Pixels from ``at`` (a number or an array) to the half-open range [start, stop); 0 inside."""
    return np.maximum(np.maximum(start - at, at - (stop - 1)), 0)


def box_distance(x: float, y: float, box: tuple[int, int, int, int]) -> float:
    """Euclidean distance in pixels from pixel (x, y) to the half-open box (x0, y0, x1, y1); 0 inside."""
    x0, y0, x1, y1 = box
    return math.hypot(_gap(x0, x1, x), _gap(y0, y1, y))


def tolerance_pixels(tolerance: float, width: int, height: int) -> float:
    return tolerance * max(width, height)


def pointing_hit(heat: np.ndarray, box, tolerance: float, top: tuple[int, int] | None = None) -> bool:
    """The pointing game: the map's maximum (``top``, if already found) within ``tolerance x`` the image's longer
    side of the box."""
    top = peak(heat) if top is None else top
    height, width = heat.shape
    return top is not None and box_distance(*top, box) <= tolerance_pixels(tolerance, width, height)


def energy_share(heat: np.ndarray, box) -> float:
    """Share of the min-max normalised map's sum inside the box (a flat map counts as uniform: the box fraction)."""
    x0, y0, x1, y1 = box
    if is_flat(heat):
        return box_fraction(box, heat.shape[1], heat.shape[0])
    unit = normalise(heat).astype(np.float64)
    return float(unit[y0:y1, x0:x1].sum() / unit.sum())


def box_fraction(box, width: int, height: int) -> float:
    """Chance: box area / image area."""
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0) / (width * height)


def chance_pointing(box, width: int, height: int, tolerance: float) -> float:
    """Share of the image's pixels within the pointing tolerance of the box (a uniformly random peak's hit rate)."""
    x0, y0, x1, y1 = box
    dx = _gap(x0, x1, np.arange(width)).astype(np.float64)
    dy = _gap(y0, y1, np.arange(height)).astype(np.float64)
    radius = tolerance_pixels(tolerance, width, height)
    return float((dx[None, :] ** 2 + dy[:, None] ** 2 <= radius**2).mean())


def centre_map(height: int, width: int) -> np.ndarray:
    """The centre baseline: a Gaussian peaking at the image centre, sigma a quarter of each side."""
    ys = (np.arange(height) - (height - 1) / 2) / (CENTRE_SIGMA * height)
    xs = (np.arange(width) - (width - 1) / 2) / (CENTRE_SIGMA * width)
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)).astype(np.float32)


def _peak_columns(top: tuple[int, int] | None) -> dict:
    return {"peak_x": top[0] if top else None, "peak_y": top[1] if top else None}


def score_map(heat: np.ndarray, box, tolerance: float) -> dict:
    """Every localization score of one upsampled map against one box, with both baselines."""
    height, width = heat.shape
    top = peak(heat)
    centre = centre_map(height, width)
    return {
        **_peak_columns(top),
        "pointing_hit": int(top is not None and pointing_hit(heat, box, tolerance, top)),
        "energy_share": energy_share(heat, box),
        "chance": box_fraction(box, width, height),
        "chance_pointing": chance_pointing(box, width, height, tolerance),
        "centre_hit": int(pointing_hit(centre, box, tolerance)),
        "centre_energy": energy_share(centre, box),
    }


# ---------------------------------------------------------------------------------- the images and their boxes


def read_lesions(path: str | Path) -> pd.DataFrame:
    """``lesions.csv`` (path, kind, x0, y0, x1, y1, width, height), one box per image."""
    lesions = pd.read_csv(path)
    repeated = lesions["path"][lesions["path"].duplicated()]
    if len(repeated):
        raise InputError(f"{path}: {repeated.iloc[0]} has more than one box (one per image expected)")
    return lesions.set_index("path")


def lesion_boxes(
    paths: list[str], sizes: list[tuple[int, int]], lesions: pd.DataFrame | None, source: str = "lesions.csv"
) -> tuple[list, list]:
    """Each image's ground-truth box (x0, y0, x1, y1) and kind from ``lesions`` (None where it shows none); the
    image sizes there must match the files'."""
    boxes, kinds = [], []
    for path, (width, height) in zip(paths, sizes, strict=True):
        if lesions is None or path not in lesions.index:
            boxes.append(None)
            kinds.append(None)
            continue
        lesion = lesions.loc[path]
        if (int(lesion["width"]), int(lesion["height"])) != (width, height):
            raise InputError(
                f"{source}: {path} is {lesion['width']} x {lesion['height']} there but {width} x {height} on disk"
            )
        boxes.append(tuple(int(lesion[c]) for c in BOX_COLUMNS))
        kinds.append(str(lesion["kind"]))
    return boxes, kinds


def row_box(image: pd.Series) -> tuple[int, int, int, int] | None:
    """The lesion box of one row of the scores (None where the image has none)."""
    return None if pd.isna(image["x0"]) else tuple(int(image[c]) for c in BOX_COLUMNS)


# ------------------------------------------------------------------------------------------------ the tables


def score_images(
    frame: pd.DataFrame,
    maps: np.ndarray,
    logits: np.ndarray,
    method: CamMethod,
    sizes: list[tuple[int, int]],
    boxes: list,
    kinds: list,
    tolerance: float,
) -> pd.DataFrame:
    """One row per image (``SCORE_COLUMNS``): probability, the map's maximum on the original image, and where the
    image has a box, the localization scores and both baselines (empty otherwise)."""
    rows = []
    for index, (box, (width, height)) in enumerate(zip(boxes, sizes, strict=True)):
        heat = upsample(maps[index], height, width)
        rows.append(score_map(heat, box, tolerance) if box else _peak_columns(peak(heat)))
    logits = logits.astype(np.float64)
    scores = pd.DataFrame(
        {
            "path": frame["path"].to_numpy(),
            "body_part": frame["body_part"].to_numpy(),
            "label": frame["label"].to_numpy(),
            "prob": expit(logits).round(6),
            "logit": logits.round(6),
            "method": method.name,
            "layer": method.layer,
            "width": [w for w, _ in sizes],
            "height": [h for _, h in sizes],
            "kind": kinds,
            **{c: pd.array([b[i] if b else None for b in boxes], dtype="Int64") for i, c in enumerate(BOX_COLUMNS)},
            **{
                c: pd.array([r.get(c) for r in rows], dtype="Int64")
                for c in ("peak_x", "peak_y", "pointing_hit", "centre_hit")
            },
            **{
                c: pd.array([r.get(c) for r in rows], dtype="Float64").round(6)
                for c in ("energy_share", "chance", "chance_pointing", "centre_energy")
            },
        }
    )
    return scores[SCORE_COLUMNS]


def localization_table(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model and abnormality kind ("all" first, then by name): the mean pointing hit and energy share of the
    scored images, with the chance and centre baselines on the same images."""
    rows = []
    for model in sorted(scores):
        frame = scores[model]
        frame = frame[frame["kind"].notna()]
        if frame.empty:
            continue
        method, layer = str(frame["method"].iloc[0]), str(frame["layer"].iloc[0])
        for kind in [ALL_KINDS, *sorted(frame["kind"].unique())]:
            part = frame if kind == ALL_KINDS else frame[frame["kind"] == kind]
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "layer": layer,
                    "kind": kind,
                    "images": len(part),
                    "pointing": part["pointing_hit"].mean(),
                    "energy": part["energy_share"].mean(),
                    "chance": part["chance"].mean(),
                    "chance_pointing": part["chance_pointing"].mean(),
                    "centre_pointing": part["centre_hit"].mean(),
                    "centre_energy": part["centre_energy"].mean(),
                    "flat": part["peak_x"].isna().mean(),
                }
            )
    table = pd.DataFrame(rows, columns=LOCALIZATION_COLUMNS)
    table[LOCALIZATION_MEANS] = table[LOCALIZATION_MEANS].astype(float).round(6)
    return table
