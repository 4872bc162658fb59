# Stage 5: gather every model's and ensemble's results into the paper's tables, the figures and the report.
# Categories of `snakemake --report results/report.html`: 1. Data, 2. Tables, 3. Figures, 4. Ensembles,
# 5. Class activation maps (cam.smk), 6. Environment.


rule tables:
    input:
        split_table2="results/split/table2.csv",
        metrics=expand("results/metrics/{name}.csv", name=EVALUATED + SEED_RUNS),
        meta=expand("results/models/{model}/meta.json", model=RUNS),
        members=ensemble_members(),
        comparisons=comparisons_with_best(),
        calibration=expand("results/calibration/{model}.csv", model=MODELS),
        operating_points=expand("results/operating_points/{model}.csv", model=MODELS),
    output:
        **{
            f"table{n}_{ext}": (
                report(
                    f"results/tables/table{n}.{ext}",
                    caption=f"../report/table{n}.rst",
                    category="1. Data" if n == 2 else "2. Tables",
                    labels={"table": f"Table {n}"},
                )
                if ext == "html"
                else f"results/tables/table{n}.{ext}"
            )
            for n in TABLES
            for ext in TABLE_FORMATS
        },
    log:
        "results/logs/tables.log",
    group:
        "summary"
    conda:
        "../../envs/murad.yaml"
    params:
        models=RUNS,
        evaluated=EVALUATED + SEED_RUNS,
        calibrated=MODELS,
        murad_code=murad_code("tables.py"),
    script:
        "../scripts/tables.py"


rule figures:
    input:
        studies=[valid_studies(name) for name in EVALUATED],
        history=expand("results/models/{model}/history.csv", model=MODELS),
        table3="results/tables/table3.csv",
        table4="results/tables/table4.csv",
        table5="results/tables/table5.csv",
    output:
        **{
            f"{name}_{ext}": report(
                f"results/figures/{name}.{ext}",
                caption=f"../report/{name}.rst",
                category="3. Figures",
                labels={"figure": name.replace("_", " "), "format": ext.upper()},
            )
            for name in FIGURES
            for ext in FIGURE_FORMATS
        },
    log:
        "results/logs/figures.log",
    group:
        "summary"
    conda:
        "../../envs/murad.yaml"
    params:
        models=MODELS,
        evaluated=EVALUATED,
        style=config["report"]["style"],
        palette=config["report"]["palette"],
        dpi=config["report"]["dpi"],
        murad_code=murad_code("figures.py"),
    script:
        "../scripts/figures.py"


rule environment:
    input:
        meta=expand("results/models/{model}/meta.json", model=MODELS),
    output:
        table="results/report/environment.csv",
        html=report("results/report/environment.html", caption="../report/environment.rst", category="6. Environment"),
        config=report("results/report/config.yaml", caption="../report/config.rst", category="6. Environment"),
    log:
        "results/logs/environment.log",
    group:
        "summary"
    conda:
        "../../envs/murad.yaml"
    params:
        models=MODELS,
        config=config,
        murad_code=murad_code("environment.py"),
    script:
        "../scripts/environment.py"
