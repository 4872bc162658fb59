import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.report import tables

run_job(
    snakemake,
    tables,
    split_table2_csv=snakemake.input.split_table2,
    metrics_csvs=dict(zip(snakemake.params.evaluated, snakemake.input.metrics, strict=True)),
    meta_jsons=dict(zip(snakemake.params.models, snakemake.input.meta, strict=True)),
    members_csv=snakemake.input.members[0] if snakemake.input.members else None,
    table_files=dict(snakemake.output.items()),
    comparisons_csv=snakemake.input.comparisons[0] if snakemake.input.comparisons else None,
    calibration_csvs=dict(zip(snakemake.params.calibrated, snakemake.input.calibration, strict=True)),
    operating_points_csvs=dict(zip(snakemake.params.calibrated, snakemake.input.operating_points, strict=True)),
)
