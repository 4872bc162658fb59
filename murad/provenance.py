"""Where results came from: the git commit, package versions, machine and devices (for meta.json and the report)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd

PACKAGES = (
    "torch",
    "torchvision",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "seaborn",
    "pillow",
)


def git_commit() -> str:
    """The commit of the murad checkout in use (``unknown`` outside a git checkout); ``+dirty`` with local edits."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_table(meta_jsons: dict[str, str]) -> pd.DataFrame:
    """Rows (item, value): this gather's machine and packages, then the device and versions each model trained with."""
    rows = [
        ("murad git commit", git_commit()),
        ("python", sys.version.split()[0]),
        ("platform", platform.platform()),
        ("processor", platform.processor() or platform.machine()),
    ]
    rows += [(package, _version(package)) for package in PACKAGES]
    for model, path in sorted(meta_jsons.items()):
        meta = json.loads(Path(path).read_text())
        rows.append((f"trained: {model}", f"{meta['device']}; torch {meta['torch']}; commit {meta['git_commit']}"))
    return pd.DataFrame(rows, columns=["item", "value"])
