import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.evaluate import ensembles

models = list(snakemake.params.models)
names = list(snakemake.params.names)
run_job(
    snakemake,
    ensembles,
    tune_csvs=dict(zip(models, snakemake.input.tune, strict=True)),
    valid_csvs=dict(zip(models, snakemake.input.valid, strict=True)),
    top_k=snakemake.params.top_k,
    members_csv=snakemake.output.members,
    members_html=snakemake.output.members_html,
    studies_csvs=dict(zip(names, snakemake.output.studies, strict=True)),
    threshold=snakemake.params.threshold,
)
