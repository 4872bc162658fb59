"""What ``murad predict`` is pointed at, as studies: a folder of study folders, or a CSV of images.

- A folder: every folder under it (itself included, named ``.``) that holds anything other than folders is one
  study, named by its path relative to the input, and everything in it other than folders is one of its images: its
  files, and links, named pipes, sockets and devices, which the reader names as such without opening them; links
  to folders are not followed. So a MURA-v1.1 tree works as it is, and a study folder that also holds a folder keeps
  its own files as a study (the folder inside is another). A folder with nothing in it is a study without images.
  Names starting with ``.`` are skipped (hidden files and folders, ``.DS_Store``), and counted.
- A CSV with a header: columns ``path`` and ``study`` (one row per image; paths relative to ``root``, by default the
  CSV's folder, or absolute), and optionally ``body_part``. Its text is UTF-8; bytes that are not are kept as the
  file system's own (a path a Latin-1 tool wrote opens the file it names).

A study's body part comes from an ``XR_<PART>`` folder in its path (MURA's naming), the CSV's ``body_part``, or else
its DICOM files' BodyPartExamined.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..mura import body_part_in
from ..names import shown

HIDDEN_PREFIX = "."


@dataclass
class Study:
    name: str  # its folder relative to the input ("." for the input itself), or the CSV's study value
    images: list[Path] = field(default_factory=list)  # every entry given as one of its images, read or not
    body_part: str | None = None
    unlisted: str | None = None  # why its folder could not be listed


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False  # the reader says what it is


def studies_in_folder(root: Path) -> tuple[list[Study], int]:
    """The studies under ``root`` (sorted by name; the module docstring says which), and how many hidden entries
    were skipped. Links to folders are not followed, so the walk stays inside ``root``."""
    studies, hidden, pending = [], 0, [root]
    while pending:
        folder = pending.pop()
        name = folder.relative_to(root).as_posix()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            reason = f"the folder cannot be listed ({error.strerror or type(error).__name__})"
            studies.append(Study(name, [], body_part_in(name), unlisted=reason))
            continue
        visible = [entry for entry in entries if not entry.name.startswith(HIDDEN_PREFIX)]
        hidden += len(entries) - len(visible)
        folders = [Path(entry.path) for entry in visible if _is_folder(entry)]
        others = [Path(entry.path) for entry in visible if not _is_folder(entry)]
        if others or not folders:
            studies.append(Study(name, others, body_part_in(name)))
        pending.extend(reversed(folders))
    return sorted(studies, key=lambda study: study.name), hidden


def studies_in_csv(table: Path, root: Path | None = None, outside: Path | None = None) -> list[Study]:
    """The studies a CSV lists (in the order they first appear), each image checked to be listed once and not to lie
    inside the folder ``outside`` (the output folder)."""
    base = root if root is not None else table.parent
    try:
        with open(table, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{shown(str(table))}: not a readable CSV ({shown(str(error))})") from None
    missing = [column for column in ("path", "study") if column not in header]
    if missing:
        raise InputError(f"{shown(str(table))}: no {missing[0]!r} column (it needs path and study, one row per image)")
    if not rows:
        raise InputError(f"{shown(str(table))}: lists no images")
    studies: dict[str, Study] = {}
    seen: dict[Path, int] = {}
    for line, row in enumerate(rows, start=2):  # as a spreadsheet numbers it: the header is row 1
        path_text, study = (row.get("path") or "").strip(), (row.get("study") or "").strip()
        if not path_text or not study:
            raise InputError(f"{shown(str(table))}: row {line}: empty {'path' if not path_text else 'study'}")
        path = Path(path_text) if Path(path_text).is_absolute() else base / path_text
        if path in seen:
            twice = f"{shown(path_text)} is listed already in row {seen[path]}"
            raise InputError(f"{shown(str(table))}: row {line}: {twice}")
        if outside is not None and _lies_inside(path, outside):
            raise InputError(f"{shown(str(table))}: row {line}: {shown(path_text)} lies inside the output folder")
        seen[path] = line
        entry = studies.setdefault(study, Study(study))
        entry.images.append(path)
        given = (row.get("body_part") or "").strip().lower() or None
        entry.body_part = entry.body_part or given or body_part_in(study, path_text)
    return list(studies.values())


def _lies_inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder)
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte: the reader names it
        return False


def find_studies(source: str | Path, root: str | Path | None = None, out_dir: str | Path | None = None):
    """(studies, hidden entries skipped) of a folder or CSV; :class:`InputError` when there is no such input or it
    gives no study with anything in it. ``out_dir``: the output folder, which no image a CSV lists may lie in."""
    source = Path(source)
    if source.is_dir():
        if root is not None:
            raise InputError(f"{shown(str(source))}: --root is for a CSV input; a folder's studies are its own folders")
        studies, hidden = studies_in_folder(source)
    elif source.is_file():
        outside = Path(out_dir).resolve() if out_dir is not None else None
        studies, hidden = studies_in_csv(source, Path(root) if root is not None else None, outside), 0
    elif source.exists():
        raise InputError(f"{shown(str(source))}: not a folder or a CSV file")
    else:
        raise InputError(f"{shown(str(source))}: no such folder or CSV file")
    if not any(study.images for study in studies):
        raise InputError(
            f"{shown(str(source))}: no files in it (every folder holding files is a study; names starting with . "
            "are skipped)"
        )
    return studies, hidden
