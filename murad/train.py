"""Training one model with the paper's recipe, resumable and reproducible, as torchvision's reference reads.

Adam (default betas), learning rate / 10 when the tuning loss plateaus, random flips and rotations, the
epoch with the lowest tuning loss kept. :func:`train_model` is a short epoch loop over :func:`train_one_epoch` (batches
of :func:`train_step`) and :func:`evaluate` (the tuning split). Its :class:`TrainingState` (model, optimizer,
scheduler, RNG states, position in the epoch, history, best epoch) is saved atomically after every epoch and when
SIGTERM arrives (what SLURM sends at walltime or preemption); running the same job again continues from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision

from .data import BatchAugmenter, Normaliser, batches, epoch_order, take
from .errors import Preempted
from .inference import algorithm_choice, choose_device, image_probabilities
from .inference import autocast as mixed_precision
from .interruption import StopRequest
from .io import staged_outputs, write_csv, write_json
from .metrics import aggregate_studies, point_metrics
from .models import build_model, count_parameters, training_logits
from .provenance import git_commit

log = logging.getLogger("murad")

HISTORY_COLUMNS = ["epoch", "train_loss", "tune_loss", "tune_kappa", "lr", "seconds", "images_per_second"]


@dataclass(frozen=True)
class TrainSettings:
    """A model's training settings; their defaults (the paper's recipe) are in workflow/schemas/config.schema.yaml."""

    image_size: int
    batch_size: int
    epochs: int
    lr: float
    lr_factor: float
    lr_patience: int
    rotation: float
    hflip: bool
    weighted_loss: bool
    weights: str
    images_per_epoch: int | None
    aux_loss_weight: float
    deterministic: bool
    seed: int

    @classmethod
    def from_dict(cls, values: dict) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(values) - known), sorted(known - set(values))
        if unknown or missing:
            raise ValueError(f"unknown training setting {unknown[0]!r}" if unknown else f"no {missing[0]!r} setting")
        return cls(**values)


def study_kappa(table: pd.DataFrame, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Cohen's kappa of study predictions (mean of the study's image probabilities > threshold)."""
    studies = aggregate_studies(table.assign(prob=probs), how="mean", threshold=threshold)
    return float(point_metrics(studies["label"].to_numpy(), studies["prob"].to_numpy(), threshold)["kappa"])


def loss_weights(train: pd.DataFrame, weighted: bool) -> np.ndarray:
    """Per-image loss weights of the training images: the MURA paper's weighted BCE per study type.

    For body part T: w_abnormal = |normal_T| / |T|, w_normal = |abnormal_T| / |T| (all ones when not weighted).
    """
    if not weighted:
        return np.ones(len(train), dtype=np.float32)
    share_abnormal = train.groupby("body_part")["label"].transform("mean").to_numpy()
    return np.where(train["label"].to_numpy() == 1, 1 - share_abnormal, share_abnormal).astype(np.float32)


def _fingerprint(model_name: str, settings: TrainSettings, *tables: pd.DataFrame) -> str:
    digest = hashlib.sha256(json.dumps([model_name, asdict(settings)], sort_keys=True).encode())
    for table in tables:
        digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def _cpu_copy(state_dict: dict) -> OrderedDict:
    """A state dict's tensors copied to the CPU, keeping its module versions (``_metadata``: mnasnet needs them)."""
    copied = OrderedDict((key, value.detach().to("cpu", copy=True)) for key, value in state_dict.items())
    copied._metadata = getattr(state_dict, "_metadata", None)
    return copied


@dataclass(frozen=True)
class TrainingOutputs:
    """The files a training job writes, and its resume checkpoint (kept only while the job is unfinished)."""

    model: Path
    history: Path
    meta: Path
    tune_predictions: Path
    checkpoint: Path


@dataclass
class EpochProgress:
    """How far the current epoch got: batches done, their summed loss, images and seconds."""

    batch: int = 0
    loss_sum: float = 0.0
    images: int = 0
    seconds: float = 0.0


