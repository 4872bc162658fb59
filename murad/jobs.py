"""The workflow's data stages as plain functions of file paths (each ``workflow/scripts/*.py`` calls one)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .io import staged_directory, staged_outputs, write_csv, write_json
from .split import compare_with_published, table2, tuning_split, verify_dataset
from .synthetic import SyntheticSettings, generate

log = logging.getLogger("murad")


def synthesize(root: str, settings: dict, workers: int = 1) -> None:
    started = time.perf_counter()
    counts = generate(root, SyntheticSettings(**settings), workers=workers)
    log.info(
        "synthetic MURA-v1.1 under %s: %d studies, %d images, %d lesion boxes in %.1f s",
        root,
        counts["studies"],
        counts["images"],
        counts["lesion_boxes"],
        time.perf_counter() - started,
    )


def verify(
    root: str,
    source: str,
    check_files: bool,
    table2_csv: str,
    verification_json: str,
    images_csv: str,
    workers: int = 1,
) -> None:
    """Verify the tree and write Table 2, the verification summary and the verified image table."""
    images, summary = verify_dataset(root, check_files=check_files, workers=workers)
    summary["source"] = source
    if source == "mura":
        differences = compare_with_published(images)
        summary["published_differences"] = differences
        for difference in differences:
            log.warning("differs from the published MURA-v1.1 counts: %s", difference)
        log.info("%d differences from the published counts", len(differences))
    with staged_outputs(table2_csv, verification_json, images_csv) as (t2, js, im):
        write_csv(table2(images), t2)
        write_json(summary, js)
        write_csv(images, im)
    log.info("verified %s: %s images, %s studies", root, summary["images"], summary["studies"])


def split(images_csv: str, fraction: float, seed: int, tune_on: str, outputs: dict[str, str]) -> None:
    """Write the train / tune / valid image tables that every later stage reads."""
    import pandas as pd

    images = pd.read_csv(images_csv)
    tables = tuning_split(images, fraction=fraction, seed=seed, tune_on=tune_on)
    with staged_outputs(*(outputs[name] for name in ("train", "tune", "valid"))) as paths:
        for name, path in zip(("train", "tune", "valid"), paths, strict=True):
            write_csv(tables[name], path)
    for name, table in tables.items():
        log.info(
            "%s: %d images, %d studies, %d patients",
            name,
            len(table),
            table["study"].nunique(),
            table["patient"].nunique(),
        )


def cache_images(table_csvs: dict[str, str], root: str, size: int, out_paths: dict[str, str], workers: int = 1) -> None:
    """Decode and resize each split's images once into a memory-mappable uint8 cache shared by every model."""
    import pandas as pd

    from .data import build_cache

    for split in sorted(table_csvs):
        started = time.perf_counter()
        table = pd.read_csv(table_csvs[split])
        build_cache(table, root, size, out_paths[split], workers=workers)
        seconds = time.perf_counter() - started
        log.info(
            "cached %d %s images at %d px in %.1f s (%.0f images/s)",
            len(table),
            split,
            size,
            seconds,
            len(table) / max(seconds, 1e-9),
        )


def train(
    model: str,
    settings: dict,
    tables: dict[str, str],
    caches: dict[str, str],
    out_dir: str,
    hub_dir: str,
    threads: int = 1,
) -> None:
    """Train one model from the split tables and their image caches (resumes from its checkpoint if there is one)."""
    import pandas as pd

    from .data import open_cache
    from .train import TrainSettings, train_model

    frames = {name: pd.read_csv(path) for name, path in tables.items()}
    arrays = {name: open_cache(caches[name], len(frames[name])) for name in ("train", "tune")}
    train_model(
        model,
        TrainSettings.from_dict(settings),
        frames["train"],
        arrays["train"],
        frames["tune"],
        arrays["tune"],
        out_dir,
        hub_dir=hub_dir,
        threads=threads,
    )


def stage_weights(models: list[str], hub_dir: str) -> None:
    from .models import stage_weights as download

    for model in models:
        log.info("ImageNet weights of %s: %s", model, download(model, hub_dir))


def predict(
    model_path: str, table_csv: str, cache_path: str, out_csv: str, batch_size: int = 64, threads: int = 1
) -> None:
    """Image probabilities of a trained model on one split table -> ``out_csv`` (its columns and prob)."""
    import pandas as pd
    import torch

    from .data import BatchAugmenter, open_cache
    from .train import choose_device, load_trained
    from .train import predict as predict_probs

    torch.set_num_threads(max(1, threads))
    device = choose_device()
    model, record = load_trained(model_path, device)
    table = pd.read_csv(table_csv)
    started = time.perf_counter()
    probs = predict_probs(model, open_cache(cache_path, len(table)), BatchAugmenter(device), batch_size)
    with staged_outputs(out_csv) as (path,):
        write_csv(table.assign(prob=probs.round(6)), path)
    log.info("%s on %s: %d images in %.1f s", record["model"], table_csv, len(table), time.perf_counter() - started)


