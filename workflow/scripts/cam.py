import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.cam import cam

run_job(
    snakemake,
    cam,
    model_path=snakemake.input.model,
    table_csv=snakemake.input.valid_table,
    cache_path=snakemake.input.valid_cache,
    root=snakemake.params.root,
    lesions_csv=snakemake.input.get("lesions"),
    scores_csv=snakemake.output.scores,
    figure_png=snakemake.output.figure,
    overlays_dir=snakemake.output.overlays,
    settings=dict(snakemake.params.settings),
    style=dict(snakemake.params.style),
    threads=snakemake.threads,
)
