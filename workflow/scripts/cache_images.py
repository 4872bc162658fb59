import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.train import cache_images

run_job(
    snakemake,
    cache_images,
    table_csvs=dict(snakemake.input.items()),
    root=snakemake.params.root,
    size=int(snakemake.wildcards.size),
    out_paths=dict(snakemake.output.items()),
    workers=snakemake.threads,
)
