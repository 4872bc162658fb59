"""The jobs of workflow/rules/cam.smk: class activation maps (on a GPU), their figures (no CNN) and their
localization over every model."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..io import staged_directory, staged_outputs, write_csv

log = logging.getLogger("murad")


NO_LESIONS_NOTE = (
    "localization not scored: there is no lesions.csv with ground-truth boxes (dataset.source is "
    "not synthetic); the heat maps are rendered all the same"
)


def cam_maps(
    model_path: str,
    table_csv: str,
    cache_path: str,
    root: str,
    lesions_csv: str | None,
    maps_npz: str,
    scores_csv: str,
    settings: dict,
    threads: int = 1,
    node_local_cache: str | None = None,
) -> None:
    """CAMs (Grad-CAM where the head is not global average pooling -> linear) of one trained model on the selected
    MURA valid images, and one scores row per image: probability, the map's peak and, against ``lesions_csv`` when
    given, the localization scores. The cache is read from a node-local copy when ``node_local_cache`` names a
    folder."""
    import pandas as pd
    import torch

    from ..cam import localization, maps
    from ..data import node_local_caches, open_cache
    from ..errors import InputError
    from ..inference import choose_device, load_trained
    from ..models import model_spec
    from ..radiographs import image_size

    started = time.perf_counter()
    torch.set_num_threads(max(1, threads))
    device = choose_device()
    model, record = load_trained(model_path, device)
    name = record["model"]
    table = pd.read_csv(table_csv)
    rows = maps.select_images(table, settings["images"])
    frame = table.iloc[rows].reset_index(drop=True)
    with node_local_caches({"valid": cache_path}, node_local_cache) as read_from:
        cache = open_cache(read_from["valid"], len(table))
        trained = record["settings"]["image_size"]
        if cache.shape[-1] != trained:
            raise InputError(f"{cache_path}: {cache.shape[-1]} px images but {name} was trained at {trained} px")
        heat, logits, method = maps.compute_maps(model, model_spec(name), cache, rows, settings["batch_size"], device)
    computed = time.perf_counter()

    lesions = localization.read_lesions(lesions_csv) if lesions_csv else None
    sizes = [image_size(Path(root) / path) for path in frame["path"]]
    boxes, kinds = localization.lesion_boxes(list(frame["path"]), sizes, lesions, str(lesions_csv))
    scores = localization.score_images(frame, heat, logits, method, sizes, boxes, kinds, settings["tolerance"])
    with staged_outputs(maps_npz, scores_csv) as (maps_path, scores_path):
        maps.CamMaps(name, method, frame["path"].to_numpy(str), heat, logits).save(maps_path)
        write_csv(scores, scores_path)
    log.info(
        "%s: %s on %d %s MURA valid images in %.1f s (maps %.1f s); %s",
        name,
        method.label,
        len(frame),
        settings["images"],
        time.perf_counter() - started,
        computed - started,
        _score_summary(scores, lesions is not None),
    )


def _score_summary(scores, scored: bool) -> str:
    boxed = scores[scores["kind"].notna()]
    if not len(boxed):
        return "no selected image has a box" if scored else NO_LESIONS_NOTE
    return (
        f"pointing {boxed['pointing_hit'].mean():.2f} (chance {boxed['chance_pointing'].mean():.2f}, centre "
        f"{boxed['centre_hit'].mean():.2f}), energy {boxed['energy_share'].mean():.2f} (chance "
        f"{boxed['chance'].mean():.2f}, centre {boxed['centre_energy'].mean():.2f}) on {len(boxed)} boxed images"
    )


def cam_figures(
    maps_npz: str,
    scores_csv: str,
    root: str,
    scored: bool,
    figure_png: str,
    overlays_dir: str,
    settings: dict,
    style: dict,
) -> None:
    """One model's maps (``cam_maps``' outputs) drawn over the radiographs, without the CNN: overlays of
    ``per_body_part`` images per body part (lesion box in green where there is one) and the grid figure."""
    import pandas as pd

    from ..cam import maps, rendering
    from ..errors import InputError
    from ..plotting import apply_style, save_figure
    from ..radiographs import load_radiograph

    saved = maps.CamMaps.load(maps_npz)
    scores = pd.read_csv(scores_csv)
    if list(scores["path"]) != list(saved.paths):
        raise InputError(f"{scores_csv}: not the images of {maps_npz} (in that order); run cam_maps again")
    drawn = rendering.overlay_rows(scores, settings["per_body_part"])
    apply_style(style["style"], style["palette"])
    lut = rendering.colour_lut(settings["colormap"])
    panels = []
    with staged_outputs(figure_png) as (figure_path,), staged_directory(overlays_dir) as folder:
        for row in drawn:
            image = scores.iloc[row]
            radiograph = load_radiograph(Path(root) / image["path"])
            heat = maps.upsample(saved.maps[row], int(image["height"]), int(image["width"]))
            panel = rendering.Panel.of(image, radiograph, rendering.overlay(radiograph, heat, lut, settings["alpha"]))
            picture = rendering.draw_box(panel.overlay, panel.box) if panel.box else panel.overlay
            rendering.save_png(picture, folder / rendering.overlay_name(image["path"]))
            panels.append(panel)
        save_figure(rendering.grid_figure(saved.model, saved.method, panels, scored), figure_path, dpi=style["dpi"])
    log.info("%s: %s, %d overlays and the grid figure", saved.model, saved.method.label, len(drawn))


def cam_localization(
    scores_csvs: dict[str, str],
    scored: bool,
    tolerance: float,
    out_csv: str,
    out_md: str,
    out_html: str,
    figure_png: str,
    figure_svg: str,
    style: dict,
) -> None:
    """Every model's CAM localization (pointing game, energy share) per abnormality kind, beside the chance and
    centre baselines: a CSV, a Markdown table and a figure; on data without lesion boxes, a note instead."""
    import pandas as pd

    from ..cam import localization, summary
    from ..plotting import apply_style, save_figure
    from ..tables import to_html

    scores = {model: pd.read_csv(path) for model, path in sorted(scores_csvs.items())}
    table = (
        localization.localization_table(scores) if scored else pd.DataFrame(columns=localization.LOCALIZATION_COLUMNS)
    )
    note = None if scored else NO_LESIONS_NOTE
    if scored and table.empty:
        note = "localization not scored: no selected MURA valid image has a lesion box"
    apply_style(style["style"], style["palette"])
    paths = (out_csv, out_md, out_html, figure_png, figure_svg)
    with staged_outputs(*paths) as (csv_path, md_path, html_path, png_path, svg_path):
        write_csv(table, csv_path)
        Path(html_path).write_text(to_html(table.round(3), note or "CAM localization per model and abnormality kind"))
        Path(md_path).write_text(summary.localization_markdown(table, note, tolerance))
        save_figure(summary.localization_figure(table, note), png_path, svg_path, dpi=style["dpi"])
    if note:
        log.info("%d models: %s", len(scores), note)
    for row in table[table["kind"] == localization.ALL_KINDS].itertuples():
        log.info(
            "%s (%s on %s): pointing %.3f (chance %.3f, centre %.3f), energy %.3f (chance %.3f, centre %.3f), %d "
            "images",
            row.model,
            row.method,
            row.layer,
            row.pointing,
            row.chance_pointing,
            row.centre_pointing,
            row.energy,
            row.chance,
            row.centre_energy,
            row.images,
        )
