"""External test sets: another hospital's studies, read and checked before any model sees them.

A set is given as

- a **CSV** with a header: ``path``, ``study``, ``label`` (1 abnormal, 0 normal), optionally ``body_part`` and
  ``patient``; one row per image, paths relative to the CSV's folder (or absolute), every row of a study with the
  same label (and body part, where given); or
- a **folder laid out as a MURA-v1.1 split**: ``XR_<PART>/<patient>/<study>_{positive,negative}/<images>``, so a
  MURA-style release needs no conversion (the label from the study folder's suffix, the body part from ``XR_<PART>``).
  Entries elsewhere in it are not images of the set; each is listed with the reason in the verification record.

Lesion boxes (optional) are COCO JSON (``images[].file_name`` relative to the same folder as the paths,
``annotations[].bbox`` = x, y, width, height in the original image's pixels, the category's name as the kind) or a
CSV ``path,x0,y0,x1,y1`` (and optionally ``kind``). A box becomes the half-open pixel box ``[x0, x1) x [y0, y1)``
that covers it, as ``lesions.csv`` of the synthetic data has them; an image may have several.

A study's body part is the CSV's ``body_part``, else an ``XR_<PART>`` folder in its path, else its first DICOM
file's BodyPartExamined, else ``unknown``; body parts outside MURA's seven are kept as they are.

:func:`check_set` decodes every image with :func:`murad.radiographs.read_radiograph`, the reader ``murad predict``
uses, and refuses the set with one line naming the file (and the row) at the first problem: a missing or unreadable
image (its reason, and how many more there are), a study whose rows disagree, a label other than 0 or 1, an image
listed twice, a box outside its image or naming an image not in the set.
"""

from __future__ import annotations

import csv
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .mura import BODY_PART_FOLDER, body_part_in
from .names import shown
from .radiographs import RadiographError, read_radiograph

SET_NAME = re.compile(r"^[a-z0-9_]+$")
SET_COLUMNS = ["row", "path", "patient", "study", "body_part", "label", "kind", "width", "height"]
BOX_COLUMNS = ["path", "kind", "x0", "y0", "x1", "y1", "width", "height"]  # lesions.csv's, one row per box
DEFAULT_BOX_KIND = "lesion"
UNKNOWN_BODY_PART = "unknown"
STUDY_FOLDER = re.compile(r"^.+_(?P<suffix>positive|negative)$")
LABEL_OF_SUFFIX = {"positive": 1, "negative": 0}


@dataclass
class CheckedSet:
    """A set that passed every check: its images (``SET_COLUMNS``), boxes (``BOX_COLUMNS``) and a summary."""

    root: Path
    images: pd.DataFrame
    boxes: pd.DataFrame
    summary: dict = field(default_factory=dict)


def set_root(studies: str | Path) -> Path:
    """The folder a set's paths are relative to: the folder itself, or the CSV's folder."""
    studies = Path(studies)
    return studies if studies.is_dir() else studies.parent


# ----------------------------------------------------------------------------------------------- the studies


def _csv_rows(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[tuple[int, dict]]]:
    """A CSV's header and its rows numbered as a spreadsheet does (the header is row 1; blank lines count, and are
    left out)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            reader.fieldnames = header
            rows = [
                (_first_line(reader.line_num, row), row)
                for row in reader
                if any((v or "").strip() for v in row.values())
            ]
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.start} of the file)") from None
    except (OSError, csv.Error) as error:
        raise InputError(f"{path}: not a readable CSV ({error})") from None
    missing = [column for column in required if column not in header]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (needs {', '.join(required)})")
    if not rows:
        raise InputError(f"{path}: holds no rows, only a header")
    return header, rows


def _first_line(last_line: int, row: dict) -> int:
    """The line a record starts on, from the line it ends on and the line breaks inside its quoted cells."""
    breaks = sum(v.count("\n") + v.count("\r") - v.count("\r\n") for v in row.values() if isinstance(v, str))
    return last_line - breaks


def _cell(row: dict, column: str) -> str:
    return (row.get(column) or "").strip()


def plain_name(text: str, where: str) -> str:
    """``text`` (a path, study or patient) when it is printable UTF-8 text; else :class:`InputError` at ``where``:
    the set's tables are text files, one row per image (``murad predict`` takes any name; a test set is renamed)."""
    if not text.isprintable():
        raise InputError(
            f"{where}: {shown(text)} holds a control character or bytes that are not UTF-8 (the set's tables are "
            "text, one row per image): rename it"
        )
    return text


