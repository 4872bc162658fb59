import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.jobs import stage_weights
from murad.workflow import run_job

run_job(snakemake, stage_weights, models=list(snakemake.params.models), hub_dir=snakemake.params.hub_dir)