@dataclass
class TrainingState:
    """Everything a training job needs to continue where it stopped; it saves and restores itself.

    ``epoch`` counts finished epochs; ``progress`` is the current one's (non-zero only when SIGTERM stopped it);
    ``best`` holds the lowest tuning loss so far, its epoch, tuning-split probabilities and model weights.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    augmenter: BatchAugmenter
    fingerprint: str
    epoch: int = 0
    progress: EpochProgress = field(default_factory=EpochProgress)
    history: list[dict] = field(default_factory=list)
    images_seen: int = 0  # training images over the finished epochs (an image seen in two epochs counts twice)
    best: dict = field(default_factory=lambda: {"loss": math.inf, "epoch": 0})

    def save(self, path: Path) -> None:
        device = self.augmenter.device
        with staged_outputs(path) as (staged,):
            torch.save(
                {
                    "fingerprint": self.fingerprint,
                    "epoch": self.epoch,
                    "progress": asdict(self.progress),
                    "history": self.history,
                    "images_seen": self.images_seen,
                    "best": self.best,
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "augment_rng": self.augmenter.state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                },
                staged,
            )

    def restore(self, path: Path) -> bool:
        """Continue from the checkpoint at ``path`` if it was written for the same settings and data."""
        if not path.exists():
            return False
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") != self.fingerprint:
            log.info("checkpoint %s is from other settings or data; starting afresh", path)
            return False
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.augmenter.restore(saved["augment_rng"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] is not None and self.augmenter.device.type == "cuda":
            torch.cuda.set_rng_state(saved["cuda_rng"])
        self.epoch, self.progress = saved["epoch"], EpochProgress(**saved["progress"])
        self.history, self.images_seen, self.best = saved["history"], saved["images_seen"], saved["best"]
        return True

    def end_epoch(self, lr: float, seconds: float, tune_probs: np.ndarray, tune_loss: float, tune_kappa: float) -> dict:
        """Record the epoch just trained and evaluated (its history row, returned); keep the model if its tuning loss
        is the lowest so far."""
        progress = self.progress
        row = {
            "epoch": self.epoch + 1,
            "train_loss": progress.loss_sum / max(progress.images, 1),
            "tune_loss": tune_loss,
            "tune_kappa": tune_kappa,
            "lr": lr,
            "seconds": round(seconds, 3),
            "images_per_second": round(progress.images / max(progress.seconds, 1e-9), 2),
        }
        self.history.append(row)
        self.images_seen += progress.images
        if row["tune_loss"] < self.best["loss"]:
            self.best = {
                "loss": row["tune_loss"],
                "epoch": row["epoch"],
                "tune_probs": torch.from_numpy(tune_probs),
                "weights": _cpu_copy(self.model.state_dict()),
            }
        self.epoch, self.progress = row["epoch"], EpochProgress()
        return row

    def remaining_seconds(self, epochs: int) -> float:
        """The time the remaining epochs of ``epochs`` will take at the mean pace so far."""
        return sum(r["seconds"] for r in self.history) / len(self.history) * (epochs - self.epoch)


def train_step(
    model,
    optimizer,
    images: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    aux_loss_weight: float,
    autocast: bool = True,
) -> torch.Tensor:
    """One optimisation step on one augmented batch: weighted BCE on the logit (plus the auxiliary head's, weighted,
    where the model has one); returns the loss. On a GPU the forward pass runs in bf16 autocast (``autocast``)."""
    with mixed_precision(images.device) if autocast else nullcontext():
        logits, aux_logits = training_logits(model(images))
        loss = F.binary_cross_entropy_with_logits(logits.float().squeeze(1), target, weight)
        if aux_logits is not None:
            aux_loss = F.binary_cross_entropy_with_logits(aux_logits.float().squeeze(1), target, weight)
            loss = loss + aux_loss_weight * aux_loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def _prefetched(pool: ThreadPoolExecutor, cache: np.ndarray, plan: list[np.ndarray], pin: bool):
    """(index, uint8 batch) for each batch of ``plan``, read two batches ahead on ``pool``."""
    pending = [pool.submit(take, cache, index, pin) for index in plan[:2]]
    for number, index in enumerate(plan):
        batch = pending.pop(0).result()
        if number + 2 < len(plan):
            pending.append(pool.submit(take, cache, plan[number + 2], pin))
        yield index, batch


def train_one_epoch(
    state: TrainingState,
    plan: list[np.ndarray],
    cache: np.ndarray,
    labels: torch.Tensor,
    weights: torch.Tensor,
    settings: TrainSettings,
    pool: ThreadPoolExecutor,
    stop: StopRequest,
    label: str,
) -> None:
    """Train on the epoch's batches ``plan`` from ``state.progress.batch`` on, adding to ``state.progress``; returns
    early, after the current batch, when a stop is requested."""
    model, device, progress = state.model, state.augmenter.device, state.progress
    model.train()
    started = time.perf_counter()
    on_terminal = sys.stderr.isatty()  # a live batch counter on a terminal only; logs get one line per epoch
    for index, batch in _prefetched(pool, cache, plan[progress.batch :], pin=device.type == "cuda"):
        images = state.augmenter.augment(batch).contiguous(memory_format=torch.channels_last)
        loss = train_step(
            model,
            state.optimizer,
            images,
            labels[index].to(device),
            weights[index].to(device),
            settings.aux_loss_weight,
        )
        progress.batch += 1
        progress.loss_sum += loss.item() * len(index)
        progress.images += len(index)
        if on_terminal:
            print(f"\r{label} batch {progress.batch}/{len(plan)}", end="", file=sys.stderr, flush=True)
        if stop.requested:
            break
    if on_terminal:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    progress.seconds += time.perf_counter() - started


def evaluate(model, table: pd.DataFrame, cache: np.ndarray, normaliser: Normaliser, batch_size: int):
    """The tuning split's image probabilities, their BCE loss and study-level kappa."""
    probs = image_probabilities(model, cache, normaliser, batch_size)
    target = torch.tensor(table["label"].to_numpy(), dtype=torch.float32)
    loss = float(F.binary_cross_entropy(torch.from_numpy(probs).clamp(1e-7, 1 - 1e-7).float(), target))
    return probs, loss, study_kappa(table, probs)


