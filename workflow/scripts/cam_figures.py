import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.cam import cam_figures

run_job(
    snakemake,
    cam_figures,
    maps_npz=snakemake.input.maps,
    scores_csv=snakemake.input.scores,
    root=snakemake.params.root,
    scored=snakemake.params.scored,
    figure_png=snakemake.output.figure,
    overlays_dir=snakemake.output.overlays,
    settings=dict(snakemake.params.settings),
    style=dict(snakemake.params.style),
)
