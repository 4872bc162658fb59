"""torchvision's classification models, their ImageNet weight files and sizes, known without importing torch.

Snakemake parses the workflow on every command, `snakemake -n` included, and the parse checks the model names and
names the files `stage_weights` writes. Importing torchvision for that takes longer than all the rest of a dry run,
so the names are listed here as torchvision 0.29.1 (the version requirements.txt pins) has them; tests/test_models.py
checks the list against the installed torchvision. A name not listed is looked up in torchvision itself, so a newer
torchvision's models work too, only with a slower parse.
"""

from __future__ import annotations

from pathlib import Path

# Every torchvision classification model, with the file name of its DEFAULT (ImageNet) weights: the basename of the
# weights' URL, which torchvision's weights API caches as <torch hub dir>/checkpoints/<file>.
IMAGENET_WEIGHTS_FILES = {
    "alexnet": "alexnet-owt-7be5be79.pth",
    "convnext_base": "convnext_base-6075fbad.pth",
    "convnext_large": "convnext_large-ea097f82.pth",
    "convnext_small": "convnext_small-0c510722.pth",
    "convnext_tiny": "convnext_tiny-983f1562.pth",
    "densenet121": "densenet121-a639ec97.pth",
    "densenet161": "densenet161-8d451a50.pth",
    "densenet169": "densenet169-b2777c0a.pth",
    "densenet201": "densenet201-c1103571.pth",
    "efficientnet_b0": "efficientnet_b0_rwightman-7f5810bc.pth",
    "efficientnet_b1": "efficientnet_b1-c27df63c.pth",
    "efficientnet_b2": "efficientnet_b2_rwightman-c35c1473.pth",
    "efficientnet_b3": "efficientnet_b3_rwightman-b3899882.pth",
    "efficientnet_b4": "efficientnet_b4_rwightman-23ab8bcd.pth",
    "efficientnet_b5": "efficientnet_b5_lukemelas-1a07897c.pth",
    "efficientnet_b6": "efficientnet_b6_lukemelas-24a108a5.pth",
    "efficientnet_b7": "efficientnet_b7_lukemelas-c5b4e57e.pth",
    "efficientnet_v2_l": "efficientnet_v2_l-59c71312.pth",
    "efficientnet_v2_m": "efficientnet_v2_m-dc08266a.pth",
    "efficientnet_v2_s": "efficientnet_v2_s-dd5fe13b.pth",
    "googlenet": "googlenet-1378be20.pth",
    "inception_v3": "inception_v3_google-0cc3c7bd.pth",
    "maxvit_t": "maxvit_t-bc5ab103.pth",
    "mnasnet0_5": "mnasnet0.5_top1_67.823-3ffadce67e.pth",
    "mnasnet0_75": "mnasnet0_75-7090bc5f.pth",
    "mnasnet1_0": "mnasnet1.0_top1_73.512-f206786ef8.pth",
    "mnasnet1_3": "mnasnet1_3-a4c69d6f.pth",
    "mobilenet_v2": "mobilenet_v2-7ebf99e0.pth",
    "mobilenet_v3_large": "mobilenet_v3_large-5c1a4163.pth",
    "mobilenet_v3_small": "mobilenet_v3_small-047dcff4.pth",
    "regnet_x_16gf": "regnet_x_16gf-ba3796d7.pth",
    "regnet_x_1_6gf": "regnet_x_1_6gf-a12f2b72.pth",
    "regnet_x_32gf": "regnet_x_32gf-6eb8fdc6.pth",
    "regnet_x_3_2gf": "regnet_x_3_2gf-7071aa85.pth",
    "regnet_x_400mf": "regnet_x_400mf-62229a5f.pth",
    "regnet_x_800mf": "regnet_x_800mf-94a99ebd.pth",
    "regnet_x_8gf": "regnet_x_8gf-2b70d774.pth",
    "regnet_y_128gf": "regnet_y_128gf_swag-c8ce3e52.pth",
    "regnet_y_16gf": "regnet_y_16gf-3e4a00f9.pth",
    "regnet_y_1_6gf": "regnet_y_1_6gf-0d7bc02a.pth",
    "regnet_y_32gf": "regnet_y_32gf-8db6d4b5.pth",
    "regnet_y_3_2gf": "regnet_y_3_2gf-9180c971.pth",
    "regnet_y_400mf": "regnet_y_400mf-e6988f5f.pth",
    "regnet_y_800mf": "regnet_y_800mf-58fc7688.pth",
    "regnet_y_8gf": "regnet_y_8gf-dc2b1b54.pth",
    "resnet101": "resnet101-cd907fc2.pth",
    "resnet152": "resnet152-f82ba261.pth",
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-11ad3fa6.pth",
    "resnext101_32x8d": "resnext101_32x8d-110c445d.pth",
    "resnext101_64x4d": "resnext101_64x4d-173b62eb.pth",
    "resnext50_32x4d": "resnext50_32x4d-1a0047aa.pth",
    "shufflenet_v2_x0_5": "shufflenetv2_x0.5-f707e7126e.pth",
    "shufflenet_v2_x1_0": "shufflenetv2_x1-5666bf0f80.pth",
    "shufflenet_v2_x1_5": "shufflenetv2_x1_5-3c479a10.pth",
    "shufflenet_v2_x2_0": "shufflenetv2_x2_0-8be3c8ee.pth",
    "squeezenet1_0": "squeezenet1_0-b66bff10.pth",
    "squeezenet1_1": "squeezenet1_1-b8a52dc0.pth",
    "swin_b": "swin_b-68c6b09e.pth",
    "swin_s": "swin_s-5e29d889.pth",
    "swin_t": "swin_t-704ceda3.pth",
    "swin_v2_b": "swin_v2_b-781e5279.pth",
    "swin_v2_s": "swin_v2_s-637d8ceb.pth",
    "swin_v2_t": "swin_v2_t-b137f0e2.pth",
    "vgg11": "vgg11-8a719046.pth",
    "vgg11_bn": "vgg11_bn-6002323d.pth",
    "vgg13": "vgg13-19584684.pth",
    "vgg13_bn": "vgg13_bn-abd245e5.pth",
    "vgg16": "vgg16-397923af.pth",
    "vgg16_bn": "vgg16_bn-6c64b313.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
    "vgg19_bn": "vgg19_bn-c79401a0.pth",
    "vit_b_16": "vit_b_16-c867db91.pth",
    "vit_b_32": "vit_b_32-d86f8d99.pth",
    "vit_h_14": "vit_h_14_swag-80465313.pth",
    "vit_l_16": "vit_l_16-852ce7e3.pth",
    "vit_l_32": "vit_l_32-c7638314.pth",
    "wide_resnet101_2": "wide_resnet101_2-d733dc28.pth",
    "wide_resnet50_2": "wide_resnet50_2-9ba9bcbe.pth",
}