def new_training_state(
    model_name: str, settings: TrainSettings, fingerprint: str, hub_dir: str | Path | None, threads: int
) -> TrainingState:
    """The model, optimizer, scheduler and augmentation of a training run before its first epoch, on the GPU if
    there is one."""
    device = choose_device()
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(settings.seed)
    model = build_model(model_name, settings.weights, hub_dir, settings.image_size).to(device)
    model = model.to(memory_format=torch.channels_last)  # faster convolutions on GPUs and on CPUs alike
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=settings.lr_factor, patience=settings.lr_patience
    )
    augmenter = BatchAugmenter(device, settings.rotation, settings.hflip, settings.seed)
    return TrainingState(model, optimizer, scheduler, augmenter, fingerprint)


def train_model(
    model_name: str,
    settings: TrainSettings,
    train_table: pd.DataFrame,
    train_cache: np.ndarray,
    tune_table: pd.DataFrame,
    tune_cache: np.ndarray,
    outputs: TrainingOutputs,
    hub_dir: str | Path | None = None,
    threads: int = 1,
) -> dict:
    """Train ``model_name`` and write ``outputs`` (the chosen epoch's model, the history, meta data, and its
    tuning-split image probabilities, so that no later job predicts the tuning split again); resumes from
    ``outputs.checkpoint`` when it is there."""
    fingerprint = _fingerprint(model_name, settings, train_table, tune_table)
    state = new_training_state(model_name, settings, fingerprint, hub_dir, threads)
    if state.restore(outputs.checkpoint):
        log.info(
            "resuming %s from its checkpoint: epoch %d, batch %d", model_name, state.epoch + 1, state.progress.batch
        )
    labels = torch.tensor(train_table["label"].to_numpy(), dtype=torch.float32)
    weights = torch.from_numpy(loss_weights(train_table, settings.weighted_loss))
    log.info(
        "training %s (%.1f M parameters) on %s: %d train images, %d tune images, %s",
        model_name,
        count_parameters(state.model) / 1e6,
        state.augmenter.device,
        len(train_table),
        len(tune_table),
        asdict(settings),
    )

    with (
        algorithm_choice(state.augmenter.device, settings.deterministic) as determinism,
        StopRequest() as stop,
        ThreadPoolExecutor(max_workers=max(1, min(threads, 4))) as pool,
    ):
        for epoch in range(state.epoch + 1, settings.epochs + 1):
            order = epoch_order(len(train_table), settings.seed, epoch - 1)[: settings.images_per_epoch]
            plan = batches(order, settings.batch_size, drop_last=True)
            lr = state.optimizer.param_groups[0]["lr"]
            started = time.perf_counter() - state.progress.seconds
            label = f"{model_name} epoch {epoch}/{settings.epochs}"
            train_one_epoch(state, plan, train_cache, labels, weights, settings, pool, stop, label)
            if state.progress.batch < len(plan):
                state.save(outputs.checkpoint)
                raise Preempted(f"SIGTERM during epoch {epoch}, batch {state.progress.batch}")
            tune_probs, tune_loss, tune_kappa = evaluate(
                state.model, tune_table, tune_cache, state.augmenter.normaliser, settings.batch_size * 2
            )
            state.scheduler.step(tune_loss)
            row = state.end_epoch(lr, time.perf_counter() - started, tune_probs, tune_loss, tune_kappa)
            state.save(outputs.checkpoint)
            shown = ("train_loss", "tune_loss", "tune_kappa", "lr", "images_per_second", "seconds")
            log.info(
                "%s train_loss %.4f tune_loss %.4f tune_kappa %.3f lr %.1e %.0f img/s %.1fs ETA %s",
                label,
                *(row[key] for key in shown),
                _duration(state.remaining_seconds(settings.epochs)),
            )
            if stop.requested:
                raise Preempted(f"SIGTERM after epoch {epoch}")

    meta = write_training_outputs(state, model_name, settings, train_table, tune_table, outputs, determinism)
    outputs.checkpoint.unlink(missing_ok=True)
    log.info(
        "%s done: best tuning loss %.4f at epoch %d, %s in all",
        model_name,
        state.best["loss"],
        state.best["epoch"],
        _duration(meta["training_seconds"]),
    )
    return meta


