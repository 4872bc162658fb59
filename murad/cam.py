"""Class activation maps (CAM) for every model, rendered over the radiographs and scored against lesion boxes.

**Maps.** For a model whose head is global average pooling -> one linear layer (DenseNet, ResNet, ResNeXt,
MobileNet, Inception) the map is the paper's CAM (Zhou et al. 2016) exactly:

    M(X) = sum_k w_k f_k(X)

with f_k the last convolutional feature maps (``ModelSpec.cam_layer``, after the ReLU that DenseNet's forward
applies, ``cam_relu``) and w_k the head's weights, so that ``mean(M) + bias = logit``. VGG's head is three fully
connected layers, for which that equation does not hold; it gets Grad-CAM (Selvaraju et al. 2017) on its last
convolutional feature map (the ReLU before the final max-pool, twice the resolution of the pooled map): the
channel weights are the spatially averaged gradients of the logit, ``G = ReLU(sum_k a_k A_k)``, ``a_k =
mean_ij d logit / d A_k[i, j]``.

Why our own lines and not the ``grad-cam`` package (pytorch-grad-cam): it has no exact CAM of the paper (its
methods all derive weights from gradients or activations, and it min-max normalises and rectifies every map, so the
identity above cannot be checked), it resizes maps to the network input rather than to the original radiograph,
it brings OpenCV as a dependency and back-propagates through the whole network. What we need is about twenty lines:
one forward hook (context-managed, explicit target layer, in that package's style) and, for Grad-CAM, one
``autograd.grad`` from the logit to that layer with the parameters frozen, so only the head builds a graph.

**Upsampling.** The cache squashes each image to S x S, so the (S/32) x (S/32) map covers the original W x H
image exactly; a plain bilinear resize to (H, W) (``align_corners=False``: cell centres at pixel centres) puts it on
the original pixels, where the lesion boxes are.

**Localisation scores** (on the synthetic data, whose ``lesions.csv`` gives each shown abnormality's box in
original pixels, half-open ``[x0, x1) x [y0, y1)``):

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
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from scipy.special import expit
from torch import nn

from .data import BatchAugmenter, batches, take
from .errors import InputError
from .models import ModelSpec

ALL_KINDS = "all"
CENTRE_SIGMA = 0.25  # the centre baseline's Gaussian: sigma = this share of each side
BOX_COLOUR = (0, 230, 0)

SCORE_COLUMNS = [
    "path",
    "body_part",
    "label",
    "prob",
    "logit",
    "method",
    "width",
    "height",
    "kind",
    "x0",
    "y0",
    "x1",
    "y1",
    "peak_x",
    "peak_y",
    "pointing_hit",
    "energy_share",
    "chance",
    "chance_pointing",
    "centre_hit",
    "centre_energy",
    "overlay",
]
LOCALISATION_COLUMNS = [
    "model",
    "method",
    "kind",
    "images",
    "pointing",
    "energy",
    "chance",
    "chance_pointing",
    "centre_pointing",
    "centre_energy",
    "flat",
]


# ----------------------------------------------------------------------------------------------- the maps


class LayerHook:
    """Capture the output of one explicitly named module during a forward pass; the hook is removed on exit.

    With ``leaf=True`` the output is handed on as a fresh leaf that requires grad, so a Grad-CAM backward pass
    starts at this layer and the layers before it build no graph.
    """

    def __init__(self, model: nn.Module, layer: str, leaf: bool = False):
        self.module = model.get_submodule(layer)
        self.leaf = leaf
        self.output: torch.Tensor | None = None
        self._handle = None

    def _hook(self, module, inputs, output):
        if self.leaf:
            output = output.detach().requires_grad_(True)
        self.output = output
        return output if self.leaf else None

    def __enter__(self) -> LayerHook:
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
        self._handle = None


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Parameters without gradients for the block (restored afterwards)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


@dataclass(frozen=True)
class CamMethod:
    name: str  # "CAM" or "Grad-CAM"
    layer: str  # the explicit target module

    @property
    def label(self) -> str:
        return f"{self.name} ({self.layer})"


def gradcam_layer(model: nn.Module, spec: ModelSpec) -> str:
    """Grad-CAM's target: the last module before the final max-pool when ``cam_layer`` ends in one (VGG: the last
    conv block's ReLU, a 2x finer map than the pooled one, the layer the Grad-CAM paper uses), else ``cam_layer``."""
    module = model.get_submodule(spec.cam_layer)
    if isinstance(module, nn.Sequential) and len(module) > 1 and isinstance(module[-1], nn.MaxPool2d):
        return f"{spec.cam_layer}.{len(module) - 2}"
    return spec.cam_layer


