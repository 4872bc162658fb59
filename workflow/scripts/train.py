import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.train import train

run_job(
    snakemake,
    train,
    model=snakemake.wildcards.model,
    settings=dict(snakemake.params.settings),
    tables={name: snakemake.input[f"{name}_table"] for name in ("train", "tune")},
    caches={name: snakemake.input[f"{name}_cache"] for name in ("train", "tune")},
    model_pt=snakemake.output.model,
    history_csv=snakemake.output.history,
    meta_json=snakemake.output.meta,
    tune_predictions_csv=snakemake.output.tune_predictions,
    checkpoint=snakemake.params.checkpoint,
    hub_dir=snakemake.params.hub_dir,
    threads=snakemake.threads,
    node_local_cache=getattr(snakemake.resources, "node_local_cache", None) or None,
)
