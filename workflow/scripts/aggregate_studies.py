import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.evaluate import aggregate_studies

splits = ("valid", "tune")
run_job(
    snakemake,
    aggregate_studies,
    images_csvs={s: snakemake.input[s] for s in splits},
    studies_csvs={s: snakemake.output[s] for s in splits},
    how=snakemake.params.how,
    threshold=snakemake.params.threshold,
)
