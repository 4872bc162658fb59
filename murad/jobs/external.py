"""The jobs of workflow/rules/external.smk: external test sets checked, cached, predicted (with the CAMs of their
boxed images) and measured against MURA valid; Table 6 and the figure generalisation."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..io import staged_outputs, write_csv, write_json

log = logging.getLogger("murad")


def check_external_set(studies: str, boxes: str | None = None, workers: int = 1, name: str | None = None):
    """Check a set (``murad.external.check_set``: every image decoded; one line naming the file and row at the first
    problem) and log its counts on one line; the checked set. Also ``murad check-set``, which writes nothing."""
    from ..external import check_set, describe

    started = time.perf_counter()
    checked = check_set(studies, boxes, workers)
    log.info("%s; checked in %.1f s", describe(name or str(studies), checked.summary), time.perf_counter() - started)
    return checked


def verify_external(
    set_name: str,
    studies: str,
    boxes: str | None,
    images_csv: str,
    boxes_csv: str,
    verification_json: str,
    workers: int = 1,
) -> None:
    """Check an external set (:func:`check_external_set`; nothing written on a refusal) and write its image and box
    tables and a record of its counts."""
    checked = check_external_set(studies, boxes, workers, set_name)
    record = {"set": set_name, "studies_file": studies, "boxes_file": boxes, "root": str(checked.root)}
    with staged_outputs(images_csv, boxes_csv, verification_json) as (images_path, boxes_path, record_path):
        write_csv(checked.images, images_path)
        write_csv(checked.boxes, boxes_path)
        write_json({**record, **checked.summary}, record_path)


def cache_external(images_csv: str, root: str, size: int, cache_path: str, workers: int = 1) -> None:
    """The set's images decoded and squashed once at ``size`` into a uint8 cache, rows in the table's order."""
    import pandas as pd

    from ..data import build_cache

    started = time.perf_counter()
    table = pd.read_csv(images_csv)
    build_cache(table, root, size, cache_path, workers)
    log.info("%s: %d images at %d px in %.1f s", cache_path, len(table), size, time.perf_counter() - started)


def predict_external(
    model_path: str,
    images_csv: str,
    boxes_csv: str,
    cache_path: str,
    images_out: str,
    studies_out: str,
    scores_out: str,
    batch_size: int,
    aggregation: str,
    threshold: float,
    cam: dict | None,
    threads: int = 1,
    node_local_cache: str | None = None,
) -> None:
    """One model on one external set: image probabilities, study probabilities (aggregated as on MURA valid) and,
    where ``cam`` gives the CAM settings (a model of ``cam.models``), the CAM of every boxed image scored against
    each of its boxes as on the synthetic MURA (one row per box; none when the set has no boxes)."""
    import numpy as np
    import pandas as pd
    import torch

    from ..cam import localization, maps
    from ..data import Normaliser, node_local_caches, open_cache
    from ..errors import InputError
    from ..inference import choose_device, image_probabilities, load_trained
    from ..metrics import aggregate_studies
    from ..models import model_spec

    started = time.perf_counter()
    torch.set_num_threads(max(1, threads))
    device = choose_device()
    model, record = load_trained(model_path, device)
    table, boxes = pd.read_csv(images_csv), pd.read_csv(boxes_csv)
    scores = pd.DataFrame(columns=localization.SCORE_COLUMNS)
    with node_local_caches({"external": cache_path}, node_local_cache) as read_from:
        cache = open_cache(read_from["external"], len(table))
        trained = record["settings"]["image_size"]
        if cache.shape[-1] != trained:
            raise InputError(
                f"{cache_path}: {cache.shape[-1]} px images but {record['model']} was trained at {trained}"
            )
        probs = image_probabilities(model, cache, Normaliser(device), batch_size)
        if cam is not None and len(boxes):
            position = {path: index for index, path in enumerate(table["path"])}
            rows = np.array(sorted({position[path] for path in boxes["path"]}))
            heat, logits, method = maps.compute_maps(
                model, model_spec(record["model"]), cache, rows, cam["batch_size"], device
            )
            mapped = {int(row): index for index, row in enumerate(rows)}
            each = [mapped[position[path]] for path in boxes["path"]]
            frame = table.iloc[[rows[i] for i in each]].reset_index(drop=True)
            scores = localization.score_images(
                frame,
                heat[each],
                logits[each],
                method,
                list(zip(boxes["width"], boxes["height"], strict=True)),
                [tuple(int(v) for v in box) for box in boxes[localization.BOX_COLUMNS].to_numpy()],
                list(boxes["kind"]),
                cam["tolerance"],
            )
    images = table.assign(prob=probs.round(6))
    studies = aggregate_studies(images, how=aggregation, threshold=threshold)
    with staged_outputs(images_out, studies_out, scores_out) as (images_path, studies_path, scores_path):
        write_csv(images, images_path)
        write_csv(studies, studies_path)
        write_csv(scores, scores_path)
    log.info(
        "%s on %s: %d images, %d studies, %d boxes mapped, in %.1f s",
        record["model"],
        images_csv,
        len(images),
        len(studies),
        len(scores),
        time.perf_counter() - started,
    )


def external_metrics(
    set_name: str,
    external_csvs: dict[str, str],
    tune_csvs: dict[str, str],
    valid_csvs: dict[str, str],
    valid_metrics_csvs: dict[str, str],
    operating_points_jsons: dict[str, str],
    calibration_csvs: dict[str, str],
    top_k: int,
    metrics_csvs: dict[str, str],
    ensemble_csvs: dict[str, str],
    summary_csv: str,
    calibration_csv: str,
    operating_points_csv: str,
    threshold: float = 0.5,
    repetitions: int = 1000,
    seed: int = 0,
) -> None:
    """Every model and ensemble on one set against MURA valid (``murad.generalisation.measure_set``): metrics per
    name, the ensembles' studies, the set's rows of Table 6, its calibration and its operating points."""
    import pandas as pd

    from ..generalisation import measure_set
    from ..operating_points import read_operating_points
    from ..prediction_tables import read_study_table

    results = measure_set(
        set_name,
        {m: read_study_table(p) for m, p in sorted(external_csvs.items())},
        {m: read_study_table(p) for m, p in sorted(tune_csvs.items())},
        {n: read_study_table(p) for n, p in sorted(valid_csvs.items())},
        {n: pd.read_csv(p) for n, p in sorted(valid_metrics_csvs.items())},
        {m: read_operating_points(p) for m, p in sorted(operating_points_jsons.items())},
        {m: pd.read_csv(p) for m, p in sorted(calibration_csvs.items())},
        top_k,
        threshold,
        repetitions,
        seed,
    )
    names, ensembles = sorted(metrics_csvs), sorted(ensemble_csvs)
    paths = [metrics_csvs[n] for n in names] + [ensemble_csvs[e] for e in ensembles]
    with staged_outputs(*paths, summary_csv, calibration_csv, operating_points_csv) as staged:
        for name, path in zip(names, staged, strict=False):
            write_csv(results.metrics[name].round(6), path)
        for ensemble, path in zip(ensembles, staged[len(names) :], strict=False):
            write_csv(results.ensembles[ensemble], path)
        write_csv(results.summary.round(6), staged[-3])
        write_csv(results.calibration.round(6), staged[-2])
        write_csv(results.operating_points.round(6), staged[-1])
    for row in results.summary.itertuples():
        log.info(
            "%s, %s: kappa %.3f [%.3f, %.3f] (valid %.3f, difference %+.3f [%+.3f, %+.3f]), ECE %.3f",
            set_name,
            row.model,
            row.kappa,
            row.kappa_low,
            row.kappa_high,
            row.kappa_valid,
            row.delta_kappa,
            row.delta_kappa_low,
            row.delta_kappa_high,
            row.ece,
        )


def external_localization(
    set_name: str, scores_csvs: dict[str, str], tolerance: float, out_csv: str, out_md: str, out_html: str
) -> None:
    """Every mapped model's CAM localization on one set's boxes (pointing game, energy share, beside the chance and
    centre baselines), as on the synthetic MURA; a note where the set has no boxes."""
    import pandas as pd

    from ..cam import localization, summary
    from ..tables import to_html

    scores = {model: pd.read_csv(path) for model, path in sorted(scores_csvs.items())}
    table = localization.localization_table(scores)
    note = None if len(table) else f"{set_name}: localization not scored: the set has no lesion boxes (config boxes)"
    caption = note or f"CAM localization on the external set {set_name}, per model and kind of box"
    with staged_outputs(out_csv, out_md, out_html) as (csv_path, md_path, html_path):
        write_csv(table, csv_path)
        Path(md_path).write_text(summary.localization_markdown(table, note, tolerance, f"the boxes of {set_name}"))
        Path(html_path).write_text(to_html(table.round(3), caption))
    boxes = int(table["images"].max()) if len(table) else 0
    log.info("%s: localization of %d models on %d boxes%s", set_name, len(scores), boxes, f" ({note})" if note else "")


def generalisation(
    summary_csvs: dict[str, str],
    table_files: dict[str, str],
    figure_png: str,
    figure_svg: str,
    style: dict,
) -> None:
    """Table 6 (every set's rows) in every format, and the figure generalisation."""
    import pandas as pd

    from ..generalisation import NO_SETS_NOTE, TABLE6_CAPTION, generalisation_figure, table6_display
    from ..plotting import apply_style, save_figure
    from ..tables import write_table

    frames = [pd.read_csv(path) for _, path in sorted(summary_csvs.items())]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    caption = TABLE6_CAPTION if frames else f"Table 6: {NO_SETS_NOTE}"
    apply_style(style["style"], style["palette"])
    keys = sorted(table_files)
    with staged_outputs(*(table_files[k] for k in keys), figure_png, figure_svg) as staged:
        files = dict(zip(keys, staged, strict=False))
        shown = table6_display(table) if frames else table
        write_table(table, shown, caption, {key.rsplit("_", 1)[1]: files[key] for key in keys})
        save_figure(generalisation_figure(table), staged[-2], staged[-1], dpi=style["dpi"])
    log.info("table 6 and the figure generalisation: %d sets, %d rows", len(frames), len(table))
