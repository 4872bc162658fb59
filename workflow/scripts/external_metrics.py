import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.external import external_metrics

models, evaluated = snakemake.params.models, snakemake.params.evaluated
run_job(
    snakemake,
    external_metrics,
    set_name=snakemake.wildcards.set,
    external_csvs=dict(zip(models, snakemake.input.external, strict=True)),
    tune_csvs=dict(zip(models, snakemake.input.tune, strict=True)),
    valid_csvs=dict(zip(evaluated, snakemake.input.valid, strict=True)),
    valid_metrics_csvs=dict(zip(evaluated, snakemake.input.valid_metrics, strict=True)),
    operating_points_jsons=dict(zip(models, snakemake.input.operating_points, strict=True)),
    calibration_csvs=dict(zip(models, snakemake.input.calibration, strict=True)),
    top_k=snakemake.params.top_k,
    metrics_csvs=dict(zip(evaluated, snakemake.output.metrics, strict=True)),
    ensemble_csvs=dict(zip(snakemake.params.ensembles, snakemake.output.ensembles, strict=True)),
    summary_csv=snakemake.output.summary,
    calibration_csv=snakemake.output.calibration,
    operating_points_csv=snakemake.output.operating_points,
    threshold=snakemake.params.threshold,
    repetitions=snakemake.params.repetitions,
    seed=snakemake.params.seed,
)
