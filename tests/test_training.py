"""Training for real: two small models through the workflow, reproducibility, and resuming after SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from murad.config import validate_config
from murad.data import Normaliser, build_cache
from murad.inference import image_probabilities, load_trained
from murad.split import tuning_split
from murad.train import (
    HISTORY_COLUMNS,
    TrainingOutputs,
    TrainSettings,
    loss_weights,
    train_model,
)
from murad.verify import verify_dataset

from .conftest import REPO, default_config, merged, run_snakemake

TIMING = ["seconds", "images_per_second"]


def schema_training_defaults() -> dict:
    """The training defaults (the paper's recipe) as the schema gives them to every config."""
    minimal = {"dataset": {"source": "mura", "root": "unused"}, "training": {"models": {"resnet18": None}}}
    return validate_config(minimal, REPO / "workflow/schemas/config.schema.yaml")["training"]["defaults"]


SMALL_RUN = schema_training_defaults() | {"image_size": 64, "batch_size": 8, "lr": 1e-3, "weights": "none", "seed": 4}


def tiny_training_config(data_root: Path) -> dict:
    config = merged(
        default_config(),
        {
            "dataset": {"source": "mura", "root": str(data_root)},
            "training": {"defaults": {"image_size": 64, "batch_size": 16, "epochs": 1}},
        },
    )
    # the two models alone: the demo's others (inception_v3 takes 75 px and more) are not configured at 64 px
    config["training"]["models"] = {"mobilenet_v2": {"epochs": 2}, "resnet34": None}
    return config


@pytest.fixture(scope="module")
def prepared(small_mura, tmp_path_factory):
    """Split tables and 64-px caches of the small synthetic MURA."""
    folder = tmp_path_factory.mktemp("prepared")
    images, _ = verify_dataset(small_mura, check_files=False)
    tables = tuning_split(images, fraction=0.25, seed=0)
    paths = {}
    for name in ("train", "tune"):
        tables[name].to_csv(folder / f"{name}.csv", index=False)
        build_cache(tables[name], small_mura, 64, folder / f"{name}.npy")
        paths[name] = (folder / f"{name}.csv", folder / f"{name}.npy")
    return paths


def test_two_small_models_train_through_the_workflow(small_mura, tmp_path):
    result = run_snakemake(
        tmp_path,
        "-c2",
        "results/metrics/mobilenet_v2.csv",
        "results/models/resnet34/model.pt",
        config=tiny_training_config(small_mura),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check_predictions_and_metrics(tmp_path, small_mura)
    for name, epochs in (("mobilenet_v2", 2), ("resnet34", 1)):
        folder = tmp_path / "results/models" / name
        record = torch.load(folder / "model.pt", weights_only=True)
        assert record["model"] == name and record["settings"]["epochs"] == epochs
        history = pd.read_csv(folder / "history.csv")
        assert list(history.columns) == HISTORY_COLUMNS
        assert list(history["epoch"]) == list(range(1, epochs + 1))
        meta = json.loads((folder / "meta.json").read_text())
        for key in (
            "parameters",
            "training_seconds",
            "epochs_run",
            "device",
            "torch",
            "torchvision",
            "seed",
            "git_commit",
        ):
            assert key in meta
        assert meta["epochs_run"] == epochs
        assert not (folder / "checkpoint.pt").exists()
        log = (tmp_path / f"results/logs/train/{name}.log").read_text()
        assert f"{name} epoch {epochs}/{epochs} train_loss" in log and "ETA" in log
        assert (tmp_path / f"results/benchmarks/train/{name}.tsv").exists()
    assert (tmp_path / "results/cache/train_64px.npy").exists()

    # Editing one model's settings re-runs only that model.
    config = tiny_training_config(small_mura)
    config["training"]["models"]["resnet34"] = {"lr": 5.0e-4}
    dry = run_snakemake(
        tmp_path, "-n", "results/models/mobilenet_v2/model.pt", "results/models/resnet34/model.pt", config=config
    )
    assert "resnet34" in dry.stdout and "wildcards: model=mobilenet_v2" not in dry.stdout
    assert "train" in dry.stdout and "cache_images" not in dry.stdout


def check_predictions_and_metrics(work: Path, data_root: Path) -> None:
    """Predictions cover MURA valid and tune; ``murad metrics`` on the studies gives the pipeline's numbers."""
    folder = work / "results/predictions/mobilenet_v2"
    images = pd.read_csv(folder / "images.csv")
    valid = pd.read_csv(work / "results/split/valid.csv")
    assert list(images.columns) == ["path", "patient", "study", "body_part", "label", "prob"]
    assert list(images["path"]) == list(valid["path"]) and images["prob"].between(0, 1).all()
    # Training wrote the chosen epoch's tuning probabilities: the same as predicting the tuning split with model.pt.
    tune = pd.read_csv(work / "results/models/mobilenet_v2/tune_predictions.csv")
    assert list(tune["path"]) == list(pd.read_csv(work / "results/split/tune.csv")["path"])
    model, _ = load_trained(work / "results/models/mobilenet_v2/model.pt")
    again = image_probabilities(
        model, np.load(work / "results/cache/tune_64px.npy"), Normaliser(torch.device("cpu")), 16
    )
    np.testing.assert_allclose(tune["prob"], again, atol=2e-6)
    assert pd.read_csv(folder / "tune_studies.csv")["study"].tolist() == sorted(set(tune["study"]))
    studies = pd.read_csv(folder / "studies.csv")
    assert list(studies.columns) == ["study", "patient", "body_part", "label", "prob", "pred"]
    assert len(studies) == valid["study"].nunique()
    cli_out = work / "cli_metrics.csv"
    murad = Path(sys.executable).with_name("murad")
    done = subprocess.run(
        [str(murad), "metrics", str(folder / "studies.csv"), "--out", str(cli_out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    pipeline = (work / "results/metrics/mobilenet_v2.csv").read_bytes()
    assert cli_out.read_bytes() == pipeline
    metrics = pd.read_csv(work / "results/metrics/mobilenet_v2.csv")
    assert metrics["scope"].iloc[0] == "overall" and len(metrics) == 8


OUTPUT_NAMES = ("model.pt", "history.csv", "meta.json", "tune_predictions.csv", "checkpoint.pt")


def train_once(prepared, out_dir, epochs=2, model="mobilenet_v2", deterministic=True):
    frames = {n: pd.read_csv(prepared[n][0]) for n in prepared}
    caches = {n: np.load(prepared[n][1], mmap_mode="r") for n in prepared}
    settings = TrainSettings(**(SMALL_RUN | {"epochs": epochs, "deterministic": deterministic}))
    outputs = TrainingOutputs(*(Path(out_dir) / name for name in OUTPUT_NAMES))
    train_model(model, settings, frames["train"], caches["train"], frames["tune"], caches["tune"], outputs, threads=1)
    return pd.read_csv(Path(out_dir) / "history.csv")


def test_same_seed_same_threads_gives_identical_history(prepared, tmp_path):
    first = train_once(prepared, tmp_path / "a")
    second = train_once(prepared, tmp_path / "b")
    pd.testing.assert_frame_equal(first.drop(columns=TIMING), second.drop(columns=TIMING))
    a = torch.load(tmp_path / "a/model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b/model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_deterministic_setting_is_set_in_the_run_recorded_and_changes_no_history_on_a_cpu(prepared, tmp_path):
    assert SMALL_RUN["deterministic"] is True  # the schema's default
    on = train_once(prepared, tmp_path / "on")
    off = train_once(prepared, tmp_path / "off", deterministic=False)
    pd.testing.assert_frame_equal(on.drop(columns=TIMING), off.drop(columns=TIMING))
    flags = {
        folder: json.loads((tmp_path / folder / "meta.json").read_text())["determinism"] for folder in ("on", "off")
    }
    assert flags["on"] == {  # read back from torch inside the run
        "deterministic": True,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "deterministic_algorithms": True,
        "cublas_workspace_config": ":4096:8",
    }
    assert flags["off"] == {
        "deterministic": False,
        "cudnn_deterministic": False,
        "cudnn_benchmark": False,  # benchmark mode is for a GPU
        "deterministic_algorithms": False,
        "cublas_workspace_config": None,
    }
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run
    assert json.loads((tmp_path / "on/meta.json").read_text())["settings"]["deterministic"] is True


def test_a_model_outside_the_paper_trains_and_reloads_with_its_module_versions(prepared, tmp_path):
    # mnasnet refuses a state dict without its version metadata, so model.pt must keep it.
    train_once(prepared, tmp_path, epochs=1, model="mnasnet0_5")
    model, record = load_trained(tmp_path / "model.pt")
    assert record["state_dict"]._metadata[""]["version"] >= 1
    tune = pd.read_csv(prepared["tune"][0])
    probs = image_probabilities(model, np.load(prepared["tune"][1]), Normaliser(torch.device("cpu")), 8)
    saved = pd.read_csv(tmp_path / "tune_predictions.csv")
    assert list(saved["path"]) == list(tune["path"])
    np.testing.assert_allclose(saved["prob"], probs, atol=2e-6)


RUNNER = textwrap.dedent(
    """
    import json, sys
    from murad.jobs.train import train
    from murad.job_runner import run_logged
    paths = {"train": (sys.argv[1], sys.argv[2]), "tune": (sys.argv[3], sys.argv[4])}
    settings = json.loads(sys.argv[7])
    run_logged(train, sys.argv[6], model="mobilenet_v2", settings=settings,
               tables={n: paths[n][0] for n in paths}, caches={n: paths[n][1] for n in paths},
               **{f"{kind}_{ext}": f"{sys.argv[5]}/{kind}.{ext}" for kind, ext in
                  (("history", "csv"), ("meta", "json"), ("tune_predictions", "csv"))},
               model_pt=sys.argv[5] + "/model.pt", checkpoint=sys.argv[5] + "/checkpoint.pt", hub_dir="unused",
               threads=1)
    """
)


def start_training(prepared, out_dir: Path, log: Path) -> subprocess.Popen:
    args = [str(p) for n in ("train", "tune") for p in prepared[n]]
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args, str(out_dir), str(log), json.dumps(SMALL_RUN | {"epochs": 4})],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigterm_then_rerun_resumes_and_matches_an_uninterrupted_run(prepared, tmp_path):
    straight = start_training(prepared, tmp_path / "straight", tmp_path / "straight.log")
    assert straight.wait(timeout=600) == 0

    log = tmp_path / "interrupted.log"
    first = start_training(prepared, tmp_path / "interrupted", log)
    deadline = time.time() + 300
    while "epoch 1/4" not in (log.read_text() if log.exists() else ""):
        assert time.time() < deadline and first.poll() is None, "training did not reach epoch 1"
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=300) == 143  # stopped, checkpoint saved
    assert (tmp_path / "interrupted/checkpoint.pt").exists()
    assert not (tmp_path / "interrupted/model.pt").exists()
    assert "checkpoint saved" in log.read_text()

    second = start_training(prepared, tmp_path / "interrupted", log)
    assert second.wait(timeout=600) == 0
    resumed = log.read_text()
    assert "resuming mobilenet_v2 from its checkpoint: epoch 2" in resumed
    assert "epoch 1/4" not in resumed  # the second run's log starts afresh and has no first epoch again

    history = pd.read_csv(tmp_path / "interrupted/history.csv")
    reference = pd.read_csv(tmp_path / "straight/history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(history.drop(columns=TIMING), reference.drop(columns=TIMING), atol=1e-6)
    a = torch.load(tmp_path / "interrupted/model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "straight/model.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key


def test_weighted_loss_follows_the_mura_paper_from_training_counts_only():
    train = pd.DataFrame({"body_part": ["hand"] * 4 + ["wrist"] * 2, "label": [1, 0, 0, 0, 1, 0]})
    weights = loss_weights(train, weighted=True)
    # hand: 1 abnormal of 4 -> w_abnormal = 3/4, w_normal = 1/4; wrist: 1 of 2 -> 1/2 each
    assert weights.tolist() == [0.75, 0.25, 0.25, 0.25, 0.5, 0.5]
    assert loss_weights(train, weighted=False).tolist() == [1] * 6


def test_imagenet_weights_missing_offline_stop_the_job_with_one_line(small_mura, tmp_path):
    config = tiny_training_config(small_mura)
    config["training"]["models"] = {"resnet34": {"weights": "imagenet"}}
    config["training"]["hub_dir"] = str(tmp_path / "hub")
    result = run_snakemake(tmp_path / "work", "-c2", "results/models/resnet34/model.pt", config=config)
    assert result.returncode != 0
    log = (tmp_path / "work/results/logs/train/resnet34.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert str(tmp_path / "hub/checkpoints/resnet34-b627a593.pth") in errors[0] and "stage_weights" in errors[0]
    assert "epoch" not in log
    assert not (tmp_path / "work/results/models/resnet34/model.pt").exists()


def test_unknown_model_names_are_refused_before_anything_runs(small_mura, tmp_path):
    config = tiny_training_config(small_mura)
    config["training"]["models"] = {"densenet122": None}
    result = run_snakemake(tmp_path, "-n", config=config)
    assert result.returncode != 0
    assert (
        "config key training.models.densenet122: not a torchvision classification model"
        in result.stdout + result.stderr
    )
