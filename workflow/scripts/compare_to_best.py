import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.evaluate import compare_to_best

run_job(
    snakemake,
    compare_to_best,
    tune_csvs=dict(zip(snakemake.params.models, snakemake.input.tune, strict=True)),
    valid_csvs=dict(zip(snakemake.params.evaluated, snakemake.input.valid, strict=True)),
    out_csv=snakemake.output[0],
    threshold=snakemake.params.threshold,
    repetitions=snakemake.params.repetitions,
    seed=snakemake.params.seed,
)
