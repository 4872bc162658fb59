"""Every family of torchvision's classification list: one logit at its smallest size, a training step, and a class
activation map on the layer's own grid (the paper's exact CAM where the head allows it, else a Grad-CAM that sees
a bright square after a few steps); or a one-line refusal."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from murad.cam.maps import is_flat, layer_maps
from murad.families import FAMILIES, UnknownFamily, family_of, min_size, size_problem
from murad.models import build_model, model_spec
from murad.train import train_step

CLASSIFIERS = sorted(torchvision.models.list_models(module=torchvision.models))

# One model per family (its smallest), the size its map is checked at, and the map's grid there: what each
# architecture's strides give, written down from the papers (input / 32 for most; VGG's last ReLU before the final
# max-pool is input / 16; ViT-B/16's patches input / 16; MaxViT's last block input / 32 at 224 px; AlexNet's and
# SqueezeNet's unpadded strides give 3 x 3 at 64 px; inception_v3's stem crops to 3 x 3 at 139 px).
REPRESENTATIVES = {
    "alexnet": ("alexnet", 64, 3),
    "convnext": ("convnext_tiny", 64, 2),
    "densenet": ("densenet121", 64, 2),
    "efficientnet": ("efficientnet_b0", 64, 2),
    "googlenet": ("googlenet", 64, 2),
    "inception": ("inception_v3", 139, 3),
    "maxvit": ("maxvit_t", 224, 7),
    "mnasnet": ("mnasnet0_5", 64, 2),
    "mobilenet_v2": ("mobilenet_v2", 64, 2),
    "mobilenet_v3": ("mobilenet_v3_small", 64, 2),
    "regnet": ("regnet_y_400mf", 64, 2),
    "resnet": ("resnet18", 64, 2),
    "shufflenet_v2": ("shufflenet_v2_x0_5", 64, 2),
    "squeezenet": ("squeezenet1_1", 64, 3),
    "swin": ("swin_t", 64, 2),
    "vgg": ("vgg11", 64, 4),
    "vit": ("vit_b_16", 64, 4),
}


def test_every_classifier_torchvision_lists_has_a_family_and_every_family_a_test():
    families = {name: family_of(name).name for name in CLASSIFIERS}
    assert set(families.values()) == {family.name for family in FAMILIES} == set(REPRESENTATIVES)
    for family, (name, _, _) in REPRESENTATIVES.items():
        assert families[name] == family


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_each_models_head_and_cam_layer_are_where_its_family_says(name):
    spec = model_spec(name)
    try:
        with torch.device("meta"):  # the layers without their weights: no memory, no time
            model = torchvision.models.get_model(name, weights=None)
    except NotImplementedError:  # RegNet computes its widths with tensors, which the meta device cannot hold
        if torchvision.models.get_model_weights(name).DEFAULT.meta["num_params"] > 100e6:
            pytest.skip(f"{name}: over 100 M parameters to build for real")
        model = torchvision.models.get_model(name, weights=None)
    head = model.get_submodule(spec.head)
    assert isinstance(head, nn.Conv2d if name.startswith("squeezenet") else nn.Linear)
    model.get_submodule(spec.cam_layer)  # exists
    assert size_problem(name, min_size(name)) is None


def square_pictures(count: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise pictures, every other one with a bright square somewhere (label 1)."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 0.3, (count, 1, size, size)).astype(np.float32)
    labels = np.arange(count) % 2
    side = size // 4
    for i in np.flatnonzero(labels):
        y, x = rng.integers(0, size - side, 2)
        images[i, :, y : y + side, x : x + side] += 2.5
    return torch.from_numpy(images).expand(-1, 3, -1, -1).contiguous(), torch.from_numpy(labels.astype(np.float32))


def recalibrate_batch_norm(model: nn.Module, images: torch.Tensor) -> None:
    """Batch-norm statistics of ``images`` (a few steps leave MobileNetV3's, momentum 0.01, at their initial values,
    under which every picture gets the same logit in eval mode), as a long training run would have them."""
    for layer in model.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.reset_running_stats()
            layer.momentum = None  # a plain average over the passes
    with torch.no_grad():
        model.train()(images)


@pytest.mark.parametrize("family", sorted(REPRESENTATIVES))
def test_each_family_trains_with_one_logit_and_maps_on_its_layers_grid(family):
    name, size, side = REPRESENTATIVES[family]
    spec = model_spec(name)
    torch.manual_seed(0)
    smallest = min_size(name)
    model = build_model(name, "none", image_size=smallest)
    images, labels = square_pictures(2, smallest)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = train_step(model.train(), optimizer, images, labels, torch.ones(2), aux_loss_weight=0.4, autocast=False)
    assert torch.isfinite(loss)
    with torch.no_grad():
        assert model.eval()(images).shape == (2, 1)

    model = build_model(name, "none", image_size=size)
    images, labels = square_pictures(4, size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)  # a few steps, so the logit has something to point at
    for _ in range(3):
        train_step(model.train(), optimizer, images, labels, torch.ones(4), aux_loss_weight=0.4, autocast=False)
    recalibrate_batch_norm(model, images)
    heat, logits = layer_maps(model.eval(), spec, images)
    assert heat.shape == (4, side, side)  # the layer's grid, never its channels
    with torch.no_grad():
        assert torch.allclose(logits, model(images).reshape(-1), rtol=1e-4, atol=1e-4)
    if spec.cam_method == "CAM":  # the paper's identity: mean(M) + bias = logit
        bias = model.get_submodule(spec.head).bias[0].detach()
        assert torch.allclose(heat.mean(dim=(1, 2)) + bias, logits, rtol=1e-4, atol=1e-3 * logits.abs().max())
    # A Grad-CAM is rectified, so an image without positive evidence may get an empty map, but not every image: a
    # layer the logit does not depend on (ViT's last block's output but the class token) would give them all one.
    assert not all(is_flat(one.numpy()) for one in heat), f"{name}: constant maps"


@pytest.mark.parametrize(
    "name, size, message",
    [
        ("vit_b_16", 100, "vit_b_16 takes image sizes of multiples of 16 px from 32 px (its patches must tile"),
        ("vit_l_32", 48, "multiples of 32 px from 32 px"),
        ("maxvit_t", 320, "maxvit_t takes image sizes of multiples of 224 px from 224 px"),
        ("inception_v3", 64, "inception_v3 takes image sizes of 75 px and more, not 64"),
        ("alexnet", 62, "alexnet takes image sizes of 63 px and more"),
    ],
)
def test_an_impossible_size_is_refused_in_one_line_naming_the_sizes_the_model_takes(name, size, message):
    problem = size_problem(name, size)
    assert problem is not None and message in problem and "\n" not in problem
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model(name, "none", image_size=size)


@pytest.mark.parametrize(
    "name, kind",
    [("r3d_18", "video"), ("quantized_resnet50", "quantized"), ("fasterrcnn_resnet50_fpn", "detection"),
     ("deeplabv3_resnet50", "segmentation"), ("raft_small", "optical flow")],
)  # fmt: skip
def test_models_of_torchvisions_other_modules_are_refused_by_what_they_are(name, kind):
    assert name in torchvision.models.list_models()  # torchvision has them, outside its classification list
    with pytest.raises(UnknownFamily, match=f"{name} is an? {kind} model"):
        family_of(name)


def test_a_vit_at_another_size_than_its_weights_gets_their_position_embeddings_interpolated(tmp_path):
    torch.manual_seed(1)
    published = torchvision.models.get_model("vit_b_32", weights=None)  # at its weights' 224 px
    path = tmp_path / "checkpoints" / torchvision.models.get_model_weights("vit_b_32").DEFAULT.url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True)
    torch.save(published.state_dict(), path)
    model = build_model("vit_b_32", "imagenet", hub_dir=tmp_path, image_size=128)
    assert model.encoder.pos_embedding.shape == (1, 1 + 4 * 4, 768)  # 128 / 32 = 4 x 4 patches and the class token
    assert torch.equal(model.encoder.pos_embedding[:, 0], published.encoder.pos_embedding[:, 0])  # the class token's
    assert torch.equal(model.conv_proj.weight, published.conv_proj.weight)
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 128, 128)).shape == (2, 1)