def read_set_csv(path: Path) -> pd.DataFrame:
    """The images a set's CSV lists (``SET_COLUMNS`` but the decoded kind and size), each row checked."""
    header, rows = _csv_rows(path, ("path", "study", "label"))
    records, seen, studies = [], {}, {}
    for number, row in rows:
        where = f"{path}: row {number}"
        image, study, label = _cell(row, "path"), _cell(row, "study"), _cell(row, "label")
        for column, value in (("path", image), ("study", study), ("label", label)):
            if not value:
                raise InputError(f"{where}, column {column}: empty")
        if label not in ("0", "1"):
            raise InputError(f"{where}, column label: {label!r} is not 0 or 1 (1 = abnormal)")
        if image in seen:
            raise InputError(f"{where}, column path: {image} is listed already in row {seen[image]}")
        seen[image] = number
        body_part = _cell(row, "body_part").lower() if "body_part" in header else ""
        first = studies.setdefault(study, (number, label, body_part))
        if first[1] != label:
            raise InputError(f"{where}: study {study} has label {label} here but {first[1]} in row {first[0]}")
        if first[2] != body_part:
            raise InputError(
                f"{where}: study {study} has body part {body_part or '(none)'} here but {first[2] or '(none)'} in "
                f"row {first[0]}"
            )
        for column, value in (("path", image), ("study", study)):
            plain_name(value, f"{where}, column {column}")
        patient = plain_name(_cell(row, "patient") or study, f"{where}, column patient")
        body_part = body_part or body_part_in(study, image) or ""
        records.append([number, image, patient, study, body_part, int(label)])
    return pd.DataFrame(records, columns=SET_COLUMNS[:6])


def read_set_folder(root: Path) -> tuple[pd.DataFrame, list[dict]]:
    """The images of a folder laid out as a MURA-v1.1 split, and every other entry in it with why it is not one."""
    records, other = [], []
    parts = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    if not any(BODY_PART_FOLDER.match(p.name) and p.is_dir() for p in parts):
        raise InputError(
            f"{root}: no XR_<PART> folders in it (a set folder is laid out as a MURA-v1.1 split: "
            "XR_<PART>/<patient>/<study>_positive|negative/<images>)"
        )
    for entry in sorted(root.rglob("*")):
        relative = entry.relative_to(root)
        if any(name.startswith(".") for name in relative.parts) or entry.is_dir():
            continue
        names = relative.parts
        part = BODY_PART_FOLDER.match(names[0]) if len(names) == 4 else None
        study = STUDY_FOLDER.match(names[2]) if part else None
        if not study:
            other.append({"path": relative.as_posix(), "reason": "not in a XR_<PART>/<patient>/<study>_positive|"
                          "negative/ folder"})  # fmt: skip
            continue
        plain_name(relative.as_posix(), str(root))
        study_path = "/".join(names[:3]) + "/"
        label = LABEL_OF_SUFFIX[study["suffix"]]
        records.append([len(records) + 1, relative.as_posix(), names[1], study_path, part["part"].lower(), label])
    if not records:
        raise InputError(f"{root}: no images in XR_<PART>/<patient>/<study>_positive|negative/ folders")
    return pd.DataFrame(records, columns=SET_COLUMNS[:6]), other


# ----------------------------------------------------------------------------------------------- the boxes


