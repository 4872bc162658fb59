"""Each bad input stops the real workflow with one line naming the offending path, and writes no split outputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from murad.mura import MuraFormatError, read_mura
from murad.verify import compare_with_published, table2, verify_dataset

from .conftest import default_config, merged, run_snakemake

SPLIT_OUTPUTS = ["table2.csv", "verification.json", "mura_images.csv", "train.csv", "tune.csv", "valid.csv"]


def lines(root: Path, name: str) -> list[str]:
    return (root / "MURA-v1.1" / name).read_text().splitlines()


def write_lines(root: Path, name: str, rows: list[str]) -> None:
    (root / "MURA-v1.1" / name).write_text("".join(row + "\n" for row in rows))


def first_image(root: Path, split: str = "train") -> str:
    return lines(root, f"{split}_image_paths.csv")[0]


# Each corruption edits a copy of the small synthetic tree and returns the text its error must contain.
def missing_image(root):
    path = first_image(root)
    (root / path).unlink()
    return path


def undecodable_image(root):
    path = first_image(root)
    (root / path).write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return path


def label_contradicts_folder(root):
    rows = lines(root, "valid_labeled_studies.csv")
    study, label = rows[0].split(",")
    rows[0] = f"{study},{1 - int(label)}"
    write_lines(root, "valid_labeled_studies.csv", rows)
    return study


def patient_in_both_splits(root):
    image = first_image(root)
    patient = image.split("/")[3]
    study = f"MURA-v1.1/valid/XR_ELBOW/{patient}/study9_negative/"
    (root / study).mkdir(parents=True)
    shutil.copy(root / image, root / study / "image1.png")
    write_lines(root, "valid_image_paths.csv", lines(root, "valid_image_paths.csv") + [study + "image1.png"])
    write_lines(root, "valid_labeled_studies.csv", lines(root, "valid_labeled_studies.csv") + [study + ",0"])
    return patient


def study_without_images(root):
    study = lines(root, "train_labeled_studies.csv")[0].split(",")[0]
    rows = [row for row in lines(root, "train_image_paths.csv") if not row.startswith(study)]
    write_lines(root, "train_image_paths.csv", rows)
    return study


def image_without_study(root):
    study = lines(root, "train_labeled_studies.csv")[0].split(",")[0]
    write_lines(root, "train_labeled_studies.csv", lines(root, "train_labeled_studies.csv")[1:])
    return study


def empty_split(root):
    write_lines(root, "valid_image_paths.csv", [])
    write_lines(root, "valid_labeled_studies.csv", [])
    return "valid_image_paths.csv"


def empty_body_part(root):
    for name in ("train_image_paths.csv", "train_labeled_studies.csv"):
        write_lines(root, name, [row for row in lines(root, name) if "/XR_HUMERUS/" not in row])
    return "humerus"


def path_leaves_root(root):
    rows = lines(root, "train_image_paths.csv")
    rows.append("MURA-v1.1/train/../../../etc/passwd")
    write_lines(root, "train_image_paths.csv", rows)
    return "MURA-v1.1/train/../../../etc/passwd"


def symlink_leaves_root(root):
    path = first_image(root)
    outside = root.parent / "outside.png"
    shutil.copy(root / path, outside)
    (root / path).unlink()
    os.symlink(outside, root / path)
    return path


def duplicated_image_row(root):
    rows = lines(root, "train_image_paths.csv")
    write_lines(root, "train_image_paths.csv", rows + [rows[3]])
    return rows[3]


def duplicated_study_row(root):
    rows = lines(root, "valid_labeled_studies.csv")
    write_lines(root, "valid_labeled_studies.csv", rows + [rows[2]])
    return rows[2].split(",")[0]


def malformed_label(root):
    rows = lines(root, "train_labeled_studies.csv")
    rows[1] = rows[1].split(",")[0] + ",abnormal"
    write_lines(root, "train_labeled_studies.csv", rows)
    return "train_labeled_studies.csv:2"


CORRUPTIONS = [
    (missing_image, "missing"),
    (undecodable_image, "not a decodable image"),
    (label_contradicts_folder, "contradicts the folder name"),
    (patient_in_both_splits, "appears in both train and valid"),
    (study_without_images, "study has no images"),
    (image_without_study, "belongs to no study"),
    (empty_split, "split is empty"),
    (empty_body_part, "body part humerus has no train images"),
    (path_leaves_root, "path leaves the dataset root"),
    (symlink_leaves_root, "path leaves the dataset root"),
    (duplicated_image_row, "duplicated image"),
    (duplicated_study_row, "duplicated study"),
    (malformed_label, "label must be 0 or 1"),
]


def mura_config(root: Path) -> dict:
    return merged(default_config(), {"dataset": {"source": "mura", "root": str(root)}})


@pytest.mark.parametrize("corrupt, reason", CORRUPTIONS, ids=[c.__name__ for c, _ in CORRUPTIONS])
def test_bad_input_stops_the_workflow_with_one_line_naming_the_path(corrupt, reason, mura_copy, tmp_path):
    offending = corrupt(mura_copy)
    work = tmp_path / "work"
    result = run_snakemake(work, "-c2", "results/split/valid.csv", config=mura_config(mura_copy))
    assert result.returncode != 0
    errors = [line for line in (work / "results/logs/verify_dataset.log").read_text().splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors
    assert reason in errors[0] and offending in errors[0], errors[0]
    assert errors[0] in result.stderr  # the user sees it on the terminal too
    written = [name for name in SPLIT_OUTPUTS if (work / "results/split" / name).exists()]
    assert written == []
    assert not list((work / "results/split").glob(".*partial")) if (work / "results/split").exists() else True


def test_a_real_download_is_compared_with_the_published_counts(mura_copy, tmp_path):
    work = tmp_path / "work"
    result = run_snakemake(work, "-c2", "results/split/table2.csv", config=mura_config(mura_copy))
    assert result.returncode == 0, result.stderr
    report = json.loads((work / "results/split/verification.json").read_text())
    differences = report["published_differences"]
    train_images = len(lines(mura_copy, "train_image_paths.csv"))
    assert f"train images: published 36808, found {train_images}" in differences
    assert any(d.startswith("wrist valid abnormal studies: published 97, found ") for d in differences)
    assert "differs from the published MURA-v1.1 counts" in (work / "results/logs/verify_dataset.log").read_text()


def test_counts_equal_to_the_published_ones_report_no_difference():
    from murad.mura import paper_table2

    rows, patient = [], 0
    for part, counts in paper_table2().set_index("body_part").iterrows():
        for split in ("train", "valid"):
            for label, name in ((0, "normal"), (1, "abnormal")):
                for _ in range(int(counts[f"{split}_{name}"])):
                    patient += 1
                    study = f"MURA-v1.1/{split}/XR_{part.upper()}/patient{patient:05d}/study1_x/"
                    rows.append((split, study, part, label))
    frame = pd.DataFrame(rows, columns=["split", "study", "body_part", "label"])
    extra = {"train": 36_808 - 13_457, "valid": 3_197 - 1_199}  # further views of the same studies
    more = [frame.loc[np.resize(frame.index[frame["split"] == split], n)] for split, n in extra.items()]
    images = pd.concat([frame, *more], ignore_index=True)
    assert compare_with_published(images) == []
    images = images.drop(index=0)
    assert "train images: published 36808, found 36807" in compare_with_published(images)


def test_reader_derives_patient_study_body_part_and_label(small_mura):
    frame = read_mura(small_mura, "valid")
    assert list(frame.columns) == ["path", "patient", "study", "body_part", "label"]
    row = frame.iloc[0]
    parts = row["path"].split("/")
    assert row["patient"] == parts[3]
    assert row["study"] == "/".join(parts[:5]) + "/"
    assert row["body_part"] == parts[2][3:].lower()
    assert row["label"] == int(parts[4].endswith("positive"))
    assert set(frame["label"]) == {0, 1}


def test_table2_counts_studies_and_images_per_body_part_split_and_label(small_mura):
    images, summary = verify_dataset(small_mura)
    table = table2(images).set_index("body_part")
    assert table.loc["total", "total_images"] == len(images)
    assert table.loc["total", "total_studies"] == images["study"].nunique()
    for split in ("train", "valid"):
        studies = table.loc["total", [f"{split}_normal_studies", f"{split}_abnormal_studies"]].sum()
        assert studies == summary["studies"][split]
    assert table.drop(index="total").sum()["total_images"] == len(images)


def test_verification_raises_a_format_error_in_the_package_too(mura_copy):
    missing_image(mura_copy)
    with pytest.raises(MuraFormatError, match="missing"):
        verify_dataset(mura_copy)
    images, _ = verify_dataset(mura_copy, check_files=False)  # file checks can be switched off
    assert len(images) > 0
