import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.external import verify_external

run_job(
    snakemake,
    verify_external,
    set_name=snakemake.wildcards.set,
    studies=snakemake.input.studies,
    boxes=snakemake.input.get("boxes"),
    images_csv=snakemake.output.images,
    boxes_csv=snakemake.output.boxes,
    verification_json=snakemake.output.verification,
    workers=snakemake.threads,
)
