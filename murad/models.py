"""The model registry: torchvision classification models with one abnormality logit.

The paper's 18 architectures are listed in :data:`PAPER_MODELS`; any other torchvision classification model can be
named too. Each :class:`ModelSpec` records where the class activation map comes from (``cam_layer``: the module whose
output is the last convolutional feature map) and the classifier head (``head``), and whether the head is global
average pooling followed by one linear layer (so the paper's CAM applies exactly) or not (VGG: Grad-CAM).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from .torchvision_catalog import is_classification_model, weights_file

PAPER_MODELS = (
    "vgg11_bn",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "inception_v3",
    "mobilenet_v2",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
)

# Smallest input each family accepts in evaluation (inception's stem needs 75 px; its aux head 299 px in training).
MIN_IMAGE_SIZE = {"inception_v3": 75}
INCEPTION_AUX_MIN_SIZE = 299


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    cam_layer: str  # module whose output is the last convolutional feature map
    head: str  # the linear layer that gives the logit
    gap_linear: bool  # head is global average pooling -> one linear layer (the paper's CAM is exact)
    cam_relu: bool = False  # the forward applies a ReLU to cam_layer's output before pooling (DenseNet)


class WeightsMissingError(FileNotFoundError):
    """ImageNet weights requested but not staged in the torch-hub folder."""


def _family(name: str) -> str:
    for family in ("vgg", "densenet", "inception", "mobilenet", "resnext", "resnet"):
        if name.startswith(family):
            return family
    return "other"


def model_spec(name: str) -> ModelSpec:
    family = _family(name)
    if family == "vgg":
        return ModelSpec(name, family, cam_layer="features", head="classifier.6", gap_linear=False)
    if family == "densenet":
        return ModelSpec(name, family, cam_layer="features", head="classifier", gap_linear=True, cam_relu=True)
    if family == "inception":
        return ModelSpec(name, family, cam_layer="Mixed_7c", head="fc", gap_linear=True)
    if family == "mobilenet":
        return ModelSpec(name, family, cam_layer="features", head="classifier.1", gap_linear=True)
    if family in ("resnet", "resnext"):
        return ModelSpec(name, family, cam_layer="layer4", head="fc", gap_linear=True)
    return _generic_spec(name)


def _generic_spec(name: str) -> ModelSpec:
    """Any other torchvision classifier: the last linear layer is the head, the last conv block the CAM layer."""
    model = _construct(name, aux_logits=False)
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not linear:
        raise ValueError(f"model {name}: no linear classifier head found")
    top = convs[-1].split(".")[0] if convs else ""
    return ModelSpec(name, "other", cam_layer=top, head=linear[-1], gap_linear=False)


def check_model_name(name: str) -> None:
    if not is_classification_model(name):
        raise ValueError(f"model {name!r} is not a torchvision classification model")


def _construct(name: str, aux_logits: bool, transform_input: bool = False) -> nn.Module:
    kwargs: dict = {"weights": None}
    if name == "inception_v3":
        kwargs.update(aux_logits=aux_logits, transform_input=transform_input, init_weights=True)
    return torchvision.models.get_model(name, **kwargs)


def stage_weights(name: str, hub_dir: str | Path) -> Path:
    """Download the ImageNet weights of ``name`` into ``hub_dir`` with torchvision's weights API (needs internet)."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    torch.hub.load_state_dict_from_url(weights.url, model_dir=str(Path(hub_dir) / "checkpoints"), check_hash=True)
    return weights_file(name, hub_dir)


# Old DenseNet checkpoints name layers 'norm.1'; torchvision renames them the same way when it loads them.
_DENSENET_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _load_imagenet(model: nn.Module, name: str, hub_dir: str | Path) -> None:
    path = weights_file(name, hub_dir)
    if not path.is_file():
        raise WeightsMissingError(
            f"ImageNet weights for {name} not found: {path}; stage them on a machine with internet with "
            f"`snakemake --cores 1 stage_weights` (or `murad stage-weights {name} --hub-dir {hub_dir}`)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = {}
    for key, value in state.items():
        match = _DENSENET_LEGACY_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    model.load_state_dict(renamed)


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
    if image_size < MIN_IMAGE_SIZE.get(name, 32):
        raise ValueError(f"model {name} needs images of at least {MIN_IMAGE_SIZE[name]} px, got {image_size}")
    imagenet = weights == "imagenet"
    # Built with the 1000-class head so ImageNet weights load as published; the head is replaced below.
    model = _construct(name, aux_logits=imagenet or image_size >= INCEPTION_AUX_MIN_SIZE, transform_input=imagenet)
    if imagenet:
        _load_imagenet(model, name, hub_dir or torch.hub.get_dir())
    spec = model_spec(name)
    head = model.get_submodule(spec.head)
    _replace(model, spec.head, nn.Linear(head.in_features, 1))
    if name == "inception_v3":
        if image_size >= INCEPTION_AUX_MIN_SIZE:
            model.AuxLogits.fc = nn.Linear(model.AuxLogits.fc.in_features, 1)
        else:
            model.aux_logits, model.AuxLogits = False, None
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
