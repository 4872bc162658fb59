"""Shared fixtures: a small synthetic MURA-v1.1 made once per session, and running the real Snakemake."""

from __future__ import annotations

import ast
import copy
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from murad.synthetic import SyntheticSettings, generate

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SMALL = SyntheticSettings(seed=3, train_studies=40, valid_studies=30)


def fake_trained_model(path, name="mobilenet_v2", size=64):
    """A ``model.pt`` as training writes it, with untrained weights."""
    import torch

    from murad.models import build_model, model_spec

    torch.manual_seed(0)
    model = build_model(name, "none", image_size=size)
    settings = {"image_size": size, "weights": "none"}
    torch.save(
        {"model": name, "state_dict": model.state_dict(), "settings": settings, "spec": asdict(model_spec(name))}, path
    )


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def merged(base: dict, overrides: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def tiny_config(data_root: Path, models: dict) -> dict:
    """The default config at test speed on a small MURA-v1.1 (64 px, 1 epoch, 10 bootstrap repetitions, one thread),
    training exactly ``models`` (``merged`` would keep the default 18 beside them)."""
    config = merged(
        default_config(),
        {
            "dataset": {"source": "mura", "root": str(data_root)},
            "split": {"tune_fraction": 0.3},  # every body part of the small MURA in the tuning split (ensembles)
            "evaluation": {"bootstrap": 10},
            "training": {"threads": 1, "defaults": {"image_size": 64, "batch_size": 16, "epochs": 1}},
        },
    )
    config["training"]["models"] = models
    return config


def snakemake_command(workdir: Path, *args: str, project: Path = REPO) -> list[str]:
    """The Snakefile of ``project`` (default: this checkout) run in ``workdir`` (with the config.yaml there)."""
    return [str(SNAKEMAKE), "--snakefile", str(project / "Snakefile"), "--directory", str(workdir), *args]


def snakemake_again(workdir: Path, *args: str, timeout: int = 900, project: Path = REPO) -> subprocess.CompletedProcess:
    """Snakemake in an already configured ``workdir`` (its config.yaml kept)."""
    return subprocess.run(
        snakemake_command(workdir, *args, project=project), capture_output=True, text=True, timeout=timeout
    )


def run_snakemake(workdir: Path, *args: str, config: dict | None = None, timeout: int = 900, project: Path = REPO):
    """Run the Snakefile of ``project`` in ``workdir`` with ``config`` (default: the repository's) as config.yaml."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config if config is not None else default_config()))
    return snakemake_again(workdir, *args, timeout=timeout, project=project)


def project_copy(destination: Path) -> Path:
    """A copy of this checkout as a user's clone holds it (tracked files and untracked ones git does not ignore; no
    venv, results or .git), for tests that run `snakemake` from a project root or edit the project's code."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.split("\0")):
            source = REPO / name
            if source.is_file():  # (a tracked file deleted in the working tree is listed too)
                (destination / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination / name)
    else:  # not a git checkout
        shutil.copytree(
            REPO,
            destination,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".git", ".venv", "results", ".snakemake", "__pycache__", ".pytest_cache"),
        )
    return destination


def add_statement(path: Path, function: str, line: str = "_edited = 1") -> None:
    """Add ``line`` to the module at ``path`` as the last statement of ``function`` (a top-level function, or a
    method as ``Class.method``): an edit of that function's code and of nothing else."""
    source = path.read_text()
    node = ast.parse(source)
    for part in function.split("."):
        node = next(child for child in node.body if getattr(child, "name", None) == part)
    lines = source.splitlines(keepends=True)
    lines.insert(node.body[-1].end_lineno, " " * node.body[0].col_offset + line + "\n")
    path.write_text("".join(lines))


@pytest.fixture(scope="session")
def small_mura(tmp_path_factory) -> Path:
    """A small synthetic MURA-v1.1 (do not modify: copy it with ``mura_copy``)."""
    root = tmp_path_factory.mktemp("small_mura")
    generate(root, SMALL, workers=2)
    return root


@pytest.fixture
def mura_copy(small_mura, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(small_mura, root)
    return root


PIPELINE_MODELS = ("mobilenet_v2", "resnet34")


def tiny_pipeline_config(data_root: Path) -> dict:
    return merged(
        tiny_config(data_root, {"mobilenet_v2": {"epochs": 2}, "resnet34": None}),
        {"evaluation": {"bootstrap": 100}, "cam": {"per_body_part": 1}},
    )


@pytest.fixture(scope="session")
def pipeline(small_mura, tmp_path_factory) -> Path:
    """One full run of the default target on the tiny config (two models, 64 px), shared by the tests that need a
    finished pipeline (read it; test_report re-runs its gathers in place, byte-identical)."""
    workdir = tmp_path_factory.mktemp("pipeline")
    result = run_snakemake(workdir, "-c2", config=tiny_pipeline_config(small_mura), timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir
