"""The model registry: torchvision classification models with one abnormality logit.

Every model of torchvision's classification list belongs to a family of :mod:`murad.families`, which says where its
head is, on which layer and by which method its class activation map is computed, and which input sizes it takes.
:func:`model_spec` gives a model's entry (:class:`ModelSpec`), :func:`build_model` the model with one logit for a
size, and :func:`training_logits` reads a training output (inception_v3's auxiliary head).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.inception import InceptionOutputs
from torchvision.models.vision_transformer import interpolate_embeddings

from .families import family_of, min_size, size_problem
from .torchvision_catalog import is_classification_model, weights_file

# inception_v3's auxiliary head needs >= 299 px; below that it is dropped (the family takes 75 px and more).
INCEPTION_AUX_MIN_SIZE = 299


@dataclass(frozen=True)
class ModelSpec:
    """One model's entry of the registry (its family's, with the family's ``{last}`` layer numbered)."""

    name: str
    head: str  # the layer that gives the logit
    cam_layer: str  # the module whose output the class activation map is computed on
    cam_method: str  # "CAM" (the paper's, exact) or "Grad-CAM"
    layout: str = "NCHW"  # how cam_layer's output holds its grid: NCHW, NHWC or tokens (a class token first)
    cam_relu: bool = False  # the forward applies a ReLU to cam_layer's output before pooling (DenseNet)


class WeightsMissingError(FileNotFoundError):
    """ImageNet weights requested but not staged in the torch-hub folder."""


def _numbered_last(model: nn.Module, template: str) -> str:
    """``template`` with ``{last}`` replaced by the number of the last child of its container that is not a pooling
    layer (VGG: the ReLU before the final max-pool, a map twice as fine as the pooled one, the Grad-CAM paper's
    layer; MaxViT: its last block; ViT: its last encoder block)."""
    if "{last}" not in template:
        return template
    before, after = template.split("{last}")
    container, _, stem = before.rpartition(".")
    numbers = [
        int(child[len(stem) :])
        for child, module in model.get_submodule(container).named_children()
        if child.startswith(stem) and child[len(stem) :].isdigit() and not isinstance(module, POOLING)
    ]
    return f"{before}{max(numbers)}{after}"


POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@functools.cache
def model_spec(name: str) -> ModelSpec:
    """The registry's entry for ``name``: its family's head, CAM layer (a ``{last}`` numbered on the model's own
    layers, built on the meta device: no memory, no weights) and CAM method."""
    check_model_name(name)
    family = family_of(name)
    layer = family.cam_layer
    if "{last}" in layer:
        with torch.device("meta"):
            layer = _numbered_last(_construct(name, aux_logits=False, image_size=min_size(name)), layer)
    return ModelSpec(name, family.head, layer, family.cam_method, family.layout, family.cam_relu)


def training_logits(output) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A model's training output as (logits, auxiliary logits or None): inception_v3 in training mode with its
    auxiliary head (kept at >= 299 px) returns both."""
    if isinstance(output, InceptionOutputs):
        return output.logits, output.aux_logits
    return output, None


def check_model_name(name: str) -> None:
    if not is_classification_model(name):
        raise ValueError(f"model {name!r} is not a torchvision classification model")
    family_of(name)  # UnknownFamily, one line, where the registry has no entry for it


def _size_arguments(name: str, image_size: int) -> dict:
    """The constructor arguments fixing the input size where a family's layers depend on it (ViT's position
    embeddings, MaxViT's partitions)."""
    family = family_of(name).name
    if family == "vit":
        return {"image_size": image_size}
    if family == "maxvit":
        return {"input_size": (image_size, image_size)}
    return {}