def write_training_outputs(
    state: TrainingState,
    model_name: str,
    settings: TrainSettings,
    train_table: pd.DataFrame,
    tune_table: pd.DataFrame,
    outputs: TrainingOutputs,
    determinism: dict,
) -> dict:
    """The chosen epoch's model and tuning-split probabilities, the history and the meta data (with the algorithm
    choice the run was trained under, ``determinism``), all or nothing."""
    best, device = state.best, state.augmenter.device
    record = {
        "model": model_name,
        "state_dict": best["weights"],
        "settings": asdict(settings),
        "best_epoch": best["epoch"],
        "best_tune_loss": best["loss"],
    }
    meta = {
        "model": model_name,
        "parameters": count_parameters(state.model),
        "training_seconds": round(sum(r["seconds"] for r in state.history), 3),
        "epochs_run": len(state.history),
        "images_seen": state.images_seen,
        "best_epoch": best["epoch"],
        "best_tune_loss": best["loss"],
        "best_tune_kappa": state.history[best["epoch"] - 1]["tune_kappa"],
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": sys.version.split()[0],
        "seed": settings.seed,
        "determinism": determinism,
        "settings": asdict(settings),
        "train_images": len(train_table),
        "tune_images": len(tune_table),
        "git_commit": git_commit(),
    }
    paths = (outputs.model, outputs.history, outputs.meta, outputs.tune_predictions)
    with staged_outputs(*paths) as (model_path, history_path, meta_path, tune_path):
        torch.save(record, model_path)
        write_csv(pd.DataFrame(state.history, columns=HISTORY_COLUMNS), history_path)
        write_json(meta, meta_path)
        # What predicting the tuning split with model.pt gives.
        write_csv(tune_table.assign(prob=best["tune_probs"].numpy().round(6)), tune_path)
    return meta
