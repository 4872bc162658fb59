"""The data stages at MURA's full size, their caches, the node-local copy and the loader's headroom, on this machine.

    python benchmarks/full_size.py WORKDIR [--workers 2] [--size 320]

In WORKDIR (made if missing; about 6 GB): a MURA-sized synthetic MURA-v1.1 (13,457 train and 1,199 valid studies,
as the release; generated once, then reused), then the workflow's own job functions, each timed: ``verify_dataset``,
``tuning_split`` and ``cache_images`` at ``--size`` px (the paper's 320), with ``--workers`` threads as the rules'
``threads`` would give them; the caches' sizes; a node-local copy of the train cache (``local_copy``, to
WORKDIR/scratch: the same disk here, so a floor for a node's local SSD); and the loader at that size: random
augmented batches from the full train cache (what every training epoch reads) against one training step of
mobilenet_v2 (one of the two smallest models) on the same CPU cores, to show which of the two limits.
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from murad.data import BatchAugmenter, batches, epoch_order, local_copy, take
from murad.jobs.split import tuning_split, verify_dataset
from murad.jobs.train import cache_images
from murad.models import build_model
from murad.synthetic import SyntheticSettings, generate
from murad.train import train_step

FULL = SyntheticSettings(train_studies=13_457, valid_studies=1_199)


def timed(label: str, work) -> float:
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"{label:<52}{seconds:>8.1f} s")
    return seconds


def gigabytes(paths) -> float:
    return sum(p.stat().st_size for p in paths) / 1e9


def loader_rate(cache: np.ndarray, batch_size: int, seconds: float, threads: int, augment: bool = True) -> float:
    """Images/s of random batches read from the memory-mapped cache, the next batch prefetched by a thread as
    training does, and augmented on this CPU (``augment``; on a GPU node the CPU only reads, the GPU augments), for
    about ``seconds``."""
    augmenter = BatchAugmenter(torch.device("cpu"))
    plan = batches(epoch_order(len(cache), 0, 0), batch_size, drop_last=True)
    images, started = 0, time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        upcoming = pool.submit(take, cache, plan[0])
        for index in range(1, len(plan)):
            batch = upcoming.result()
            upcoming = pool.submit(take, cache, plan[index])
            if augment:
                augmenter.augment(batch)
            images += len(batch)
            if time.perf_counter() - started > seconds:
                break
    return images / (time.perf_counter() - started)


def training_rate(size: int, batch_size: int, steps: int) -> float:
    model = build_model("mobilenet_v2", "none", image_size=size).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.randn(batch_size, 3, size, size).contiguous(memory_format=torch.channels_last)
    target, weight = torch.randint(0, 2, (batch_size,)).float(), torch.ones(batch_size)
    train_step(model, optimizer, images, target, weight, aux_loss_weight=0.4, autocast=False)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, images, target, weight, aux_loss_weight=0.4, autocast=False)
    return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--studies", type=int, nargs=2, metavar=("TRAIN", "VALID"), help="a smaller synthetic MURA")
    args = parser.parse_args()
    torch.set_num_threads(args.workers)
    work = args.workdir
    data = work / "data"
    results = work / "results"
    results.mkdir(parents=True, exist_ok=True)
    print(f"{args.workers} threads, {args.size} px, torch {torch.__version__}")

    if not (data / "MURA-v1.1/valid_labeled_studies.csv").exists():
        settings = (
            SyntheticSettings(train_studies=args.studies[0], valid_studies=args.studies[1]) if args.studies else FULL
        )
        timed("synthetic MURA-v1.1 (once)", lambda: generate(data, settings, workers=args.workers))
    images = sorted((data / "MURA-v1.1").rglob("*.png"))
    print(f"{'images':<52}{len(images):>8} ({gigabytes(images):.2f} GB)")

    split = {name: str(results / f"{name}.csv") for name in ("train", "tune", "valid")}
    caches = {name: str(results / f"{name}_{args.size}px.npy") for name in split}
    stages = [
        timed(
            "verify_dataset (decodes every image)",
            lambda: verify_dataset(
                str(data),
                "synthetic",
                True,
                str(results / "table2.csv"),
                str(results / "verification.json"),
                str(results / "images.csv"),
                workers=args.workers,
            ),
        ),  # fmt: skip
        timed("tuning_split", lambda: tuning_split(str(results / "images.csv"), 0.2, 0, "tune", split)),
        timed(
            f"cache_images at {args.size} px (the three splits)",
            lambda: cache_images(split, str(data), args.size, caches, workers=args.workers),
        ),
    ]
    print(f"{'data stages in all':<52}{sum(stages):>8.1f} s")
    sizes = {name: Path(path).stat().st_size / 1e9 for name, path in caches.items()}
    print(f"{'caches':<52}" + ", ".join(f"{name} {gb:.2f} GB" for name, gb in sizes.items()))
    print(f"{'peak memory of this process':<52}{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:>8.2f} GB")

    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    for stale in scratch.rglob("*.npy*"):
        stale.unlink()
    copied = timed("node-local copy of the train cache (same disk)", lambda: local_copy(caches["train"], scratch))
    print(f"{'':<52}{sizes['train'] * 1e3 / copied:>8.0f} MB/s")
    for copy in scratch.rglob("*.npy*"):
        copy.unlink()

    train = np.load(caches["train"], mmap_mode="r")
    n_train = len(pd.read_csv(split["train"]))
    assert len(train) == n_train
    reading = loader_rate(train, args.batch_size, 10, args.workers, augment=False)
    loading = loader_rate(train, args.batch_size, 20, args.workers)
    stepping = training_rate(args.size, args.batch_size, 3)
    print(f"{'reading random uint8 batches (a GPU node CPU part)':<52}{reading:>8.1f} images/s")
    print(f"{'loader: random augmented batches from the cache':<52}{loading:>8.1f} images/s")
    print(f"{'one mobilenet_v2 training step (same cores)':<52}{stepping:>8.1f} images/s")
    print(f"{'headroom (loader / training step)':<52}{loading / stepping:>8.1f}x")


if __name__ == "__main__":
    main()
