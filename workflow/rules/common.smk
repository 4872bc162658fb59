# Configuration checks and input functions shared by every stage.
from pathlib import Path

from murad.config import validate_config
from murad.mura import RELEASE, SPLITS, image_paths_csv, labeled_studies_csv

validate_config(config, Path(workflow.current_basedir) / "../schemas/config.schema.yaml")

DATA_ROOT = config["dataset"]["root"].rstrip("/")
SPLIT_TABLES = {name: f"results/split/{name}.csv" for name in ("train", "tune", "valid")}


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


def all_outputs():
    return [
        "results/split/table2.csv",
        "results/split/verification.json",
        *SPLIT_TABLES.values(),
    ]
