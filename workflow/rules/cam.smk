# Stage 6: class activation maps of every model (Grad-CAM for VGG) over MURA valid radiographs, and their
# localization against the synthetic data's lesion boxes. Report category "5. Class activation maps".
# cam_maps runs the CNN (a GPU job) and writes the maps and their scores; cam_figures draws them without the CNN,
# so the figure styling (report:, the colour map) re-runs no CNN.


rule cam_maps:
    input:
        unpack(cam_inputs),
    output:
        maps="results/cam/{model}/maps.npz",
        scores="results/cam/{model}/scores.csv",
    log:
        "results/logs/cam_maps/{model}.log",
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
        root=DATA_ROOT,
        settings=CAM_MAP_SETTINGS,
        murad_code=murad_code("cam_maps.py"),
    script:
        "../scripts/cam_maps.py"


rule cam_figures:
    input:
        maps="results/cam/{model}/maps.npz",
        scores="results/cam/{model}/scores.csv",
    output:
        figure=report(
            "results/cam/{model}/figure.png",
            caption="../report/cam_figure.rst",
            category="5. Class activation maps",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "heat maps"},
        ),
        overlays=directory("results/cam/{model}/overlays"),
    log:
        "results/logs/cam_figures/{model}.log",
    conda:
        "../../envs/murad.yaml"
    params:
        root=DATA_ROOT,
        scored=config["dataset"]["source"] == "synthetic",
        settings=CAM_DRAWING_SETTINGS,
        style=config["report"],
        murad_code=murad_code("cam_figures.py"),
    script:
        "../scripts/cam_figures.py"


rule cam_localization:
    input:
        scores=expand("results/cam/{model}/scores.csv", model=CAM_MODELS),
    output:
        table="results/cam/localization.csv",
        markdown="results/cam/localization.md",
        html=report(
            "results/cam/localization.html",
            caption="../report/cam_localization.rst",
            category="5. Class activation maps",
            subcategory="localization",
            labels={"model": "all", "figure": "localization table"},
        ),
        png=report(
            "results/figures/cam_localization.png",
            caption="../report/cam_localization.rst",
            category="5. Class activation maps",
            subcategory="localization",
            labels={"model": "all", "figure": "localization"},
        ),
        svg="results/figures/cam_localization.svg",
    log:
        "results/logs/cam_localization.log",
    conda:
        "../../envs/murad.yaml"
    params:
        models=CAM_MODELS,
        scored=config["dataset"]["source"] == "synthetic",
        tolerance=config["cam"]["tolerance"],
        style=config["report"],
        murad_code=murad_code("cam_localization.py"),
    script:
        "../scripts/cam_localization.py"
