"""The jobs of workflow/rules/evaluate.smk: predictions, study aggregation, metrics, ensembles, the comparison with
the best on the tuning split, calibration and operating points, and the subgroups of MURA valid (Table 7)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..io import file_sha256, staged_outputs, write_csv

log = logging.getLogger("murad")


def predict(
    model_path: str,
    table_csv: str,
    cache_path: str,
    out_csv: str,
    batch_size: int = 64,
    threads: int = 1,
    node_local_cache: str | None = None,
) -> None:
    """Image probabilities of a trained model on one split table -> ``out_csv`` (its columns and prob); the cache
    read from a node-local copy when ``node_local_cache`` names a folder."""
    import pandas as pd
    import torch

    from ..data import Normaliser, node_local_caches, open_cache
    from ..inference import choose_device, image_probabilities, load_trained

    torch.set_num_threads(max(1, threads))
    device = choose_device()
    model, record = load_trained(model_path, device)
    table = pd.read_csv(table_csv)
    started = time.perf_counter()
    with node_local_caches({"valid": cache_path}, node_local_cache) as read_from:
        cache = open_cache(read_from["valid"], len(table))
        probs = image_probabilities(model, cache, Normaliser(device), batch_size)
    with staged_outputs(out_csv) as (path,):
        write_csv(table.assign(prob=probs.round(6)), path)
    log.info("%s on %s: %d images in %.1f s", record["model"], table_csv, len(table), time.perf_counter() - started)


def aggregate_studies(images_csvs: dict[str, str], studies_csvs: dict[str, str], how: str, threshold: float) -> None:
    """Image probabilities -> one row per study, for each split."""
    from ..metrics import aggregate_studies
    from ..prediction_tables import read_image_table

    splits = sorted(images_csvs)
    tables = {s: aggregate_studies(read_image_table(images_csvs[s]), how=how, threshold=threshold) for s in splits}
    with staged_outputs(*(studies_csvs[s] for s in splits)) as paths:
        for split, path in zip(splits, paths, strict=True):
            write_csv(tables[split], path)
    for split in splits:
        log.info("%s: %d studies (%s of image probabilities, threshold %s)", split, len(tables[split]), how, threshold)


def metrics(studies_csv: str, out_csv: str, threshold: float = 0.5, repetitions: int = 1000, seed: int = 0) -> None:
    """Metrics overall and per body part with bootstrap CIs (also ``murad metrics``)."""
    from ..metrics import study_metrics
    from ..prediction_tables import read_study_table

    table = study_metrics(read_study_table(studies_csv), threshold=threshold, repetitions=repetitions, seed=seed)
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

    from ..ensembles import best_per_body_part, top_k_mean, tuning_scores
    from ..prediction_tables import read_study_table
    from ..result_names import BEST_PER_BODY_PART, top_k_name
    from ..tables import to_html

    scores = tuning_scores({m: read_study_table(p) for m, p in sorted(tune_csvs.items())}, threshold)
    valid = {m: read_study_table(p) for m, p in sorted(valid_csvs.items())}
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


def compare_to_best(
    tune_csvs: dict[str, str],
    valid_csvs: dict[str, str],
    out_csv: str,
    threshold: float = 0.5,
    repetitions: int = 1000,
    seed: int = 0,
) -> None:
    """Every model and ensemble compared on MURA valid with the model ranked best on the tuning split (paired
    bootstrap, DeLong for AUC, Holm over the comparisons)."""
    from ..compare import compare_with_best
    from ..ensembles import best_on_tuning, tuning_scores
    from ..prediction_tables import read_study_table

    best = best_on_tuning(tuning_scores({m: read_study_table(p) for m, p in sorted(tune_csvs.items())}, threshold))
    valid = {name: read_study_table(path) for name, path in sorted(valid_csvs.items())}
    table = compare_with_best(best, valid, threshold, repetitions, seed)
    with staged_outputs(out_csv) as (path,):
        write_csv(table.round(6), path)
    overall = table[(table["scope"] == "overall") & (table["metric"] == "kappa")]
    tied = overall[overall["p_holm"] >= 0.05]["name"].tolist()
    log.info("best on the tuning split: %s; not told apart from it by kappa on valid: %s", best, ", ".join(tied))


def calibrate(
    model_pt: str,
    tune_studies_csv: str,
    valid_studies_csv: str,
    operating_points_json: str,
    calibration_csv: str,
    operating_points_csv: str,
    chosen_on: str = "tune",
    aggregation: str = "mean",
    repetitions: int = 1000,
    seed: int = 0,
) -> None:
    """A model's temperature and operating points (best kappa; rule-out at sensitivity >= 0.95), chosen on the
    tuning split's studies and saved with the model; their effect on MURA valid (Brier and ECE before and after
    scaling; sensitivity, specificity, PPV and NPV with bootstrap CIs). The saved operating points name the
    ``model.pt`` they belong to by its SHA-256."""
    from ..calibration import calibration_report
    from ..operating_points import choose_thresholds, operating_point_metrics, save_operating_points
    from ..prediction_tables import read_study_table

    tune, valid = read_study_table(tune_studies_csv), read_study_table(valid_studies_csv)
    report = calibration_report(tune, valid)
    thresholds = choose_thresholds(tune, split=chosen_on)
    points = operating_point_metrics(valid, thresholds, repetitions, seed)
    temperature = float(report["temperature"].iloc[0])
    with staged_outputs(operating_points_json, calibration_csv, operating_points_csv) as (json_path, cal, ops):
        save_operating_points(thresholds, json_path, temperature, aggregation, file_sha256(model_pt))
        write_csv(report.round(6), cal)
        write_csv(points.round(6), ops)
    overall = report.iloc[0]
    log.info(
        "temperature %.3f (fitted on %s): valid ECE %.3f -> %.3f, Brier %.3f -> %.3f; thresholds %s",
        temperature,
        chosen_on,
        overall["ece_before"],
        overall["ece_after"],
        overall["brier_before"],
        overall["brier_after"],
        ", ".join(f"{name} {point['threshold']:.3f}" for name, point in thresholds.items()),
    )


def subgroups(
    valid_csvs: dict[str, str],
    lesions_csv: str | None,
    subgroup_csvs: dict[str, str],
    out_csv: str,
    table_files: dict[str, str],
    threshold: float = 0.5,
    repetitions: int = 1000,
    seed: int = 0,
) -> None:
    """MURA valid's subgroups (abnormality kinds on synthetic data, and those the configuration names) measured by
    every model and ensemble (``murad.subgroups``): their table and Table 7 in every format."""
    import pandas as pd

    from ..prediction_tables import read_study_table
    from ..subgroups import (
        NO_SUBGROUPS_NOTE,
        TABLE7_CAPTION,
        kind_subgroups,
        read_subgroup,
        subgroup_metrics,
        table7_display,
    )
    from ..tables import write_table

    studies = {name: read_study_table(path) for name, path in sorted(valid_csvs.items())}
    valid = next(iter(studies.values()))
    groups = kind_subgroups(valid, pd.read_csv(lesions_csv)) if lesions_csv else {}
    for name, path in sorted(subgroup_csvs.items()):  # (the configuration check keeps their names apart)
        groups[name] = ("given", read_subgroup(path, set(valid["study"])))
    table = subgroup_metrics(studies, groups, threshold, repetitions, seed)
    caption = TABLE7_CAPTION if groups else f"Table 7: {NO_SUBGROUPS_NOTE}"
    keys = sorted(table_files)
    with staged_outputs(out_csv, *(table_files[k] for k in keys)) as staged:
        write_csv(table.round(6), staged[0])
        files = dict(zip(keys, staged[1:], strict=True))
        write_table(table, table7_display(table), caption, {key.rsplit("_", 1)[1]: files[key] for key in keys})
    log.info("subgroups of MURA valid: %s; %d models and ensembles", ", ".join(sorted(groups)) or "none", len(studies))
