import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.report import environment

run_job(
    snakemake,
    environment,
    meta_jsons=dict(zip(snakemake.params.models, snakemake.input.meta, strict=True)),
    config=snakemake.params.config,
    table_csv=snakemake.output.table,
    table_html=snakemake.output.html,
    config_yaml=snakemake.output.config,
)