def cam_method(model: nn.Module, spec: ModelSpec) -> CamMethod:
    if spec.gap_linear:
        return CamMethod("CAM", spec.cam_layer)
    return CamMethod("Grad-CAM", gradcam_layer(model, spec))


@torch.no_grad()
def class_activation_maps(model: nn.Module, spec: ModelSpec, images: torch.Tensor):
    """The paper's CAM, ``M = sum_k w_k f_k`` (B, h, w), and the logits (B,), from one forward pass without grad."""
    if not spec.gap_linear:
        raise ValueError(f"{spec.name}: the head is not global average pooling -> linear; use Grad-CAM")
    head = model.get_submodule(spec.head)
    with LayerHook(model, spec.cam_layer) as hook:
        logits = model(images).float().reshape(-1)
    features = hook.output.float()
    if spec.cam_relu:
        features = F.relu(features)
    maps = torch.einsum("c,bchw->bhw", head.weight[0].float(), features)
    return maps, logits


def grad_cams(model: nn.Module, layer: str, images: torch.Tensor):
    """Grad-CAM of the logit at ``layer`` (B, h, w), non-negative, and the logits (B,).

    Parameters are frozen and the hooked layer's output is a fresh leaf, so only the layers after it build a graph.
    Images are independent in eval mode, so one gradient of the summed logits gives each image's own.
    """
    with frozen(model), LayerHook(model, layer, leaf=True) as hook, torch.enable_grad():
        logits = model(images).float().reshape(-1)
        (gradients,) = torch.autograd.grad(logits.sum(), hook.output)
    activations = hook.output.detach().float()
    weights = gradients.float().mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * activations).sum(1)), logits.detach()


def compute_maps(
    model: nn.Module,
    spec: ModelSpec,
    cache: np.ndarray,
    indices: np.ndarray,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray, CamMethod]:
    """Maps (N, h, w) and logits (N,) for the cache rows ``indices``, in batches; and the method used.

    The model is put in eval mode and channels-last memory format (as in training: faster convolutions).
    """
    model.eval().to(memory_format=torch.channels_last)
    method = cam_method(model, spec)
    augmenter = BatchAugmenter(torch.device(device))
    maps, logits = [], []
    for index in batches(np.asarray(indices), batch_size, drop_last=False):
        images = augmenter.normalise(take(cache, index)).contiguous(memory_format=torch.channels_last)
        if method.name == "CAM":
            batch_maps, batch_logits = class_activation_maps(model, spec, images)
        else:
            batch_maps, batch_logits = grad_cams(model, method.layer, images)
        maps.append(batch_maps.cpu().numpy())
        logits.append(batch_logits.cpu().numpy())
    if not maps:
        return np.zeros((0, 1, 1), np.float32), np.zeros(0, np.float32), method
    return np.concatenate(maps).astype(np.float32), np.concatenate(logits).astype(np.float32), method


# ------------------------------------------------------------------------------------ upsampling and scores


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (h, w) map resized to the original image's (height, width), bilinear (the cache squashed it to a square)."""
    tensor = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def is_flat(heat: np.ndarray) -> bool:
    """A map without contrast (e.g. Grad-CAM of a model with no positive evidence anywhere: all zeros)."""
    low, high = float(heat.min()), float(heat.max())
    return high - low <= 1e-12 * max(1.0, abs(high))


