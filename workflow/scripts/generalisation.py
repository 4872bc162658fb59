import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.external import generalisation

run_job(
    snakemake,
    generalisation,
    summary_csvs=dict(zip(snakemake.params.sets, snakemake.input.summaries, strict=True)),
    table_files={key: path for key, path in snakemake.output.items() if key.startswith("table6_")},
    figure_png=snakemake.output.png,
    figure_svg=snakemake.output.svg,
    style=dict(snakemake.params.style),
)
