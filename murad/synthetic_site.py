"""A second synthetic site: the default demo's external test set, shifted as another hospital's images are.

Its studies are simulated as the synthetic MURA's (:mod:`murad.synthetic`: the same anatomy, abnormalities and X-ray
model), with these differences, each a shift real external sets show:

- another seed, and another body-part mix (:data:`BODY_PART_MIX`: more wrists and hands, few humeri), half the
  studies abnormal;
- other image sizes (:data:`SIDES`: larger on the whole);
- another detector: a steeper contrast curve and more noise, as 12-bit values;
- stored as another PACS stores radiographs: 12-bit MONOCHROME1 DICOM with a window (Modality DX, the body part in
  BodyPartExamined), one folder per study, listed in ``studies.csv`` (path, study, label; the body part comes from
  the files), with the lesion boxes as COCO JSON (``boxes.json``).

Everything is a pure function of the seed: the same seed gives the same pictures and tables.
"""

from __future__ import annotations

import csv
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .io import staged_directory, staged_outputs
from .synthetic import LESION_KINDS, ImagePlan, SyntheticSettings, render_image

BODY_PART_MIX = {
    "wrist": 0.3,
    "hand": 0.2,
    "elbow": 0.15,
    "shoulder": 0.12,
    "finger": 0.1,
    "forearm": 0.08,
    "humerus": 0.05,
}
ABNORMAL_SHARE = 0.5
SIDES = (180, 640)  # the synthetic MURA's: 90 to 512 (min_side must stay below 200, where its larger sides start)
CONTRAST_GAMMA = (1.3, 1.6)  # the detector's response: grey ** gamma (the synthetic MURA's film is linear)
NOISE_12BIT = (40.0, 80.0)  # Gaussian noise sd in 12-bit units (about 2.5 to 5 grey levels of 255)
WINDOW_MARGIN = 0.02  # the window spans the values less this share of their range at either end


def plan_site(studies: int, seed: int) -> list[dict]:
    """The site's studies: name, label, body part and the plans of its images."""
    rng = np.random.default_rng([seed, 20])
    parts = list(BODY_PART_MIX)
    planned = []
    for number in range(1, studies + 1):
        body_part = str(rng.choice(parts, p=list(BODY_PART_MIX.values())))
        label = int(rng.random() < ABNORMAL_SHARE)
        kind = str(rng.choice(LESION_KINDS)) if label else None
        n_images = int(rng.choice([1, 2], p=[0.6, 0.4]))  # few views: the demo predicts them with 18 models
        shown = rng.random(n_images) < 0.9
        if label and not shown.any():
            shown[rng.integers(n_images)] = True
        study = f"site/patient{number:04d}/study1"
        images = [
            ImagePlan(f"{study}/{index + 1:02d}.dcm", body_part, kind if label and shown[index] else None,
                      (seed, 20, number, index))
            for index in range(n_images)
        ]  # fmt: skip
        planned.append({"study": study, "label": label, "body_part": body_part, "images": images})
    return planned


def detector_values(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The synthetic MURA's 8-bit picture through this site's detector: a contrast curve, noise, 12 bits."""
    gamma = rng.uniform(*CONTRAST_GAMMA)
    values = (pixels.astype(np.float64) / 255) ** gamma * 4095
    values += rng.normal(0, rng.uniform(*NOISE_12BIT), size=values.shape)
    return np.clip(np.rint(values), 0, 4095).astype(np.uint16)


def _write_image(args: tuple[Path, ImagePlan, SyntheticSettings]) -> dict:
    """One image as DICOM under ``folder``; its size and box (None where it shows no lesion)."""
    from .synthetic_dicom import detector_image

    folder, plan, settings = args
    pixels, box = render_image(plan, settings)
    rng = np.random.default_rng((*plan.seed, 1))
    values = detector_values(pixels, rng)
    low, high = np.percentile(values, [0, 100])
    margin = WINDOW_MARGIN * (high - low)
    stored_low, stored_high = 4095 - (high - margin), 4095 - (low + margin)  # MONOCHROME1 stores 4095 - value
    window = ((stored_low + stored_high) / 2 + 0.5, stored_high - stored_low + 1)
    target = folder / plan.path
    target.parent.mkdir(parents=True, exist_ok=True)
    identity = f"murad synthetic site {plan.seed}"
    detector_image(values, window, identity, plan.body_part).save_as(target, enforce_file_format=True)
    height, width = pixels.shape
    return {"path": plan.path, "width": width, "height": height, "box": box, "kind": plan.lesion if box else None}


def coco_boxes(written: list[dict]) -> dict:
    """The written images' lesion boxes as COCO JSON (bbox: x, y, width, height in pixels)."""
    kinds = {kind: number for number, kind in enumerate(LESION_KINDS, start=1)}
    images, annotations = [], []
    for number, image in enumerate(written, start=1):
        images.append({"id": number, "file_name": image["path"], "width": image["width"], "height": image["height"]})
        if image["box"]:
            x0, y0, x1, y1 = image["box"]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": number,
                    "category_id": kinds[image["kind"]],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": number, "name": kind} for kind, number in kinds.items()]
    return {"images": images, "annotations": annotations, "categories": categories}


def generate_site(
    studies_csv: str | Path, boxes_json: str | Path, images_dir: str | Path, studies: int, seed: int, workers: int = 1
) -> dict:
    """Write the site's images under ``images_dir``, ``studies_csv`` (its paths relative to the CSV's folder, which
    must hold ``images_dir``) and ``boxes_json``; all or nothing."""
    images_dir = Path(images_dir)
    planned = plan_site(studies, seed)
    settings = SyntheticSettings(seed=seed, min_side=SIDES[0], max_side=SIDES[1])
    prefix = images_dir.relative_to(Path(studies_csv).parent).as_posix()
    with staged_directory(images_dir) as folder, staged_outputs(studies_csv, boxes_json) as (table, boxes):
        jobs = [(folder, plan, settings) for study in planned for plan in study["images"]]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                written = list(pool.map(_write_image, jobs, chunksize=4))
        else:
            written = [_write_image(job) for job in jobs]
        for image in written:
            image["path"] = f"{prefix}/{image['path']}"
        with open(table, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["path", "study", "label"])
            for study in planned:
                for plan in study["images"]:
                    writer.writerow([f"{prefix}/{plan.path}", study["study"], study["label"]])
        Path(boxes).write_text(json.dumps(coco_boxes(written), indent=1) + "\n")
    return {
        "studies": len(planned),
        "abnormal": sum(study["label"] for study in planned),
        "images": len(written),
        "boxes": sum(image["box"] is not None for image in written),
    }
