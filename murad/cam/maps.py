"""The class activation maps of one model, and a map on the original image.

**Maps.** For a model whose head is global average pooling -> one linear layer (DenseNet, ResNet, ResNeXt,
MobileNetV2, Inception, EfficientNet, RegNet, Swin and others: the families' table, murad/families.py) the map is the
paper's CAM (Zhou et al. 2016) exactly:

    M(X) = sum_k w_k f_k(X)

with f_k the CAM layer's feature maps (``ModelSpec.cam_layer``, after the ReLU that DenseNet's forward applies,
``cam_relu``) and w_k the head's weights, so that ``mean(M) + bias = logit``. Where something non-linear sits between
the pooled features and the logit (VGG's fully connected layers, ConvNeXt's LayerNorm, ViT's class token, ...) that
equation does not hold, and the map is Grad-CAM (Selvaraju et al. 2017): the channel weights are the spatially
averaged gradients of the logit, ``G = ReLU(sum_k a_k A_k)``, ``a_k = mean_ij d logit / d A_k[i, j]``. Both are one
weighted sum over the channels (:func:`weighted_sum`) of the one hooked layer in one forward pass
(:func:`layer_maps`); a method supplies only its channel weights (:data:`CAM_METHODS`), as in pytorch-grad-cam's
``base_cam.py``. The layer's output is first put on its spatial grid (:func:`on_grid`: Swin's channels-last stages
permuted, ViT's patch tokens reshaped without the class token), so a map is always (N, h, w).

Why our own lines and not the ``grad-cam`` package (pytorch-grad-cam): it has no exact CAM of the paper (its
methods all derive weights from gradients or activations, and it min-max normalises and rectifies every map, so the
identity above cannot be checked), it resizes maps to the network input rather than to the original radiograph,
it brings OpenCV as a dependency and back-propagates through the whole network. What we need is about twenty lines:
one forward hook (context-managed, explicit target layer, in that package's style) and, for Grad-CAM, one
``autograd.grad`` from the logit to that layer with the parameters frozen, so only the head builds a graph.

**Upsampling.** The cache squashes each image to S x S, so the map (S/32 x S/32 for most families) covers the
original W x H image exactly; a plain bilinear resize to (H, W) (``align_corners=False``: cell centres at pixel
centres) puts it on the original pixels, where the lesion boxes are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Normaliser, batches, take
from ..models import ModelSpec


@dataclass(frozen=True)
class CamMethod:
    name: str  # "CAM" or "Grad-CAM"
    layer: str  # the explicit target module

    @property
    def label(self) -> str:
        return f"{self.name} ({self.layer})"


def cam_method(spec: ModelSpec) -> CamMethod:
    """The registry's method on the registry's layer (murad.families: the paper's CAM where the head is global
    average pooling -> one linear layer, else Grad-CAM)."""
    return CamMethod(spec.cam_method, spec.cam_layer)


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


def weighted_sum(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """Every method's map: the channel weights (B, C) times the layer's activations (B, C, h, w), summed over the
    channels (B, h, w)."""
    return torch.einsum("bc,bchw->bhw", weights, activations)


def on_grid(output: torch.Tensor, layout: str) -> torch.Tensor:
    """A layer's output as (B, C, h, w) on its spatial grid: NHWC (Swin) permuted; tokens (ViT: a class token, then
    the patch tokens row by row on a square grid) without the class token, reshaped."""
    if layout == "NCHW":
        return output
    if layout == "NHWC":
        return output.permute(0, 3, 1, 2)
    if layout == "tokens":
        patches = output[:, 1:]
        side = math.isqrt(patches.shape[1])
        if side * side != patches.shape[1]:
            raise ValueError(f"{patches.shape[1]} patch tokens do not make a square grid")
        return patches.transpose(1, 2).reshape(len(output), -1, side, side)
    raise ValueError(f"unknown layout {layout!r}")


@dataclass(frozen=True)
class ChannelWeights:
    """A CAM method: how its channel weights (B, C) come from the model's head or from the logit's gradients at the
    layer (B, C, h, w), and whether its map is rectified."""

    gradients: bool  # needs d logit / d layer output
    weights: Callable[[nn.Module, ModelSpec, torch.Tensor | None], torch.Tensor]
    rectify: bool


def _head_weights(model: nn.Module, spec: ModelSpec, gradients: torch.Tensor | None) -> torch.Tensor:
    """The paper's CAM: the head's weights w_k (a Linear's row, or SqueezeNet's 1 x 1 convolution's)."""
    return model.get_submodule(spec.head).weight.reshape(1, -1).float()


def _gradient_weights(model: nn.Module, spec: ModelSpec, gradients: torch.Tensor | None) -> torch.Tensor:
    """Grad-CAM: a_k = mean_ij d logit / d A_k[i, j]."""
    return gradients.float().mean(dim=(2, 3))


# Each method only supplies its channel weights; the hook, the forward pass and the weighted sum are shared
# (layer_maps), as in pytorch-grad-cam's base_cam.py. A method is one entry here and one name in murad.families.
CAM_METHODS = {
    "CAM": ChannelWeights(gradients=False, weights=_head_weights, rectify=False),
    "Grad-CAM": ChannelWeights(gradients=True, weights=_gradient_weights, rectify=True),
}


def layer_maps(model: nn.Module, spec: ModelSpec, images: torch.Tensor, method: str | None = None):
    """The maps (B, h, w) of ``method`` (the registry's by default) on ``spec.cam_layer``'s grid, and the logits (B,),
    from one forward pass.

    Parameters are frozen and, where the method needs gradients, the hooked layer's output is a fresh leaf, so only
    the layers after it build a graph; images are independent in eval mode, so one gradient of the summed logits
    gives each image's own.
    """
    entry = CAM_METHODS[method or spec.cam_method]
    hooked = LayerHook(model, spec.cam_layer, leaf=entry.gradients)
    with frozen(model), hooked as hook, torch.set_grad_enabled(entry.gradients):
        logits = model(images).float().reshape(-1)
        if hook.output is None:
            raise RuntimeError(f"{spec.name}: layer {spec.cam_layer} gave no output in the forward pass")
        gradients = torch.autograd.grad(logits.sum(), hook.output)[0] if entry.gradients else None
    with torch.no_grad():
        activations = on_grid(hook.output, spec.layout).float()
        if spec.cam_relu:
            activations = F.relu(activations)
        weights = entry.weights(model, spec, None if gradients is None else on_grid(gradients, spec.layout))
        heat = weighted_sum(weights.expand(len(activations), -1), activations)
    return (F.relu(heat) if entry.rectify else heat), logits.detach()


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
    method = cam_method(spec)
    normaliser = Normaliser(torch.device(device))
    maps, logits = [], []
    for index in batches(np.asarray(indices), batch_size, drop_last=False):
        images = normaliser(take(cache, index)).contiguous(memory_format=torch.channels_last)
        batch_maps, batch_logits = layer_maps(model, spec, images)
        maps.append(batch_maps.cpu().numpy())
        logits.append(batch_logits.cpu().numpy())
    if not maps:
        return np.zeros((0, 1, 1), np.float32), np.zeros(0, np.float32), method
    return np.concatenate(maps).astype(np.float32), np.concatenate(logits).astype(np.float32), method


def select_images(table: pd.DataFrame, images: str) -> np.ndarray:
    """Row positions of the images that get a CAM: ``abnormal`` (label 1) or ``all``, in table order."""
    if images == "all":
        return np.arange(len(table))
    if images == "abnormal":
        return np.flatnonzero(table["label"].to_numpy() == 1)
    raise ValueError(f"cam images must be 'abnormal' or 'all', got {images!r}")


@dataclass(frozen=True)
class CamMaps:
    """One model's maps of the selected images, as ``maps.npz`` holds them (the ``cam_maps`` job writes it, the
    ``cam_figures`` job draws from it)."""

    model: str
    method: CamMethod
    paths: np.ndarray  # (N,) the images, in the order of the model's scores.csv
    maps: np.ndarray  # (N, h, w) float32, on the network's grid
    logits: np.ndarray  # (N,) float32

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as handle:  # a handle: np.savez would add ".npz" to a staged path
            np.savez(
                handle,
                model=self.model,
                method=self.method.name,
                layer=self.method.layer,
                paths=np.asarray(self.paths, dtype=str),
                maps=self.maps.astype(np.float32),
                logits=self.logits.astype(np.float32),
            )

    @classmethod
    def load(cls, path: str | Path) -> CamMaps:
        with np.load(path) as saved:
            method = CamMethod(str(saved["method"]), str(saved["layer"]))
            return cls(str(saved["model"]), method, saved["paths"], saved["maps"], saved["logits"])


# ------------------------------------------------------------------------------- one map on the original image


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
