import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.cam import cam_localization

run_job(
    snakemake,
    cam_localization,
    scores_csvs=dict(zip(snakemake.params.models, snakemake.input.scores, strict=True)),
    scored=snakemake.params.scored,
    tolerance=snakemake.params.tolerance,
    out_csv=snakemake.output.table,
    out_md=snakemake.output.markdown,
    out_html=snakemake.output.html,
    figure_png=snakemake.output.png,
    figure_svg=snakemake.output.svg,
    style=dict(snakemake.params.style),
)
