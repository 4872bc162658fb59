"""The model registry: torchvision classification models with one abnormality logit.

The paper's 18 architectures are listed in :data:`PAPER_MODELS`; any other torchvision classification model can be
named too. Each :class:`ModelSpec` records a model's quirks, decided here once: the classifier head (``head``), whether
it is global average pooling followed by one linear layer (so the paper's CAM applies exactly) or not (VGG: Grad-CAM),
and the layer whose output the class activation map is computed on (``cam_layer``). :func:`training_logits` reads a
training output (inception_v3's auxiliary head).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.inception import InceptionOutputs

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
    head: str  # the linear layer that gives the logit
    gap_linear: bool  # head is global average pooling -> one linear layer (the paper's CAM is exact)
    cam_layer: str  # the module whose output the class activation map is computed on
    cam_relu: bool = False  # the forward applies a ReLU to cam_layer's output before pooling (DenseNet)


class WeightsMissingError(FileNotFoundError):
    """ImageNet weights requested but not staged in the torch-hub folder."""


def _vgg_last_relu(name: str) -> str:
    """VGG's last convolutional ReLU in ``features`` (before the final max-pool: a 2x finer map than the pooled one,
    the layer the Grad-CAM paper uses), counted from torchvision's layer configuration."""
    config = torchvision.models.vgg.cfgs[{"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}[name[:5]]]
    per_conv = 3 if name.endswith("_bn") else 2  # conv, (batch norm,) ReLU
    modules = sum(1 if v == "M" else per_conv for v in config)
    return f"features.{modules - 2}"


def model_spec(name: str) -> ModelSpec:
    if name.startswith("vgg"):
        return ModelSpec(name, head="classifier.6", gap_linear=False, cam_layer=_vgg_last_relu(name))
    if name.startswith("densenet"):
        return ModelSpec(name, head="classifier", gap_linear=True, cam_layer="features", cam_relu=True)
    if name == "inception_v3":
        return ModelSpec(name, head="fc", gap_linear=True, cam_layer="Mixed_7c")
    if name.startswith("mobilenet_v2"):
        return ModelSpec(name, head="classifier.1", gap_linear=True, cam_layer="features")
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        return ModelSpec(name, head="fc", gap_linear=True, cam_layer="layer4")
    return _generic_spec(name)


def _generic_spec(name: str) -> ModelSpec:
    """Any other torchvision classifier: the last linear layer is the head; the map comes from the last top-level
    block with convolutions (from the module before its final max-pool, if it ends in one), by Grad-CAM."""
    model = _construct(name, aux_logits=False)
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not linear:
        raise ValueError(f"model {name}: no linear classifier head found")
    layer = convs[-1].split(".")[0] if convs else ""
    block = model.get_submodule(layer)
    if isinstance(block, nn.Sequential) and len(block) > 1 and isinstance(block[-1], nn.MaxPool2d):
        layer = f"{layer}.{len(block) - 2}"
    return ModelSpec(name, head=linear[-1], gap_linear=False, cam_layer=layer)


def training_logits(output) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A model's training output as (logits, auxiliary logits or None): inception_v3 in training mode with its
    auxiliary head (kept at >= 299 px) returns both."""
    if isinstance(output, InceptionOutputs):
        return output.logits, output.aux_logits
    return output, None


def check_model_name(name: str) -> None:
    if not is_classification_model(name):
        raise ValueError(f"model {name!r} is not a torchvision classification model")


def _construct(name: str, aux_logits: bool) -> nn.Module:
    kwargs: dict = {"weights": None}
    if name == "inception_v3":
        kwargs.update(aux_logits=aux_logits, transform_input=False, init_weights=True)
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


def _construct_imagenet(name: str, hub_dir: str | Path) -> nn.Module:
    """``name`` with its ImageNet weights, loaded by torchvision itself (with its renaming of old DenseNet keys)
    from the staged file; never a download."""
    path = weights_file(name, hub_dir)
    if not path.is_file():
        raise WeightsMissingError(
            f"ImageNet weights for {name} not found: {path}; stage them on a machine with internet with "
            f"`snakemake --cores 1 stage_weights` (or `murad stage-weights {name} --hub-dir {hub_dir}`)"
        )
    with _hub_dir(hub_dir):
        return torchvision.models.get_model(name, weights="DEFAULT")


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
    if imagenet:
        model = _construct_imagenet(name, hub_dir or torch.hub.get_dir())
    else:
        model = _construct(name, aux_logits=image_size >= INCEPTION_AUX_MIN_SIZE)
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
