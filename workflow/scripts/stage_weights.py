import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.train import stage_weights

run_job(snakemake, stage_weights, models=list(snakemake.params.models), hub_dir=snakemake.params.hub_dir)
