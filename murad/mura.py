"""MURA-v1.1 layout: names, the reader of its four headerless CSVs, and the published counts.

The release is a folder ``MURA-v1.1/`` holding ``{train,valid}/XR_<PART>/patientNNNNN/studyN_<label>/imageN.png``
and four CSV files without header:

- ``{split}_image_paths.csv``: one path per line, relative to the folder that contains ``MURA-v1.1/``;
- ``{split}_labeled_studies.csv``: ``<study folder path with trailing slash>,<0|1>`` (1 = abnormal).

The reader works the same on the synthetic tree and on a real download.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

import pandas as pd

from .errors import InputError

RELEASE = "MURA-v1.1"
SPLITS = ("train", "valid")
BODY_PARTS = ("elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist")
LABEL_NAMES = {0: "normal", 1: "abnormal"}
FOLDER_SUFFIX = {0: "negative", 1: "positive"}

# Published MURA-v1.1 image counts (the paper, section 3.1); study counts come from Table 2.
PUBLISHED_IMAGES = {"train": 36_808, "valid": 3_197}

IMAGE_COLUMNS = ["path", "patient", "study", "body_part", "label"]

_IMAGE_RE = re.compile(
    rf"^{re.escape(RELEASE)}/(?P<split>train|valid)/XR_(?P<part>[A-Z]+)/(?P<patient>patient\d+)/"
    r"(?P<study>study\d+_(?P<suffix>positive|negative))/(?P<image>image\d+\.png)$"
)
_STUDY_RE = re.compile(
    rf"^{re.escape(RELEASE)}/(?P<split>train|valid)/XR_(?P<part>[A-Z]+)/(?P<patient>patient\d+)/"
    r"(?P<study>study\d+_(?P<suffix>positive|negative))/$"
)


class MuraFormatError(InputError):
    """A dataset that does not follow MURA-v1.1's layout; the message is one line naming the file or path."""


def body_part_folder(body_part: str) -> str:
    return f"XR_{body_part.upper()}"


BODY_PART_FOLDER = re.compile(r"^XR_(?P<part>[A-Z][A-Z0-9_]*)$")  # MURA's naming, XR_ELBOW; other sites' too


def body_part_in(*paths: str) -> str | None:
    """``elbow`` for the first path with an ``XR_ELBOW`` folder in it, else None."""
    for path in paths:
        for part in PurePosixPath(path).parts:
            match = BODY_PART_FOLDER.match(part)
            if match:
                return match["part"].lower()
    return None


def image_paths_csv(split: str) -> str:
    return f"{RELEASE}/{split}_image_paths.csv"


def labeled_studies_csv(split: str) -> str:
    return f"{RELEASE}/{split}_labeled_studies.csv"


@dataclass(frozen=True)
class StudyRow:
    split: str
    study: str  # the study folder path exactly as the CSV writes it, trailing slash included
    label: int
    line: int


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise MuraFormatError(f"{path}: missing index file")
    with path.open(newline="") as handle:
        return [(n, row) for n, row in enumerate(csv.reader(handle), start=1) if row]


def _check_inside(path_text: str, source: Path, line: int) -> None:
    """A listed path must stay inside the release: relative, no '..', under MURA-v1.1/."""
    pure = PurePosixPath(path_text)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path_text or not path_text.startswith(RELEASE + "/"):
        raise MuraFormatError(f"{source}:{line}: path leaves the dataset root: {path_text}")


def read_studies(root: str | Path, split: str) -> list[StudyRow]:
    source = Path(root) / labeled_studies_csv(split)
    rows = []
    for line, row in _read_rows(source):
        if len(row) != 2:
            raise MuraFormatError(f"{source}:{line}: expected '<study path>/,<0|1>', got {','.join(row)!r}")
        study, label_text = row[0].strip(), row[1].strip()
        _check_inside(study, source, line)
        if label_text not in ("0", "1"):
            raise MuraFormatError(f"{source}:{line}: label must be 0 or 1, got {label_text!r} for {study}")
        match = _STUDY_RE.match(study)
        if not match or match["split"] != split:
            raise MuraFormatError(
                f"{source}:{line}: not a {split} study folder of the form "
                f"{RELEASE}/{split}/XR_<PART>/patientN/studyN_<positive|negative>/: {study}"
            )
        rows.append(StudyRow(split, study, int(label_text), line))
    return rows


def read_image_paths(root: str | Path, split: str) -> list[tuple[int, str]]:
    source = Path(root) / image_paths_csv(split)
    paths = []
    for line, row in _read_rows(source):
        if len(row) != 1:
            raise MuraFormatError(f"{source}:{line}: expected one image path per line, got {','.join(row)!r}")
        path = row[0].strip()
        _check_inside(path, source, line)
        match = _IMAGE_RE.match(path)
        if not match or match["split"] != split:
            raise MuraFormatError(
                f"{source}:{line}: not a {split} image path of the form "
                f"{RELEASE}/{split}/XR_<PART>/patientN/studyN_<positive|negative>/imageN.png: {path}"
            )
        paths.append((line, path))
    return paths


def parse_image_path(path: str) -> dict:
    """Patient, study folder (with trailing slash) and body part encoded in an image path."""
    match = _IMAGE_RE.match(path)
    if not match:
        raise MuraFormatError(f"not a MURA image path: {path}")
    study = path[: match.end("study")] + "/"
    return {
        "split": match["split"],
        "patient": match["patient"],
        "study": study,
        "body_part": match["part"].lower(),
        "suffix": match["suffix"],
    }


def read_mura(root: str | Path, split: str) -> pd.DataFrame:
    """One row per listed image: path, patient, study, body_part, label (study label, 1 = abnormal).

    Only the format of each line is checked here; consistency checks across files (labels against folder names,
    images without studies, patients in both splits, ...) belong to :mod:`murad.split`.
    """
    labels = {s.study: s.label for s in read_studies(root, split)}
    records = []
    for _, path in read_image_paths(root, split):
        info = parse_image_path(path)
        records.append(
            {
                "path": path,
                "patient": info["patient"],
                "study": info["study"],
                "body_part": info["body_part"],
                "label": labels.get(info["study"], -1),
            }
        )
    return pd.DataFrame.from_records(records, columns=IMAGE_COLUMNS).astype({"label": "int64"})


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 (MURA-v1.1 studies per body part), shipped inside the package."""
    with resources.files("murad.reference").joinpath("paper_table2.csv").open() as handle:
        return pd.read_csv(handle)
