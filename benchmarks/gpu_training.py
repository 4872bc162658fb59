"""GPU training throughput of densenet121 at 320 px: fp32 eager against bf16 autocast + channels_last, timing the
training's own step (murad.train.train_step).

    python benchmarks/gpu_training.py [--model densenet121] [--batch-size 64] [--steps 30]

Prints images/s for both on the visible GPU; says so and exits 0 where there is none.
"""

from __future__ import annotations

import argparse
import time

import torch

from murad.data import BatchAugmenter
from murad.models import build_model
from murad.train import train_step


def throughput(model_name: str, batch_size: int, steps: int, fast: bool) -> float:
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = fast
    model = build_model(model_name, "none", image_size=320).to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    augmenter = BatchAugmenter(device)
    raw = torch.randint(0, 255, (batch_size, 320, 320), dtype=torch.uint8).pin_memory()
    target = torch.randint(0, 2, (batch_size,), device=device).float()
    weight = torch.ones(batch_size, device=device)

    def step():
        images = augmenter.augment(raw)
        if fast:
            images = images.contiguous(memory_format=torch.channels_last)
        train_step(model, optimizer, images, target, weight, aux_loss_weight=0.4, autocast=fast)

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - started)


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
    eager = throughput(args.model, args.batch_size, args.steps, fast=False)
    fast = throughput(args.model, args.batch_size, args.steps, fast=True)
    print(f"{'fp32 eager':<32}{eager:>10.0f} images/s")
    print(f"{'bf16 autocast + channels_last':<32}{fast:>10.0f} images/s")
    print(f"ratio: {fast / eager:.2f}x")


if __name__ == "__main__":
    main()
