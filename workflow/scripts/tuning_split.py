import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.jobs import split
from murad.workflow import run_job

run_job(
    snakemake,
    split,
    images_csv=snakemake.input.images,
    fraction=snakemake.params.fraction,
    seed=snakemake.params.seed,
    tune_on=snakemake.params.tune_on,
    outputs={name: snakemake.output[name] for name in ("train", "tune", "valid")},
)
