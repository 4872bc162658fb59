"""Verifying a MURA-v1.1 tree and counting it (the paper's Table 2).

Every check stops at the first problem with a one-line :class:`MuraFormatError` naming the offending file or path,
before anything is written.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .mura import (
    BODY_PARTS,
    FOLDER_SUFFIX,
    IMAGE_COLUMNS,
    LABEL_NAMES,
    PUBLISHED_IMAGES,
    SPLITS,
    MuraFormatError,
    image_paths_csv,
    labeled_studies_csv,
    paper_table2,
    parse_image_path,
    read_image_paths,
    read_studies,
)
from .radiographs import RadiographError, read_radiograph


def _check_image_file(root: Path, path: str) -> tuple[int, int]:
    file = root / path
    real_root = root.resolve()
    if not file.is_file():
        raise MuraFormatError(f"{path}: listed image is missing under {root}")
    if not file.resolve().is_relative_to(real_root):
        raise MuraFormatError(f"{path}: path leaves the dataset root {root} (resolves to {file.resolve()})")
    try:
        height, width = read_radiograph(file).pixels.shape
    except RadiographError as error:
        raise MuraFormatError(f"{path}: not a decodable image ({error})") from None
    return width, height


def verify_dataset(root: str | Path, check_files: bool = True, workers: int = 1) -> tuple[pd.DataFrame, dict]:
    """All images of MURA train and valid with their split, and a summary; raises on the first problem."""
    root = Path(root)
    frames = []
    patients_by_split: dict[str, set[str]] = {}
    for split in SPLITS:
        studies = read_studies(root, split)
        labels: dict[str, int] = {}
        for row in studies:
            if row.study in labels:
                raise MuraFormatError(f"{root / labeled_studies_csv(split)}:{row.line}: duplicated study {row.study}")
            suffix = row.study.rstrip("/").rsplit("_", 1)[1]
            if suffix != FOLDER_SUFFIX[row.label]:
                raise MuraFormatError(
                    f"{root / labeled_studies_csv(split)}:{row.line}: label {row.label} "
                    f"({LABEL_NAMES[row.label]}) contradicts the folder name of {row.study}"
                )
            labels[row.study] = row.label
        records, seen = [], set()
        for line, path in read_image_paths(root, split):
            if path in seen:
                raise MuraFormatError(f"{root / image_paths_csv(split)}:{line}: duplicated image {path}")
            seen.add(path)
            info = parse_image_path(path)
            if info["study"] not in labels:
                raise MuraFormatError(f"{path}: image belongs to no study of {root / labeled_studies_csv(split)}")
            records.append([path, info["patient"], info["study"], info["body_part"], labels[info["study"]]])
        frame = pd.DataFrame.from_records(records, columns=IMAGE_COLUMNS)
        empty = sorted(set(labels) - set(frame["study"]))
        if empty:
            raise MuraFormatError(f"{empty[0]}: study has no images in {root / image_paths_csv(split)}")
        if frame.empty:
            raise MuraFormatError(f"{root / image_paths_csv(split)}: the {split} split is empty")
        missing_parts = [p for p in BODY_PARTS if p not in set(frame["body_part"])]
        if missing_parts:
            raise MuraFormatError(
                f"{root / image_paths_csv(split)}: body part {missing_parts[0]} has no {split} images"
            )
        unknown_parts = sorted(set(frame["body_part"]) - set(BODY_PARTS))
        if unknown_parts:
            raise MuraFormatError(f"{root / image_paths_csv(split)}: unknown body part XR_{unknown_parts[0].upper()}")
        patients_by_split[split] = set(frame["patient"])
        frames.append(frame.assign(split=split))

    shared = sorted(patients_by_split["train"] & patients_by_split["valid"])
    if shared:
        example = frames[1].loc[frames[1]["patient"] == shared[0], "study"].iloc[0]
        raise MuraFormatError(f"{example}: patient {shared[0]} appears in both train and valid ({len(shared)} such)")
    images = pd.concat(frames, ignore_index=True)

    sizes = []
    if check_files:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            sizes = list(pool.map(lambda p: _check_image_file(root, p), images["path"]))
    summary = {
        "root": os.fspath(root),
        "images": {s: int((images["split"] == s).sum()) for s in SPLITS},
        "studies": {s: int(images.loc[images["split"] == s, "study"].nunique()) for s in SPLITS},
        "patients": {s: len(patients_by_split[s]) for s in SPLITS},
        "files_checked": bool(check_files),
    }
    if sizes:
        sides = np.array(sizes)
        summary["image_side_px"] = {"min": int(sides.min()), "max": int(sides.max())}
    return images, summary


def table2(images: pd.DataFrame) -> pd.DataFrame:
    """Studies and images per body part x split x label: the paper's Table 2 plus image counts and totals."""
    studies = images.drop_duplicates("study")
    rows = []
    for body_part in BODY_PARTS:
        row: dict = {"body_part": body_part}
        for kind, frame in (("studies", studies), ("images", images)):
            for split in SPLITS:
                for label, name in LABEL_NAMES.items():
                    cell = frame[
                        (frame["split"] == split) & (frame["body_part"] == body_part) & (frame["label"] == label)
                    ]
                    row[f"{split}_{name}_{kind}"] = len(cell)
            row[f"total_{kind}"] = int((frame["body_part"] == body_part).sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    total = table.drop(columns="body_part").sum().to_dict()
    return pd.concat([table, pd.DataFrame([{"body_part": "total", **total}])], ignore_index=True)


def compare_with_published(images: pd.DataFrame) -> list[str]:
    """Every difference between the found counts and MURA-v1.1's published ones (paper Table 2 and section 3.1)."""
    found = table2(images).set_index("body_part")
    published = paper_table2().set_index("body_part")
    differences = []
    for split in SPLITS:
        count = int((images["split"] == split).sum())
        if count != PUBLISHED_IMAGES[split]:
            differences.append(f"{split} images: published {PUBLISHED_IMAGES[split]}, found {count}")
        expected = int(published[[f"{split}_normal", f"{split}_abnormal"]].to_numpy().sum())
        got = int(images.loc[images["split"] == split, "study"].nunique())
        if got != expected:
            differences.append(f"{split} studies: published {expected}, found {got}")
    for body_part in BODY_PARTS:
        for split in SPLITS:
            for name in LABEL_NAMES.values():
                expected = int(published.loc[body_part, f"{split}_{name}"])
                got = int(found.loc[body_part, f"{split}_{name}_studies"])
                if got != expected:
                    differences.append(f"{body_part} {split} {name} studies: published {expected}, found {got}")
    return differences
