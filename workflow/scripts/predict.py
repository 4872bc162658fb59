import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.evaluate import predict

run_job(
    snakemake,
    predict,
    model_path=snakemake.input.model,
    table_csv=snakemake.input.valid_table,
    cache_path=snakemake.input.valid_cache,
    out_csv=snakemake.output.valid,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    node_local_cache=getattr(snakemake.resources, "node_local_cache", None) or None,
)
