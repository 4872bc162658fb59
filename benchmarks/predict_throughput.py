"""Throughput of `murad predict` (reading, predicting, CAMs, overlays, the page) on PNG and on DICOM input.

    python benchmarks/predict_throughput.py MODEL STUDIES_FOLDER [--threads N] [--repeats R]

MODEL is a trained model.pt or its folder (e.g. results/models/densenet121 of the default demo), STUDIES_FOLDER a
folder of studies of PNG files (e.g. results/data/synthetic/MURA-v1.1/valid). The same pictures are written as DICOM
(each encoding in turn) in a temporary folder; each input is predicted ``--repeats`` times (the fastest counts) in
this process, after one warm-up run. Prints studies/s and images/s per input.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from murad import synthetic_dicom
from murad.radiographs import read_radiograph
from murad.worklist.build import make_worklist


def as_dicom(source: Path, target: Path, encoding: str) -> None:
    for png in sorted(source.rglob("*.png")):
        folder = target / png.parent.relative_to(source)
        folder.mkdir(parents=True, exist_ok=True)
        synthetic_dicom.write_dicom(read_radiograph(png).pixels, folder / f"{png.stem}.dcm", encoding)


def timed(source: Path, model: str, out: Path, threads: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        make_worklist(str(source), [model], str(out), threads=threads, progress=False)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("studies", type=Path)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encodings", nargs="+", default=["uncompressed_8bit", "monochrome1_12bit", "jpeg2000"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    studies = len({p.parent for p in args.studies.rglob("*.png")})
    images = len(list(args.studies.rglob("*.png")))
    print(f"{studies} studies, {images} images; {args.threads} threads; {torch.__version__}; fastest of {args.repeats}")
    print(f"{'input':<28}{'seconds':>9}{'studies/s':>11}{'images/s':>10}")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        make_worklist(str(args.studies), [args.model], str(scratch / "warm"), threads=args.threads, progress=False)
        inputs = {"PNG": args.studies}
        for encoding in args.encodings:
            inputs[f"DICOM {encoding}"] = scratch / encoding
            as_dicom(args.studies, scratch / encoding, encoding)
        for name, source in inputs.items():
            seconds = timed(source, args.model, scratch / "out", args.threads, args.repeats)
            print(f"{name:<28}{seconds:>9.2f}{studies / seconds:>11.2f}{images / seconds:>10.1f}")


if __name__ == "__main__":
    main()
