import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.data import synthesize_site

run_job(
    snakemake,
    synthesize_site,
    studies_csv=snakemake.output.studies,
    boxes_json=snakemake.output.boxes,
    images_dir=snakemake.output.images,
    settings=dict(snakemake.params.settings),
    workers=snakemake.threads,
)
