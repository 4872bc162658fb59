"""The jobs of workflow/rules/split.smk: the dataset verified and counted, the tuning split carved out of train."""

from __future__ import annotations

import logging

import pandas as pd

from .. import split, verify
from ..io import staged_outputs, write_csv, write_json

log = logging.getLogger("murad")


def verify_dataset(
    root: str,
    source: str,
    check_files: bool,
    table2_csv: str,
    verification_json: str,
    images_csv: str,
    workers: int = 1,
) -> None:
    """Verify the tree and write Table 2, the verification summary and the verified image table."""
    images, summary = verify.verify_dataset(root, check_files=check_files, workers=workers)
    summary["source"] = source
    if source == "mura":
        differences = verify.compare_with_published(images)
        summary["published_differences"] = differences
        for difference in differences:
            log.warning("differs from the published MURA-v1.1 counts: %s", difference)
        log.info("%d differences from the published counts", len(differences))
    with staged_outputs(table2_csv, verification_json, images_csv) as (t2, js, im):
        write_csv(verify.table2(images), t2)
        write_json(summary, js)
        write_csv(images, im)
    log.info("verified %s: %s images, %s studies", root, summary["images"], summary["studies"])


def tuning_split(images_csv: str, fraction: float, seed: int, tune_on: str, outputs: dict[str, str]) -> None:
    """Write the train / tune / valid image tables that every later stage reads."""
    images = pd.read_csv(images_csv)
    tables = split.tuning_split(images, fraction=fraction, seed=seed, tune_on=tune_on)
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
