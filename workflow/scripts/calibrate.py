import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../..")  # the murad package, also inside a per-rule conda env

from murad.job_runner import run_job
from murad.jobs.evaluate import calibrate

run_job(
    snakemake,
    calibrate,
    model_pt=snakemake.input.model,
    tune_studies_csv=snakemake.input.tune,
    valid_studies_csv=snakemake.input.valid,
    operating_points_json=snakemake.output.operating_points,
    calibration_csv=snakemake.output.calibration,
    operating_points_csv=snakemake.output.operating_point_metrics,
    chosen_on=snakemake.params.chosen_on,
    aggregation=snakemake.params.aggregation,
    repetitions=snakemake.params.repetitions,
    seed=snakemake.params.seed,
)
