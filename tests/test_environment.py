"""The venv requirements and the conda environment pin the same versions, and the versions the project needs."""

from __future__ import annotations

import re

import yaml

from .conftest import REPO

REQUIRED = {
    "snakemake": "9.27.1",
    "snakemake-executor-plugin-slurm": "2.8.0",
    "torch": "2.14.1",
    "torchvision": "0.29.1",
}


def pins_from_requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s]+)", line).groups()
            pins[name.lower()] = version
    return pins


def pins_from_conda() -> dict[str, str]:
    environment = yaml.safe_load((REPO / "envs/murad.yaml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    return {name.lower(): version for name, version in (entry.split("==") for entry in pip)}


def test_conda_environment_and_requirements_agree():
    assert pins_from_conda() == pins_from_requirements()


def test_required_pins_and_packages():
    pins = pins_from_requirements()
    for name, version in REQUIRED.items():
        assert pins[name] == version
    for name in ("pandas", "scikit-learn", "seaborn", "pyyaml", "pillow", "pytest"):
        assert name in pins


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in pins_from_requirements().items():
        assert version(name) == pinned, name
