"""The ``murad`` command: the package's stages for use outside the workflow."""

from __future__ import annotations

import argparse
import logging
import sys

from . import slurm_profile
from .job_runner import run_logged

STUDIES_NOT_OK_EXIT_CODE = 3  # murad predict: the worklist is written, but not every study was read whole


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run its command (each command: a parser builder and a handler, as torchvision's
    reference scripts keep the parser apart from the work)."""
    args = build_parser().parse_args(argv)
    args.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="murad", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (add_metrics, add_compare, add_predict, add_check_set, add_stage_weights, add_slurm_profile):
        add_command(commands)
    return parser


def _add_measurement_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap repetitions")
    parser.add_argument("--seed", type=int, default=0)


def _measurement(args: argparse.Namespace) -> dict:
    """What ``murad metrics`` and ``murad compare`` share: the output, the threshold and the bootstrap."""
    return {"out_csv": args.out, "threshold": args.threshold, "repetitions": args.bootstrap, "seed": args.seed}


def add_metrics(commands) -> None:
    parser = commands.add_parser(
        "metrics",
        help="study-level metrics with bootstrap 95%% CIs, overall and per body part",
        description="STUDIES_CSV needs at least the columns study, body_part, label (1 = abnormal) and prob.",
    )
    parser.add_argument("studies_csv")
    _add_measurement_options(parser, "output CSV (one row overall, one per body part)")
    parser.set_defaults(run=run_metrics)


def run_metrics(args: argparse.Namespace) -> None:
    from .jobs.evaluate import metrics

    run_logged(metrics, None, studies_csv=args.studies_csv, **_measurement(args))


def add_compare(commands) -> None:
    parser = commands.add_parser(
        "compare",
        help="paired comparison of two models' study tables: metric differences, bootstrap 95%% CIs, p-values",
        description="STUDIES_A and STUDIES_B (columns study, body_part, label, prob) must hold the same studies. "
        "Differences are a - b; p-values are DeLong's for the AUC and the paired bootstrap's for the other metrics.",
    )
    parser.add_argument("studies_a")
    parser.add_argument("studies_b")
    _add_measurement_options(parser, "output CSV (one row per scope and metric)")
    parser.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> None:
    from .compare import compare_csvs  # scipy and scikit-learn only for this command

    run_logged(compare_csvs, None, studies_a_csv=args.studies_a, studies_b_csv=args.studies_b, **_measurement(args))


def add_predict(commands) -> None:
    parser = commands.add_parser(
        "predict",
        help="rank new studies (PNG, JPEG or DICOM) by their probability of abnormality, with heat maps",
        description="INPUT is a folder whose leaf folders are studies (a MURA-v1.1 tree works as it is) or a CSV "
        "with the columns path and study (and optionally body_part). Writes OUT/worklist.csv (one row per study, "
        "ranked), OUT/images.csv (one row per file), OUT/worklist.html and OUT/overlays/. Exit status: 0 every "
        "study ok; 3 the worklist is written but some studies were not read whole; 1 nothing written (bad input, "
        "named); 2 a usage error.",
    )
    parser.add_argument("input", metavar="INPUT")
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="MODEL",
        help="a trained model.pt (or its folder, results/models/<model>); repeat it for the mean of several "
        "models, or give one ensemble's folder (results/ensembles/<name>)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="OUT",
        help="output folder, made if missing: murad writes its worklist files there and touches nothing else (a "
        "previous worklist's files are replaced); not the input, nor a folder holding it or inside it",
    )
    parser.add_argument("--root", help="for a CSV INPUT: the folder its paths are relative to (default: the CSV's)")
    calls = parser.add_mutually_exclusive_group()
    calls.add_argument(
        "--operating-point",
        help="a saved operating point of a single model (best_kappa, the default where saved, or rule_out)",
    )
    calls.add_argument("--threshold", type=float, help="call a study abnormal above this probability instead")
    parser.add_argument(
        "--colormap", help="the heat maps' matplotlib colour map (default: the model's run's cam.colormap, else jet)"
    )
    parser.add_argument(
        "--alpha", type=float, help="the heat maps' opacity over the image (default: the run's cam.alpha, else 0.45)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's, all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (none off a terminal anyway)")
    parser.set_defaults(run=lambda args: sys.exit(predict_command(args)))


def add_check_set(commands) -> None:
    parser = commands.add_parser(
        "check-set",
        help="check an external test set as the workflow does before any model runs, writing nothing",
        description="STUDIES is a CSV (path, study, label [, body_part, patient]; paths relative to its folder) or "
        "a folder laid out as a MURA-v1.1 split. Every image is decoded; the first problem is one line naming "
        "the file and row (exit 1), else one line of counts (exit 0).",
    )
    parser.add_argument("studies", metavar="STUDIES")
    parser.add_argument("--boxes", help="lesion boxes: COCO JSON, or a CSV path,x0,y0,x1,y1[,kind]")
    parser.add_argument("--threads", type=int, default=1, help="images decoded at once")
    parser.set_defaults(run=run_check_set)


def run_check_set(args: argparse.Namespace) -> None:
    from .jobs.external import check_external_set

    run_logged(check_external_set, None, studies=args.studies, boxes=args.boxes, workers=args.threads)


def add_stage_weights(commands) -> None:
    parser = commands.add_parser("stage-weights", help="download ImageNet weights into a torch-hub folder")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--hub-dir", required=True)
    parser.set_defaults(run=run_stage_weights)


def run_stage_weights(args: argparse.Namespace) -> None:
    from .jobs.train import stage_weights

    run_logged(stage_weights, None, models=args.models, hub_dir=args.hub_dir)


def add_slurm_profile(commands) -> None:
    parser = commands.add_parser(
        "slurm-profile",
        help="write the SLURM profile that `snakemake --profile slurm` reads",
        description="Write this user's (or, with --dir, this site's) Snakemake profile `slurm`: the executor, the "
        "account and the partitions. What murad's jobs need (GPUs, memory, runtimes) comes with the "
        "workflow.",
    )
    parser.add_argument("--account", required=True, help="SLURM account (sbatch --account)")
    parser.add_argument("--partition", required=True, help="partition for CPU jobs")
    parser.add_argument(
        "--gpu-partition",
        help=f"partition for the GPU jobs ({', '.join(slurm_profile.GPU_RULES)}; default: --partition)",
    )
    parser.add_argument(
        "--gpu-model", help="GPU type for those jobs, e.g. a100 (sbatch --gpus=a100:1; needs typed GRES)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=slurm_profile.DEFAULT_JOBS,
        help="most jobs queued or running at once (default: %(default)s)",
    )
    parser.add_argument(
        "--dir",
        help="folder for config.yaml (default: $XDG_CONFIG_HOME/snakemake/slurm, else "
        "~/.config/snakemake/slurm; /etc/xdg/snakemake/slurm for the whole site)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing config.yaml")
    parser.set_defaults(run=run_slurm_profile)


def run_slurm_profile(args: argparse.Namespace) -> None:
    run_logged(
        slurm_profile.write_profile,
        None,
        account=args.account,
        partition=args.partition,
        gpu_partition=args.gpu_partition,
        gpu_model=args.gpu_model,
        jobs=args.jobs,
        folder=args.dir,
        force=args.force,
    )


def predict_command(args: argparse.Namespace) -> int:
    """``murad predict``'s exit status: 0 every study ok, 3 written but not all ok (1 and 2 leave by SystemExit);
    Ctrl-C or SIGTERM end it with one line and 130 or 143, nothing partial left in ``--out``."""
    from .interruption import Stopped, stoppable
    from .names import shown
    from .worklist.build import make_worklist

    try:
        with stoppable():
            not_ok = run_logged(
                make_worklist,
                None,
                source=args.input,
                models=args.model,
                out_dir=args.out,
                root=args.root,
                operating_point=args.operating_point,
                threshold=args.threshold,
                batch_size=args.batch_size,
                threads=args.threads,
                colormap=args.colormap,
                alpha=args.alpha,
                progress=False if args.no_progress else None,
            )
    except Stopped as stop:
        logging.getLogger("murad").error("murad predict %s: stopped by %s; %s", shown(args.input), stop, stop.note)
        return stop.exit_code
    return STUDIES_NOT_OK_EXIT_CODE if not_ok else 0


if __name__ == "__main__":
    main(sys.argv[1:])
