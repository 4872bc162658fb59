"""A synthetic MURA-v1.1: the release's exact on-disk layout, filled with simulated radiographs.

Each image is an X-ray simulation: soft tissue and bones are attenuating volumes (bones are hollow tubes, so the
cortex shows bright at the edges as in a real radiograph), attenuation adds up along the beam and the film shows
``1 - exp(-A)``, with exposure gradient, blur, noise and a lead side marker. Abnormal studies show one kind of
abnormality in at least one of their views:

- ``fracture``: a jagged gap across a bone with the distal fragment displaced sideways;
- ``hardware``: a metal plate with screws, an intramedullary rod, or crossing pins (the paper's Figure 1);
- ``lytic``: punched-out dark lesions with a sclerotic rim.

Anatomy pose and lesion position are drawn uniformly over the image so that no position shortcut exists; the
ground-truth box of every shown abnormality goes to ``lesions.csv`` beside ``MURA-v1.1/`` (never into MURA's own
CSVs). Everything is a pure function of the seed: the same seed gives byte-identical files.
"""

from __future__ import annotations

import csv
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .errors import InputError
from .io import staged_directory, staged_outputs
from .mura import (
    BODY_PARTS,
    FOLDER_SUFFIX,
    RELEASE,
    SPLITS,
    body_part_folder,
    image_paths_csv,
    labeled_studies_csv,
    paper_table2,
)

LESION_KINDS = ("fracture", "hardware", "lytic")
LESION_COLUMNS = ["path", "kind", "x0", "y0", "x1", "y1", "width", "height"]

# Bones of each body part as capsules (x0, y0, x1, y1, radius) in a unit square, x right, y down.
_FINGERS = [(-0.17, 0.97), (-0.06, 1.0), (0.05, 1.0), (0.16, 0.95)]
ANATOMY: dict[str, list[tuple[float, float, float, float, float]]] = {
    "humerus": [(0.5, 0.1, 0.5, 0.9, 0.075), (0.5, 0.1, 0.5, 0.1, 0.13), (0.4, 0.92, 0.6, 0.92, 0.055)],
    "forearm": [(0.42, 0.04, 0.39, 0.96, 0.048), (0.58, 0.04, 0.61, 0.96, 0.042)],
    "elbow": [
        (0.5, 0.0, 0.5, 0.46, 0.075),
        (0.38, 0.5, 0.62, 0.5, 0.07),
        (0.44, 0.58, 0.34, 1.0, 0.048),
        (0.6, 0.44, 0.56, 1.0, 0.05),
    ],
    "wrist": [
        (0.38, 1.0, 0.4, 0.6, 0.07),
        (0.63, 1.0, 0.61, 0.62, 0.048),
        *[(0.34 + 0.1 * i, 0.5 - 0.05 * (i % 2), 0.34 + 0.1 * i, 0.5 - 0.05 * (i % 2), 0.045) for i in range(4)],
        *[(0.3 + 0.1 * i, 0.36, 0.26 + 0.12 * i, 0.0, 0.03) for i in range(5)],
    ],
    "hand": [
        *[(0.4 + 0.07 * i, 0.85 - 0.04 * (i % 2), 0.4 + 0.07 * i, 0.85 - 0.04 * (i % 2), 0.04) for i in range(4)],
        (0.38, 0.78, 0.18, 0.6, 0.032),
        (0.18, 0.6, 0.08, 0.44, 0.026),
        *[(0.43 + 0.08 * i, 0.78, 0.5 + f[0], 0.5, 0.03) for i, f in enumerate(_FINGERS)],
        *[(0.5 + f[0], 0.48, 0.5 + f[0] * f[1] * 1.35, 0.3, 0.024) for f in _FINGERS],
        *[(0.5 + f[0] * f[1] * 1.35, 0.28, 0.5 + f[0] * 1.5, 0.13, 0.021) for f in _FINGERS],
    ],
    "finger": [
        (0.5, 1.0, 0.5, 0.76, 0.06),
        (0.5, 0.72, 0.5, 0.46, 0.052),
        (0.5, 0.42, 0.5, 0.24, 0.046),
        (0.5, 0.2, 0.5, 0.08, 0.042),
    ],
    "shoulder": [
        (0.56, 0.45, 0.56, 0.45, 0.15),
        (0.6, 0.5, 0.66, 1.0, 0.085),
        (0.33, 0.3, 0.37, 0.85, 0.05),
        (0.33, 0.3, 0.1, 0.1, 0.05),
        (0.0, 0.22, 0.72, 0.14, 0.038),
    ],
}

