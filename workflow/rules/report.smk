# Stage 5: gather every model's results into the paper's tables.


rule tables:
    input:
        split_table2="results/split/table2.csv",
        metrics=expand("results/metrics/{model}.csv", model=MODELS),
        meta=expand("results/models/{model}/meta.json", model=MODELS),
    output:
        multiext("results/tables/table2", ".csv", ".md", ".tex"),
        multiext("results/tables/table3", ".csv", ".md", ".tex"),
        multiext("results/tables/table4", ".csv", ".md", ".tex"),
    params:
        models=MODELS,
    conda:
        "../../envs/murad.yaml"
    log:
        "results/logs/tables.log",
    script:
        "../scripts/tables.py"
