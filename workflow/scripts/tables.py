import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from pathlib import Path

from murad.tables import write_tables
from murad.workflow import run_job

models = list(snakemake.params.models)
run_job(snakemake, write_tables, split_table2_csv=snakemake.input.split_table2,
        metrics_csvs=dict(zip(models, snakemake.input.metrics, strict=True)),
        meta_jsons=dict(zip(models, snakemake.input.meta, strict=True)),
        out_dir=str(Path(snakemake.output[0]).parent))
