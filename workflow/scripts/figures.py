import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.report import figures

run_job(
    snakemake,
    figures,
    studies_csvs=dict(zip(snakemake.params.evaluated, snakemake.input.studies, strict=True)),
    history_csvs=dict(zip(snakemake.params.models, snakemake.input.history, strict=True)),
    table3_csv=snakemake.input.table3,
    table4_csv=snakemake.input.table4,
    table5_csv=snakemake.input.table5,
    figure_files=dict(snakemake.output.items()),
    style=snakemake.params.style,
    palette=snakemake.params.palette,
    dpi=snakemake.params.dpi,
)