def _pixel_box(x: float, y: float, width: float, height: float) -> tuple[int, int, int, int]:
    """The half-open integer box covering a box of x, y, width, height pixels."""
    return int(np.floor(x)), int(np.floor(y)), int(np.ceil(x + width)), int(np.ceil(y + height))


def _number(value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {value!r} is not a number") from None
    if not np.isfinite(number):
        raise InputError(f"{where}: {value!r} is not a finite number")
    return number


def read_coco_boxes(path: Path) -> list[dict]:
    """COCO JSON's annotations as boxes: ``where`` (for messages), file name, kind, the pixel box and the image's
    size where the file gives it."""
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        images = {image["id"]: image for image in coco["images"]}
        annotations = coco["annotations"]
        kinds = {category["id"]: str(category["name"]) for category in coco.get("categories", [])}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{path}: not COCO JSON with images and annotations ({type(error).__name__}: {error})"
        ) from None
    boxes = []
    for index, annotation in enumerate(annotations):
        where = f"{path}: annotation {index} (id {annotation.get('id', '?')})"
        image = images.get(annotation.get("image_id"))
        if image is None or "file_name" not in image:
            raise InputError(f"{where}: image_id {annotation.get('image_id')!r} is not one of its images")
        bbox = annotation.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise InputError(f"{where}: bbox {bbox!r} is not [x, y, width, height]")
        x, y, width, height = (_number(value, f"{where}, bbox") for value in bbox)
        size = (image.get("width"), image.get("height"))
        boxes.append(
            {
                "where": where,
                "path": str(image["file_name"]),
                "kind": kinds.get(annotation.get("category_id"), DEFAULT_BOX_KIND),
                "box": _pixel_box(x, y, width, height),
                "positive": width > 0 and height > 0,
                "size": tuple(int(v) for v in size) if all(isinstance(v, int | float) for v in size) else None,
            }
        )
    return boxes


def read_csv_boxes(path: Path) -> list[dict]:
    """A CSV ``path,x0,y0,x1,y1[,kind]`` as boxes (pixel corners of the original image)."""
    header, rows = _csv_rows(path, ("path", "x0", "y0", "x1", "y1"))
    boxes = []
    for number, row in rows:
        where = f"{path}: row {number}"
        x0, y0, x1, y1 = (_number(_cell(row, c), f"{where}, column {c}") for c in ("x0", "y0", "x1", "y1"))
        boxes.append(
            {
                "where": where,
                "path": _cell(row, "path"),
                "kind": _cell(row, "kind") or DEFAULT_BOX_KIND if "kind" in header else DEFAULT_BOX_KIND,
                "box": _pixel_box(x0, y0, x1 - x0, y1 - y0),
                "positive": x1 > x0 and y1 > y0,
                "size": None,
            }
        )
    return boxes


def read_boxes(path: str | Path) -> list[dict]:
    """Boxes from COCO JSON (a file whose text starts with ``{``) or a CSV."""
    path = Path(path)
    try:
        head = path.read_bytes()[:64].lstrip()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror})") from None
    return read_coco_boxes(path) if head.startswith(b"{") else read_csv_boxes(path)


def checked_boxes(boxes: list[dict], images: pd.DataFrame) -> pd.DataFrame:
    """The boxes (``BOX_COLUMNS``), each checked to name an image of the set and to lie inside it."""
    sizes = images.set_index("path")[["width", "height"]]
    rows = []
    for box in boxes:
        if box["path"] not in sizes.index:
            raise InputError(f"{box['where']}: {box['path']} is not an image of the set")
        width, height = (int(v) for v in sizes.loc[box["path"]])
        if box["size"] is not None and box["size"] != (width, height):
            raise InputError(
                f"{box['where']}: {box['path']} is {box['size'][0]} x {box['size'][1]} there but {width} x {height} "
                "on disk"
            )
        x0, y0, x1, y1 = box["box"]
        if not box["positive"] or x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise InputError(
                f"{box['where']}: the box ({x0}, {y0}) - ({x1}, {y1}) of {box['path']} is empty or outside the image "
                f"({width} x {height})"
            )
        rows.append([box["path"], box["kind"], x0, y0, x1, y1, width, height])
    return pd.DataFrame(rows, columns=BOX_COLUMNS)


