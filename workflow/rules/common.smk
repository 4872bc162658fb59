# Configuration checks, input functions and job resources shared by every stage. Nothing here imports torch:
# Snakemake parses this on every command, `snakemake -n` included (pandas it has imported already).
import re
from pathlib import Path

from murad.code_digest import murad_code_digest
from murad.config import ConfigError, is_colormap, validate_config
from murad.external import set_root
from murad.families import UnknownFamily, family_of, other_kind, size_problem
from murad.subgroups import KIND_SUBGROUPS
from murad.mura import RELEASE, SPLITS, image_paths_csv, labeled_studies_csv
from murad.result_names import (
    BEST_PER_BODY_PART,
    FIGURE_FORMATS,
    FIGURES,
    TABLE_FORMATS,
    TABLES,
    run_model,
    seed_run,
    top_k_name,
)
from murad.torchvision_catalog import is_classification_model, model_size, weights_file

# Nested `--config` values arrive from the command line as text; they are read by the schema's types.
validate_config(
    config, Path(workflow.current_basedir) / "../schemas/config.schema.yaml", overrides=workflow.config_settings.config
)

for _name in config["training"]["models"]:
    try:
        if other_kind(_name) is None and not is_classification_model(_name):
            raise ConfigError(f"config key training.models.{_name}: not a torchvision classification model")
        family_of(_name)  # a video, detection or quantized model, or one of a family the registry lacks: one line
    except UnknownFamily as _error:
        raise ConfigError(f"config key training.models.{_name}: {_error}") from None
if not is_colormap(config["cam"]["colormap"]):
    raise ConfigError(f"config key cam.colormap: {config['cam']['colormap']!r} is not a matplotlib colour map name")
for _name in config["only_models"] or []:
    if _name not in config["training"]["models"]:
        raise ConfigError(f"config key only_models: {_name} is not one of training.models")

# The models this run trains, evaluates and reports: only_models (e.g. from --config), or all of training.models.
MODELS = sorted(config["only_models"] or config["training"]["models"])

# Training runs: each model with the first of training.seeds under its own name (whose weights give the predictions,
# ensembles and CAMs), and with every further seed as <model>_seed<k>, trained, predicted and measured like a model.
SEEDS = config["training"]["seeds"]
SEED_RUNS = [seed_run(model, seed) for model in MODELS for seed in SEEDS[1:]]
RUNS = MODELS + SEED_RUNS

# The models that get class activation maps (cam.smk): those of cam.models that this run trains, or all of them.
for _name in config["cam"]["models"] or []:
    if _name not in config["training"]["models"]:
        raise ConfigError(f"config key cam.models: {_name} is not one of training.models")
CAM_MODELS = sorted(set(config["cam"]["models"] or MODELS) & set(MODELS))

# Ensembles of the trained models (chosen on the tuning split), evaluated and tabulated like models.
ENSEMBLE_TOP_K = min(config["evaluation"]["ensemble_top_k"], len(MODELS))
ENSEMBLES = sorted([BEST_PER_BODY_PART, top_k_name(ENSEMBLE_TOP_K)]) if len(MODELS) >= 2 else []
EVALUATED = MODELS + ENSEMBLES

# External test sets (external.smk), by name: every trained model (its first seed's run) and ensemble predicts each.
# The synthetic site's files are the workflow's own (synthesize_site makes them); any other set's must exist.
SYNTHETIC_SITE = "results/data/synthetic_site"
SYNTHETIC_SITE_FILES = {"studies": f"{SYNTHETIC_SITE}/studies.csv", "boxes": f"{SYNTHETIC_SITE}/boxes.json"}
EXTERNAL = sorted(config["external"])
for _name, _set in sorted(config["external"].items()):
    for _key in ("studies", "boxes"):
        _path = _set.get(_key)
        if _path is not None and _path != SYNTHETIC_SITE_FILES[_key] and not Path(_path).exists():
            raise ConfigError(f"config key external.{_name}.{_key}: {_path}: no such file or folder")
for _name, _path in sorted(config["evaluation"]["subgroups"].items()):
    if not Path(_path).is_file():
        raise ConfigError(f"config key evaluation.subgroups.{_name}: {_path}: no such file")
    if config["dataset"]["source"] == "synthetic" and _name in KIND_SUBGROUPS:
        raise ConfigError(f"config key evaluation.subgroups.{_name}: a subgroup of that name comes with the data")


