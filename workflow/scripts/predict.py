import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.jobs import predict
from murad.workflow import run_job

splits = ("valid",)
run_job(snakemake, predict, model_path=snakemake.input.model,
        tables={s: snakemake.input[f"{s}_table"] for s in splits},
        caches={s: snakemake.input[f"{s}_cache"] for s in splits},
        outputs={s: snakemake.output[s] for s in splits}, batch_size=snakemake.params.batch_size,
        threads=snakemake.threads)