# ----------------------------------------------------------------------------------------------- the check


def _decoded(root: Path, path: str) -> tuple[str, int, int, str | None] | str:
    """(kind, width, height, DICOM body part) of one image, or why it cannot be read."""
    try:
        radiograph = read_radiograph(root / path)
    except RadiographError as error:
        return str(error)
    height, width = radiograph.pixels.shape
    return radiograph.kind, width, height, radiograph.body_part


def check_set(studies: str | Path, boxes: str | Path | None = None, workers: int = 1) -> CheckedSet:
    """Read a set (CSV or folder) and its boxes, decode every image, and refuse it at the first problem with one
    line naming the file and row (module docstring); nothing is written."""
    studies = Path(studies)
    if studies.is_dir():
        images, other = read_set_folder(studies)
    elif studies.exists():
        images, other = read_set_csv(studies), []
    else:
        raise InputError(f"{studies}: no such CSV file or folder")
    root = set_root(studies)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        decoded = list(pool.map(lambda path: _decoded(root, path), images["path"]))
    listed = zip(images["row"], images["path"], decoded, strict=True)
    unreadable = [(row, path, why) for row, path, why in listed if isinstance(why, str)]
    if unreadable:
        row, path, why = unreadable[0]
        where = f"{studies}: row {row}: {path}" if not studies.is_dir() else f"{studies}: {path}"
        more = f" (and {len(unreadable) - 1} more images that cannot be read)" if len(unreadable) > 1 else ""
        raise InputError(f"{where}: {why}{more}")
    images["kind"] = [d[0] for d in decoded]
    images["width"] = [d[1] for d in decoded]
    images["height"] = [d[2] for d in decoded]
    from_dicom = pd.Series([d[3] or "" for d in decoded], index=images.index)
    first_dicom = from_dicom.groupby(images["study"]).transform(lambda parts: next((p for p in parts if p), ""))
    images["body_part"] = images["body_part"].where(images["body_part"] != "", first_dicom)
    images["body_part"] = images["body_part"].replace("", UNKNOWN_BODY_PART)
    box_table = checked_boxes(read_boxes(boxes), images) if boxes is not None else pd.DataFrame(columns=BOX_COLUMNS)
    return CheckedSet(root, images[SET_COLUMNS], box_table, summarise(images, box_table, other))


def summarise(images: pd.DataFrame, boxes: pd.DataFrame, other: list[dict]) -> dict:
    """Counts of a checked set: studies and images per body part and label, kinds of file, boxes per kind, and the
    entries of a set folder that are not images of it."""
    studies = images.drop_duplicates("study")
    per_part = {
        part: {"studies": int(len(group)), "abnormal": int(group["label"].sum())}
        for part, group in studies.groupby("body_part", sort=True)
    }
    return {
        "studies": int(len(studies)),
        "abnormal_studies": int(studies["label"].sum()),
        "images": int(len(images)),
        "body_parts": per_part,
        "files": {kind: int(n) for kind, n in images["kind"].value_counts().sort_index().items()},
        "boxes": {kind: int(n) for kind, n in boxes["kind"].value_counts().sort_index().items()},
        "images_with_boxes": int(boxes["path"].nunique()),
        "not_images_of_the_set": other,
    }


def describe(name: str, summary: dict) -> str:
    """One line for the log: a checked set's counts."""
    files = ", ".join(f"{n} {kind}" for kind, n in summary["files"].items())
    return (
        f"{name}: {summary['studies']} studies ({summary['abnormal_studies']} abnormal), {summary['images']} images "
        f"({files}), {sum(summary['boxes'].values())} boxes on {summary['images_with_boxes']} images, "
        f"{len(summary['not_images_of_the_set'])} entries not images of the set"
    )
