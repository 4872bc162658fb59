import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.split import tuning_split

run_job(
    snakemake,
    tuning_split,
    images_csv=snakemake.input.images,
    fraction=snakemake.params.fraction,
    seed=snakemake.params.seed,
    tune_on=snakemake.params.tune_on,
    outputs={name: snakemake.output[name] for name in ("train", "tune", "valid")},
)
