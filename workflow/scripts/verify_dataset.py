import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.split import verify_dataset

run_job(
    snakemake,
    verify_dataset,
    root=snakemake.params.root,
    source=snakemake.params.source,
    check_files=snakemake.params.check_files,
    table2_csv=snakemake.output.table2,
    verification_json=snakemake.output.verification,
    images_csv=snakemake.output.images,
    workers=snakemake.threads,
)