def normalise(heat: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; a flat map becomes all zeros (drawn as 'no evidence')."""
    if is_flat(heat):
        return np.zeros_like(heat, dtype=np.float32)
    low, high = float(heat.min()), float(heat.max())
    return ((heat - low) / (high - low)).astype(np.float32)


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
    """Every localisation score of one upsampled map against one box, with both baselines."""
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
        boxes.append(tuple(int(lesion[c]) for c in ("x0", "y0", "x1", "y1")))
        kinds.append(str(lesion["kind"]))
    return boxes, kinds


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
    image has a box, the localisation scores and both baselines (empty otherwise)."""
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
            "method": method.label,
            "width": [w for w, _ in sizes],
            "height": [h for _, h in sizes],
            "kind": kinds,
            **{
                c: pd.array([b[i] if b else None for b in boxes], dtype="Int64")
                for i, c in enumerate(("x0", "y0", "x1", "y1"))
            },
            **{
                c: pd.array([r.get(c) for r in rows], dtype="Int64")
                for c in ("peak_x", "peak_y", "pointing_hit", "centre_hit")
            },
            **{
                c: pd.array([r.get(c) for r in rows], dtype="Float64").round(6)
                for c in ("energy_share", "chance", "chance_pointing", "centre_energy")
            },
            "overlay": "",
        }
    )
    return scores[SCORE_COLUMNS]


# --------------------------------------------------------------------------------------------- selection


def select_images(table: pd.DataFrame, images: str) -> np.ndarray:
    """Row positions of the images that get a CAM: ``abnormal`` (label 1) or ``all``, in table order."""
    if images == "all":
        return np.arange(len(table))
    if images == "abnormal":
        return np.flatnonzero(table["label"].to_numpy() == 1)
    raise ValueError(f"cam images must be 'abnormal' or 'all', got {images!r}")


def overlay_rows(frame: pd.DataFrame, per_body_part: int) -> list[int]:
    """Positions (in ``frame``) of the images drawn as overlays: per body part (sorted), those with a lesion box
    first, then in table order, ``per_body_part`` of each."""
    chosen = []
    has_box = frame["kind"].notna().to_numpy()
    for part in sorted(frame["body_part"].unique()):
        rows = np.flatnonzero(frame["body_part"].to_numpy() == part)
        rows = sorted(rows, key=lambda r: (not has_box[r], r))
        chosen.extend(int(r) for r in rows[:per_body_part])
    return chosen


def overlay_name(path: str) -> str:
    """``MURA-v1.1/valid/XR_ELBOW/patient00338/study1_positive/image1.png`` ->
    ``XR_ELBOW_patient00338_study1_positive_image1.png``."""
    parts = PurePosixPath(path).with_suffix(".png").parts[-4:]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "_".join(parts))


def read_lesions(path: str | Path) -> pd.DataFrame:
    """``lesions.csv`` (path, kind, x0, y0, x1, y1, width, height), one box per image."""
    lesions = pd.read_csv(path)
    repeated = lesions["path"][lesions["path"].duplicated()]
    if len(repeated):
        raise InputError(f"{path}: {repeated.iloc[0]} has more than one box (one per image expected)")
    return lesions.set_index("path")


# ------------------------------------------------------------------------------------------------ rendering


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header."""
    with Image.open(path) as picture:
        return picture.size


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


def save_png(rgb: np.ndarray, path: str | Path) -> None:
    Image.fromarray(rgb).save(path, format="PNG")


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
    def of(cls, image: pd.Series, radiograph: np.ndarray, overlay: np.ndarray, box) -> Panel:
        """A panel from one row of :func:`score_images`' table."""
        top = None if pd.isna(image["peak_x"]) else (int(image["peak_x"]), int(image["peak_y"]))
        hit = None if pd.isna(image["pointing_hit"]) else bool(image["pointing_hit"])
        return cls(
            image["body_part"],
            radiograph,
            overlay,
            float(image["prob"]),
            int(image["label"]),
            box,
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
        f"{model}: Grad-CAM on {method.layer}, the last convolutional map (the head is not global average "
        "pooling -> one linear layer, so the CAM equation does not apply)"
    )


def thumbnail(picture: np.ndarray, longest: int = 256) -> np.ndarray:
    """A smaller copy for a figure panel (drawn at the original's extent, so boxes stay in original pixels)."""
    height, width = picture.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1:
        return picture
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR))


