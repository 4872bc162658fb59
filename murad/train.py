"""Training one model with the paper's recipe: one flat loop, resumable, reproducible.

Adam (default betas), learning rate / 10 when the tuning loss plateaus, random flips and rotations, the
checkpoint with the lowest tuning loss kept. A resume checkpoint (model, optimizer, scheduler, RNG states, position
in the epoch) is written atomically after every epoch and when SIGTERM arrives (what SLURM sends at walltime or
preemption); running the same job again continues from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision

from .data import BatchAugmenter, batches, epoch_order, take
from .errors import Preempted
from .io import write_csv, write_json
from .metrics import aggregate_studies, point_metrics
from .models import build_model, count_parameters, model_spec
from .provenance import git_commit

log = logging.getLogger("murad")

HISTORY_COLUMNS = ["epoch", "train_loss", "tune_loss", "tune_kappa", "lr", "seconds", "images_per_second"]


@dataclass(frozen=True)
class TrainSettings:
    image_size: int = 320
    batch_size: int = 32
    epochs: int = 100
    lr: float = 1e-4
    lr_factor: float = 0.1
    lr_patience: int = 0
    rotation: float = 30.0
    hflip: bool = True
    weighted_loss: bool = False
    weights: str = "imagenet"
    images_per_epoch: int | None = None
    aux_loss_weight: float = 0.4
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training setting {unknown[0]!r}")
        return cls(**values)


def study_kappa(table: pd.DataFrame, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Cohen's kappa of study predictions (mean of the study's image probabilities > threshold)."""
    studies = aggregate_studies(table.assign(prob=probs), how="mean", threshold=threshold)
    return float(point_metrics(studies["label"].to_numpy(), studies["prob"].to_numpy(), threshold)["kappa"])


def loss_weights(train: pd.DataFrame, table: pd.DataFrame, weighted: bool) -> np.ndarray:
    """Per-image loss weights: the MURA paper's weighted BCE per study type, from training image counts only.

    For body part T: w_abnormal = |normal_T| / |T|, w_normal = |abnormal_T| / |T| (all ones when not weighted).
    """
    if not weighted:
        return np.ones(len(table), dtype=np.float32)
    share_abnormal = train.groupby("body_part")["label"].mean()
    abnormal = table["body_part"].map(share_abnormal).to_numpy()
    return np.where(table["label"].to_numpy() == 1, 1 - abnormal, abnormal).astype(np.float32)


