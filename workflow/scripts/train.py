import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.jobs import train
from murad.workflow import run_job

run_job(
    snakemake,
    train,
    model=snakemake.wildcards.model,
    settings=dict(snakemake.params.settings),
    tables={name: snakemake.input[f"{name}_table"] for name in ("train", "tune")},
    caches={name: snakemake.input[f"{name}_cache"] for name in ("train", "tune")},
    out_dir=str(snakemake.output.model).rsplit("/", 1)[0],
    hub_dir=snakemake.params.hub_dir,
    threads=snakemake.threads,
)
