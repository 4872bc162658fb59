import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.cam import cam_maps

run_job(
    snakemake,
    cam_maps,
    model_path=snakemake.input.model,
    table_csv=snakemake.input.valid_table,
    cache_path=snakemake.input.valid_cache,
    root=snakemake.params.root,
    lesions_csv=snakemake.input.get("lesions"),
    maps_npz=snakemake.output.maps,
    scores_csv=snakemake.output.scores,
    settings=dict(snakemake.params.settings),
    threads=snakemake.threads,
    node_local_cache=getattr(snakemake.resources, "node_local_cache", None) or None,
)