def grid_figure(model: str, method: CamMethod, panels: list[Panel], scored: bool):
    """The paper's Figure 1 per model: per body part, each image beside its heat map, with probability, true label
    and (on synthetic data) the ground-truth box."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not panels:
        figure, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"{method_note(model, method)}\nno images selected for overlays",
            ha="center",
            va="center",
            fontsize=8,
            wrap=True,
        )
        return figure
    parts = sorted({p.body_part for p in panels})
    columns = 2 * max(sum(p.body_part == part for p in panels) for part in parts)
    height = 1.95 * len(parts) + 0.6
    figure, axes = plt.subplots(len(parts), columns, figsize=(1.7 * columns, height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, part in enumerate(parts):
        for slot, panel in enumerate([p for p in panels if p.body_part == part]):
            left, right = axes[row, 2 * slot], axes[row, 2 * slot + 1]
            height, width = panel.radiograph.shape[:2]
            extent = (-0.5, width - 0.5, height - 0.5, -0.5)
            left.imshow(thumbnail(panel.radiograph), cmap="gray", vmin=0, vmax=255, extent=extent)
            right.imshow(thumbnail(panel.overlay), extent=extent)
            if panel.peak is not None:
                right.plot(*panel.peak, marker="+", color="white", markersize=7, markeredgewidth=1.2)
            truth = "abnormal" if panel.label == 1 else "normal"
            left.set_title(f"{part}\ntrue: {truth}" + (f" ({panel.kind})" if panel.kind else ""), fontsize=6)
            hit = "" if panel.hit is None else (" · peak in box" if panel.hit else " · peak outside")
            hit = " · flat map" if panel.peak is None else hit
            right.set_title(f"p(abnormal) = {panel.prob:.2f}{hit}", fontsize=6)
            if panel.box is not None:
                x0, y0, x1, y1 = panel.box
                for ax in (left, right):
                    ax.add_patch(
                        Rectangle(
                            (x0 - 0.5, y0 - 0.5),
                            x1 - x0,
                            y1 - y0,
                            fill=False,
                            edgecolor=np.array(BOX_COLOUR) / 255,
                            linewidth=1.0,
                        )
                    )
    legend = (
        "green box: ground-truth lesion (lesions.csv); +: the map's maximum"
        if scored
        else "no ground-truth boxes (real MURA: localisation not scored)"
    )
    figure.suptitle(f"{method_note(model, method)}\n{legend}", fontsize=7, y=1 - 0.08 / height)
    # Fixed spacing: tight_layout costs about a second per figure and the panels are all alike.
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.75 / height, wspace=0.06, hspace=0.3)
    return figure


# ------------------------------------------------------------------------------------- localisation table


def localisation_table(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model and abnormality kind ("all" first, then by name): the mean pointing hit and energy share of the
    scored images, with the chance and centre baselines on the same images."""
    rows = []
    for model in sorted(scores):
        frame = scores[model]
        frame = frame[frame["kind"].notna()]
        if frame.empty:
            continue
        method = str(frame["method"].iloc[0])
        for kind in [ALL_KINDS, *sorted(frame["kind"].unique())]:
            part = frame if kind == ALL_KINDS else frame[frame["kind"] == kind]
            rows.append(
                {
                    "model": model,
                    "method": method,
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
    table = pd.DataFrame(rows, columns=LOCALISATION_COLUMNS)
    numbers = LOCALISATION_COLUMNS[4:]
    table[numbers] = table[numbers].astype(float).round(6)
    return table


def _pivot(table: pd.DataFrame, value: str, chance: str, centre: str) -> pd.DataFrame:
    """Models x kinds of one score, with the chance and centre baselines as two more rows."""
    kinds = list(dict.fromkeys(table["kind"]))
    grid = table.pivot(index="model", columns="kind", values=value)[kinds]
    first = table[table["model"] == table["model"].iloc[0]].set_index("kind")
    grid.loc["chance"] = first[chance][kinds]
    grid.loc["centre baseline"] = first[centre][kinds]
    return grid


def localisation_markdown(table: pd.DataFrame, note: str | None, tolerance: float) -> str:
    lines = ["# CAM localisation on the synthetic lesion boxes", ""]
    if note:
        return "\n".join([*lines, note, ""])
    lines += [
        "Pointing game: a hit when the map's maximum lies inside the ground-truth box or within "
        f"{tolerance:g} x the image's longer side of it. "
        "Energy share: the share of the min-max normalised map inside the box. "
        "Chance: box area / image area (energy) and the share of pixels within the tolerance of the box (pointing). "
        "Centre baseline: a Gaussian map peaking at the image centre, scored the same way. "
        "Means over the scored MURA valid images (each image with a lesion box). Flat maps: the share of images "
        "whose map has no contrast (Grad-CAM is all zero when no location raises the logit); they count as misses.",
        "",
    ]
    methods = table.drop_duplicates("model").set_index("model")["method"]
    images = table[table["model"] == table["model"].iloc[0]].set_index("kind")["images"]
    flat = table[table["kind"] == ALL_KINDS].set_index("model")["flat"]
    for value, chance, centre, title in (
        ("pointing", "chance_pointing", "centre_pointing", "Pointing game"),
        ("energy", "chance", "centre_energy", "Energy share inside the box"),
    ):
        grid = _pivot(table, value, chance, centre)
        header = ["model", "method", *[f"{k} (n={images[k]})" for k in grid.columns], "flat maps"]
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for name, row in grid.iterrows():
            cells = [f"{v:.3f}" for v in row.to_numpy(float)]
            share = f"{flat[name]:.0%}" if name in flat.index else ""
            lines.append("| " + " | ".join([str(name), methods.get(name, ""), *cells, share]) + " |")
        lines.append("")
    return "\n".join(lines)


def localisation_figure(table: pd.DataFrame, note: str | None = None):
    """Pointing game and energy share per model (bars, CAM vs Grad-CAM) with the chance and centre baselines as
    lines; below, both per abnormality kind as heat maps with the baselines as the last rows."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if note or table.empty:
        figure, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, note or "no scored images", ha="center", va="center", fontsize=8, wrap=True)
        return figure
    overall = table[table["kind"] == ALL_KINDS].reset_index(drop=True)
    models = list(overall["model"])
    height = 0.22 * len(models) + 1.3
    figure, axes = plt.subplots(
        2,
        2,
        figsize=(11, height + 0.3 * len(models) + 2.4),
        gridspec_kw={"height_ratios": [height, 0.3 * len(models) + 1.6]},
    )
    kinds_of_map = overall["method"].str.split(" ").str[0]  # CAM or Grad-CAM
    methods = sorted(kinds_of_map.unique())
    colours = dict(zip(["CAM", "Grad-CAM"], sns.color_palette(n_colors=2), strict=True))
    specs = (
        ("pointing", "chance_pointing", "centre_pointing", "pointing game (peak in box)"),
        ("energy", "chance", "centre_energy", "energy share inside the box"),
    )
    y = np.arange(len(models))
    for column, (value, chance, centre, title) in enumerate(specs):
        grid = _pivot(table, value, chance, centre)
        top = 1.0 if value == "pointing" else min(1.0, max(0.2, float(np.nanmax(grid.to_numpy(float))) * 1.25))
        ax = axes[0, column]
        ax.barh(y, overall[value], color=[colours.get(m, "grey") for m in kinds_of_map])
        ax.axvline(overall[chance].iloc[0], color="black", linestyle="--", linewidth=1, label="chance")
        ax.axvline(overall[centre].iloc[0], color="grey", linestyle=":", linewidth=1.5, label="centre baseline")
        for row in overall.itertuples():
            if row.flat > 0:
                ax.text(
                    getattr(row, value) + top * 0.01,
                    row.Index,
                    f"{row.flat:.0%} flat maps",
                    ha="left",
                    va="center",
                    fontsize=6,
                )
        ax.set_yticks(y, models if column == 0 else [""] * len(models), fontsize=7)
        ax.invert_yaxis()
        ax.set(xlim=(0, top), xlabel=title, title=f"{title}, n = {int(overall['images'].iloc[0])} images")
        if column == 0:
            handles = [plt.Rectangle((0, 0), 1, 1, color=colours.get(m, "grey")) for m in methods]
            lines, labels = ax.get_legend_handles_labels()
            ax.legend([*handles, *lines], [*methods, *labels], fontsize=6, loc="lower right")
        sns.heatmap(
            grid.astype(float),
            annot=True,
            fmt=".2f",
            vmin=0,
            vmax=top,
            cmap="viridis",
            ax=axes[1, column],
            annot_kws={"fontsize": 6},
            cbar_kws={"label": title},
        )
        axes[1, column].set(xlabel="abnormality kind", ylabel="", title=f"{title} per abnormality kind")
        axes[1, column].tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    return figure
