"""GPU training throughput at 320 px: fp32 eager against bf16 autocast + channels_last (the training's setting), and
that with torch.compile, timing the training's own step (murad.train.train_step); peak GPU memory of each.

    python benchmarks/gpu_training.py [--model densenet121] [--batch-size 64] [--steps 30]

Prints images/s for each on the visible GPU; says so and exits 0 where there is none. benchmarks/gpu_check.py uses
:func:`throughput` for every model.
"""

from __future__ import annotations

import argparse
import time

import torch

from murad.data import BatchAugmenter
from murad.models import build_model
from murad.train import train_step

MODES = {
    "fp32": "fp32 eager",
    "bf16": "bf16 autocast + channels_last",
    "compile": "bf16 + channels_last + torch.compile",
}


def throughput(
    model_name: str, batch_size: int, steps: int, mode: str, device: str = "cuda", size: int = 320, warmup: int = 5
) -> tuple[float, float]:
    """(training images/s, peak GPU memory in GB; 0 on a CPU) of ``steps`` training steps after ``warmup``."""
    device = torch.device(device)
    fast = mode in ("bf16", "compile")
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = fast
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build_model(model_name, "none", image_size=size).to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if mode == "compile" else model
    augmenter = BatchAugmenter(device)
    raw = torch.randint(0, 255, (batch_size, size, size), dtype=torch.uint8)
    raw = raw.pin_memory() if cuda else raw
    target = torch.randint(0, 2, (batch_size,), device=device).float()
    weight = torch.ones(batch_size, device=device)

    def step():
        images = augmenter.augment(raw)
        if fast:
            images = images.contiguous(memory_format=torch.channels_last)
        train_step(forward, optimizer, images, target, weight, aux_loss_weight=0.4, autocast=fast)

    def synchronize():
        if cuda:
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 1e9 if cuda else 0.0
    return steps * batch_size / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="densenet121")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: nothing to measure")
        return
    print(f"{torch.cuda.get_device_name()}, {args.model} at 320 px, batch {args.batch_size}, training steps")
    for mode, label in MODES.items():
        images, peak = throughput(args.model, args.batch_size, args.steps, mode)
        print(f"{label:<40}{images:>10.0f} images/s{peak:>8.1f} GB peak")


if __name__ == "__main__":
    main()
