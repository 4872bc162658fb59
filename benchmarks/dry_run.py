"""How long `snakemake -n` takes in a finished working directory: what every status check and every edit-and-look
costs a user, dominated by Python start-up and the workflow's parse.

    python benchmarks/dry_run.py [WORKDIR (default: .)] [--repeat 7]

Runs, in turns so that a busy machine slows each alike: `snakemake -n` in WORKDIR, `snakemake -n` on a one-rule
workflow whose output exists (Snakemake's own start-up, its plugins and a DAG of one job: the floor of any dry run on
this machine), and `snakemake --version`. Prints each run's wall time, the median and the fastest of each, murad's
share (the median dry run less the one-rule one's), and what `snakemake -n` said in WORKDIR (on a finished run:
"Nothing to be done").
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
ONE_RULE = 'rule all:\n    output:\n        "done",\n    shell:\n        "touch {output}"\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", nargs="?", default=".", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        one_rule = Path(folder)
        (one_rule / "Snakefile").write_text(ONE_RULE)
        (one_rule / "done").touch()
        commands = {
            "murad: snakemake -n": ([str(SNAKEMAKE), "-n"], args.workdir),
            "one rule: snakemake -n": ([str(SNAKEMAKE), "-n"], one_rule),
            "snakemake --version": ([str(SNAKEMAKE), "--version"], one_rule),
        }
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, (command, cwd) in commands.items():
                started = time.perf_counter()
                done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
                seconds[name].append(time.perf_counter() - started)
                if name.startswith("murad"):
                    murad = done
                    print(f"{seconds[name][-1]:.2f} s")
    for name, times in seconds.items():
        print(f"{name}: median {statistics.median(times):.2f} s, fastest {min(times):.2f} s over {args.repeat} runs")
    share = statistics.median(seconds["murad: snakemake -n"]) - statistics.median(seconds["one rule: snakemake -n"])
    outcome = "Nothing to be done" if "Nothing to be done" in murad.stdout + murad.stderr else "jobs to do"
    print(
        f"in {args.workdir.resolve()}: {outcome} (exit {murad.returncode}); murad's share of the median (the parse, "
        f"its DAG and file checks): {share:.2f} s"
    )


if __name__ == "__main__":
    main()
