import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.jobs import aggregate
from murad.workflow import run_job

run_job(snakemake, aggregate, images_csv=snakemake.input.images, studies_csv=snakemake.output.studies,
        how=snakemake.params.how, threshold=snakemake.params.threshold)
