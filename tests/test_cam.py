"""Class activation maps: the CAM identity per family, Grad-CAM for VGG, the localization scores and baselines on
hand-made maps, a trained model's map peaking in a known box, the figures' layout, the cam jobs against the package's
own functions, and the cam rules through the real workflow."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from murad.cam import localization, maps, rendering, summary
from murad.data import Normaliser, take
from murad.errors import InputError
from murad.inference import choose_device, load_trained
from murad.io import write_csv
from murad.jobs.cam import NO_LESIONS_NOTE, cam_figures, cam_localization, cam_maps
from murad.models import build_model, model_spec
from murad.plotting import apply_style, overlapping_texts
from murad.radiographs import image_size, load_radiograph

from .conftest import default_config, fake_trained_model, merged, run_snakemake

STYLE = {"style": "whitegrid", "palette": "colorblind", "dpi": 60}


def no_hooks_left(model: torch.nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())


# ------------------------------------------------------------------------------------------------ the maps


@pytest.mark.parametrize(
    "name, size",
    [("densenet121", 64), ("resnet18", 64), ("resnext50_32x4d", 64), ("mobilenet_v2", 64), ("inception_v3", 139)],
)
def test_cam_is_the_papers_weighted_sum_and_its_mean_plus_bias_is_the_logit(name, size):
    torch.manual_seed(0)
    model = build_model(name, "none", image_size=size).eval()
    spec = model_spec(name)
    assert spec.cam_method == "CAM"
    images = torch.randn(3, 3, size, size)
    cams, logits = maps.layer_maps(model, spec, images)
    head = model.get_submodule(spec.head)
    with torch.no_grad():
        expected = model(images).reshape(-1)
    assert torch.allclose(logits, expected, atol=1e-5)
    assert torch.allclose(cams.mean(dim=(1, 2)) + head.bias[0], logits, rtol=1e-4, atol=1e-4)
    assert float(cams.std()) > 0  # a real map, not a constant
    assert no_hooks_left(model)


def test_gradcam_of_a_gap_linear_head_is_the_rectified_cam_over_the_cell_count():
    """d logit / d f_k[i, j] = w_k / (h w) under GAP -> linear, so Grad-CAM = ReLU(CAM) / (h w) exactly."""
    torch.manual_seed(1)
    model = build_model("resnet18", "none", image_size=64).eval()
    spec = model_spec("resnet18")
    images = torch.randn(2, 3, 64, 64)
    cams, _ = maps.layer_maps(model, spec, images)
    grad_cams, logits = maps.layer_maps(model, spec, images, method="Grad-CAM")
    cells = cams.shape[1] * cams.shape[2]
    assert torch.allclose(grad_cams, F.relu(cams) / cells, atol=1e-5)
    assert torch.allclose(logits, model(images).reshape(-1).detach(), atol=1e-5)


def test_gradcam_for_vgg_is_non_negative_at_the_last_conv_map_and_leaves_no_hooks():
    torch.manual_seed(0)
    model = build_model("vgg11_bn", "none", image_size=64).eval()
    spec = model_spec("vgg11_bn")
    method = maps.cam_method(spec)  # the registry's choice: no GAP -> linear head, so Grad-CAM on its cam_layer
    assert method == maps.CamMethod("Grad-CAM", "features.27") == maps.CamMethod("Grad-CAM", spec.cam_layer)
    assert isinstance(model.get_submodule(method.layer), torch.nn.ReLU)  # the ReLU before the final max-pool
    flags = [p.requires_grad for p in model.parameters()]
    cache = np.random.default_rng(0).integers(0, 256, (5, 64, 64), dtype=np.uint8)
    cams, logits, used = maps.compute_maps(model, spec, cache, np.arange(5), batch_size=2)
    assert used == method
    assert cams.shape == (5, 4, 4) and logits.shape == (5,)  # 64 / 16: the map before the last pooling
    assert (cams >= 0).all() and cams.max() > 0
    assert no_hooks_left(model)
    assert [p.requires_grad for p in model.parameters()] == flags
    # a failing forward pass removes the hook and restores the parameters too
    with pytest.raises(RuntimeError):
        maps.layer_maps(model, spec, torch.randn(1, 2, 64, 64))
    assert no_hooks_left(model)
    assert [p.requires_grad for p in model.parameters()] == flags


def test_a_cam_method_is_one_entry_of_channel_weights_over_the_shared_hook_and_forward_pass(monkeypatch):
    # A method that weights every channel 1 gives the sum of the layer's feature maps: read back with a hook here.
    uniform = maps.ChannelWeights(gradients=False, weights=lambda model, spec, g: torch.ones(1, 512), rectify=False)
    monkeypatch.setitem(maps.CAM_METHODS, "channel sum", uniform)
    torch.manual_seed(0)
    model = build_model("resnet18", "none", image_size=64).eval()
    images = torch.randn(2, 3, 64, 64)
    seen = {}
    handle = model.layer4.register_forward_hook(lambda module, inputs, output: seen.update(out=output.detach()))
    heat, logits = maps.layer_maps(model, model_spec("resnet18"), images, method="channel sum")
    handle.remove()
    assert torch.allclose(heat, seen["out"].sum(dim=1), atol=1e-5)
    assert torch.allclose(logits, model(images).reshape(-1).detach(), atol=1e-5)
    assert no_hooks_left(model)


# ------------------------------------------------------------------------------ scores and baselines by hand


def test_peak_pointing_game_and_its_tolerance():
    heat = np.zeros((100, 200), np.float32)  # H = 100, W = 200: tolerance is a share of 200 px
    heat[50, 150] = 1.0
    assert localization.peak(heat) == (150, 50)
    assert localization.pointing_hit(heat, (140, 40, 160, 60), 0.0)  # inside
    assert not localization.pointing_hit(heat, (10, 10, 20, 20), 0.03)
    # box starts 5 px right of the peak: within 0.03 x 200 = 6 px, not within 0.02 x 200 = 4 px
    assert localization.box_distance(150, 50, (155, 40, 170, 60)) == 5
    assert localization.pointing_hit(heat, (155, 40, 170, 60), 0.03)
    assert not localization.pointing_hit(heat, (155, 40, 170, 60), 0.02)
    # x1, y1 are exclusive: pixel 150 is 1 px right of the box [140, 150)
    assert localization.box_distance(150, 50, (140, 40, 150, 60)) == 1
    assert localization.box_distance(0, 0, (3, 4, 9, 9)) == 5  # diagonal: hypot(3, 4)


def test_energy_share_chance_and_the_tolerance_chance_by_hand():
    heat = np.zeros((4, 10), np.float32)
    heat[:, :5] = 1.0
    assert localization.energy_share(heat, (0, 0, 5, 2)) == pytest.approx(10 / 20)
    assert localization.energy_share(heat + 3, (0, 0, 5, 2)) == pytest.approx(0.5)  # min-max normalised first
    assert localization.energy_share(heat, (5, 0, 10, 4)) == 0
    assert localization.box_fraction((0, 0, 5, 2), 10, 4) == pytest.approx(10 / 40)
    # a 2 x 2 box on a 10 x 10 image, tolerance 0.1 x 10 = 1 px: the box and the 8 pixels beside its sides
    assert localization.chance_pointing((4, 4, 6, 6), 10, 10, 0.1) == pytest.approx(12 / 100)
    assert localization.chance_pointing((4, 4, 6, 6), 10, 10, 0.0) == pytest.approx(
        localization.box_fraction((4, 4, 6, 6), 10, 10)
    )


def test_flat_maps_point_nowhere_and_spread_evenly():
    flat = np.zeros((20, 30), np.float32)
    assert localization.peak(flat) is None
    assert not localization.pointing_hit(flat, (0, 0, 30, 20), 0.1)
    assert localization.energy_share(flat, (0, 0, 15, 20)) == pytest.approx(0.5)
    assert (maps.normalise(flat) == 0).all()


def test_a_lesions_file_with_two_boxes_for_one_image_is_refused_naming_file_and_image(tmp_path):
    row = "MURA-v1.1/valid/XR_HAND/patient1/study1_positive/image1.png,fracture,1,2,3,4,10,10"
    lesions = tmp_path / "lesions.csv"
    lesions.write_text(f"path,kind,x0,y0,x1,y1,width,height\n{row}\n{row.replace('1,2,3,4', '5,5,8,8')}\n")
    with pytest.raises(InputError) as error:
        localization.read_lesions(lesions)
    assert str(error.value) == f"{lesions}: {row.split(',')[0]} has more than one box (one per image expected)"


def test_centre_baseline_peaks_at_the_centre_and_is_scored_like_a_map():
    centre = localization.centre_map(7, 11)
    assert localization.peak(centre) == (5, 3)
    scores = localization.score_map(centre, (4, 2, 7, 5), 0.0)
    assert scores["pointing_hit"] == 1 and scores["centre_hit"] == 1
    assert scores["energy_share"] == pytest.approx(scores["centre_energy"])
    off = localization.score_map(centre, (0, 0, 2, 2), 0.0)
    assert off["centre_hit"] == 0 and 0 < off["centre_energy"] < off["chance"]


def test_upsampling_puts_a_cell_on_the_original_pixels_and_the_peak_at_its_centre():
    cell = np.array([[0.0, 0.0], [0.0, 1.0]], np.float32)  # bottom-right cell of a 2 x 2 map
    heat = maps.upsample(cell, 20, 40)  # original H = 20, W = 40 (the cache squashed it to a square)
    assert heat.shape == (20, 40)
    assert heat[:10, :20].max() < heat[15:, 30:].min()
    # the border plateau's tie goes to the cell centre, ((1 + 0.5) x 40 / 2 - 0.5, (1 + 0.5) x 20 / 2 - 0.5)
    assert localization.peak(heat) == (30, 15)


def test_localization_table_means_per_model_and_kind_with_baselines():
    def frame(hits, energy, kinds, method="CAM", layer="layer4"):
        return pd.DataFrame(
            {
                "method": method,
                "layer": layer,
                "kind": kinds,
                "pointing_hit": hits,
                "energy_share": energy,
                "chance": [0.1, 0.2, 0.3, None],
                "chance_pointing": [0.2, 0.3, 0.4, None],
                "centre_hit": [1, 0, 0, None],
                "centre_energy": [0.2, 0.1, 0.0, None],
                "peak_x": [1, None, 3, 4],
            }
        )

    scores = {
        "b": frame([1, 0, 1, None], [0.5, 0.1, 0.3, None], ["lytic", "fracture", "lytic", None]),
        "a": frame([0, 0, 1, None], [0.2, 0.2, 0.2, None], ["lytic", "fracture", "lytic", None], "Grad-CAM", "f.2"),
    }
    table = localization.localization_table(scores)
    assert list(table.columns) == localization.LOCALIZATION_COLUMNS
    assert list(zip(table["model"], table["kind"], strict=True)) == [
        ("a", "all"),
        ("a", "fracture"),
        ("a", "lytic"),
        ("b", "all"),
        ("b", "fracture"),
        ("b", "lytic"),
    ]
    b = table[table["model"] == "b"].set_index("kind")
    assert b.loc["all", "images"] == 3 and b.loc["all", "pointing"] == pytest.approx(2 / 3, abs=1e-6)
    assert b.loc["lytic", "energy"] == pytest.approx(0.4) and b.loc["lytic", "chance"] == pytest.approx(0.2)
    assert b.loc["all", "centre_pointing"] == pytest.approx(1 / 3)
    assert b.loc["fracture", "flat"] == 1 and b.loc["lytic", "flat"] == 0
    assert table.groupby("model")[["method", "layer"]].first().to_dict("index") == {
        "a": {"method": "Grad-CAM", "layer": "f.2"},
        "b": {"method": "CAM", "layer": "layer4"},
    }
    markdown = summary.localization_markdown(table, None, 0.03)
    assert "| chance |" in markdown and "| centre baseline |" in markdown and "0.03 x" in markdown
    assert "| model | method | layer | all (n=3) |" in markdown and "| a | Grad-CAM | f.2 | 0.333 |" in markdown


# ------------------------------------------------------------------- a trained model points at a known box


def blob_images(n: int, size: int, seed: int):
    """Noisy gradients with a dim wide spot; half (label 1) add a compact bright spot whose box is known, the other
    half a second dim spot of the same integrated brightness (so the label needs the local shape, not the mean)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    radius = size / 8

    def spot(cx, cy, sigma, amplitude):
        return amplitude * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))

    images, labels, boxes = np.empty((n, size, size), np.uint8), np.zeros(n, np.float32), []
    for i in range(n):
        slope = rng.uniform(0, 1, 2)
        picture = 60 + 40 * (slope[0] * xx + slope[1] * yy) / size + rng.normal(0, 8, (size, size))
        picture += spot(*rng.uniform(0, size, 2), 2 * radius / 1.5, 30)
        cx, cy = rng.uniform(size / 6, size - size / 6, 2)
        box = None
        if i % 2 == 0:
            picture += spot(cx, cy, radius / 1.5, 120)
            box = (int(cx - radius), int(cy - radius), math.ceil(cx + radius), math.ceil(cy + radius))
            labels[i] = 1
        else:
            picture += spot(cx, cy, 2 * radius / 1.5, 30)
        images[i] = np.clip(picture, 0, 255).astype(np.uint8)
        boxes.append(box)
    return images, labels, boxes


