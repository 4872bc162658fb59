"""Running a trained model: loading ``model.pt`` and image probabilities from uint8 images.

Training (its tuning split), the workflow's ``predict`` and ``cam_maps`` jobs and ``murad predict`` all go through
:func:`load_trained` and :func:`image_probabilities`, on images read and resized by :mod:`murad.radiographs`.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from .data import Normaliser, batches, take
from .errors import InputError
from .models import build_model

RECORD_KEYS = ("model", "settings", "state_dict")


def choose_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


@contextmanager
def algorithm_choice(device: torch.device, deterministic: bool) -> Iterator[dict]:
    """PyTorch's algorithm choice for a training run, restored afterwards; yields the flags as set, for meta.json.

    Deterministic: cudnn's deterministic algorithms, its benchmark mode off, ``torch.use_deterministic_algorithms``
    and cuBLAS's fixed workspace (``CUBLAS_WORKSPACE_CONFIG``, unless the job's environment sets it): the same
    history on the same GPU and software, at some cost in speed (benchmarks/gpu_check.sh measures it). An operation
    with no deterministic CUDA implementation (VGG's adaptive average pooling to 7 x 7 from a larger grid, in its
    backward pass) warns in the job's log instead of stopping the run (``warn_only``). Otherwise cudnn's benchmark
    mode picks the fastest algorithms, which may differ from run to run. On a CPU both give the same results.
    """
    previous = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if deterministic and workspace is None:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    try:
        yield {
            "deterministic": deterministic,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        }
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[:2]
        torch.use_deterministic_algorithms(previous[2], warn_only=previous[3])
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


@torch.no_grad()
def image_probabilities(model, cache: np.ndarray, normaliser: Normaliser, batch_size: int) -> np.ndarray:
    """Image probabilities for every row of ``cache`` (eval mode, no augmentation)."""
    model.eval()
    device = normaliser.device
    out = []
    for index in batches(np.arange(len(cache)), batch_size, drop_last=False):
        images = normaliser(take(cache, index, pin=device.type == "cuda"))
        images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            out.append(torch.sigmoid(model(images).float().squeeze(1)).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def read_record(path: str | Path) -> dict:
    """A ``model.pt``'s saved record (architecture name, settings, weights); :class:`InputError` naming the file
    when it is missing, truncated or not a murad model."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: no such model file") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: not a murad model.pt ({reason})") from None
    missing = [key for key in RECORD_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise InputError(f"{path}: not a murad model.pt (no {missing[0]!r} in it)")
    if not isinstance(record["settings"], dict) or "image_size" not in record["settings"]:
        raise InputError(f"{path}: not a murad model.pt (its settings give no image_size)")
    return record


def load_trained(path: str | Path, device: torch.device | str = "cpu"):
    """A trained ``model.pt`` as (model in eval mode, its saved record)."""
    record = read_record(path)
    settings = record["settings"]
    try:
        model = build_model(record["model"], "none", image_size=settings["image_size"])
        if record["model"] == "inception_v3" and settings.get("weights") == "imagenet":
            model.transform_input = True
        model.load_state_dict(record["state_dict"])
    except (ValueError, RuntimeError, KeyError, TypeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: its weights do not fit {record['model']!r} ({reason})") from None
    return model.to(device).eval(), record
