"""How long `snakemake -n` takes in a finished working directory: what every status check and every edit-and-look
costs a user, dominated by Python start-up and the workflow's parse.

    python benchmarks/dry_run.py [WORKDIR (default: .)] [--repeat 7]

Prints each run's wall time, then the median and the fastest, and what `snakemake -n` said (it should be "Nothing
to be done" on a finished run).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", nargs="?", default=".")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        done = subprocess.run([str(SNAKEMAKE), "-n"], cwd=args.workdir, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        print(f"{seconds[-1]:.2f} s")
    said = "Nothing to be done" if "Nothing to be done" in done.stdout + done.stderr else "jobs to do"
    print(
        f"snakemake -n in {Path(args.workdir).resolve()}: median {statistics.median(seconds):.2f} s, "
        f"fastest {min(seconds):.2f} s over {args.repeat} runs ({said}; exit {done.returncode})"
    )


if __name__ == "__main__":
    main()
