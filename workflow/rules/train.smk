# Stage 3: cache the images once per size (all three splits), then train each model as its own job.


rule cache_images:
    input:
        **SPLIT_TABLES,
    output:
        **{name: f"results/cache/{name}_{{size}}px.npy" for name in SPLIT_NAMES},
    log:
        "results/logs/cache_images/{size}px.log",
    group:
        "prepare"
    conda:
        "../../envs/murad.yaml"
    threads: 2
    resources:
        mem_mb=DECODING_MEM_MB,
    params:
        root=DATA_ROOT,
        murad_code=murad_code("cache_images.py"),
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
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    retries: GPU_RETRIES
    conda:
        "../../envs/murad.yaml"
    threads: config["training"]["threads"]
    resources:
        **NODE_LOCAL_CACHE,
        gpu=1,
        mem_mb=lambda wildcards: training_mem_mb(wildcards.model),
        runtime=lambda wildcards, attempt: training_runtime(wildcards.model, attempt),
    params:
        settings=lambda wildcards: model_settings(wildcards.model),
        checkpoint="results/models/{model}/checkpoint.pt",  # kept between attempts to resume from; removed at the end
        hub_dir=config["training"]["hub_dir"],
        murad_code=murad_code("train.py"),
    script:
        "../scripts/train.py"


rule stage_weights:
    """Download the ImageNet weights of every configured model (run where there is internet, e.g. a login node)."""
    output:
        [str(imagenet_weights_file(m)) for m in MODELS],
    log:
        "results/logs/stage_weights.log",
    localrule: True
    conda:
        "../../envs/murad.yaml"
    params:
        models=MODELS,
        hub_dir=lambda wildcards, output: str(Path(output[0]).parent.parent),
        murad_code=murad_code("stage_weights.py"),
    script:
        "../scripts/stage_weights.py"
