# Stage 2: verify the MURA-v1.1 tree (stops the DAG on bad input) and carve the tuning split out of train.


rule verify_split:
    input:
        **mura_index_files(),
    output:
        table2="results/split/table2.csv",
        verification="results/split/verification.json",
        images="results/split/mura_images.csv",
    params:
        root=lambda wildcards, input: dataset_root(input.train_images),
        source=config["dataset"]["source"],
        check_files=config["split"]["check_files"],
    threads: 2
    conda:
        "../../envs/murad.yaml"
    log:
        "results/logs/verify_split.log",
    script:
        "../scripts/verify_split.py"


rule tuning_split:
    input:
        images="results/split/mura_images.csv",
    output:
        **SPLIT_TABLES,
    params:
        tune_on=config["split"]["tune_on"],
        fraction=config["split"]["tune_fraction"],
        seed=config["split"]["seed"],
    conda:
        "../../envs/murad.yaml"
    log:
        "results/logs/tuning_split.log",
    script:
        "../scripts/tuning_split.py"
