import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.evaluate import subgroups

run_job(
    snakemake,
    subgroups,
    valid_csvs=dict(zip(snakemake.params.evaluated, snakemake.input.valid, strict=True)),
    lesions_csv=snakemake.input.get("lesions"),
    subgroup_csvs=dict(zip(snakemake.params.subgroups, snakemake.input.subgroups, strict=True)),
    out_csv=snakemake.output.table,
    table_files={key: path for key, path in snakemake.output.items() if key.startswith("table7_")},
    threshold=snakemake.params.threshold,
    repetitions=snakemake.params.repetitions,
    seed=snakemake.params.seed,
)
