import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.external import cache_external

run_job(
    snakemake,
    cache_external,
    images_csv=snakemake.input.images,
    root=snakemake.params.root,
    size=int(snakemake.wildcards.size),
    cache_path=snakemake.output[0],
    workers=snakemake.threads,
)
