"""The architecture families of torchvision's classification models, decided once and known without importing torch.

Each :class:`Family` says where a model's one-logit head is, where and how its class activation map is computed,
and which input sizes it takes. Snakemake's parse checks every configured model and image size against this table
(`snakemake -n` included, so it imports no torch); :mod:`murad.models` builds the models and :mod:`murad.cam.maps`
computes the maps from it. A family's entry is the one place to change for a new architecture.

The CAM method follows from the head (the issue that introduced the modern families, #23, and README "Models"):

- ``CAM``, the paper's exact map (Zhou et al. 2016), where the logit is global average pooling of the CAM layer then
  one linear layer: ``mean(M) + bias = logit``. Swin counts: its last stage's tokens go through a LayerNorm, then
  average pooling and the linear head, so the LayerNorm's output (``norm``) is such a layer. SqueezeNet's head is a
  1 x 1 convolution then average pooling; without the ReLU between them (kept, one logit could never be negative)
  it is the same map.
- ``Grad-CAM`` (Selvaraju et al. 2017) where something non-linear sits between the pooled features and the logit:
  VGG's and AlexNet's fully connected layers, ConvNeXt's LayerNorm after pooling, MobileNetV3's hidden layer,
  MaxViT's LayerNorm and tanh layer, and ViT, whose logit reads only the class token.
- ViT: the last encoder block's output cannot be the layer: after it only the class token reaches the head, so the
  logit's gradient on every patch token there is zero. The layer is the last block's first LayerNorm (``ln_1``), the
  tokens that block's self-attention mixes into the class token (as pytorch-grad-cam does for ViTs).

``layout`` is how the CAM layer's output holds its grid: ``NCHW`` (convolutional), ``NHWC`` (Swin) or ``tokens``
(ViT: a class token then the patch tokens, row by row). Maps are always (N, H, W) on the layer's grid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

CAM_METHOD_NAMES = ("CAM", "Grad-CAM")
LAYOUTS = ("NCHW", "NHWC", "tokens")


@dataclass(frozen=True)
class Family:
    name: str
    pattern: str  # a regular expression that the family's model names match in full
    head: str  # the layer that gives the logit (a Linear; SqueezeNet: a 1 x 1 Conv2d)
    cam_layer: str  # the layer whose output the map is computed on ("{last}": the number of the last of its kind)
    cam_method: str  # "CAM" or "Grad-CAM"
    layout: str = "NCHW"
    min_size: int = 32  # the smallest square input (px) the family takes in training and evaluation
    size_step: int = 1  # sizes must be multiples of this (ViT: the patch side; MaxViT: its partition grid's)
    cam_relu: bool = False  # the forward applies a ReLU to cam_layer's output before pooling (DenseNet)
    note: str = ""  # the family's constraint on sizes, in words, for the config check's error


FAMILIES = (
    Family("alexnet", r"alexnet", "classifier.6", "features.11", "Grad-CAM", min_size=63),
    Family("convnext", r"convnext_\w+", "classifier.2", "features", "Grad-CAM"),
    Family("densenet", r"densenet\d+", "classifier", "features", "CAM", min_size=29, cam_relu=True),
    Family("efficientnet", r"efficientnet_(b\d|v2_[sml])", "classifier.1", "features", "CAM"),
    Family("googlenet", r"googlenet", "fc", "inception5b", "CAM", min_size=15),
    Family("inception", r"inception_v3", "fc", "Mixed_7c", "CAM", min_size=75),
    Family(
        "maxvit",
        r"maxvit_\w+",
        "classifier.5",
        "blocks.{last}",
        "Grad-CAM",
        min_size=224,
        size_step=224,
        note="its stages' grids must be multiples of its 7 x 7 partitions",
    ),  # fmt: skip
    Family("mnasnet", r"mnasnet\d_\d+", "classifier.1", "layers", "CAM"),
    Family("mobilenet_v2", r"mobilenet_v2", "classifier.1", "features", "CAM"),
    Family("mobilenet_v3", r"mobilenet_v3_(large|small)", "classifier.3", "features", "Grad-CAM"),
    Family("regnet", r"regnet_[xy]_\w+", "fc", "trunk_output", "CAM"),
    Family("resnet", r"(resnet|resnext|wide_resnet)\w+", "fc", "layer4", "CAM"),
    Family("shufflenet_v2", r"shufflenet_v2_x\d_\d", "fc", "conv5", "CAM"),
    Family("squeezenet", r"squeezenet1_[01]", "classifier.1", "features", "CAM", min_size=33),
    Family("swin", r"swin_(v2_)?[tsb]", "head", "norm", "CAM", layout="NHWC"),
    Family("vgg", r"vgg\d+(_bn)?", "classifier.6", "features.{last}", "Grad-CAM"),
    Family(
        "vit",
        r"vit_[bhl]_(\d+)",
        "heads.head",
        "encoder.layers.encoder_layer_{last}.ln_1",
        "Grad-CAM",
        layout="tokens",
        note="its patches must tile the image",
    ),  # fmt: skip
)

# Names torchvision lists in its other model modules: no one-logit picture classifier among them.
OTHER_KINDS = (
    (r"quantized_\w+", "a quantized model (torchvision.models.quantization, for int8 inference; train its float twin)"),
    (r"(r3d|r2plus1d|mc3|s3d|mvit|swin3d)_\w+", "a video model (torchvision.models.video)"),
    (r"(fasterrcnn|fcos|keypointrcnn|maskrcnn|retinanet|ssd|ssdlite)\w*",
     "a detection model (torchvision.models.detection)"),
    (r"(deeplabv3|fcn|lraspp)_\w+", "a segmentation model (torchvision.models.segmentation)"),
    (r"raft_\w+", "an optical flow model (torchvision.models.optical_flow)"),
)  # fmt: skip


class UnknownFamily(ValueError):
    """A model name no family of the registry matches."""


def other_kind(name: str) -> str | None:
    """What ``name`` is when torchvision lists it among models that are not picture classifiers, else None."""
    return next((kind for pattern, kind in OTHER_KINDS if re.fullmatch(pattern, name)), None)


def family_of(name: str) -> Family:
    """The family of a torchvision classification model ``name``; :class:`UnknownFamily` (one line) if none."""
    for family in FAMILIES:
        if re.fullmatch(family.pattern, name):
            return family
    if (kind := other_kind(name)) is not None:
        raise UnknownFamily(f"{name} is {kind}: murad trains 2-D picture classifiers with one logit")
    raise UnknownFamily(
        f"{name}: no architecture family in murad's registry (murad/families.py) says where its head and CAM layer are"
    )


def size_step(name: str) -> int:
    """The sizes ``name`` takes are multiples of this: a ViT's patch side (vit_b_16: 16), else the family's step."""
    family = family_of(name)
    return int(re.fullmatch(family.pattern, name).group(1)) if family.name == "vit" else family.size_step


def min_size(name: str) -> int:
    """The smallest size ``name`` takes: its family's least, rounded up to a multiple of its step."""
    step = size_step(name)
    return -(-family_of(name).min_size // step) * step


def size_problem(name: str, size: int) -> str | None:
    """Why model ``name`` cannot take ``size`` x ``size`` inputs (one line naming the sizes it takes), or None."""
    family = family_of(name)
    step, smallest = size_step(name), min_size(name)
    if size >= smallest and size % step == 0:
        return None
    takes = f"multiples of {step} px from {smallest} px" if step > 1 else f"{smallest} px and more"
    why = f" ({family.note})" if family.note else ""
    return f"{name} takes image sizes of {takes}{why}, not {size}"
