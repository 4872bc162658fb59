"""Whether two finished runs give the same numbers: every table, metric, history, prediction, CAM map and score of
one `results/` against another's, in every column that is not a wall-clock time (how #12 and #24 showed that a
restructuring changed no result).

    python benchmarks/same_numbers.py RESULTS_A RESULTS_B

Numbers: CSV and TSV files cell by cell (columns named for a time or a speed left out), JSON files key by key (the
same keys and the git commit left out), `.npz` and `.npy` arrays and `model.pt` tensors value by value; the data (the
synthetic radiographs, the caches) byte by byte. Presentation (figures, HTML, Markdown and LaTeX tables, overlays) is
counted apart, byte by byte: a change of wording or drawing shows there, not as a change of numbers. Logs and
Snakemake's benchmark files (times) are left out. Prints each differing file and a count per kind; exits 1 when a
number differs or a file is on one side only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TIME = re.compile(r"seconds|minutes|per_second|elapsed|wall|duration|date|time")
LEFT_OUT_FOLDERS = {"logs", "benchmarks"}
PRESENTATION = {".png", ".svg", ".html", ".md", ".tex", ".pdf", ".jpg"}
DATA_FOLDERS = {"data", "cache"}
LEFT_OUT_KEYS = {"git_commit"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args()
    files_a, files_b = relative_files(args.a), relative_files(args.b)
    counts: dict[str, list[int]] = {}
    failed = False
    for relative in sorted(files_a ^ files_b):
        print(f"only in {args.a if relative in files_a else args.b}: {relative}")
        failed = True
    for relative in sorted(files_a & files_b):
        kind, same = compare(args.a, args.b, relative)
        counts.setdefault(kind, [0, 0])[0 if same else 1] += 1
        if not same:
            print(f"differs ({kind}): {relative}")
            failed = failed or kind != "presentation"
    for kind, (same, different) in sorted(counts.items()):
        print(f"{kind}: {same} files the same, {different} different")
    sys.exit(1 if failed else 0)


def relative_files(root: Path) -> set[Path]:
    return {
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] not in LEFT_OUT_FOLDERS
    }


def compare(root_a: Path, root_b: Path, relative: Path) -> tuple[str, bool]:
    """The kind of the file ``relative`` and whether the two runs' agree."""
    a, b = root_a / relative, root_b / relative
    if relative.parts[0] in DATA_FOLDERS:
        return "data", same_bytes(a, b)
    if a.suffix in PRESENTATION:
        return "presentation", same_bytes(a, b)
    if a.suffix in {".csv", ".tsv"}:
        return "numbers", same_table(a, b)
    if a.suffix == ".json":
        return "numbers", without_times(json.loads(a.read_text())) == without_times(json.loads(b.read_text()))
    if a.suffix in {".npz", ".npy"}:
        return "numbers", same_arrays(a, b)
    if a.suffix == ".pt":
        return "numbers", same_tensors(a, b)
    return "other", same_bytes(a, b)


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def same_table(a: Path, b: Path) -> bool:
    separator = "\t" if a.suffix == ".tsv" else ","
    tables = [pd.read_csv(path, sep=separator, keep_default_na=False) for path in (a, b)]
    if list(tables[0].columns) != list(tables[1].columns):
        return False
    kept = [column for column in tables[0].columns if not TIME.search(str(column))]
    return tables[0][kept].equals(tables[1][kept])


def without_times(value):
    if isinstance(value, dict):
        return {
            key: without_times(item)
            for key, item in value.items()
            if not TIME.search(str(key)) and key not in LEFT_OUT_KEYS
        }
    if isinstance(value, list):
        return [without_times(item) for item in value]
    return value


def same_arrays(a: Path, b: Path) -> bool:
    if a.suffix == ".npy":
        return np.array_equal(np.load(a, mmap_mode="r"), np.load(b, mmap_mode="r"))
    with np.load(a) as first, np.load(b) as second:
        return sorted(first.files) == sorted(second.files) and all(
            np.array_equal(first[name], second[name], equal_nan=first[name].dtype.kind == "f") for name in first.files
        )


def same_tensors(a: Path, b: Path) -> bool:
    import torch

    first, second = (torch.load(path, map_location="cpu", weights_only=False) for path in (a, b))
    return equal(first, second)


def equal(first, second) -> bool:
    import torch

    if isinstance(first, torch.Tensor):
        return isinstance(second, torch.Tensor) and torch.equal(first, second)
    if isinstance(first, dict):
        return (
            isinstance(second, dict)
            and first.keys() == second.keys()
            and all(equal(first[key], second[key]) for key in first if not TIME.search(str(key)))
        )
    if isinstance(first, (list, tuple)):
        return type(first) is type(second) and len(first) == len(second) and all(map(equal, first, second))
    return first == second


if __name__ == "__main__":
    main()