def _construct(name: str, aux_logits: bool, image_size: int) -> nn.Module:
    """``name`` with random weights (and its 1000-class head) for ``image_size`` inputs."""
    kwargs: dict = {"weights": None, **_size_arguments(name, image_size)}
    if name in ("inception_v3", "googlenet"):
        kwargs.update(aux_logits=aux_logits and name == "inception_v3", init_weights=True)
    if name == "inception_v3":
        kwargs.update(transform_input=False)
    return torchvision.models.get_model(name, **kwargs)


def stage_weights(name: str, hub_dir: str | Path) -> Path:
    """Download the ImageNet weights of ``name`` into ``hub_dir`` with torchvision's weights API (needs internet)."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    torch.hub.load_state_dict_from_url(weights.url, model_dir=str(Path(hub_dir) / "checkpoints"), check_hash=True)
    return weights_file(name, hub_dir)


@contextmanager
def _hub_dir(hub_dir: str | Path):
    """torch hub's folder set to ``hub_dir`` for the block (where torchvision's weights API looks for weights)."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(hub_dir))
    try:
        yield
    finally:
        torch.hub.set_dir(previous)


def _construct_imagenet(name: str, hub_dir: str | Path, image_size: int) -> nn.Module:
    """``name`` with its ImageNet weights, loaded by torchvision itself (with its renaming of old DenseNet keys)
    from the staged file; never a download. A ViT at another size than its weights' gets their position embeddings
    interpolated to its patch grid, as torchvision's ``interpolate_embeddings`` does for fine-tuning."""
    path = weights_file(name, hub_dir)
    if not path.is_file():
        raise WeightsMissingError(
            f"ImageNet weights for {name} not found: {path}; stage them on a machine with internet with "
            f"`snakemake --cores 1 stage_weights` (or `murad stage-weights {name} --hub-dir {hub_dir}`)"
        )
    with _hub_dir(hub_dir):
        model = torchvision.models.get_model(name, weights="DEFAULT")
    if family_of(name).name == "vit" and model.image_size != image_size:
        state = interpolate_embeddings(image_size, model.patch_size, model.state_dict())
        model = _construct(name, aux_logits=False, image_size=image_size)
        model.load_state_dict(state)
    return model


def _replace(model: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def build_model(
    name: str, weights: str = "none", hub_dir: str | Path | None = None, image_size: int = 224
) -> nn.Module:
    """``name`` with ImageNet (``weights="imagenet"``) or random initial weights and a one-logit head.

    Inputs are 3-channel ImageNet-normalised tensors (grayscale radiographs are repeated over the channels).
    inception_v3 keeps its auxiliary head only for training at >= 299 px, where it fits.
    """
    check_model_name(name)
    if weights not in ("none", "imagenet"):
        raise ValueError(f"weights must be 'none' or 'imagenet', got {weights!r}")
    if (problem := size_problem(name, image_size)) is not None:
        raise ValueError(problem)
    # Built with the 1000-class head so ImageNet weights load as published; the head is replaced below.
    if weights == "imagenet":
        model = _construct_imagenet(name, hub_dir or torch.hub.get_dir(), image_size)
    else:
        model = _construct(name, aux_logits=image_size >= INCEPTION_AUX_MIN_SIZE, image_size=image_size)
    spec = model_spec(name)
    _replace(model, spec.head, _one_logit(model.get_submodule(spec.head)))
    if family_of(name).name == "squeezenet":  # its ReLU after the head would keep the one logit >= 0
        _replace(model, "classifier.2", nn.Identity())
    if name == "inception_v3":
        if image_size >= INCEPTION_AUX_MIN_SIZE:
            model.AuxLogits.fc = nn.Linear(model.AuxLogits.fc.in_features, 1)
        else:
            model.aux_logits, model.AuxLogits = False, None
    return model


def _one_logit(head: nn.Module) -> nn.Module:
    """A fresh head like ``head`` with one output: a Linear layer, or SqueezeNet's 1 x 1 convolution."""
    if isinstance(head, nn.Conv2d):
        return nn.Conv2d(head.in_channels, 1, kernel_size=1)
    return nn.Linear(head.in_features, 1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
