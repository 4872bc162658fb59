"""What `training.deterministic` buys and costs (a part of benchmarks/gpu_check.sh): one model trained for two short
epochs twice with it on and twice with it off, through murad's own training loop, on random pictures; prints whether
each mode's two histories (losses, tuning kappa) are identical and each mode's training images/s.

    python benchmarks/determinism.py [--model resnet50] [--size 320] [--images 512] [--batch-size 32]

On a CPU both modes give identical histories (murad is bit-identical per machine); on a GPU cudnn's benchmark mode
may not.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from murad.config import validate_config
from murad.train import TrainingOutputs, TrainSettings, train_model

REPO = Path(__file__).resolve().parents[1]
COMPARED = ["train_loss", "tune_loss", "tune_kappa"]


def random_split(images: int, size: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A table of ``images`` pictures in studies of two, half abnormal, and their random uint8 cache."""
    rng = np.random.default_rng(seed)
    study = np.arange(images) // 2
    table = pd.DataFrame(
        {
            "path": [f"image{i}.png" for i in range(images)],
            "patient": [f"patient{s}" for s in study],
            "study": [f"study{s}" for s in study],
            "body_part": "wrist",
            "label": study % 2,
        }
    )
    return table, rng.integers(0, 256, (images, size, size), dtype=np.uint8)


def run(model: str, settings: TrainSettings, data, threads: int) -> tuple[pd.DataFrame, dict]:
    (train, train_cache), (tune, tune_cache) = data
    with tempfile.TemporaryDirectory() as folder:
        outputs = TrainingOutputs(*(Path(folder) / name for name in ("m.pt", "h.csv", "meta.json", "t.csv", "c.pt")))
        meta = train_model(model, settings, train, train_cache, tune, tune_cache, outputs, threads=threads)
        return pd.read_csv(outputs.history), meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--images", type=int, default=512, help="training images per epoch (and half as many tune)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    config = validate_config(
        {"dataset": {"source": "synthetic", "root": "-"}, "training": {"models": {args.model: None}}},
        REPO / "workflow/schemas/config.schema.yaml",
    )
    values = {**config["training"]["defaults"], "weights": "none", "seed": 0, "epochs": 2}
    values.update(image_size=args.size, batch_size=args.batch_size)
    data = (random_split(args.images, args.size, 1), random_split(args.images // 2, args.size, 2))
    print(f"{args.model} at {args.size} px, batch {args.batch_size}, 2 epochs of {args.images} images, twice per mode")
    histories = {}
    for deterministic in (True, False):
        settings = TrainSettings.from_dict({**values, "deterministic": deterministic})
        (first, meta), (second, _) = (run(args.model, settings, data, args.threads) for _ in range(2))
        same = first[COMPARED].equals(second[COMPARED])
        speed = (first["images_per_second"].iloc[-1] + second["images_per_second"].iloc[-1]) / 2
        flags = ", ".join(f"{key}={value}" for key, value in meta["determinism"].items())
        print(
            f"deterministic={deterministic!s:<5}  histories identical: {'yes' if same else 'NO'}  "
            f"{speed:8.0f} training images/s (last epoch)  on {meta['device']}  [{flags}]"
        )
        if not same:
            print(pd.concat({"first": first[COMPARED], "second": second[COMPARED]}, axis=1).to_string())
        histories[deterministic] = first[COMPARED]
    print(f"the two modes' first histories identical: {'yes' if histories[True].equals(histories[False]) else 'no'}")


if __name__ == "__main__":
    main()