def _fingerprint(model_name: str, settings: TrainSettings, *tables: pd.DataFrame) -> str:
    digest = hashlib.sha256(json.dumps([model_name, asdict(settings)], sort_keys=True).encode())
    for table in tables:
        digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _atomic_save(obj, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    torch.save(obj, partial)
    os.replace(partial, path)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def choose_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


@torch.no_grad()
def predict(model, cache: np.ndarray, augmenter: BatchAugmenter, batch_size: int) -> np.ndarray:
    """Image probabilities for every row of ``cache`` (eval mode, no augmentation)."""
    model.eval()
    device = augmenter.device
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    out = []
    for index in batches(np.arange(len(cache)), batch_size, drop_last=False):
        images = augmenter.normalise(take(cache, index, pin=device.type == "cuda"))
        images = images.contiguous(memory_format=torch.channels_last)
        with amp:
            out.append(torch.sigmoid(model(images).float().squeeze(1)).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def train_model(
    model_name: str,
    settings: TrainSettings,
    train_table: pd.DataFrame,
    train_cache: np.ndarray,
    tune_table: pd.DataFrame,
    tune_cache: np.ndarray,
    out_dir: str | Path,
    hub_dir: str | Path | None = None,
    threads: int = 1,
) -> dict:
    """Train ``model_name``; write ``model.pt``, ``history.csv``, ``meta.json`` and ``tune_predictions.csv`` (the
    chosen epoch's tuning-split image probabilities, so no later job has to predict the tuning split again)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path, best_path = out_dir / "checkpoint.pt", out_dir / "best.pt"
    device = choose_device()
    torch.set_num_threads(max(1, threads))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(settings.seed)
    model = build_model(model_name, settings.weights, hub_dir, settings.image_size).to(device)
    model = model.to(memory_format=torch.channels_last)  # faster convolutions on GPUs and on CPUs alike
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=settings.lr_factor, patience=settings.lr_patience
    )
    augmenter = BatchAugmenter(device, settings.rotation, settings.hflip, settings.seed)
    labels = torch.tensor(train_table["label"].to_numpy(), dtype=torch.float32)
    weights = torch.from_numpy(loss_weights(train_table, train_table, settings.weighted_loss))
    fingerprint = _fingerprint(model_name, settings, train_table, tune_table)

    start_epoch, start_batch, history = 0, 0, []
    best = {"loss": math.inf, "epoch": 0}
    partial = {"loss_sum": 0.0, "images": 0, "seconds": 0.0}
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if state["fingerprint"] == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            augmenter.restore(state["augment_rng"])
            torch.set_rng_state(state["torch_rng"])
            if device.type == "cuda" and state.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(state["cuda_rng"])
            start_epoch, start_batch = state["epoch"], state["batch"]
            history, best, partial = state["history"], state["best"], state["partial"]
            log.info("resuming %s from its checkpoint: epoch %d, batch %d", model_name, start_epoch + 1, start_batch)
        else:
            log.info("checkpoint %s is from other settings or data; starting afresh", checkpoint_path)
    elif best_path.exists():
        best_path.unlink()

    def save_checkpoint(epoch: int, batch: int) -> None:
        _atomic_save(
            {
                "fingerprint": fingerprint,
                "epoch": epoch,
                "batch": batch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "augment_rng": augmenter.state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                "history": history,
                "best": best,
                "partial": partial,
            },
            checkpoint_path,
        )

    stop = {"requested": False}
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: stop.update(requested=True))
    aux = model_name == "inception_v3" and getattr(model, "aux_logits", False)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    n_params = count_parameters(model)
    progress = sys.stderr.isatty()
    log.info(
        "training %s (%.1f M parameters) on %s: %d train images, %d tune images, %s",
        model_name,
        n_params / 1e6,
        device,
        len(train_table),
        len(tune_table),
        asdict(settings),
    )
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(threads, 4))) as loader:
            for epoch in range(start_epoch, settings.epochs):
                model.train()
                order = epoch_order(len(train_table), settings.seed, epoch)[: settings.images_per_epoch]
                plan = batches(order, settings.batch_size, drop_last=True)
                lr = optimizer.param_groups[0]["lr"]
                started = time.perf_counter()
                pending = [
                    loader.submit(take, train_cache, index, device.type == "cuda")
                    for index in plan[start_batch : start_batch + 2]
                ]
                for number in range(start_batch, len(plan)):
                    index = plan[number]
                    raw = pending.pop(0).result()
                    if number + 2 < len(plan):
                        pending.append(loader.submit(take, train_cache, plan[number + 2], device.type == "cuda"))
                    images = augmenter.augment(raw).contiguous(memory_format=torch.channels_last)
                    target = labels[index].to(device)
                    weight = weights[index].to(device)
                    with amp:
                        output = model(images)
                        if aux:
                            output, aux_output = output.logits, output.aux_logits
                        loss = F.binary_cross_entropy_with_logits(output.float().squeeze(1), target, weight)
                        if aux:
                            loss = loss + settings.aux_loss_weight * F.binary_cross_entropy_with_logits(
                                aux_output.float().squeeze(1), target, weight
                            )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    partial["loss_sum"] += loss.item() * len(index)
                    partial["images"] += len(index)
                    if progress:  # a live batch counter on a terminal only; logs get one line per epoch
                        print(
                            f"\r{model_name} epoch {epoch + 1}/{settings.epochs} batch {number + 1}/{len(plan)}",
                            end="",
                            file=sys.stderr,
                            flush=True,
                        )
                    if stop["requested"]:
                        partial["seconds"] += time.perf_counter() - started
                        save_checkpoint(epoch, number + 1)
                        raise Preempted(f"SIGTERM during epoch {epoch + 1}, batch {number + 1}")
                if progress:
                    print("\r\033[K", end="", file=sys.stderr, flush=True)
                start_batch = 0
                train_seconds = partial["seconds"] + time.perf_counter() - started
                tune_probs = predict(model, tune_cache, augmenter, settings.batch_size * 2)
                tune_target = torch.tensor(tune_table["label"].to_numpy(), dtype=torch.float32)
                tune_loss = float(
                    F.binary_cross_entropy(torch.from_numpy(tune_probs).clamp(1e-7, 1 - 1e-7).float(), tune_target)
                )
                tune_kappa = study_kappa(tune_table, tune_probs)
                scheduler.step(tune_loss)
                seconds = partial["seconds"] + time.perf_counter() - started
                row = {
                    "epoch": epoch + 1,
                    "train_loss": partial["loss_sum"] / max(partial["images"], 1),
                    "tune_loss": tune_loss,
                    "tune_kappa": tune_kappa,
                    "lr": lr,
                    "seconds": round(seconds, 3),
                    "images_per_second": round(partial["images"] / max(train_seconds, 1e-9), 2),
                }
                history.append(row)
                if tune_loss < best["loss"]:
                    best = {"loss": tune_loss, "epoch": epoch + 1, "tune_probs": torch.from_numpy(tune_probs)}
                    _atomic_save(model.state_dict(), best_path)  # keeps _metadata: module versions (mnasnet needs them)
                partial = {"loss_sum": 0.0, "images": 0, "seconds": 0.0}
                save_checkpoint(epoch + 1, 0)
                remaining = sum(r["seconds"] for r in history) / len(history) * (settings.epochs - epoch - 1)
                log.info(
                    "%s epoch %d/%d train_loss %.4f tune_loss %.4f tune_kappa %.3f lr %.1e %.0f img/s %.1fs ETA %s",
                    model_name,
                    epoch + 1,
                    settings.epochs,
                    row["train_loss"],
                    tune_loss,
                    tune_kappa,
                    lr,
                    row["images_per_second"],
                    seconds,
                    _duration(remaining),
                )
                if stop["requested"]:
                    raise Preempted(f"SIGTERM after epoch {epoch + 1}")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)

    chosen = torch.load(best_path, map_location="cpu", weights_only=True)
    spec = model_spec(model_name)
    total_seconds = sum(r["seconds"] for r in history)
    with_settings = {
        "model": model_name,
        "state_dict": chosen,
        "settings": asdict(settings),
        "spec": asdict(spec),
        "best_epoch": best["epoch"],
        "best_tune_loss": best["loss"],
    }
    _atomic_save(with_settings, out_dir / "model.pt")
    history_frame = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    meta = {
        "model": model_name,
        "parameters": n_params,
        "training_seconds": round(total_seconds, 3),
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "best_tune_loss": best["loss"],
        "best_tune_kappa": history[best["epoch"] - 1]["tune_kappa"] if history else None,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": sys.version.split()[0],
        "seed": settings.seed,
        "settings": asdict(settings),
        "train_images": len(train_table),
        "tune_images": len(tune_table),
        "git_commit": git_commit(),
    }
    write_csv(history_frame, out_dir / "history.csv")
    # The chosen checkpoint's tuning-split probabilities (what predicting the tuning split with model.pt gives).
    write_csv(tune_table.assign(prob=best["tune_probs"].numpy().round(6)), out_dir / "tune_predictions.csv")
    write_json(meta, out_dir / "meta.json")
    checkpoint_path.unlink(missing_ok=True)
    best_path.unlink(missing_ok=True)
    log.info(
        "%s done: best tuning loss %.4f at epoch %d, %s in all",
        model_name,
        best["loss"],
        best["epoch"],
        _duration(total_seconds),
    )
    return meta


def load_trained(path: str | Path, device: torch.device | str = "cpu"):
    """A trained ``model.pt`` as (model in eval mode, its saved record)."""
    record = torch.load(path, map_location="cpu", weights_only=True)
    settings = record["settings"]
    model = build_model(record["model"], "none", image_size=settings["image_size"])
    if record["model"] == "inception_v3" and settings["weights"] == "imagenet":
        model.transform_input = True
    model.load_state_dict(record["state_dict"])
    return model.to(device).eval(), record
