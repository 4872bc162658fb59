import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.external import predict_external

run_job(
    snakemake,
    predict_external,
    model_path=snakemake.input.model,
    images_csv=snakemake.input.images,
    boxes_csv=snakemake.input.boxes,
    cache_path=snakemake.input.cache,
    images_out=snakemake.output.images,
    studies_out=snakemake.output.studies,
    scores_out=snakemake.output.scores,
    batch_size=snakemake.params.batch_size,
    aggregation=snakemake.params.aggregation,
    threshold=snakemake.params.threshold,
    cam=dict(snakemake.params.cam) if snakemake.params.cam else None,
    threads=snakemake.threads,
    node_local_cache=getattr(snakemake.resources, "node_local_cache", None) or None,
)
