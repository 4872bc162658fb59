"""Input pipeline throughput at 320 px with the paper's augmentation (flip + rotation up to 30 degrees).

Side by side in one run:
  cached  murad's pipeline: images decoded and resized once into a memory-mapped uint8 cache, then whole batches
          augmented as tensors on the device training would use (the GPU where one is visible; --device cpu to
          force the CPU), ready on that device (what every epoch after the first costs);
  pil     what public MURA code does: a DataLoader decoding each PNG with PIL and applying torchvision transforms
          per image, every epoch.

    python benchmarks/loader.py [--root results/data/synthetic] [--images 512] [--batch-size 32] [--workers 2]
                                [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision import transforms

from murad.data import IMAGENET_MEAN, IMAGENET_STD, BatchAugmenter, batches, build_cache, epoch_order, take
from murad.mura import read_mura
from murad.synthetic import SyntheticSettings, generate

SIZE = 320


class PilDataset(torch.utils.data.Dataset):
    def __init__(self, root: Path, table: pd.DataFrame):
        self.files = [root / p for p in table["path"]]
        self.transform = transforms.Compose(
            [
                transforms.Resize((SIZE, SIZE)),
                transforms.RandomHorizontalFlip(),
                transforms.RandomRotation(30),
                transforms.ToTensor(),
                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        with Image.open(self.files[index]) as picture:
            return self.transform(picture.convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="folder containing MURA-v1.1/ (default: a fresh synthetic one)")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.workers)

    with tempfile.TemporaryDirectory() as scratch:
        root = args.root
        if root is None:
            root = Path(scratch) / "data"
            generate(root, SyntheticSettings(train_studies=250, valid_studies=28), workers=args.workers)
        table = read_mura(root, "train").head(args.images)
        n = len(table)

        started = time.perf_counter()
        cache_path = Path(scratch) / "cache.npy"
        build_cache(table, root, SIZE, cache_path, workers=args.workers)
        cache_seconds = time.perf_counter() - started
        cache = np.load(cache_path, mmap_mode="r")
        augmenter = BatchAugmenter(device)
        pin = device.type == "cuda"
        for epoch in range(2 if pin else 1):  # on a GPU the first pass warms up CUDA; the second is timed
            started = time.perf_counter()
            for index in batches(epoch_order(n, 0, epoch), args.batch_size, drop_last=False):
                augmenter.augment(take(cache, index, pin=pin))
            if pin:
                torch.cuda.synchronize()
        cached = n / (time.perf_counter() - started)

        loader = torch.utils.data.DataLoader(
            PilDataset(root, table), batch_size=args.batch_size, shuffle=True, num_workers=args.workers
        )
        started = time.perf_counter()
        for _ in loader:
            pass
        pil = n / (time.perf_counter() - started)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"images: {n} at {SIZE} px, batch {args.batch_size}, {args.workers} workers/threads, augment on {where}")
    print(
        f"cache build (once per split and size, shared by all models): {cache_seconds:.1f} s "
        f"({n / cache_seconds:.0f} images/s)"
    )
    print(f"{'pipeline':<42}{'images/s':>10}")
    print(f"{'murad: cached uint8 + batch tensor augment':<42}{cached:>10.0f}  (on {device.type})")
    print(f"{'PIL decode + torchvision transforms':<42}{pil:>10.0f}")
    print(f"ratio: {cached / pil:.1f}x")


if __name__ == "__main__":
    main()
