# Stage 7: external test sets (config key external), evaluated by every trained model and ensemble without
# retraining. verify_external checks a set (every image decoded; one line naming file and row at the first problem)
# before any model predicts it, with a high priority so that a local run does it first; on a cluster it runs with the
# set's cache in a `prepare` group job of the set's own. predict_external runs a model on a set (a GPU job) and maps
# its boxed images; external_metrics measures every model and ensemble on a set against MURA valid; generalisation
# gathers Table 6 and its figure; each a light job of its own (a group's CPUs would grow with the number of sets).
# Report category "7. External test sets and subgroups".


rule verify_external:
    input:
        unpack(external_set_files),
    output:
        images="results/external/{set}/images.csv",
        boxes="results/external/{set}/boxes.csv",
        verification="results/external/{set}/verification.json",
    log:
        "results/logs/verify_external/{set}.log",
    priority: 50
    group:
        "prepare"
    conda:
        "../../envs/murad.yaml"
    threads: 2
    resources:
        mem_mb=DECODING_MEM_MB,
    params:
        murad_code=murad_code("verify_external.py"),
    script:
        "../scripts/verify_external.py"


rule cache_external:
    input:
        images="results/external/{set}/images.csv",
    output:
        "results/cache/external/{set}_{size}px.npy",
    log:
        "results/logs/cache_external/{set}_{size}px.log",
    group:
        "prepare"
    conda:
        "../../envs/murad.yaml"
    threads: 2
    resources:
        mem_mb=DECODING_MEM_MB,
    params:
        root=lambda wildcards: external_root(wildcards.set),
        murad_code=murad_code("cache_external.py"),
    script:
        "../scripts/cache_external.py"


rule predict_external:
    input:
        unpack(external_prediction_inputs),
    output:
        images="results/external/{set}/{model}/images.csv",
        studies="results/external/{set}/{model}/studies.csv",
        scores="results/cam/external/{set}/{model}/scores.csv",
    log:
        "results/logs/predict_external/{set}/{model}.log",
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
        aggregation=config["evaluation"]["aggregation"],
        threshold=config["evaluation"]["threshold"],
        cam=lambda wildcards: CAM_EXTERNAL_SETTINGS if wildcards.model in CAM_MODELS else None,
        murad_code=murad_code("predict_external.py"),
    script:
        "../scripts/predict_external.py"


rule external_metrics:
    input:
        external=expand("results/external/{{set}}/{model}/studies.csv", model=MODELS),
        tune=expand("results/predictions/{model}/tune_studies.csv", model=MODELS),
        valid=[valid_studies(name) for name in EVALUATED],
        valid_metrics=expand("results/metrics/{name}.csv", name=EVALUATED),
        operating_points=expand("results/models/{model}/operating_points.json", model=MODELS),
        calibration=expand("results/calibration/{model}.csv", model=MODELS),
    output:
        metrics=expand("results/metrics/external/{{set}}/{name}.csv", name=EVALUATED),
        ensembles=expand("results/external/{{set}}/{name}/studies.csv", name=ENSEMBLES),
        summary="results/external/{set}/summary.csv",
        calibration="results/external/{set}/calibration.csv",
        operating_points="results/external/{set}/operating_points.csv",
    log:
        "results/logs/external_metrics/{set}.log",
    conda:
        "../../envs/murad.yaml"
    params:
        models=MODELS,
        evaluated=EVALUATED,
        ensembles=ENSEMBLES,
        top_k=ENSEMBLE_TOP_K,
        threshold=config["evaluation"]["threshold"],
        repetitions=config["evaluation"]["bootstrap"],
        seed=config["evaluation"]["seed"],
        murad_code=murad_code("external_metrics.py"),
    script:
        "../scripts/external_metrics.py"


rule external_localization:
    input:
        scores=expand("results/cam/external/{{set}}/{model}/scores.csv", model=CAM_MODELS),
    output:
        table="results/cam/external/{set}/localization.csv",
        markdown="results/cam/external/{set}/localization.md",
        html=report(
            "results/cam/external/{set}/localization.html",
            caption="../report/external_localization.rst",
            category="7. External test sets and subgroups",
            subcategory="{set}",
            labels={"set": "{set}", "table": "CAM localization"},
        ),
    log:
        "results/logs/external_localization/{set}.log",
    conda:
        "../../envs/murad.yaml"
    params:
        models=CAM_MODELS,
        tolerance=config["cam"]["tolerance"],
        murad_code=murad_code("external_localization.py"),
    script:
        "../scripts/external_localization.py"


rule generalisation:
    input:
        summaries=expand("results/external/{set}/summary.csv", set=EXTERNAL),
    output:
        **{
            f"table6_{ext}": (
                report(
                    f"results/tables/table6.{ext}",
                    caption="../report/table6.rst",
                    category="7. External test sets and subgroups",
                    subcategory="generalisation",
                    labels={"table": "Table 6"},
                )
                if ext == "html"
                else f"results/tables/table6.{ext}"
            )
            for ext in TABLE_FORMATS
        },
        png=report(
            "results/figures/generalisation.png",
            caption="../report/generalisation.rst",
            category="7. External test sets and subgroups",
            subcategory="generalisation",
            labels={"figure": "kappa on valid and on each set"},
        ),
        svg="results/figures/generalisation.svg",
    log:
        "results/logs/generalisation.log",
    conda:
        "../../envs/murad.yaml"
    params:
        sets=EXTERNAL,
        style=config["report"],
        murad_code=murad_code("generalisation.py"),
    script:
        "../scripts/generalisation.py"
