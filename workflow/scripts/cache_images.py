import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.jobs import cache_images
from murad.workflow import run_job

splits = ("train", "tune", "valid")
run_job(snakemake, cache_images, table_csvs={s: snakemake.input[s] for s in splits}, root=snakemake.params.root,
        size=int(snakemake.wildcards.size), out_paths={s: snakemake.output[s] for s in splits},
        workers=snakemake.threads)
