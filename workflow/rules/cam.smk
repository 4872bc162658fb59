# Stage 6: class activation maps of every model (Grad-CAM for VGG) over MURA valid radiographs, and their
# localisation against the synthetic data's lesion boxes. Report category "5. Class activation maps".


rule cam:
    input:
        unpack(cam_inputs),
    output:
        scores="results/cam/{model}/scores.csv",
        figure=report(
            "results/cam/{model}/figure.png",
            caption="../report/cam_figure.rst",
            category="5. Class activation maps",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "heat maps"},
        ),
        overlays=directory("results/cam/{model}/overlays"),
    log:
        "results/logs/cam/{model}.log",
    retries: GPU_RETRIES
    conda:
        "../../envs/murad.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: EVALUATION_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: EVALUATION_RUNTIME * attempt,
    params:
        root=DATA_ROOT,
        settings=CAM_SETTINGS,
        style=config["report"],
        murad_code=murad_code("cam.py"),
    script:
        "../scripts/cam.py"


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
            subcategory="localisation",
            labels={"model": "all", "figure": "localisation table"},
        ),
        png=report(
            "results/figures/cam_localization.png",
            caption="../report/cam_localization.rst",
            category="5. Class activation maps",
            subcategory="localisation",
            labels={"model": "all", "figure": "localisation"},
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
