# Stage 1: synthesise the built-in MURA-v1.1 (dataset.source: synthetic) or use a real download (source: mura),
# whose four index CSVs are then plain inputs of the verification stage.


if config["dataset"]["source"] == "synthetic":

    rule synthesize_mura:
        output:
            **mura_index_files(),
            lesions=f"{DATA_ROOT}/lesions.csv",
        log:
            "results/logs/synthesize_mura.log",
        benchmark:
            "results/benchmarks/synthesize_mura.tsv"
        group:
            "prepare"
        conda:
            "../../envs/murad.yaml"
        threads: 2
        resources:
            mem_mb=DECODING_MEM_MB,
        params:
            root=lambda wildcards, output: dataset_root(output.lesions),
            settings=config["synthetic"],
            murad_code=murad_code("synthesize_mura.py"),
        script:
            "../scripts/synthesize_mura.py"


# The synthetic external site, made when an external set names its files (the default demo's config does):
# another seed, body-part mix, image sizes and detector, as 12-bit MONOCHROME1 DICOM with COCO boxes.
rule synthesize_site:
    output:
        studies=SYNTHETIC_SITE_FILES["studies"],
        boxes=SYNTHETIC_SITE_FILES["boxes"],
        images=directory(f"{SYNTHETIC_SITE}/images"),
    log:
        "results/logs/synthesize_site.log",
    priority: 50
    group:
        "prepare"
    conda:
        "../../envs/murad.yaml"
    threads: 2
    resources:
        mem_mb=DECODING_MEM_MB,
    params:
        settings=config["synthetic_site"],
        murad_code=murad_code("synthesize_site.py"),
    script:
        "../scripts/synthesize_site.py"