def _alternatives(names):
    """A wildcard constraint matching exactly ``names`` (and nothing when there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    model=_alternatives(RUNS),  # a model, or a model's run with a further seed
    name=_alternatives(EVALUATED + SEED_RUNS),  # that, or an ensemble (the metrics rule)
    set=_alternatives(EXTERNAL),  # an external test set
    size=r"\d+",


def murad_code(script):
    """A digest of the murad code the rule's script runs (every rule's `murad_code` param): when it changes,
    Snakemake re-runs the rule, as it does when the script itself changes. Comments, docstrings and formatting do
    not count (murad/code_digest.py). The digests are kept in the working directory's .snakemake/ beside
    Snakemake's own records, so a command that finds the code's files as they were takes them from there."""
    return murad_code_digest(
        Path(workflow.basedir) / "workflow/scripts" / script,
        Path(workflow.basedir) / "murad",
        cache=".snakemake/murad_code_digests.json",
    )


DATA_ROOT = config["dataset"]["root"].rstrip("/")
SPLIT_NAMES = ("train", "tune", "valid")
SPLIT_TABLES = {name: f"results/split/{name}.csv" for name in SPLIT_NAMES}


def mura_index_files():
    """The four CSV files of MURA-v1.1 under the dataset root, by name."""
    files = {}
    for split in SPLITS:
        files[f"{split}_images"] = f"{DATA_ROOT}/{image_paths_csv(split)}"
        files[f"{split}_studies"] = f"{DATA_ROOT}/{labeled_studies_csv(split)}"
    return files


def dataset_root(index_file):
    """The folder that contains MURA-v1.1/, from the path of one of its index files or of lesions.csv."""
    path = Path(index_file)
    return str(path.parent.parent if path.parent.name == RELEASE else path.parent)


def model_settings(run):
    """The training settings of one training run (a model, or a model's run with a further seed): the shared
    defaults with the model's own overrides and the run's seed (a job's params)."""
    model, seed = run_model(run)
    overrides = config["training"]["models"][model] or {}
    return {**config["training"]["defaults"], **overrides, "seed": SEEDS[0] if seed is None else seed}


# Each model's input size, checked against its family's before any job runs (ViT: multiples of its patch, ...).
for _name in config["training"]["models"]:
    _problem = size_problem(_name, model_settings(_name)["image_size"])
    if _problem is not None:
        raise ConfigError(f"config key training.models.{_name}.image_size: {_problem}")


def training_inputs(wildcards):
    size = model_settings(wildcards.model)["image_size"]
    return {
        **{f"{name}_table": SPLIT_TABLES[name] for name in ("train", "tune")},
        **{f"{name}_cache": f"results/cache/{name}_{size}px.npy" for name in ("train", "tune")},
    }


def prediction_inputs(wildcards):
    size = model_settings(wildcards.model)["image_size"]
    return {
        "model": f"results/models/{wildcards.model}/model.pt",
        "valid_table": SPLIT_TABLES["valid"],
        "valid_cache": f"results/cache/valid_{size}px.npy",
    }


def external_set_files(wildcards):
    """An external set's studies (CSV or folder) and, where it has them, its boxes."""
    given = config["external"][wildcards.set]
    return {"studies": given["studies"], **({"boxes": given["boxes"]} if given.get("boxes") else {})}


def external_root(name):
    """The folder an external set's image paths are relative to."""
    return str(set_root(config["external"][name]["studies"]))


def external_prediction_inputs(wildcards):
    """A model's prediction job on an external set: the model, the set's checked tables and its cache at the
    model's size."""
    size = model_settings(wildcards.model)["image_size"]
    return {
        "model": f"results/models/{wildcards.model}/model.pt",
        "images": f"results/external/{wildcards.set}/images.csv",
        "boxes": f"results/external/{wildcards.set}/boxes.csv",
        "cache": f"results/cache/external/{wildcards.set}_{size}px.npy",
    }


def subgroup_inputs(wildcards):
    """MURA valid's studies of every model and ensemble, the lesion boxes (synthetic: the abnormality kinds) and the
    configured subgroups' CSVs."""
    inputs = {"valid": [valid_studies(name) for name in EVALUATED], "subgroups": SUBGROUP_FILES}
    if config["dataset"]["source"] == "synthetic":
        inputs["lesions"] = f"{DATA_ROOT}/lesions.csv"
    return inputs


SUBGROUP_NAMES = sorted(config["evaluation"]["subgroups"])
SUBGROUP_FILES = [config["evaluation"]["subgroups"][name] for name in SUBGROUP_NAMES]


def cam_inputs(wildcards):
    """A CAM job's inputs: the prediction job's (model, MURA valid's table and cache), and the lesion boxes if
    synthetic."""
    inputs = prediction_inputs(wildcards)
    if config["dataset"]["source"] == "synthetic":
        inputs["lesions"] = f"{DATA_ROOT}/lesions.csv"
    return inputs


# The CAM jobs' settings (their params), the cam section less the model list (choosing models re-runs no CAM):
# what only the drawing uses goes to cam_figures, the rest to cam_maps, so a new colour map re-runs no CNN.
CAM_DRAWING_KEYS = ("per_body_part", "alpha", "colormap")
CAM_MAP_SETTINGS = {key: value for key, value in config["cam"].items() if key not in ("models", *CAM_DRAWING_KEYS)}
CAM_DRAWING_SETTINGS = {key: config["cam"][key] for key in CAM_DRAWING_KEYS}
# What the CAMs of an external set's boxed images need (predict_external): its maps' batch size and the pointing
# tolerance; which images is given by the set's boxes.
CAM_EXTERNAL_SETTINGS = {key: config["cam"][key] for key in ("batch_size", "tolerance")}


# --- What each job asks of a cluster, as rule-level resources (a site's profile keeps its `default-resources` and
# `set-resources`, which a workflow profile would replace as a whole; see profiles/default/config.yaml).
# train, predict and cam_maps run a CNN: one GPU each (`gpu=1` -> sbatch --gpus=1) and the memory and runtime
# below. A failed one is submitted again (`retries`: killed at its walltime, preempted, out of memory) with its
# runtime, and for predict and cam_maps its memory, times the attempt; training resumes from its checkpoint. Every
# other job is a light CPU job with the site's default resources, bundled on a cluster into group jobs (`group:`):
# `prepare` (data, verification, tuning split, caches), one `evaluate_<model>` per model (its study aggregation,
# metrics and calibration) and `summary` (ensembles, their metrics, the comparison with the best, tables, figures,
# environment); each model's CAM figures and the CAM localization are jobs of their own. Each group job needs at most
# 2 CPUs (its steps that can run side by side; `prepare` 2 more for each further image size), so it fits any node.
GPU_RETRIES = 2
# Where train, predict and cam_maps read their image caches from (config node_local_cache, expanded on the node): a
# resource, not a param, since it changes no result; so setting it re-runs no job that computes one.
NODE_LOCAL_CACHE = {"node_local_cache": config["node_local_cache"]} if config["node_local_cache"] else {}
EVALUATION_MEM_MB = 8000  # a predict or CAM job (per attempt)
EVALUATION_RUNTIME = 60  # minutes, a predict or CAM job (per attempt); on the full MURA valid they take minutes
DECODING_MEM_MB = 4000  # the light rules that decode every radiograph (synthesis, verification, caches)


def metrics_group(wildcards):
    """A model's metrics run in that model's `evaluate_<model>` group job, an ensemble's in `summary` (after the
    ensembles job that makes its studies)."""
    return "summary" if wildcards.name in ENSEMBLES else f"evaluate_{wildcards.name}"


def heavy_model(model):
    """Models with over 50 M parameters (Adam keeps three copies) or 7.5 GFLOPs a forward pass: the VGGs,
    ResNet-101/152, ResNeXt-101 and DenseNet-161 of the paper's 18 need the most memory and time."""
    parameters, gflops = model_size(run_model(model)[0])
    return parameters > 50 or gflops > 7.5


def training_mem_mb(model):
    """Memory for a training job (resumed ones too: the checkpoint holds the same model and optimizer)."""
    return 12000 if heavy_model(model) else 6000


def training_runtime(model, attempt):
    """Walltime in minutes for a training job (used on clusters), longer with every attempt.

    About 5 minutes per epoch of full MURA at 320 px on one GPU (10 for the heavy models),
    scaled by image area, plus 30 for start-up and evaluation. A retry (after a walltime kill, say) resumes from
    the job's checkpoint and gets attempt times the time, so it finishes what the first attempt could not.
    """
    settings = model_settings(model)
    per_epoch = 10 if heavy_model(model) else 5
    minutes = settings["epochs"] * per_epoch * (settings["image_size"] / 320) ** 2
    return int(attempt * (30 + minutes))


def imagenet_weights_file(model):
    return weights_file(model, config["training"]["hub_dir"])


def valid_studies(name):
    """MURA valid's study predictions of a model or an ensemble."""
    if name in ENSEMBLES:
        return f"results/ensembles/{name}/studies.csv"
    return f"results/predictions/{name}/studies.csv"


def ensemble_members():
    """The ensembles' member table, when there are ensembles (two or more models)."""
    return ["results/ensembles/members.csv"] if ENSEMBLES else []


def comparisons_with_best():
    """Every model and ensemble against the best on the tuning split, when there are two or more models."""
    return ["results/comparisons/vs_best.csv"] if len(MODELS) >= 2 else []


def all_outputs():
    return [
        "results/split/table2.csv",
        "results/split/verification.json",
        *SPLIT_TABLES.values(),
        *expand("results/metrics/{name}.csv", name=EVALUATED + SEED_RUNS),
        *expand("results/predictions/{model}/tune_studies.csv", model=MODELS),
        *expand("results/models/{model}/operating_points.json", model=MODELS),
        *expand("results/tables/table{n}.{ext}", n=TABLES, ext=TABLE_FORMATS),
        *expand("results/figures/{name}.{ext}", name=FIGURES, ext=FIGURE_FORMATS),
        *expand("results/cam/{model}/{name}", model=CAM_MODELS, name=("scores.csv", "figure.png")),
        "results/cam/localization.csv",
        "results/cam/localization.md",
        "results/cam/localization.html",
        *expand("results/figures/cam_localization.{ext}", ext=("png", "svg")),
        *expand("results/metrics/external/{set}/{name}.csv", set=EXTERNAL, name=EVALUATED),
        *expand("results/cam/external/{set}/localization.csv", set=EXTERNAL),
        *expand("results/tables/table{n}.{ext}", n=(6, 7), ext=TABLE_FORMATS),
        *expand("results/figures/generalisation.{ext}", ext=FIGURE_FORMATS),
        "results/metrics/subgroups.csv",
        "results/report/environment.csv",
        "results/report/config.yaml",
    ]
