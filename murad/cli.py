"""The ``murad`` command: the package's stages for use outside the workflow."""

from __future__ import annotations

import argparse
import sys

from . import jobs
from .workflow import run_logged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="murad", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    metrics = commands.add_parser(
        "metrics",
        help="study-level metrics with bootstrap 95%% CIs, overall and per body part",
        description="STUDIES_CSV needs at least the columns study, body_part, label (1 = abnormal) and prob.",
    )
    metrics.add_argument("studies_csv")
    metrics.add_argument("--out", required=True, help="output CSV (one row overall, one per body part)")
    metrics.add_argument("--threshold", type=float, default=0.5)
    metrics.add_argument("--bootstrap", type=int, default=1000, help="bootstrap repetitions")
    metrics.add_argument("--seed", type=int, default=0)

    stage = commands.add_parser("stage-weights", help="download ImageNet weights into a torch-hub folder")
    stage.add_argument("models", nargs="+")
    stage.add_argument("--hub-dir", required=True)

    args = parser.parse_args(argv)
    if args.command == "metrics":
        run_logged(jobs.metrics, None, studies_csv=args.studies_csv, out_csv=args.out, threshold=args.threshold,
                   repetitions=args.bootstrap, seed=args.seed)
    elif args.command == "stage-weights":
        run_logged(jobs.stage_weights, None, models=args.models, hub_dir=args.hub_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
