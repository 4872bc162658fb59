import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from pathlib import Path

from murad.figures import write_figures
from murad.job_runner import run_job

evaluated = list(snakemake.params.evaluated)
run_job(
    snakemake,
    write_figures,
    studies_csvs=dict(zip(evaluated, snakemake.input.studies, strict=True)),
    history_csvs=dict(zip(snakemake.params.models, snakemake.input.history, strict=True)),
    table3_csv=snakemake.input.table3,
    table4_csv=snakemake.input.table4,
    out_dir=str(Path(snakemake.output[0]).parent),
    style=snakemake.params.style,
    palette=snakemake.params.palette,
    dpi=snakemake.params.dpi,
)
