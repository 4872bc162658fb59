"""The jobs of workflow/rules/data.smk: the built-in synthetic MURA-v1.1."""

from __future__ import annotations

import logging
import time

from ..errors import InputError
from ..synthetic import SyntheticSettings, generate

log = logging.getLogger("murad")


def synthesize_mura(root: str, settings: dict, workers: int = 1) -> None:
    """Generate the synthetic MURA-v1.1 tree, its four index CSVs and lesions.csv under ``root``."""
    started = time.perf_counter()
    known = set(SyntheticSettings.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InputError(f"synthetic setting {unknown[0]!r}: not one of {', '.join(sorted(known))}")
    counts = generate(root, SyntheticSettings(**settings), workers=workers)
    log.info(
        "synthetic MURA-v1.1 under %s: %d studies, %d images, %d lesion boxes in %.1f s",
        root,
        counts["studies"],
        counts["images"],
        counts["lesion_boxes"],
        time.perf_counter() - started,
    )


def synthesize_site(studies_csv: str, boxes_json: str, images_dir: str, settings: dict, workers: int = 1) -> None:
    """Generate the synthetic external site (``murad.synthetic_site``): its DICOM files, ``studies.csv`` and the
    lesion boxes as COCO JSON."""
    from ..synthetic_site import generate_site

    started = time.perf_counter()
    counts = generate_site(studies_csv, boxes_json, images_dir, settings["studies"], settings["seed"], workers)
    log.info(
        "synthetic site under %s: %d studies (%d abnormal), %d DICOM images, %d lesion boxes in %.1f s",
        images_dir,
        counts["studies"],
        counts["abnormal"],
        counts["images"],
        counts["boxes"],
        time.perf_counter() - started,
    )
