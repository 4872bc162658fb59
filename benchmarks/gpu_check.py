"""The training throughput part of benchmarks/gpu_check.sh: densenet121 and resnet50 at 320 px in fp32, bf16 +
channels_last and with torch.compile; then every model of config.paper.yaml at its batch size in the training's
setting (bf16 + channels_last): training and evaluation images/s, peak GPU memory, and the projected GPU-hours of the
paper's configuration on the full MURA.

    python benchmarks/gpu_check.py [--device cuda] [--size 320] [--steps 10] [--models ...] [--no-compile]

On a CPU (``--device cpu --size 64 --steps 1``) it runs the same code small, for the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_training import MODES, throughput  # noqa: E402

from murad.config import validate_config  # noqa: E402
from murad.families import PAPER_MODELS  # noqa: E402
from murad.models import build_model  # noqa: E402
from murad.mura import PUBLISHED_IMAGES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GOAL_DENSENET_IMAGES_PER_SECOND = 2000  # at 320 px on an H100-class GPU
GOAL_GPU_HOURS = 12  # all 18 models of the paper's configuration
WIDTHS = (20, 6, 5, 13, 12, 9, 7, 8)  # the projection table's columns


def paper_runs(config_path: Path = REPO / "config.paper.yaml") -> tuple[dict[str, dict], float]:
    """Each model's training settings in a configuration (the paper's by default; the schema's defaults filled in)
    and the share of MURA train moved to the tuning split."""
    config = validate_config(yaml.safe_load(config_path.read_text()), REPO / "workflow/schemas/config.schema.yaml")
    defaults = config["training"]["defaults"]
    runs = {name: {**defaults, **(overrides or {})} for name, overrides in config["training"]["models"].items()}
    fraction = config["split"]["tune_fraction"] if config["split"]["tune_on"] == "tune" else 0.0
    return runs, fraction


@torch.no_grad()
def evaluation_throughput(model_name: str, batch_size: int, steps: int, device: str, size: int) -> float:
    """Images/s of eval-mode forward passes (bf16 + channels_last on a GPU), as prediction and the tuning pass run."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    model = build_model(model_name, "none", image_size=size).to(device).eval()
    model = model.to(memory_format=torch.channels_last)
    images = torch.randn(batch_size, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    context = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    with context:
        model(images)
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(steps):
            model(images)
        if cuda:
            torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - started)


def gpu_hours(settings: dict, train_ips: float, eval_ips: float, tune_fraction: float) -> float:
    """Hours of one model's job chain at the paper's scale: every epoch a pass over the training images and the
    tuning pass, then MURA valid twice (prediction, CAMs)."""
    train_images = PUBLISHED_IMAGES["train"] * (1 - tune_fraction)
    tune_images = PUBLISHED_IMAGES["train"] * tune_fraction if tune_fraction else PUBLISHED_IMAGES["valid"]
    per_epoch = train_images / train_ips + tune_images / eval_ips
    return (settings["epochs"] * per_epoch + 2 * PUBLISHED_IMAGES["valid"] / eval_ips) / 3600


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, help="image size (default: the paper's, 320)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--config", type=Path, default=REPO / "config.paper.yaml", help="default: config.paper.yaml")
    parser.add_argument("--models", nargs="+", help="of the configuration (default: all)")
    parser.add_argument("--beyond-paper", action="store_true", help="only the configuration's models after the paper")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU visible: nothing to measure")
        return
    runs, tune_fraction = paper_runs(args.config)
    runs = {name: runs[name] for name in args.models} if args.models else runs
    if args.beyond_paper:
        runs = {name: settings for name, settings in runs.items() if name not in PAPER_MODELS}
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{where}; torch {torch.__version__}")

    print("\n-- training images/s by precision (batch 32)" * (not args.beyond_paper))
    for name in [m for m in ("densenet121", "resnet50") if m in runs and not args.beyond_paper]:
        size = args.size or runs[name]["image_size"]
        for mode, label in MODES.items():
            if mode == "compile" and args.no_compile:
                continue
            images, peak = throughput(name, 32, args.steps, mode, args.device, size, warmup=3)
            print(f"{name:<14}{label:<40}{images:>9.0f} images/s{peak:>7.1f} GB peak")

    print(f"\n-- every model of {args.config.name}" + " after the paper" * args.beyond_paper, end="")
    print(f" at its batch size, bf16 + channels_last; projected at {PUBLISHED_IMAGES} images")
    header = ("model", "batch", "px", "train img/s", "eval img/s", "peak GB", "epochs", "GPU-h")
    print("".join(f"{h:<20}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(header, WIDTHS, strict=True))))
    total = 0.0
    for name, settings in runs.items():
        size = args.size or settings["image_size"]
        train_ips, peak = throughput(name, settings["batch_size"], args.steps, "bf16", args.device, size, warmup=2)
        eval_ips = evaluation_throughput(name, 2 * settings["batch_size"], args.steps, args.device, size)
        hours = gpu_hours(settings, train_ips, eval_ips, tune_fraction)
        total += hours
        print(
            f"{name:<20}{settings['batch_size']:>6}{size:>5}{train_ips:>13.0f}{eval_ips:>12.0f}{peak:>9.1f}"
            f"{settings['epochs']:>7}{hours:>8.2f}"
        )
    goal = (
        f"{len(runs)} models after the paper"
        if args.beyond_paper
        else f"goal: <= {GOAL_GPU_HOURS} GPU-hours for the 18"
    )
    print(f"{'all':<20}{'':>52}{total:>8.2f}  ({goal})")


if __name__ == "__main__":
    main()
