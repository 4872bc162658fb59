import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.external import external_localization

run_job(
    snakemake,
    external_localization,
    set_name=snakemake.wildcards.set,
    scores_csvs=dict(zip(snakemake.params.models, snakemake.input.scores, strict=True)),
    tolerance=snakemake.params.tolerance,
    out_csv=snakemake.output.table,
    out_md=snakemake.output.markdown,
    out_html=snakemake.output.html,
)