def test_a_trained_small_models_map_peaks_in_the_known_box():
    torch.set_num_threads(2)
    size = 128
    train, labels, _ = blob_images(192, size, seed=0)
    torch.manual_seed(0)
    model = build_model("resnet18", "none", image_size=size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    normaliser = Normaliser(torch.device("cpu"))
    order = np.random.default_rng(1)
    model.train()
    for _ in range(24):
        index = order.choice(len(train), 32, replace=False)
        loss = F.binary_cross_entropy_with_logits(
            model(normaliser(take(train, index))).squeeze(1), torch.from_numpy(labels[index])
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    test, test_labels, boxes = blob_images(60, size, seed=2)
    model.eval()
    positives = np.flatnonzero(test_labels == 1)
    cams, logits, method = maps.compute_maps(model, model_spec("resnet18"), test, np.arange(len(test)), 32)
    assert method == maps.CamMethod("CAM", "layer4") and cams.shape == (60, 4, 4)
    assert ((logits > 0) == (test_labels == 1)).mean() >= 0.9  # it learned the task
    scores = [localization.score_map(maps.upsample(cams[i], size, size), boxes[i], 0.05) for i in positives]
    hits = np.mean([s["pointing_hit"] for s in scores])
    # a 4 x 4 map on a 128 px image: the peak is a cell centre, so most (not all) peaks land in the 32 px box
    assert hits >= 0.6, hits
    assert hits > np.mean([s["chance_pointing"] for s in scores]) + 0.4
    assert hits > np.mean([s["centre_hit"] for s in scores]) + 0.25
    assert np.mean([s["energy_share"] for s in scores]) > np.mean([s["chance"] for s in scores])


# ------------------------------------------------------------------------------------------------ the figures


def grid_panels(boxes: bool, shape: tuple[int, int]) -> list[rendering.Panel]:
    """2 body parts x 2 images of one shape (rows, columns), with lesion boxes (a hit and a miss each) or without."""
    rng = np.random.default_rng(0)
    panels = []
    for part in ("XR_ELBOW", "XR_HAND"):
        for hit in (True, False):
            radiograph = rng.integers(0, 256, shape, dtype=np.uint8)
            picture = np.repeat(radiograph[..., None], 3, axis=2)
            box, kind = ((10, 10, 60, 40), "fracture") if boxes else (None, None)
            panels.append(
                rendering.Panel(part, radiograph, picture, 0.73, 1, box, kind, hit if boxes else None, (30, 20))
            )
    return panels


@pytest.mark.parametrize("method", [maps.CamMethod("CAM", "features"), maps.CamMethod("Grad-CAM", "features.29")])
@pytest.mark.parametrize("shape", [(300, 200), (200, 300)], ids=["portrait", "landscape"])
@pytest.mark.parametrize("boxes", [True, False], ids=["boxes", "no boxes"])
def test_the_grid_figures_title_sits_above_the_panel_titles(method, shape, boxes):
    apply_style(STYLE["style"], STYLE["palette"])
    figure = rendering.grid_figure("densenet121", method, grid_panels(boxes, shape), scored=boxes)
    try:
        assert overlapping_texts(figure) == []
        renderer = figure.canvas.get_renderer()
        title = next(text for text in figure.texts if text.get_text() == figure.get_suptitle())
        above = title.get_window_extent(renderer)
        assert above.y1 <= figure.bbox.y1  # inside the figure, and above every panel title
        assert all(above.y0 > ax.title.get_window_extent(renderer).y1 for ax in figure.axes if ax.get_title())
    finally:
        plt.close(figure)


def test_the_localization_figure_has_no_overlapping_texts():
    def scores(method, layer, hits, flat):
        return pd.DataFrame(
            {
                "method": method,
                "layer": layer,
                "kind": ["fracture", "hardware", "lytic", "lytic"],
                "pointing_hit": hits,
                "energy_share": [0.3, 0.1, 0.2, 0.25],
                "chance": [0.05, 0.1, 0.08, 0.06],
                "chance_pointing": [0.1, 0.15, 0.12, 0.1],
                "centre_hit": [1, 0, 0, 1],
                "centre_energy": [0.2, 0.1, 0.05, 0.15],
                "peak_x": [None if flat else 1, 2, 3, 4],
            }
        )

    table = localization.localization_table(
        {
            "densenet121": scores("CAM", "features", [1, 0, 1, 1], False),
            "resnext101_32x8d": scores("CAM", "layer4", [0, 0, 1, 0], False),
            "vgg19_bn": scores("Grad-CAM", "features.51", [0, 0, 0, 1], True),
        }
    )
    apply_style(STYLE["style"], STYLE["palette"])
    figure = summary.localization_figure(table)
    try:
        assert overlapping_texts(figure) == []
    finally:
        plt.close(figure)


# ----------------------------------------------------------------------------- the jobs and the workflow


MAP_SETTINGS = {"images": "abnormal", "tolerance": 0.03, "batch_size": 16}  # cam_maps' (CAM_MAP_SETTINGS)
DRAWING_SETTINGS = {"per_body_part": 1, "alpha": 0.45, "colormap": "jet"}  # cam_figures' (CAM_DRAWING_SETTINGS)


def valid_split(root, folder) -> pd.DataFrame:
    """MURA valid's table (``valid.csv``) and its 64 px cache (``valid.npy``) in ``folder``."""
    from murad.data import build_cache
    from murad.verify import verify_dataset

    images, _ = verify_dataset(root, check_files=False)
    valid = images[images["path"].str.contains("/valid/")].reset_index(drop=True)
    valid.to_csv(folder / "valid.csv", index=False)
    build_cache(valid, root, 64, folder / "valid.npy")
    return valid


def run_cam_jobs(folder, root, lesions_csv: str | None):
    """``cam_maps`` then ``cam_figures`` on ``folder``'s model.pt, valid.csv and valid.npy; their outputs in cam/."""
    out = folder / "cam"
    cam_maps(
        str(folder / "model.pt"),
        str(folder / "valid.csv"),
        str(folder / "valid.npy"),
        str(root),
        lesions_csv,
        str(out / "maps.npz"),
        str(out / "scores.csv"),
        MAP_SETTINGS,
    )
    scored = lesions_csv is not None
    cam_figures(
        str(out / "maps.npz"),
        str(out / "scores.csv"),
        str(root),
        scored,
        str(out / "figure.png"),
        str(out / "overlays"),
        DRAWING_SETTINGS,
        STYLE,
    )
    return out


def test_without_lesion_boxes_the_maps_are_rendered_and_the_score_is_skipped_with_a_note(small_mura, tmp_path):
    valid = valid_split(small_mura, tmp_path)
    fake_trained_model(tmp_path / "model.pt")
    out = run_cam_jobs(tmp_path, small_mura, None)
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == localization.SCORE_COLUMNS
    assert len(scores) == int(valid["label"].sum()) and (scores["label"] == 1).all()
    assert (scores["method"] == "CAM").all() and (scores["layer"] == "features").all()
    assert scores["pointing_hit"].isna().all() and scores["kind"].isna().all()  # not scored
    assert scores["prob"].between(0, 1).all() and scores["peak_x"].notna().all()
    drawn = sorted(p.name for p in (out / "overlays").iterdir())
    chosen = rendering.overlay_rows(scores, DRAWING_SETTINGS["per_body_part"])
    assert drawn == sorted(rendering.overlay_name(path) for path in scores["path"].iloc[chosen])
    assert len(drawn) == scores["body_part"].nunique()  # one per body part
    first = scores.iloc[chosen[0]]
    with Image.open(out / "overlays" / rendering.overlay_name(first["path"])) as overlay:
        assert overlay.size == (first["width"], first["height"])  # drawn on the original image, not the input
    assert (out / "figure.png").stat().st_size > 0
    assert not list(out.glob(".*partial"))

    # maps and scores of different runs are refused (naming both files), and nothing is drawn
    scores.iloc[1:].to_csv(out / "other.csv", index=False)
    with pytest.raises(InputError, match="other.csv: not the images of .*maps.npz"):
        cam_figures(
            str(out / "maps.npz"), str(out / "other.csv"), str(small_mura), False, str(out / "other.png"), "", {}, STYLE
        )
    assert not (out / "other.png").exists()

    cam_localization(
        {"mobilenet_v2": str(out / "scores.csv")},
        False,
        0.03,
        str(tmp_path / "loc.csv"),
        str(tmp_path / "loc.md"),
        str(tmp_path / "loc.html"),
        str(tmp_path / "loc.png"),
        str(tmp_path / "loc.svg"),
        STYLE,
    )
    assert pd.read_csv(tmp_path / "loc.csv").empty
    assert list(pd.read_csv(tmp_path / "loc.csv").columns) == localization.LOCALIZATION_COLUMNS
    assert NO_LESIONS_NOTE in (tmp_path / "loc.md").read_text()
    assert NO_LESIONS_NOTE in (tmp_path / "loc.html").read_text()
    assert (tmp_path / "loc.png").stat().st_size > 0 and (tmp_path / "loc.svg").stat().st_size > 0


@pytest.mark.parametrize("name", ["mobilenet_v2", "vgg11_bn"])  # CAM and Grad-CAM
def test_the_split_jobs_write_the_maps_scores_and_overlays_the_package_computes(small_mura, tmp_path, name):
    """What cam_maps and cam_figures write is, value for value, what the maps, localization and rendering functions
    give on the same model and images (what the single cam job computed before the split)."""
    valid = valid_split(small_mura, tmp_path)
    fake_trained_model(tmp_path / "model.pt", name)
    lesions_csv = small_mura / "lesions.csv"
    out = run_cam_jobs(tmp_path, small_mura, str(lesions_csv))

    device = choose_device()
    model, _ = load_trained(tmp_path / "model.pt", device)
    rows = maps.select_images(valid, MAP_SETTINGS["images"])
    frame = valid.iloc[rows].reset_index(drop=True)
    cache = np.load(tmp_path / "valid.npy")
    cams, logits, method = maps.compute_maps(model, model_spec(name), cache, rows, MAP_SETTINGS["batch_size"], device)
    sizes = [image_size(small_mura / path) for path in frame["path"]]
    boxes, kinds = localization.lesion_boxes(list(frame["path"]), sizes, localization.read_lesions(lesions_csv))
    expected = localization.score_images(frame, cams, logits, method, sizes, boxes, kinds, MAP_SETTINGS["tolerance"])
    write_csv(expected, tmp_path / "expected.csv")
    assert (out / "scores.csv").read_bytes() == (tmp_path / "expected.csv").read_bytes()
    saved = maps.CamMaps.load(out / "maps.npz")
    assert saved.model == name and saved.method == method == maps.cam_method(model_spec(name))
    assert list(saved.paths) == list(frame["path"])
    assert saved.maps.dtype == saved.logits.dtype == np.float32
    assert np.array_equal(saved.maps, cams) and np.array_equal(saved.logits, logits)
    scores = pd.read_csv(out / "scores.csv")
    assert scores["kind"].notna().sum() >= 5 and scores["pointing_hit"].notna().sum() >= 5  # scored against boxes
    assert scores[["method", "layer"]].drop_duplicates().values.tolist() == [[method.name, method.layer]]

    lut = rendering.colour_lut(DRAWING_SETTINGS["colormap"])
    chosen = rendering.overlay_rows(scores, DRAWING_SETTINGS["per_body_part"])
    assert any(boxes[row] for row in chosen)
    for row in chosen:
        image = scores.iloc[row]
        heat = maps.upsample(cams[row], int(image["height"]), int(image["width"]))
        picture = rendering.overlay(load_radiograph(small_mura / image["path"]), heat, lut, DRAWING_SETTINGS["alpha"])
        picture = rendering.draw_box(picture, boxes[row]) if boxes[row] else picture
        with Image.open(out / "overlays" / rendering.overlay_name(image["path"])) as drawn:
            assert np.array_equal(np.asarray(drawn), picture)


def tiny_cam_config() -> dict:
    config = merged(
        default_config(),
        {
            "synthetic": {"seed": 3, "train_studies": 40, "valid_studies": 30},
            "training": {"defaults": {"image_size": 64, "batch_size": 16, "epochs": 1}},
            "cam": {"per_body_part": 1, "batch_size": 16},
            "report": {"dpi": 60},
        },
    )
    # mobilenet_v3_small: a model outside the paper whose head has a hidden layer gets Grad-CAM, through the same rule
    config["training"]["models"] = {"mobilenet_v2": None, "mobilenet_v3_small": None}
    return config


def test_cam_rules_through_the_workflow_score_every_model_reproducibly(tmp_path):
    config = tiny_cam_config()
    targets = [
        "results/cam/localization.csv",
        "results/cam/mobilenet_v2/figure.png",
        "results/cam/mobilenet_v3_small/figure.png",
    ]
    result = run_snakemake(tmp_path, "-c2", *targets, config=config)
    assert result.returncode == 0, result.stderr[-3000:]

    lesions = pd.read_csv(tmp_path / "results/data/synthetic/lesions.csv")
    valid = pd.read_csv(tmp_path / "results/split/valid.csv")
    abnormal_with_box = valid[(valid["label"] == 1) & valid["path"].isin(lesions["path"])]
    for model, method, layer in (("mobilenet_v2", "CAM", "features"), ("mobilenet_v3_small", "Grad-CAM", "features")):
        folder = tmp_path / "results/cam" / model
        scores = pd.read_csv(folder / "scores.csv")
        assert list(scores["path"]) == list(valid.loc[valid["label"] == 1, "path"])  # valid's order
        assert (scores["method"] == method).all() and (scores["layer"] == layer).all()
        scored = scores[scores["kind"].notna()]
        assert list(scored["path"]) == list(abnormal_with_box["path"])
        assert scored["pointing_hit"].isin([0, 1]).all() and scored["energy_share"].between(0, 1).all()
        assert list(maps.CamMaps.load(folder / "maps.npz").paths) == list(scores["path"])
        assert (folder / "figure.png").stat().st_size > 0
        assert len(list((folder / "overlays").glob("*.png"))) == scores["body_part"].nunique()
        for rule in ("cam_maps", "cam_figures"):
            assert (tmp_path / f"results/logs/{rule}/{model}.log").read_text().count(" INFO ") >= 1
    table = pd.read_csv(tmp_path / "results/cam/localization.csv")
    assert list(table.drop_duplicates("model")["model"]) == ["mobilenet_v2", "mobilenet_v3_small"]
    assert table.groupby("model")["kind"].first().eq("all").all()
    assert table.groupby("model")["layer"].first().to_dict() == {
        "mobilenet_v2": "features",
        "mobilenet_v3_small": "features",
    }
    assert (tmp_path / "results/figures/cam_localization.svg").exists()
    assert "## Pointing game" in (tmp_path / "results/cam/localization.md").read_text()

    # Re-running gives byte-identical tables.
    before = {
        p: (tmp_path / p).read_bytes() for p in ("results/cam/mobilenet_v2/scores.csv", "results/cam/localization.csv")
    }
    written = (tmp_path / "results/cam/localization.csv").stat().st_mtime_ns
    rules = ("cam_maps", "cam_figures", "cam_localization")
    again = run_snakemake(tmp_path, "-c2", *targets, "--forcerun", *rules, config=config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "results/cam/localization.csv").stat().st_mtime_ns > written  # it did run again
    assert {p: (tmp_path / p).read_bytes() for p in before} == before

    # Changing one model's settings re-runs only that model's cam jobs (and the gather).
    changed = tiny_cam_config()
    changed["training"]["models"]["mobilenet_v3_small"] = {"lr": 5.0e-4}
    dry = run_snakemake(tmp_path, "-n", *targets, config=changed)
    assert "wildcards: model=mobilenet_v3_small" in dry.stdout and "wildcards: model=mobilenet_v2" not in dry.stdout
    assert "cam_localization" in dry.stdout

    # cam.models naming a model that is not trained is refused with one line naming the key.
    wrong = tiny_cam_config()
    wrong["cam"]["models"] = ["mobilenet_v2", "densenet121"]
    refused = run_snakemake(tmp_path, "-n", config=wrong)
    assert refused.returncode != 0
    assert "config key cam.models: densenet121 is not one of training.models" in refused.stdout + refused.stderr


def test_a_cam_layer_the_forward_pass_never_reaches_is_named_not_iterated():
    # MaxViT's `blocks` is a ModuleList, whose own forward never runs: its hook never fires.
    from murad.models import ModelSpec

    model = build_model("resnet18", "none", image_size=64).eval()
    model.unused = torch.nn.Conv2d(3, 3, 1)
    for method in ("CAM", "Grad-CAM"):
        spec = ModelSpec("resnet18", "fc", "unused", method)
        with pytest.raises(RuntimeError, match="resnet18: layer unused gave no output in the forward pass"):
            maps.layer_maps(model, spec, torch.randn(1, 3, 64, 64))
        assert no_hooks_left(model)