# Every model's size as torchvision's weights metadata gives it: (millions of parameters, GFLOPs of one 224 px
# forward pass). The workflow sizes a training job's memory and walltime by it.
MODEL_SIZES = {
    "alexnet": (61.1, 0.714),
    "convnext_base": (88.6, 15.355),
    "convnext_large": (197.8, 34.361),
    "convnext_small": (50.2, 8.684),
    "convnext_tiny": (28.6, 4.456),
    "densenet121": (8.0, 2.834),
    "densenet161": (28.7, 7.728),
    "densenet169": (14.1, 3.36),
    "densenet201": (20.0, 4.291),
    "efficientnet_b0": (5.3, 0.386),
    "efficientnet_b1": (7.8, 0.687),
    "efficientnet_b2": (9.1, 1.088),
    "efficientnet_b3": (12.2, 1.827),
    "efficientnet_b4": (19.3, 4.394),
    "efficientnet_b5": (30.4, 10.266),
    "efficientnet_b6": (43.0, 19.068),
    "efficientnet_b7": (66.3, 37.746),
    "efficientnet_v2_l": (118.5, 56.08),
    "efficientnet_v2_m": (54.1, 24.582),
    "efficientnet_v2_s": (21.5, 8.366),
    "googlenet": (6.6, 1.498),
    "inception_v3": (27.2, 5.713),
    "maxvit_t": (30.9, 5.558),
    "mnasnet0_5": (2.2, 0.104),
    "mnasnet0_75": (3.2, 0.215),
    "mnasnet1_0": (4.4, 0.314),
    "mnasnet1_3": (6.3, 0.526),
    "mobilenet_v2": (3.5, 0.301),
    "mobilenet_v3_large": (5.5, 0.217),
    "mobilenet_v3_small": (2.5, 0.057),
    "regnet_x_16gf": (54.3, 15.941),
    "regnet_x_1_6gf": (9.2, 1.603),
    "regnet_x_32gf": (107.8, 31.736),
    "regnet_x_3_2gf": (15.3, 3.177),
    "regnet_x_400mf": (5.5, 0.414),
    "regnet_x_800mf": (7.3, 0.8),
    "regnet_x_8gf": (39.6, 7.995),
    "regnet_y_128gf": (644.8, 374.57),
    "regnet_y_16gf": (83.6, 15.912),
    "regnet_y_1_6gf": (11.2, 1.612),
    "regnet_y_32gf": (145.0, 32.28),
    "regnet_y_3_2gf": (19.4, 3.176),
    "regnet_y_400mf": (4.3, 0.402),
    "regnet_y_800mf": (6.4, 0.834),
    "regnet_y_8gf": (39.4, 8.473),
    "resnet101": (44.5, 7.801),
    "resnet152": (60.2, 11.514),
    "resnet18": (11.7, 1.814),
    "resnet34": (21.8, 3.664),
    "resnet50": (25.6, 4.089),
    "resnext101_32x8d": (88.8, 16.414),
    "resnext101_64x4d": (83.5, 15.46),
    "resnext50_32x4d": (25.0, 4.23),
    "shufflenet_v2_x0_5": (1.4, 0.04),
    "shufflenet_v2_x1_0": (2.3, 0.145),
    "shufflenet_v2_x1_5": (3.5, 0.296),
    "shufflenet_v2_x2_0": (7.4, 0.583),
    "squeezenet1_0": (1.2, 0.819),
    "squeezenet1_1": (1.2, 0.349),
    "swin_b": (87.8, 15.431),
    "swin_s": (49.6, 8.741),
    "swin_t": (28.3, 4.491),
    "swin_v2_b": (87.9, 20.325),
    "swin_v2_s": (49.7, 11.546),
    "swin_v2_t": (28.4, 5.94),
    "vgg11": (132.9, 7.609),
    "vgg11_bn": (132.9, 7.609),
    "vgg13": (133.0, 11.308),
    "vgg13_bn": (133.1, 11.308),
    "vgg16": (138.4, 15.47),
    "vgg16_bn": (138.4, 15.47),
    "vgg19": (143.7, 19.632),
    "vgg19_bn": (143.7, 19.632),
    "vit_b_16": (86.6, 17.564),
    "vit_b_32": (88.2, 4.409),
    "vit_h_14": (633.5, 1016.717),
    "vit_l_16": (304.3, 61.555),
    "vit_l_32": (306.5, 15.378),
    "wide_resnet101_2": (126.9, 22.753),
    "wide_resnet50_2": (68.9, 11.398),
}


def is_classification_model(name: str) -> bool:
    """Whether torchvision has a classification model called ``name``."""
    if name in IMAGENET_WEIGHTS_FILES:
        return True
    import torchvision

    return name in torchvision.models.list_models(module=torchvision.models)


def weights_file(name: str, hub_dir: str | Path) -> Path:
    """Where torchvision's weights API caches the ImageNet weights of ``name`` under ``hub_dir``."""
    file = IMAGENET_WEIGHTS_FILES.get(name)
    if file is None:
        import torchvision

        file = Path(torchvision.models.get_model_weights(name).DEFAULT.url).name
    return Path(hub_dir) / "checkpoints" / file


def model_size(name: str) -> tuple[float, float]:
    """(millions of parameters, GFLOPs of one 224 px forward pass) of a torchvision model."""
    if name in MODEL_SIZES:
        return MODEL_SIZES[name]
    import torchvision

    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    return round(meta["num_params"] / 1e6, 1), meta["_ops"]
