import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.evaluate import metrics

run_job(
    snakemake,
    metrics,
    studies_csv=snakemake.input.studies,
    out_csv=snakemake.output[0],
    threshold=snakemake.params.threshold,
    repetitions=snakemake.params.repetitions,
    seed=snakemake.params.seed,
)
