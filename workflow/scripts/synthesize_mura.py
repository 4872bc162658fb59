import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.data import synthesize_mura

run_job(
    snakemake,
    synthesize_mura,
    root=snakemake.params.root,
    settings=dict(snakemake.params.settings),
    workers=snakemake.threads,
)
