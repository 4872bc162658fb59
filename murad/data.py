"""The input pipeline: decode and resize every image once into a uint8 cache, then augment whole batches as tensors.

A cache holds one split at one size: ``N x S x S`` grayscale uint8 in a ``.npy`` file that every model's job
memory-maps (radiographs are grayscale; RGB files are converted, and the channel is repeated to 3 on the fly).
Rows follow the split table's rows. Augmentation (the paper's random horizontal flip and rotation up to +-30 degrees)
runs per batch with ``affine_grid``/``grid_sample``, on the GPU when there is one. On a cluster a job can read its
caches from a copy on the node's own disk (:func:`node_local_caches`, the workflow's ``node_local_cache``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .errors import InputError
from .io import staged_outputs
from .radiographs import load_radiograph

log = logging.getLogger("murad")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_cache(table: pd.DataFrame, root: str | Path, size: int, out_path: str | Path, workers: int = 1) -> None:
    """Decode and resize the images of ``table`` (rows in order) into ``out_path`` (.npy), written all-or-nothing."""
    root = Path(root)
    with staged_outputs(out_path) as (staged,):
        array = np.lib.format.open_memmap(staged, mode="w+", dtype=np.uint8, shape=(len(table), size, size))

        def fill(index: int) -> None:
            array[index] = load_radiograph(root / table["path"].iloc[index], size)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(fill, range(len(table))))
        array.flush()


def open_cache(path: str | Path, expected_rows: int) -> np.ndarray:
    cache = np.load(path, mmap_mode="r")
    if cache.shape[0] != expected_rows:
        raise ValueError(f"{path}: {cache.shape[0]} cached images but the split table has {expected_rows} rows")
    return cache


LOCAL_COPIES = "murad-caches"  # the folder murad's cache copies go in, inside the node-local one


def _copy_record(source: Path) -> dict:
    """What a complete copy of ``source`` must match: its path, size and modification time."""
    stat = source.stat()
    return {"source": str(source.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def local_copy(source: str | Path, folder: str | Path) -> Path:
    """``source`` copied into ``folder/murad-caches/`` once (an existing complete copy of the same file is used);
    a copy without its completion record, or of another size, is removed and made again."""
    source = Path(source)
    record = _copy_record(source)
    key = hashlib.sha256(record["source"].encode()).hexdigest()[:12]
    target = Path(folder) / LOCAL_COPIES / f"{source.stem}-{key}{source.suffix}"
    marker = target.with_name(target.name + ".complete")
    if target.exists():
        try:
            complete = json.loads(marker.read_text()) == record and target.stat().st_size == record["bytes"]
        except (OSError, ValueError):
            complete = False
        if complete:
            log.info("%s: using the complete copy of %s already on this node", target, source)
            return target
        log.warning("%s: an incomplete or outdated copy of %s; copying it again", target, source)
        target.unlink()
        marker.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < record["bytes"]:
        raise InputError(
            f"{target.parent}: {free / 1e9:.1f} GB free, the copy of {source} needs {record['bytes'] / 1e9:.1f} GB"
        )
    started = time.perf_counter()
    with staged_outputs(target, marker, unique=True) as (staged, staged_marker):
        shutil.copyfile(source, staged)
        if Path(staged).stat().st_size != record["bytes"]:
            raise OSError(f"{staged}: copied {Path(staged).stat().st_size} of {record['bytes']} bytes of {source}")
        Path(staged_marker).write_text(json.dumps(record))
    seconds = time.perf_counter() - started
    log.info("%s -> %s: %.2f GB in %.1f s (%.0f MB/s)", source, target, record["bytes"] / 1e9, seconds,
             record["bytes"] / 1e6 / max(seconds, 1e-9))  # fmt: skip
    return target


@contextmanager
def node_local_caches(caches: dict[str, str], folder: str | None) -> Iterator[dict[str, str]]:
    """The cache files of a job, read from node-local ``folder`` (environment variables expanded here, on the node)
    when one is given: copied there first (:func:`local_copy`) and removed when the block ends."""
    if not folder:
        yield caches
        return
    local = Path(os.path.expandvars(os.path.expanduser(folder)))
    if "$" in str(local) or not local.is_dir():
        raise InputError(f"node_local_cache {folder!r}: {local} is not a folder on this node")
    copies = {}
    try:
        for name, path in caches.items():
            copies[name] = local_copy(path, local)
        yield {name: str(path) for name, path in copies.items()}
    finally:
        for path in copies.values():
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".complete").unlink(missing_ok=True)


class Normaliser:
    """uint8 batches -> ImageNet-normalised float tensors on ``device``, nothing augmented (evaluation: the tuning
    pass, predictions, CAMs, ``murad predict``), as torchvision's eval preset is apart from its train preset."""

    def __init__(self, device: torch.device):
        self.device = device
        std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        # (x - mean) / std as one fused x * scale + shift over the 3 output channels
        self.scale = 1 / std
        self.shift = -torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) / std

    def unit(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, S, S) uint8 -> (B, 1, S, S) float in [0, 1] on the device."""
        return batch.to(self.device, non_blocking=True).float().div_(255).unsqueeze(1)

    def standardise(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) in [0, 1] -> (B, 3, S, S), ImageNet mean/std (grey repeated over the channels)."""
        return torch.addcmul(self.shift, images, self.scale)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, S, S) uint8 -> (B, 3, S, S) float, ImageNet mean/std."""
        return self.standardise(self.unit(batch))


class BatchAugmenter:
    """Training's uint8 batches -> random flips and rotations drawn from its own generator, then the
    :class:`Normaliser`'s normalisation."""

    def __init__(self, device: torch.device, rotation_degrees: float = 30.0, hflip: bool = True, seed: int = 0):
        self.device = device
        self.normaliser = Normaliser(device)
        self.rotation = math.radians(rotation_degrees)
        self.hflip = hflip
        self.generator = torch.Generator().manual_seed(seed)
        self._base_grids: dict[int, torch.Tensor] = {}

    def _base_grid(self, size: int) -> torch.Tensor:
        """Pixel-centre coordinates in [-1, 1] with a ones column, (1, S*S, 3); what affine_grid builds each call."""
        if size not in self._base_grids:
            line = (torch.arange(size, dtype=torch.float32, device=self.device) * 2 + 1) / size - 1
            grid = torch.stack(
                [
                    line.view(1, size).expand(size, size),
                    line.view(size, 1).expand(size, size),
                    torch.ones(size, size, device=self.device),
                ],
                -1,
            )
            self._base_grids[size] = grid.view(1, size * size, 3)
        return self._base_grids[size]

    def augment(self, batch: torch.Tensor) -> torch.Tensor:
        """Random horizontal flip and rotation per image, applied to the whole batch at once, then normalised."""
        images = self.normaliser.unit(batch)
        n, size = images.shape[0], images.shape[-1]
        angle = (torch.rand(n, generator=self.generator) * 2 - 1) * self.rotation
        flip = torch.ones(n)
        if self.hflip:
            flip = torch.where(torch.rand(n, generator=self.generator) < 0.5, -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos * flip, -sin, torch.zeros(n)], 1), torch.stack([sin * flip, cos, torch.zeros(n)], 1)], 1
        ).to(self.device)
        grid = torch.bmm(self._base_grid(size).expand(n, -1, -1), theta.transpose(1, 2)).view(n, size, size, 2)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return self.normaliser.standardise(images)

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def restore(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled image order of one epoch: a pure function of (seed, epoch), so a resumed run sees the same."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batches(order: np.ndarray, batch_size: int, drop_last: bool) -> list[np.ndarray]:
    cut = len(order) - len(order) % batch_size if drop_last and len(order) >= batch_size else len(order)
    return [order[i : i + batch_size] for i in range(0, cut, batch_size)]


def take(cache: np.ndarray, indices: np.ndarray, pin: bool = False) -> torch.Tensor:
    """Rows of a memory-mapped cache as a tensor (read in sorted order, returned in the asked order)."""
    ordered = np.sort(indices)
    rows = torch.from_numpy(np.ascontiguousarray(cache[ordered]))
    position = np.searchsorted(ordered, indices)
    batch = rows[torch.from_numpy(position)]
    return batch.pin_memory() if pin else batch
