"""The jobs of workflow/rules/train.smk: image caches, training, ImageNet weights."""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("murad")


def cache_images(table_csvs: dict[str, str], root: str, size: int, out_paths: dict[str, str], workers: int = 1) -> None:
    """Decode and resize each split's images once into a memory-mappable uint8 cache shared by every model."""
    import pandas as pd

    from ..data import build_cache

    for split in sorted(table_csvs):
        started = time.perf_counter()
        table = pd.read_csv(table_csvs[split])
        build_cache(table, root, size, out_paths[split], workers=workers)
        seconds = time.perf_counter() - started
        log.info(
            "cached %d %s images at %d px in %.1f s (%.0f images/s)",
            len(table),
            split,
            size,
            seconds,
            len(table) / max(seconds, 1e-9),
        )


def train(
    model: str,
    settings: dict,
    tables: dict[str, str],
    caches: dict[str, str],
    model_pt: str,
    history_csv: str,
    meta_json: str,
    tune_predictions_csv: str,
    checkpoint: str,
    hub_dir: str,
    threads: int = 1,
    node_local_cache: str | None = None,
) -> None:
    """Train one model from the train and tune split tables and their image caches (read from a node-local copy
    when ``node_local_cache`` names a folder); resumes from ``checkpoint`` when a stopped job left one."""
    import pandas as pd

    from ..data import node_local_caches, open_cache
    from ..train import TrainingOutputs, TrainSettings, train_model

    frames = {name: pd.read_csv(path) for name, path in tables.items()}
    outputs = TrainingOutputs(*map(Path, (model_pt, history_csv, meta_json, tune_predictions_csv, checkpoint)))
    with node_local_caches({name: caches[name] for name in ("train", "tune")}, node_local_cache) as read_from:
        arrays = {name: open_cache(read_from[name], len(frames[name])) for name in ("train", "tune")}
        train_model(
            model,
            TrainSettings.from_dict(settings),
            frames["train"],
            arrays["train"],
            frames["tune"],
            arrays["tune"],
            outputs,
            hub_dir=hub_dir,
            threads=threads,
        )


def stage_weights(models: list[str], hub_dir: str) -> None:
    """Download the ImageNet weights of ``models`` into ``hub_dir`` (needs internet); every name and the folder
    checked before the first download."""
    import os

    from ..errors import InputError
    from ..models import stage_weights as download
    from ..torchvision_catalog import is_classification_model

    for model in models:
        if not is_classification_model(model):
            raise InputError(f"{model!r}: not a torchvision classification model (torchvision.models.list_models())")
    folder = Path(hub_dir) / "checkpoints"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--hub-dir {hub_dir}: cannot make {folder} ({error.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise InputError(f"--hub-dir {hub_dir}: {folder} is not writable")
    for model in models:
        try:
            log.info("ImageNet weights of %s: %s", model, download(model, hub_dir))
        except (OSError, RuntimeError) as error:  # no internet (URLError is an OSError), a bad download
            raise InputError(f"{model}: ImageNet weights not downloaded to {folder} ({error})") from None