# Attenuation per unit length (unit square); metal saturates the film.
MU_SOFT, MU_CORTEX, MU_MARROW, MU_METAL = 1.0, 8.0, 2.5, 60.0


MIN_STUDIES = 28  # 7 body parts x 2 labels x 2 studies


@dataclass(frozen=True)
class SyntheticSettings:
    seed: int = 0
    train_studies: int = 480
    valid_studies: int = 80
    min_side: int = 90
    max_side: int = 512
    rgb_fraction: float = 0.05
    abnormal_view_probability: float = 0.9
    min_box_fraction: float = 0.25

    def __post_init__(self):
        """Each setting checked here too (the workflow's schema checks them first): one line naming it."""
        whole = {"seed": 0, "train_studies": MIN_STUDIES, "valid_studies": MIN_STUDIES, "min_side": 32}
        for name, least in whole.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InputError(f"synthetic setting {name}: {value!r} is not a whole number >= {least}")
        if not isinstance(self.max_side, int) or self.max_side < self.min_side:
            raise InputError(f"synthetic setting max_side: {self.max_side!r} is not a whole number >= min_side")
        for name in ("rgb_fraction", "abnormal_view_probability", "min_box_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InputError(f"synthetic setting {name}: {value!r} is not a number within [0, 1]")


@dataclass(frozen=True)
class ImagePlan:
    path: str
    body_part: str
    lesion: str | None  # the study's abnormality kind when this view shows it, else None
    seed: tuple[int, ...]


# --------------------------------------------------------------------------------------------- dataset plan


def _largest_remainder(total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights``, each at least ``minimum``."""
    counts = np.full(len(weights), minimum)
    rest = total - counts.sum()
    if rest < 0:
        raise ValueError(f"{total} is too few to give each of {len(weights)} cells {minimum}")
    share = weights / weights.sum() * rest
    counts += np.floor(share).astype(int)
    remainder = share - np.floor(share)
    for index in np.argsort(-remainder, kind="stable")[: total - counts.sum()]:
        counts[index] += 1
    return counts


def study_counts(split: str, total: int, minimum: int = 2) -> dict[tuple[str, int], int]:
    """Studies per (body part, label) for a split of ``total`` studies, in Table 2's proportions."""
    table = paper_table2().set_index("body_part").loc[list(BODY_PARTS)]
    weights = np.array([table.loc[p, f"{split}_{name}"] for p in BODY_PARTS for name in ("normal", "abnormal")])
    counts = _largest_remainder(total, weights.astype(float), minimum)
    cells = [(p, label) for p in BODY_PARTS for label in (0, 1)]
    return dict(zip(cells, counts.tolist(), strict=True))


def plan_dataset(settings: SyntheticSettings) -> tuple[list[tuple[str, int]], dict[str, list[ImagePlan]]]:
    """Studies (path, label) and images per split, with patients disjoint between splits."""
    rng = np.random.default_rng([settings.seed, 0])
    studies: list[tuple[str, int]] = []
    images: dict[str, list[ImagePlan]] = {split: [] for split in SPLITS}
    patient_number = 0
    totals = {"train": settings.train_studies, "valid": settings.valid_studies}
    for split in SPLITS:
        for body_part in BODY_PARTS:
            counts = study_counts(split, totals[split])
            labels = [0] * counts[(body_part, 0)] + [1] * counts[(body_part, 1)]
            labels = [labels[i] for i in rng.permutation(len(labels))]
            while labels:
                per_patient = min(len(labels), int(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1])))
                patient_number += 1
                patient = f"patient{patient_number:05d}"
                for study_number in range(1, per_patient + 1):
                    label = labels.pop()
                    study = (
                        f"{RELEASE}/{split}/{body_part_folder(body_part)}/{patient}/"
                        f"study{study_number}_{FOLDER_SUFFIX[label]}/"
                    )
                    studies.append((study, label))
                    n_images = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.35, 0.3, 0.15]))
                    kind = str(rng.choice(LESION_KINDS)) if label else None
                    shown = rng.random(n_images) < settings.abnormal_view_probability
                    if label and not shown.any():
                        shown[rng.integers(n_images)] = True
                    for i in range(n_images):
                        images[split].append(
                            ImagePlan(
                                path=f"{study}image{i + 1}.png",
                                body_part=body_part,
                                lesion=kind if label and shown[i] else None,
                                seed=(settings.seed, 1, patient_number, study_number, i),
                            )
                        )
    return studies, images


