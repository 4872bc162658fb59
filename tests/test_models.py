"""The model registry: the paper's 18 torchvision models with one logit, CAM layer and head recorded."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from murad.families import PAPER_MODELS
from murad.models import WeightsMissingError, build_model, model_spec, weights_file
from murad.torchvision_catalog import IMAGENET_WEIGHTS_FILES, MODEL_SIZES


def test_the_torch_free_catalog_is_the_installed_torchvisions():
    # The workflow's parse checks model names and names weight files from this table, without importing torch.
    names = sorted(torchvision.models.list_models(module=torchvision.models))
    assert sorted(IMAGENET_WEIGHTS_FILES) == names
    for name in names:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
        assert IMAGENET_WEIGHTS_FILES[name] == url.rsplit("/", 1)[1], name
        meta = torchvision.models.get_model_weights(name).DEFAULT.meta
        assert MODEL_SIZES[name] == (round(meta["num_params"] / 1e6, 1), meta["_ops"]), name
    assert set(PAPER_MODELS) <= set(names)


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_every_paper_model_gives_one_logit_and_records_its_cam_layer_and_head(name):
    torch.manual_seed(0)
    model = build_model(name, "none", image_size=128).eval()
    spec = model_spec(name)
    head = model.get_submodule(spec.head)
    assert isinstance(head, nn.Linear) and head.out_features == 1
    features = {}
    hook = model.get_submodule(spec.cam_layer).register_forward_hook(lambda m, i, o: features.update(out=o))
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 128, 128))
    hook.remove()
    assert logits.shape == (2, 1)
    # CAM resolution: input / 32 (inception's stem crops more); VGG's Grad-CAM layer is before the last max-pool
    side = 2 if name == "inception_v3" else 8 if name.startswith("vgg") else 4
    assert features["out"].shape[-2:] == (side, side)
    assert spec.cam_method == ("Grad-CAM" if name.startswith("vgg") else "CAM")


def test_inception_keeps_its_auxiliary_head_only_where_it_fits():
    small = build_model("inception_v3", "none", image_size=128)
    assert small.AuxLogits is None
    large = build_model("inception_v3", "none", image_size=299)
    assert large.AuxLogits.fc.out_features == 1
    with pytest.raises(ValueError, match="75 px and more"):
        build_model("inception_v3", "none", image_size=64)


def test_any_other_torchvision_classifier_can_be_named():
    model = build_model("resnet18", "none", image_size=64)
    assert model.fc.out_features == 1
    spec = model_spec("efficientnet_b0")  # global average pooling -> dropout -> linear: the paper's exact CAM
    assert (spec.head, spec.cam_method, spec.cam_layer) == ("classifier.1", "CAM", "features")
    assert build_model("efficientnet_b0", "none", image_size=64).classifier[1].out_features == 1
    squeezenet = build_model("squeezenet1_1", "none", image_size=64)  # a 1 x 1 convolution head, its ReLU dropped
    assert squeezenet.classifier[1].out_channels == 1 and isinstance(squeezenet.classifier[2], nn.Identity)
    with torch.no_grad():
        squeezenet.classifier[1].bias.fill_(-100.0)
        assert (squeezenet.eval()(torch.randn(8, 3, 64, 64)) < 0).all()  # one logit can say "normal"
    with pytest.raises(ValueError, match="not a torchvision classification model"):
        build_model("resnet9000")


def stage(name: str, hub_dir, legacy_densenet_keys: bool = False) -> dict:
    """Stage an ImageNet-shaped state dict under the file name torchvision's weights API uses."""
    torch.manual_seed(1)
    reference = torchvision.models.get_model(name, weights=None).state_dict()
    state = dict(reference)
    if legacy_densenet_keys:  # published DenseNet files (pre batch-norm counters) name layers 'norm.1', not 'norm1'
        state = {
            k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v
            for k, v in state.items()
            if not k.endswith("num_batches_tracked")
        }
    path = weights_file(name, hub_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return reference


@pytest.mark.parametrize("name, legacy", [("resnet34", False), ("densenet121", True)])
def test_imagenet_weights_load_from_the_staged_hub_folder(tmp_path, name, legacy):
    reference = stage(name, tmp_path, legacy)
    model = build_model(name, "imagenet", hub_dir=tmp_path, image_size=128)
    head = model_spec(name).head
    loaded = model.state_dict()
    for key, value in reference.items():
        if not key.startswith(head) and not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded[key], value), key
    assert model.get_submodule(head).out_features == 1


def test_missing_weights_name_the_file_and_the_staging_command(tmp_path):
    with pytest.raises(WeightsMissingError) as error:
        build_model("resnet34", "imagenet", hub_dir=tmp_path)
    message = str(error.value)
    assert str(weights_file("resnet34", tmp_path)) in message
    assert "stage_weights" in message and "\n" not in message
