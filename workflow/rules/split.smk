# Stage 2: verify the MURA-v1.1 tree (stops the DAG on bad input) and carve the tuning split out of train.


rule verify_dataset:
    input:
        **mura_index_files(),
    output:
        table2="results/split/table2.csv",
        verification="results/split/verification.json",
        images="results/split/mura_images.csv",
    log:
        "results/logs/verify_dataset.log",
    group:
        "prepare"
    conda:
        "../../envs/murad.yaml"
    threads: 2
    resources:
        mem_mb=DECODING_MEM_MB,
    params:
        root=lambda wildcards, input: dataset_root(input.train_images),
        source=config["dataset"]["source"],
        check_files=config["split"]["check_files"],
        murad_code=murad_code("verify_dataset.py"),
    script:
        "../scripts/verify_dataset.py"


rule tuning_split:
    input:
        images="results/split/mura_images.csv",
    output:
        **SPLIT_TABLES,
    log:
        "results/logs/tuning_split.log",
    group:
        "prepare"
    conda:
        "../../envs/murad.yaml"
    params:
        tune_on=config["split"]["tune_on"],
        fraction=config["split"]["tune_fraction"],
        seed=config["split"]["seed"],
        murad_code=murad_code("tuning_split.py"),
    script:
        "../scripts/tuning_split.py"