# --------------------------------------------------------------------------------------------- rendering


def _rotation(theta: float) -> np.ndarray:
    return np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])


class _Film:
    """Attenuation accumulated on a pixel grid, with geometry in units of the anatomy's scale."""

    def __init__(self, width: int, height: int, scale: float):
        self.width, self.height, self.scale = width, height, scale
        self.soft = np.zeros((height, width))
        self.attenuation = np.zeros((height, width))

    def window(self, points: np.ndarray, margin: float) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        x0 = max(int(points[:, 0].min() - margin) - 1, 0)
        x1 = min(int(points[:, 0].max() + margin) + 2, self.width)
        y0 = max(int(points[:, 1].min() - margin) - 1, 0)
        y1 = min(int(points[:, 1].max() + margin) + 2, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
        return slice(y0, y1), slice(x0, x1), xx + 0.5, yy + 0.5


def _segment_frame(xx, yy, a, b):
    """Along-axis position t (pixels from a) and signed perpendicular offset p for every pixel."""
    axis = b - a
    length = float(np.hypot(*axis))
    if length < 1e-6:
        return np.zeros_like(xx), np.hypot(xx - a[0], yy - a[1]), 0.0, np.array([0.0, 1.0])
    unit = axis / length
    t = (xx - a[0]) * unit[0] + (yy - a[1]) * unit[1]
    p = -(xx - a[0]) * unit[1] + (yy - a[1]) * unit[0]
    return t, p, length, unit


def _capsule_distance(t, p, length):
    along = np.clip(t, 0.0, length)
    return np.hypot(t - along, p)


def _tube(distance, radius):
    """Attenuation through a hollow bone of outer ``radius`` (pixels) at ``distance`` from its axis."""
    inner = 0.6 * radius
    outer_chord = 2 * np.sqrt(np.clip(radius**2 - distance**2, 0, None))
    inner_chord = 2 * np.sqrt(np.clip(inner**2 - distance**2, 0, None))
    return MU_CORTEX * (outer_chord - inner_chord) + MU_MARROW * inner_chord


def render_image(plan: ImagePlan, settings: SyntheticSettings) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The grayscale radiograph (uint8, H x W) of one plan, and the lesion box (x0, y0, x1, y1) if it shows one.

    A view planned to show a lesion is redrawn (new pose) until the lesion lies inside the picture.
    """
    for attempt in range(50):
        pixels, box = _render(plan, settings, np.random.default_rng((*plan.seed, attempt)))
        if box is not None or plan.lesion is None:
            return pixels, box
    raise RuntimeError(f"could not place a {plan.lesion} inside {plan.path}")


def _render(plan: ImagePlan, settings: SyntheticSettings, rng: np.random.Generator):
    small = rng.random() < 0.1
    long_side = int(rng.integers(settings.min_side, 200) if small else rng.integers(200, settings.max_side + 1))
    short_side = max(settings.min_side, int(long_side * rng.uniform(0.6, 1.0)))
    width, height = (short_side, long_side) if rng.random() < 0.75 else (long_side, short_side)

    scale = min(width, height) * rng.uniform(0.9, 1.2)
    film = _Film(width, height, scale)
    rotation = _rotation(math.radians(rng.uniform(-30, 30)))
    mirror = rng.random() < 0.5
    centre = np.array([width * rng.uniform(0.3, 0.7), height * rng.uniform(0.3, 0.7)])

    def to_pixels(u: float, v: float) -> np.ndarray:
        point = np.array([(1 - u) if mirror else u, v]) - 0.5
        return centre + scale * (rotation @ point)

    bones = []
    for u0, v0, u1, v1, radius in ANATOMY[plan.body_part]:
        a, b = to_pixels(u0, v0), to_pixels(u1, v1)
        bones.append((a, b, radius * scale * rng.uniform(0.92, 1.08)))

    for a, b, radius in bones:  # soft tissue: the thickest limb envelope, not a sum
        soft_radius = radius * 2.2 + 0.06 * scale
        window = film.window(np.array([a, b]), soft_radius)
        if window:
            ys, xs, xx, yy = window
            t, p, length, _ = _segment_frame(xx, yy, a, b)
            d = _capsule_distance(t, p, length)
            chord = 2 * np.sqrt(np.clip(soft_radius**2 - d**2, 0, None)) / scale
            film.soft[ys, xs] = np.maximum(film.soft[ys, xs], MU_SOFT * chord)

    lesion_bone = None
    if plan.lesion:
        lengths = np.array([np.hypot(*(b - a)) + r for a, b, r in bones])
        lesion_bone = int(rng.choice(len(bones), p=lengths / lengths.sum()))
    box = None
    for index, (a, b, radius) in enumerate(bones):
        window = film.window(np.array([a, b]), radius * 2.5)
        if not window:
            continue
        ys, xs, xx, yy = window
        t, p, length, unit = _segment_frame(xx, yy, a, b)
        if index == lesion_bone:
            attenuation, box = _lesioned_bone(plan.lesion, rng, film, window, a, b, radius, settings)
        else:
            attenuation = _tube(_capsule_distance(t, p, length), radius)
        film.attenuation[ys, xs] += attenuation / scale

    total = film.soft + film.attenuation
    background = rng.uniform(0.03, 0.1)
    direction = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width]
    gradient = 0.06 * ((xx / width - 0.5) * math.cos(direction) + (yy / height - 0.5) * math.sin(direction))
    film_density = background + (0.93 - background) * (1 - np.exp(-total)) + gradient
    picture = Image.fromarray(np.clip(film_density * 255, 0, 255).astype(np.uint8))
    picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    pixels = np.asarray(picture, dtype=float) + rng.normal(0, rng.uniform(4, 9), size=(height, width))
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    _side_marker(pixels, rng, "L" if mirror else "R")
    return pixels, box


def _side_marker(pixels: np.ndarray, rng: np.random.Generator, letter: str) -> None:
    height, width = pixels.shape
    size = max(9, int(min(width, height) * 0.07))
    tile = Image.new("L", (size, size), 235)
    draw = ImageDraw.Draw(tile)
    draw.text((size * 0.28, size * 0.12), letter, fill=20)
    x = int(rng.choice([2, width - size - 2]))
    y = int(rng.choice([2, height - size - 2]))
    pixels[y : y + size, x : x + size] = np.asarray(tile)


def _box_from_mask(mask: np.ndarray, window, film: _Film, settings: SyntheticSettings, pad: float):
    ys, xs = window[0], window[1]
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None
    x0, x1 = xs.start + cols.min() - pad, xs.start + cols.max() + 1 + pad
    y0, y1 = ys.start + rows.min() - pad, ys.start + rows.max() + 1 + pad
    box = []
    for low, high, side in ((x0, x1, film.width), (y0, y1, film.height)):
        minimum = settings.min_box_fraction * side
        if high - low < minimum:
            middle = (low + high) / 2
            low, high = middle - minimum / 2, middle + minimum / 2
        low, high = max(0, int(math.floor(low))), min(side, int(math.ceil(high)))
        box.append((low, high))
    return box[0][0], box[1][0], box[0][1], box[1][1]


def _lesioned_bone(kind, rng, film, window, a, b, radius, settings):
    ys, xs, xx, yy = window
    t, p, length, unit = _segment_frame(xx, yy, a, b)
    # A position along the bone that lies inside the picture.
    for _ in range(20):
        t0 = rng.uniform(0.15, 0.85) * length
        centre = a + unit * t0
        if radius < centre[0] < film.width - radius and radius < centre[1] < film.height - radius:
            break
    if kind == "fracture":
        gap = radius * rng.uniform(0.8, 1.2)
        shift = radius * rng.uniform(0.7, 1.2) * rng.choice([-1, 1])
        slope = rng.uniform(-0.6, 0.6)
        jag = radius * 0.18 * np.sin(p / radius * rng.uniform(4, 7) + rng.uniform(0, 6.3))
        line = t0 + slope * p + jag
        before = np.clip((line - gap / 2 - t) + 0.5, 0, 1)
        after = np.clip((t - line - gap / 2) + 0.5, 0, 1)
        near = _tube(_capsule_distance(t, p, length), radius)
        far = _tube(_capsule_distance(t, p - shift, length), radius)
        attenuation = near * before + far * after
        in_bone = np.abs(p) < radius * 1.5
        mask = (np.abs(t - line) < gap) & in_bone
        return attenuation, _box_from_mask(mask, window, film, settings, pad=radius * 0.4)
    attenuation = _tube(_capsule_distance(t, p, length), radius)
    if kind == "lytic":
        mask = np.zeros_like(t, dtype=bool)
        holes = np.zeros_like(t)
        for _ in range(int(rng.integers(2, 5))):
            ct = t0 + rng.uniform(-1.8, 1.8) * radius
            cp = rng.uniform(-0.35, 0.35) * radius
            rt, rp = radius * rng.uniform(0.8, 1.2), radius * rng.uniform(0.55, 0.75)
            r = np.sqrt(((t - ct) / rt) ** 2 + ((p - cp) / rp) ** 2)
            holes = np.maximum(holes, np.clip((1.0 - r) * 6, 0, 1))
            holes -= 0.35 * np.exp(-(((r - 1.15) / 0.12) ** 2))  # sclerotic rim
            mask |= r < 1.0
        attenuation = attenuation * (1 - 0.95 * holes)
        return attenuation, _box_from_mask(mask, window, film, settings, pad=radius * 0.3)
    # hardware
    metal = np.zeros_like(t, dtype=bool)
    style = rng.choice(["plate", "rod", "pins"])
    half = radius * rng.uniform(2.0, 3.2)
    if style == "plate":
        side = rng.choice([-1, 1]) * radius * 0.95
        metal |= (np.abs(t - t0) < half) & (np.abs(p - side) < radius * 0.3)
        n_screws = int(rng.integers(3, 6))
        for position in np.linspace(t0 - half * 0.85, t0 + half * 0.85, n_screws):
            metal |= (np.abs(t - position) < radius * 0.16) & (np.abs(p) < radius * 1.2)
    elif style == "rod":
        metal |= (np.abs(t - t0) < half * 1.3) & (np.abs(p) < radius * 0.25)
        for position in (t0 - half * 1.1, t0 + half * 1.1):
            metal |= (np.abs(t - position) < radius * 0.15) & (np.abs(p) < radius * 1.2)
    else:
        for _ in range(int(rng.integers(2, 4))):
            angle = rng.uniform(0.5, 1.1) * rng.choice([-1, 1])
            offset = t0 + rng.uniform(-0.8, 0.8) * radius
            along = (t - offset) * math.cos(angle) - p * math.sin(angle)
            across = (t - offset) * math.sin(angle) + p * math.cos(angle)
            metal |= (np.abs(along) < radius * 0.15) & (np.abs(across) < radius * 1.8)
    attenuation = attenuation + MU_METAL * metal * film.scale * 0.06
    return attenuation, _box_from_mask(metal, window, film, settings, pad=radius * 0.2)


# --------------------------------------------------------------------------------------------- writing


def _write_image(args: tuple[Path, ImagePlan, SyntheticSettings]) -> tuple[str, str | None, tuple | None, int, int]:
    tree, plan, settings = args  # tree: the release folder being written (plan.path starts with its name)
    pixels, box = render_image(plan, settings)
    target = tree / Path(plan.path).relative_to(RELEASE)
    target.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(pixels)
    rgb = np.random.default_rng((*plan.seed, 7)).random() < settings.rgb_fraction
    (picture.convert("RGB") if rgb else picture).save(target, format="PNG")
    height, width = pixels.shape
    return plan.path, plan.lesion if box else None, box, width, height


def generate(root: str | Path, settings: SyntheticSettings, workers: int = 1) -> dict:
    """Write ``root/MURA-v1.1/`` and ``root/lesions.csv``; all-or-nothing (built aside, then moved in place)."""
    root = Path(root)
    studies, images = plan_dataset(settings)
    with staged_directory(root / RELEASE) as tree, staged_outputs(root / "lesions.csv") as (lesions_csv,):
        jobs = [(tree, plan, settings) for split in SPLITS for plan in images[split]]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_write_image, jobs, chunksize=8))
        else:
            results = [_write_image(job) for job in jobs]
        lesion_rows = [[path, kind, *box, width, height] for path, kind, box, width, height in results if kind]
        for split in SPLITS:
            with (tree / Path(image_paths_csv(split)).name).open("w", newline="") as handle:
                csv.writer(handle, lineterminator="\n").writerows([plan.path] for plan in images[split])
            with (tree / Path(labeled_studies_csv(split)).name).open("w", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerows([study, label] for study, label in studies if study.split("/")[1] == split)
        with open(lesions_csv, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(LESION_COLUMNS)
            writer.writerows(lesion_rows)
    return {
        "studies": len(studies),
        "images": sum(len(v) for v in images.values()),
        "lesion_boxes": len(lesion_rows),
    }
