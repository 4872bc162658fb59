# Stage 4: predict on MURA valid, aggregate per study (valid, and the tuning split whose image probabilities the
# train job wrote), metrics per model; ensembles chosen on the tuning split.


rule predict:
    input:
        unpack(prediction_inputs),
    output:
        valid="results/predictions/{model}/images.csv",
    log:
        "results/logs/predict/{model}.log",
    retries: GPU_RETRIES
    conda:
        "../../envs/murad.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        **NODE_LOCAL_CACHE,
        gpu=1,
        mem_mb=lambda wildcards, attempt: EVALUATION_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: EVALUATION_RUNTIME * attempt,
    params:
        batch_size=lambda wildcards: 2 * model_settings(wildcards.model)["batch_size"],
        murad_code=murad_code("predict.py"),
    script:
        "../scripts/predict.py"


rule aggregate_studies:
    input:
        valid="results/predictions/{model}/images.csv",
        tune="results/models/{model}/tune_predictions.csv",
    output:
        valid="results/predictions/{model}/studies.csv",
        tune="results/predictions/{model}/tune_studies.csv",
    log:
        "results/logs/aggregate_studies/{model}.log",
    group:
        "evaluate_{model}"
    conda:
        "../../envs/murad.yaml"
    params:
        how=config["evaluation"]["aggregation"],
        threshold=config["evaluation"]["threshold"],
        murad_code=murad_code("aggregate_studies.py"),
    script:
        "../scripts/aggregate_studies.py"


rule metrics:
    input:
        studies=lambda wildcards: valid_studies(wildcards.name),
    output:
        "results/metrics/{name}.csv",
    log:
        "results/logs/metrics/{name}.log",
    group:
        metrics_group
    conda:
        "../../envs/murad.yaml"
    params:
        threshold=config["evaluation"]["threshold"],
        repetitions=config["evaluation"]["bootstrap"],
        seed=config["evaluation"]["seed"],
        murad_code=murad_code("metrics.py"),
    script:
        "../scripts/metrics.py"


rule ensembles:
    input:
        tune=expand("results/predictions/{model}/tune_studies.csv", model=MODELS),
        valid=expand("results/predictions/{model}/studies.csv", model=MODELS),
    output:
        members="results/ensembles/members.csv",
        members_html=report(
            "results/ensembles/members.html", caption="../report/ensembles.rst", category="4. Ensembles"
        ),
        studies=[f"results/ensembles/{name}/studies.csv" for name in ENSEMBLES],
    log:
        "results/logs/ensembles.log",
    group:
        "summary"
    conda:
        "../../envs/murad.yaml"
    params:
        models=MODELS,
        names=ENSEMBLES,
        top_k=ENSEMBLE_TOP_K,
        threshold=config["evaluation"]["threshold"],
        murad_code=murad_code("ensembles.py"),
    script:
        "../scripts/ensembles.py"


rule compare_to_best:
    input:
        tune=expand("results/predictions/{model}/tune_studies.csv", model=MODELS),
        valid=[valid_studies(name) for name in EVALUATED],
        # not read: it runs after the ensembles' metrics, so no more than two steps of the `summary` group job run
        # side by side (2 CPUs, see common.smk)
        after=expand("results/metrics/{name}.csv", name=ENSEMBLES),
    output:
        "results/comparisons/vs_best.csv",
    log:
        "results/logs/compare_to_best.log",
    group:
        "summary"
    conda:
        "../../envs/murad.yaml"
    params:
        models=MODELS,
        evaluated=EVALUATED,
        threshold=config["evaluation"]["threshold"],
        repetitions=config["evaluation"]["bootstrap"],
        seed=config["evaluation"]["seed"],
        murad_code=murad_code("compare_to_best.py"),
    script:
        "../scripts/compare_to_best.py"


rule calibrate:
    input:
        model="results/models/{model}/model.pt",
        tune="results/predictions/{model}/tune_studies.csv",
        valid="results/predictions/{model}/studies.csv",
    output:
        operating_points="results/models/{model}/operating_points.json",
        calibration="results/calibration/{model}.csv",
        operating_point_metrics="results/operating_points/{model}.csv",
    log:
        "results/logs/calibrate/{model}.log",
    group:
        "evaluate_{model}"
    conda:
        "../../envs/murad.yaml"
    params:
        chosen_on=config["split"]["tune_on"],
        aggregation=config["evaluation"]["aggregation"],
        repetitions=config["evaluation"]["bootstrap"],
        seed=config["evaluation"]["seed"],
        murad_code=murad_code("calibrate.py"),
    script:
        "../scripts/calibrate.py"


rule subgroups:
    input:
        unpack(subgroup_inputs),
        # not read: it runs after the ensembles' metrics, beside compare_to_best, so no more than two steps of the
        # `summary` group job run side by side (2 CPUs, see common.smk)
        after=expand("results/metrics/{name}.csv", name=ENSEMBLES),
    output:
        **{
            f"table7_{ext}": (
                report(
                    f"results/tables/table7.{ext}",
                    caption="../report/table7.rst",
                    category="7. External test sets and subgroups",
                    subcategory="subgroups",
                    labels={"table": "Table 7"},
                )
                if ext == "html"
                else f"results/tables/table7.{ext}"
            )
            for ext in TABLE_FORMATS
        },
        table="results/metrics/subgroups.csv",
    log:
        "results/logs/subgroups.log",
    group:
        "summary"
    conda:
        "../../envs/murad.yaml"
    params:
        evaluated=EVALUATED,
        subgroups=SUBGROUP_NAMES,
        threshold=config["evaluation"]["threshold"],
        repetitions=config["evaluation"]["bootstrap"],
        seed=config["evaluation"]["seed"],
        murad_code=murad_code("subgroups.py"),
    script:
        "../scripts/subgroups.py"
