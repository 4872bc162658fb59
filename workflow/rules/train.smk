# Stage 3: cache the images once per split and size, then train each model as its own job.


rule cache_images:
    input:
        table="results/split/{split}.csv",
    output:
        "results/cache/{split}_{size}px.npy",
    params:
        root=DATA_ROOT,
    threads: 2
    conda:
        "../../envs/murad.yaml"
    log:
        "results/logs/cache_images/{split}_{size}px.log",
    script:
        "../scripts/cache_images.py"


rule train:
    input:
        unpack(training_inputs),
    output:
        model="results/models/{model}/model.pt",
        history="results/models/{model}/history.csv",
        meta="results/models/{model}/meta.json",
        tune_predictions="results/models/{model}/tune_predictions.csv",
    params:
        settings=lambda wildcards: model_settings(wildcards.model),
        hub_dir=config["training"]["hub_dir"],
    threads: config["training"]["threads"]
    resources:
        mem_mb=lambda wildcards: training_mem_mb(wildcards.model),
        runtime=lambda wildcards, attempt: training_runtime(wildcards.model, attempt),
    conda:
        "../../envs/murad.yaml"
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    script:
        "../scripts/train.py"


rule stage_weights:
    """Download the ImageNet weights of every configured model (run where there is internet, e.g. a login node)."""
    output:
        [str(imagenet_weights_file(m)) for m in MODELS],
    params:
        models=MODELS,
        hub_dir=lambda wildcards, output: str(Path(output[0]).parent.parent),
    localrule: True
    conda:
        "../../envs/murad.yaml"
    log:
        "results/logs/stage_weights.log",
    script:
        "../scripts/stage_weights.py"
