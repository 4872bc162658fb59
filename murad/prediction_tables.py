"""Reading prediction tables, checked: one reader for every command and job that takes them.

- A **study table** (``studies.csv``, ``tune_studies.csv``, an ensemble's, or one from elsewhere for ``murad metrics``
  and ``murad compare``): one row per study, columns ``study``, ``body_part``, ``label`` and ``prob`` at least.
- An **image table** (``images.csv``, ``tune_predictions.csv``): one row per image, columns ``path``, ``study``,
  ``body_part``, ``label`` and ``prob`` at least; the rows of one study agree on its label and body part.

Every cell of those columns is checked: ``study``, ``body_part`` and ``path`` not empty; ``label`` 0 or 1 (1 =
abnormal); ``prob`` a number within [0, 1] (not NaN, not infinite); a study (an image's path) listed once; at least
one row. The first violation is one :class:`~murad.errors.InputError` line naming the file, the row as a spreadsheet
numbers it (the header is row 1) and the column. Other columns, their order, CRLF line ends and a UTF-8 byte order
mark are accepted as they are.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

REQUIRED_STUDY_COLUMNS = ("study", "body_part", "label", "prob")
REQUIRED_IMAGE_COLUMNS = ("path", "study", "body_part", "label", "prob")
TEXT_COLUMNS = ("path", "study", "body_part")


def _cells(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a CSV as text; one line naming the file when it is not a CSV with ``required``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text CSV file (not UTF-8)") from None
    except (OSError, csv.Error) as error:
        raise InputError(f"{path}: not a readable CSV file ({error})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError(f"{path}: empty (a header row with {', '.join(required)} is needed)")
    header = [cell.strip() for cell in rows[0]]
    missing = [column for column in required if column not in header]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (needs {', '.join(required)})")
    repeated = sorted({column for column in header if header.count(column) > 1 and column in required})
    if repeated:
        raise InputError(f"{path}: column {repeated[0]!r} appears twice in the header")
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise InputError(f"{path}: holds no rows, only a header")
    return header, rows[1:]


def _label(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value in (0.0, 1.0) else None


def _probability(text: str) -> float | str:
    """The number, or why it is not a probability."""
    try:
        value = float(text)
    except ValueError:
        return f"{text!r} is not a number" if text.strip() else "empty"
    if math.isnan(value):
        return "NaN is not a probability"
    if not 0 <= value <= 1:
        return f"{text.strip()} is not within [0, 1]"
    return value


def _checked(path: str | Path, required: tuple[str, ...], key: str) -> tuple[pd.DataFrame, list[int]]:
    """The table with its required columns checked and typed, and each row's number in the file."""
    path = Path(path)
    header, rows = _cells(path, required)
    position = {column: header.index(column) for column in required}
    labels, probabilities, seen = [], [], {}
    kept, numbers = [], []
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise InputError(f"{path}: row {number}: {len(row)} cells, the header has {len(header)}")
        where = f"{path}: row {number}, column"
        for column in TEXT_COLUMNS:
            if column in position and not row[position[column]].strip():
                raise InputError(f"{where} {column}: empty")
        label = _label(row[position["label"]])
        if label is None:
            raise InputError(f"{where} label: {row[position['label']]!r} is not 0 or 1 (1 = abnormal)")
        probability = _probability(row[position["prob"]])
        if isinstance(probability, str):
            raise InputError(f"{where} prob: {probability}")
        value = row[position[key]].strip()
        if value in seen:
            raise InputError(f"{where} {key}: {value} is listed already in row {seen[value]}")
        seen[value] = number
        labels.append(label)
        probabilities.append(probability)
        kept.append(row)
        numbers.append(number)
    table = pd.DataFrame(kept, columns=header)
    for column in table.columns:
        if column not in required:  # other columns as pandas would read them (numbers as numbers)
            table[column] = _inferred(table[column])
    for column in TEXT_COLUMNS:
        if column in table:
            table[column] = table[column].str.strip()
    table["label"] = np.asarray(labels, dtype=int)
    table["prob"] = np.asarray(probabilities, dtype=float)
    return table, numbers


def _inferred(column: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        return column


def read_study_table(path: str | Path) -> pd.DataFrame:
    """A study table, every cell of its required columns checked (see the module's docstring)."""
    return _checked(path, REQUIRED_STUDY_COLUMNS, key="study")[0]


def read_image_table(path: str | Path) -> pd.DataFrame:
    """An image table, checked as a study table is, each image listed once and the rows of a study agreeing on
    its label and body part."""
    table, numbers = _checked(path, REQUIRED_IMAGE_COLUMNS, key="path")
    first: dict[str, int] = {}
    for index, study in enumerate(table["study"]):
        other = first.setdefault(study, index)
        for column in ("label", "body_part"):
            here, there = table[column].iloc[index], table[column].iloc[other]
            if here != there:
                raise InputError(
                    f"{path}: row {numbers[index]}, column {column}: study {study} has {here} here but {there} in "
                    f"row {numbers[other]}"
                )
    return table