def ensembles(
    tune_csvs: dict[str, str],
    valid_csvs: dict[str, str],
    top_k: int,
    members_csv: str,
    members_html: str,
    studies_csvs: dict[str, str],
    threshold: float = 0.5,
) -> None:
    """The ensembles, chosen on the tuning split's studies; their MURA valid studies go to the metrics rule like
    any model's."""
    import pandas as pd

    from .ensembles import best_per_body_part, top_k_mean, tuning_scores
    from .outputs import BEST_PER_BODY_PART, top_k_name
    from .tables import to_html

    scores = tuning_scores({m: pd.read_csv(p) for m, p in sorted(tune_csvs.items())}, threshold)
    valid = {m: pd.read_csv(p) for m, p in sorted(valid_csvs.items())}
    built = {
        BEST_PER_BODY_PART: best_per_body_part(scores, valid, threshold),
        top_k_name(top_k): top_k_mean(scores, valid, top_k, threshold),
    }
    names = sorted(built)
    members = pd.concat([built[n][1] for n in names]).round(6)
    with staged_outputs(members_csv, members_html, *(studies_csvs[n] for n in names)) as staged:
        write_csv(members, staged[0])
        Path(staged[1]).write_text(to_html(members, "Ensemble members, chosen on the tuning split"))
        for index, name in enumerate(names):
            write_csv(built[name][0], staged[2 + index])
    for name in names:
        chosen = ", ".join(f"{r.scope}: {r.model}" for r in built[name][1].itertuples())
        log.info("%s: %s", name, chosen)


def environment(meta_jsons: dict[str, str], config: dict, table_csv: str, table_html: str, config_yaml: str) -> None:
    """The report's environment: versions, commit, machine, each model's device; and the resolved config."""
    import yaml

    from .provenance import environment_table
    from .tables import to_html

    table = environment_table(meta_jsons)
    with staged_outputs(table_csv, table_html, config_yaml) as (table_path, html_path, config_path):
        write_csv(table, table_path)
        Path(html_path).write_text(to_html(table, "The environment of this run"))
        with open(config_path, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=True)
    log.info("environment: %d rows; config with %d sections", len(table), len(config))


def aggregate(images_csvs: dict[str, str], studies_csvs: dict[str, str], how: str, threshold: float) -> None:
    """Image probabilities -> one row per study, for each split."""
    import pandas as pd

    from .metrics import aggregate_studies

    splits = sorted(images_csvs)
    tables = {s: aggregate_studies(pd.read_csv(images_csvs[s]), how=how, threshold=threshold) for s in splits}
    with staged_outputs(*(studies_csvs[s] for s in splits)) as paths:
        for split, path in zip(splits, paths, strict=True):
            write_csv(tables[split], path)
    for split in splits:
        log.info("%s: %d studies (%s of image probabilities, threshold %s)", split, len(tables[split]), how, threshold)


def metrics(studies_csv: str, out_csv: str, threshold: float = 0.5, repetitions: int = 1000, seed: int = 0) -> None:
    """Metrics overall and per body part with bootstrap CIs (also ``murad metrics``)."""
    import pandas as pd

    from .metrics import study_metrics

    table = study_metrics(pd.read_csv(studies_csv), threshold=threshold, repetitions=repetitions, seed=seed)
    with staged_outputs(out_csv) as (path,):
        write_csv(table.round(6), path)
    overall = table.iloc[0]
    log.info(
        "%s: %d studies, accuracy %.3f, f1 %.3f, kappa %.3f [%.3f, %.3f], auc %.3f",
        studies_csv,
        overall["n_studies"],
        overall["accuracy"],
        overall["f1"],
        overall["kappa"],
        overall["kappa_low"],
        overall["kappa_high"],
        overall["auc"],
    )


# ----------------------------------------------------------------------------- class activation maps (cam.smk)


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

    from . import cam as cams
    from .data import load_radiograph, open_cache
    from .errors import InputError
    from .models import ModelSpec
    from .plotting import apply_style, save_figure
    from .train import choose_device, load_trained

    started = time.perf_counter()
    torch.set_num_threads(max(1, threads))
    device = choose_device()
    model, record = load_trained(model_path, device)
    name, spec = record["model"], ModelSpec(**record["spec"])
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

    from . import cam as cams
    from .plotting import apply_style, save_figure
    from .tables import to_html

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
