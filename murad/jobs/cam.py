"""The jobs of workflow/rules/cam.smk: class activation maps and their localisation."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..io import staged_directory, staged_outputs, write_csv

log = logging.getLogger("murad")


NO_LESIONS_NOTE = (
    "localisation not scored: there is no lesions.csv with ground-truth boxes (dataset.source is "
    "not synthetic); the heat maps are rendered all the same"
)


def cam(
    model_path: str,
    table_csv: str,
    cache_path: str,
    root: str,
    lesions_csv: str | None,
    scores_csv: str,
    figure_png: str,
    overlays_dir: str,
    settings: dict,
    style: dict,
    threads: int = 1,
) -> None:
    """CAMs (Grad-CAM for VGG) of one trained model on the selected MURA valid images: one scores row per image
    (localisation against ``lesions_csv`` when given), overlays of ``per_body_part`` images per body part, and the
    grid figure."""
    import pandas as pd
    import torch

    from .. import cam as cams
    from ..data import load_radiograph, open_cache
    from ..errors import InputError
    from ..models import model_spec
    from ..plotting import apply_style, save_figure
    from ..train import choose_device, load_trained

    started = time.perf_counter()
    torch.set_num_threads(max(1, threads))
    device = choose_device()
    model, record = load_trained(model_path, device)
    name = record["model"]
    spec = model_spec(name)
    table = pd.read_csv(table_csv)
    cache = open_cache(cache_path, len(table))
    trained = record["settings"]["image_size"]
    if cache.shape[-1] != trained:
        raise InputError(f"{cache_path}: {cache.shape[-1]} px images but {name} was trained at {trained} px")
    rows = cams.select_images(table, settings["images"])
    frame = table.iloc[rows].reset_index(drop=True)
    maps, logits, method = cams.compute_maps(model, spec, cache, rows, settings["batch_size"], device)
    computed = time.perf_counter()

    lesions = cams.read_lesions(lesions_csv) if lesions_csv else None
    sizes = [cams.image_size(Path(root) / path) for path in frame["path"]]
    boxes, kinds = cams.lesion_boxes(list(frame["path"]), sizes, lesions, str(lesions_csv))
    scores = cams.score_images(frame, maps, logits, method, sizes, boxes, kinds, settings["tolerance"])
    drawn = cams.overlay_rows(scores, settings["per_body_part"])
    for row in drawn:
        scores.loc[row, "overlay"] = cams.overlay_name(scores.loc[row, "path"])

    apply_style(style["style"], style["palette"])
    lut = cams.colour_lut(settings["colormap"])
    panels = []
    with staged_outputs(scores_csv, figure_png) as (scores_path, figure_path), staged_directory(overlays_dir) as folder:
        for row in drawn:
            image = scores.iloc[row]
            radiograph = load_radiograph(Path(root) / image["path"])
            picture = cams.overlay(
                radiograph, cams.upsample(maps[row], image["height"], image["width"]), lut, settings["alpha"]
            )
            cams.save_png(cams.draw_box(picture, boxes[row]) if boxes[row] else picture, folder / image["overlay"])
            panels.append(cams.Panel.of(image, radiograph, picture, boxes[row]))
        write_csv(scores, scores_path)
        save_figure(cams.grid_figure(name, method, panels, lesions is not None), figure_path, dpi=style["dpi"])

    boxed = scores[scores["kind"].notna()]
    summary = (
        f"pointing {boxed['pointing_hit'].mean():.2f} (chance {boxed['chance_pointing'].mean():.2f}, centre "
        f"{boxed['centre_hit'].mean():.2f}), energy {boxed['energy_share'].mean():.2f} (chance "
        f"{boxed['chance'].mean():.2f}, centre {boxed['centre_energy'].mean():.2f}) on {len(boxed)} boxed "
        "images"
        if len(boxed)
        else NO_LESIONS_NOTE
        if lesions is None
        else "no selected image has a box"
    )
    log.info(
        "%s: %s on %d %s MURA valid images in %.1f s (maps %.1f s), %d overlays; %s",
        name,
        method.label,
        len(frame),
        settings["images"],
        time.perf_counter() - started,
        computed - started,
        len(drawn),
        summary,
    )


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
    """Every model's CAM localisation (pointing game, energy share) per abnormality kind, beside the chance and
    centre baselines: a CSV, a Markdown table and a figure; on data without lesion boxes, a note instead."""
    import pandas as pd

    from .. import cam as cams
    from ..plotting import apply_style, save_figure
    from ..tables import to_html

    scores = {model: pd.read_csv(path) for model, path in sorted(scores_csvs.items())}
    table = cams.localisation_table(scores) if scored else pd.DataFrame(columns=cams.LOCALISATION_COLUMNS)
    note = None if scored else NO_LESIONS_NOTE
    if scored and table.empty:
        note = "localisation not scored: no selected MURA valid image has a lesion box"
    apply_style(style["style"], style["palette"])
    paths = (out_csv, out_md, out_html, figure_png, figure_svg)
    with staged_outputs(*paths) as (csv_path, md_path, html_path, png_path, svg_path):
        write_csv(table, csv_path)
        Path(html_path).write_text(to_html(table.round(3), note or "CAM localisation per model and abnormality kind"))
        with open(md_path, "w") as handle:
            handle.write(cams.localisation_markdown(table, note, tolerance))
        save_figure(cams.localisation_figure(table, note), png_path, svg_path, dpi=style["dpi"])
    if note:
        log.info("%d models: %s", len(scores), note)
    for row in table[table["kind"] == cams.ALL_KINDS].itertuples():
        log.info(
            "%s (%s): pointing %.3f (chance %.3f, centre %.3f), energy %.3f (chance %.3f, centre %.3f), %d images",
            row.model,
            row.method,
            row.pointing,
            row.chance_pointing,
            row.centre_pointing,
            row.energy,
            row.chance,
            row.centre_energy,
            row.images,
        )
