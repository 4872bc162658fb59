"""Writing outputs all-or-nothing: a failed job leaves no half-written file behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def staged_outputs(*paths: str | Path, unique: bool = False):
    """Yield temporary paths beside ``paths``; move them all into place only if the block succeeds. ``unique``:
    temporary names of this process's own, for outputs that several processes may write at once."""
    targets = [Path(p) for p in paths]
    tag = f".{os.getpid()}-{uuid.uuid4().hex[:8]}" if unique else ""
    staged = [t.with_name(f".{t.name}{tag}.partial") for t in targets]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield staged
        for tmp, target in zip(staged, targets, strict=True):
            os.replace(tmp, target)
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)


@contextmanager
def staged_directory(path: str | Path):
    """Yield a fresh folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """CSV with fixed formatting (LF line ends, no index) so re-runs give byte-identical files."""
    frame.to_csv(path, index=False, lineterminator="\n")


def write_json(data, path: str | Path) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
