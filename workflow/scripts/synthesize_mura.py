import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.jobs import synthesize
from murad.workflow import run_job

run_job(
    snakemake,
    synthesize,
    root=snakemake.params.root,
    settings=dict(snakemake.params.settings),
    workers=snakemake.threads,
)
