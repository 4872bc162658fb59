"""Only stale results are made again, asserted on the exact job list of `snakemake -n` after one real run.

Snakemake re-runs a job when an output is missing or older than an input (trigger `mtime`), when its params
(`params`: murad passes each model's settings as params computed from the model wildcard), its set of input files
(`input`), its code (`code`) or its software environment (`software-env`) changed since the run that made the
output; whatever consumes a re-run job's output re-runs too. The cases below each write their own config.yaml into
one finished working directory (a dry run changes nothing else), so they share a single real run.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from .conftest import merged, run_snakemake, tiny_config

MODELS = ("mobilenet_v2", "resnet34")
ADDED = "resnet18"
UPSTREAM = {"synthesize_mura", "verify_split", "tuning_split", "cache_images"}  # data, split and caches


class Job(NamedTuple):
    rule: str
    wildcards: tuple[tuple[str, str], ...]  # sorted (name, value) pairs; empty for a gather job

    def models(self) -> set[str]:
        """The models this job belongs to: the wildcard values that are model names."""
        return {value for _, value in self.wildcards if value in (*MODELS, ADDED)}


def planned_jobs(output: str) -> list[Job]:
    """Every job of a dry run, from its `rule NAME:` / `localrule NAME:` blocks and their `wildcards:` lines."""
    jobs: list[Job] = []
    for line in output.splitlines():
        header = re.match(r"^(?:local)?(?:rule|checkpoint) (\S+):$", line)
        if header:
            jobs.append(Job(header.group(1), ()))
            continue
        wildcards = re.match(r"^\s+wildcards: (.+)$", line)
        if wildcards and jobs:
            pairs = (pair.split("=", 1) for pair in wildcards.group(1).split(", "))
            jobs[-1] = Job(jobs[-1].rule, tuple(sorted((name, value) for name, value in pairs)))
    return sorted(jobs)


def dry_run(work: Path, config: dict, *args: str) -> list[Job]:
    result = run_snakemake(work, "-n", *args, config=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return planned_jobs(result.stdout + "\n" + result.stderr)


class Finished(NamedTuple):
    work: Path
    config: dict
    every_job: list[Job]  # the whole pipeline: `snakemake -n --forceall`


@pytest.fixture(scope="module")
def finished(small_mura, tmp_path_factory) -> Finished:
    """One real run of the whole workflow (its default target) on two small models, 64 px, one epoch."""
    work = tmp_path_factory.mktemp("stale")
    shutil.copytree(small_mura, work / "data")
    config = tiny_config(work / "data", {model: None for model in MODELS})
    result = run_snakemake(work, "-c2", config=config, timeout=1200)
    assert result.returncode == 0, result.stderr[-5000:]
    every_job = dry_run(work, config, "--forceall")
    assert {"train", "predict"} <= {job.rule for job in every_job}, every_job
    return Finished(work, config, every_job)


def test_nothing_is_left_to_do_after_the_run(finished):
    result = run_snakemake(finished.work, "-n", config=finished.config)
    assert result.returncode == 0 and planned_jobs(result.stdout + "\n" + result.stderr) == []
    assert "Nothing to be done" in result.stdout + result.stderr


def only_that_model(jobs: list[Job], model: str) -> None:
    """Every planned job is `model`'s own or a gather job; nothing upstream of training; `model` is trained."""
    assert Job("train", (("model", model),)) in jobs, jobs
    for job in jobs:
        assert job.models() <= {model}, f"{job} re-runs although only {model} changed"
        assert job.rule not in UPSTREAM, f"{job} re-runs although only {model} changed"


def test_editing_one_models_settings_reruns_only_that_model(finished):
    config = merged(finished.config, {"training": {"models": {"resnet34": {"lr": 5.0e-4}}}})
    jobs = dry_run(finished.work, config)
    only_that_model(jobs, "resnet34")
    # and every job of that model, down to its metrics and CAMs, since they all follow from its weights
    assert {job for job in finished.every_job if job.models() == {"resnet34"}} <= set(jobs)


def test_adding_a_model_trains_only_that_model(finished):
    config = merged(finished.config, {"training": {"models": {ADDED: None}}})
    jobs = dry_run(finished.work, config)
    only_that_model(jobs, ADDED)


def test_changed_data_reruns_the_whole_pipeline(finished):
    # A MURA index with one image less. (Touching it is not enough: for small files Snakemake compares checksums
    # recorded at the run, and an unchanged file with a new mtime triggers nothing.) A dry run reads nothing else.
    index = finished.work / "data/MURA-v1.1/train_image_paths.csv"
    before, content = index.stat(), index.read_bytes()
    index.write_bytes(b"".join(content.splitlines(keepends=True)[:-1]))
    try:
        jobs = dry_run(finished.work, finished.config)
    finally:
        index.write_bytes(content)
        os.utime(index, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert jobs == finished.every_job


def test_report_styling_redraws_figures_and_cam_grids_only(finished):
    config = merged(finished.config, {"report": {"dpi": finished.config["report"]["dpi"] + 50}})
    jobs = dry_run(finished.work, config)
    # The figures, each model's CAM job (its grid figure is styled too; no training, prediction or metrics), the
    # localisation figure, and the environment record (it holds the resolved config).
    drawing = {"figures", "cam", "cam_localization", "environment", "all"}
    assert jobs == [job for job in finished.every_job if job.rule in drawing]
    assert {job.rule for job in jobs} == drawing
