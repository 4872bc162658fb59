"""What ``murad predict`` is pointed at, as studies: a folder whose leaf folders are studies, or a CSV of images.

- A folder: every leaf folder (one without sub-folders) at any depth is one study, named by its path relative to the
  folder, and every file in it is one of its images (hidden files, whose names start with ``.``, are skipped). A
  MURA-v1.1 tree works as it is. Files in folders that have sub-folders are not read (MURA's CSVs sit there); image
  files among them are counted in the log.
- A CSV with a header: columns ``path`` and ``study`` (one row per image; paths relative to ``root``, by default the
  CSV's folder, or absolute), and optionally ``body_part``.

A study's body part comes from an ``XR_<PART>`` folder in its path (MURA's naming), the CSV's ``body_part``, or else
its DICOM files' BodyPartExamined.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..radiographs import DICOM_MARKER, DICOM_MARKER_OFFSET

BODY_PART_FOLDER = re.compile(r"^XR_(?P<part>[A-Z]+)$")
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG


@dataclass
class Study:
    name: str  # its folder relative to the input, or the CSV's study value
    images: list[Path] = field(default_factory=list)
    body_part: str | None = None


def body_part_of(path: str) -> str | None:
    """``elbow`` for a path with an ``XR_ELBOW`` folder in it (MURA's naming), else None."""
    for part in PurePosixPath(path).parts:
        match = BODY_PART_FOLDER.match(part)
        if match:
            return match["part"].lower()
    return None


def looks_like_an_image(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(DICOM_MARKER_OFFSET + len(DICOM_MARKER))
    except OSError:
        return False
    return head.startswith(IMAGE_SIGNATURES) or head[DICOM_MARKER_OFFSET:] == DICOM_MARKER


def _visible(names: list[str]) -> list[str]:
    return sorted(name for name in names if not name.startswith("."))


def studies_in_folder(root: Path, skip: Path | None = None) -> tuple[list[Study], list[Path]]:
    """The leaf folders under ``root`` as studies (sorted by path), and the image files left outside them."""
    studies, outside = [], []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = _visible(subfolders)
        here = Path(folder)
        if skip is not None and here == skip:
            subfolders[:] = []
            continue
        names = [name for name in _visible(files) if (here / name).is_file() or (here / name).is_symlink()]
        if subfolders:
            outside += [here / name for name in names if looks_like_an_image(here / name)]
            continue
        name = here.relative_to(root).as_posix()
        studies.append(Study(name, [here / n for n in names], body_part_of(name)))
    return sorted(studies, key=lambda study: study.name), outside


def studies_in_csv(table: Path, root: Path | None = None) -> list[Study]:
    """The studies a CSV lists (in the order they first appear), each image checked to be listed once."""
    base = root if root is not None else table.parent
    try:
        with open(table, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{table}: not a readable CSV ({error})") from None
    missing = [column for column in ("path", "study") if column not in header]
    if missing:
        raise InputError(f"{table}: no {missing[0]!r} column (it needs path and study, one row per image)")
    if not rows:
        raise InputError(f"{table}: lists no images")
    studies: dict[str, Study] = {}
    seen: dict[Path, int] = {}
    for line, row in enumerate(rows, start=2):  # as a spreadsheet numbers it: the header is row 1
        path_text, study = (row.get("path") or "").strip(), (row.get("study") or "").strip()
        if not path_text or not study:
            raise InputError(f"{table}: row {line}: empty {'path' if not path_text else 'study'}")
        path = Path(path_text) if Path(path_text).is_absolute() else base / path_text
        if path in seen:
            raise InputError(f"{table}: row {line}: {path_text} is listed already in row {seen[path]}")
        seen[path] = line
        entry = studies.setdefault(study, Study(study))
        entry.images.append(path)
        given = (row.get("body_part") or "").strip().lower() or None
        entry.body_part = entry.body_part or given or body_part_of(study) or body_part_of(path_text)
    return list(studies.values())


def find_studies(source: str | Path, root: str | Path | None = None, skip: str | Path | None = None):
    """(studies, image files outside any study) of a folder or CSV; :class:`InputError` when there is no such input
    or it lists no study."""
    source = Path(source)
    if source.is_dir():
        if root is not None:
            raise InputError(f"{source}: --root is for a CSV input; a folder's studies are its own leaf folders")
        studies, outside = studies_in_folder(source, Path(skip) if skip is not None else None)
    elif source.is_file():
        studies, outside = studies_in_csv(source, Path(root) if root is not None else None), []
    else:
        raise InputError(f"{source}: no such folder or CSV file")
    if not any(study.images for study in studies):
        raise InputError(f"{source}: no image files in it (a study is a leaf folder of images, or a CSV's study value)")
    return studies, outside
