"""Only stale results are made again, asserted on the exact job list of `snakemake -n` after one real run.

Snakemake re-runs a job when an output is missing or older than an input (trigger `mtime`), when its params
(`params`: murad passes each model's settings as params computed from the model wildcard, and the digest of the
murad code the rule's script runs as `murad_code`), its set of input files (`input`), its script (`code`) or its
software environment (`software-env`) changed since the run that made the output; whatever consumes a re-run job's
output re-runs too. The session's finished run (conftest's ``pipeline``) is copied into a copy of the project, so that
the cases can edit its code; each case writes its own config.yaml or edits one file and puts it back (a dry run
changes nothing else), so they share that one real run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from .conftest import PIPELINE_MODELS, add_statement, merged, project_copy, run_snakemake

MODELS = PIPELINE_MODELS
ADDED = "resnet18"
UPSTREAM = {"synthesize_mura", "verify_dataset", "tuning_split", "cache_images"}  # data, split and caches
EXTERNAL_SET = {"synthesize_site", "verify_external", "cache_external"}  # the default's external set, made and checked


class Job(NamedTuple):
    rule: str
    wildcards: tuple[tuple[str, str], ...]  # sorted (name, value) pairs; empty for a gather job

    def models(self) -> set[str]:
        """The models this job belongs to: the wildcard values that are model names."""
        return {value for _, value in self.wildcards if value in (*MODELS, ADDED)}


def planned_jobs(output: str) -> list[Job]:
    """Every job of a dry run, from its `rule NAME:` / `localrule NAME:` blocks and their `wildcards:` lines (a group
    job's, indented under `Group job NAME`, too)."""
    jobs: list[Job] = []
    for line in output.splitlines():
        header = re.match(r"^\s*(?:local)?(?:rule|checkpoint) (\S+):$", line)
        if header:
            jobs.append(Job(header.group(1), ()))
            continue
        wildcards = re.match(r"^\s+wildcards: (.+)$", line)
        if wildcards and jobs:
            pairs = (pair.split("=", 1) for pair in wildcards.group(1).split(", "))
            jobs[-1] = Job(jobs[-1].rule, tuple(sorted((name, value) for name, value in pairs)))
    return sorted(jobs)


def dry_run(work: Path, config: dict, *args: str) -> list[Job]:
    """The jobs `snakemake -n` plans in ``work``, a project copy, with ``config`` as its config.yaml."""
    result = run_snakemake(work, "-n", *args, config=config, project=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return planned_jobs(result.stdout + "\n" + result.stderr)


class Finished(NamedTuple):
    work: Path  # a copy of the project, its pipeline run
    config: dict
    data: Path  # the MURA the run read: the session's small MURA (an edit puts it back as it was)
    every_job: list[Job]  # the whole pipeline: `snakemake -n --forceall`


@pytest.fixture(scope="module")
def finished(pipeline, tmp_path_factory) -> Finished:
    """The session's one real run of the whole workflow (its default target; conftest's ``pipeline``: two small models,
    64 px) with its config, results and Snakemake's records, in a copy of the project that the cases may edit. The
    copies keep their files' times, so the copied code is as much older than the results as the checkout's is."""
    work = project_copy(tmp_path_factory.mktemp("stale"))
    for part in ("results", ".snakemake"):
        shutil.copytree(pipeline / part, work / part, symlinks=True)
    shutil.copy2(pipeline / "config.yaml", work / "config.yaml")
    config = yaml.safe_load((work / "config.yaml").read_text())
    assert tuple(config["training"]["models"]) == MODELS
    every_job = dry_run(work, config, "--forceall")
    assert {"train", "predict"} <= {job.rule for job in every_job}, every_job
    return Finished(work, config, Path(config["dataset"]["root"]), every_job)


@contextmanager
def edited(path: Path, edit: Callable[[Path], None]):
    """``path`` changed by ``edit`` for the block, then put back as it was (content and modification time)."""
    before, content = path.stat(), path.read_bytes()
    edit(path)
    assert path.read_bytes() != content
    try:
        yield
    finally:
        path.write_bytes(content)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_nothing_is_left_to_do_after_the_run(finished):
    assert dry_run(finished.work, finished.config) == []
    # every rule's code digest is kept for the next command (README, "What re-runs"): one per rule of this copy
    cache = json.loads((finished.work / ".snakemake/murad_code_digests.json").read_text())
    scripts = {path.name for path in (finished.work / "workflow/scripts").glob("*.py")}
    assert finished.config["dataset"]["source"] == "mura"
    scripts.remove("synthesize_mura.py")  # (its rule is defined for synthetic data only: data.smk)
    assert len(cache["scripts"]) == len(scripts) > 20


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


def test_adding_a_seed_trains_and_measures_only_that_seeds_runs(finished):
    config = merged(finished.config, {"training": {"seeds": [0, 1]}})
    jobs = dry_run(finished.work, config)
    runs = [f"{model}_seed1" for model in MODELS]
    expected = [Job(rule, (("model", run),)) for rule in ("train", "predict", "aggregate_studies") for run in runs]
    expected += [Job("metrics", (("name", run),)) for run in runs]
    # Table 3 gains the runs (and the figures, drawn from the tables, follow); the environment record holds the
    # resolved config; nothing of the first seed's runs, their ensembles or CAMs
    expected += [Job("tables", ()), Job("figures", ()), Job("environment", ()), Job("all", ())]
    assert jobs == sorted(expected)


def test_adding_an_external_set_runs_its_checks_predictions_and_measures_and_the_gathers_never_training(finished):
    # MURA valid's own folder as a set: a folder laid out as a MURA-v1.1 split needs no conversion
    folder = str(finished.data / "MURA-v1.1/valid")
    config = merged(finished.config, {"external": {"second_site": {"studies": folder}}})
    jobs = dry_run(finished.work, config)
    size = str(finished.config["training"]["defaults"]["image_size"])
    expected = [
        Job("verify_external", (("set", "second_site"),)),
        Job("cache_external", (("set", "second_site"), ("size", size))),
    ]
    expected += [Job("predict_external", (("model", m), ("set", "second_site"))) for m in MODELS]
    expected += [Job(rule, (("set", "second_site"),)) for rule in ("external_metrics", "external_localization")]
    expected += [Job("generalisation", ()), Job("environment", ()), Job("all", ())]
    assert jobs == sorted(expected)


def test_adding_a_subgroup_measures_it_and_nothing_else(finished):
    valid = (finished.data / "MURA-v1.1/valid_labeled_studies.csv").read_text().splitlines()
    subgroup = finished.work / "no_metal.csv"
    subgroup.write_text("study\n" + "\n".join(line.split(",")[0] for line in valid[:5]) + "\n")
    config = merged(finished.config, {"evaluation": {"subgroups": {"no_metal": str(subgroup)}}})
    try:
        jobs = dry_run(finished.work, config)
    finally:
        subgroup.unlink()
    assert jobs == sorted([Job("subgroups", ()), Job("environment", ()), Job("all", ())])


def test_changed_data_reruns_the_whole_pipeline(finished):
    # A MURA index with one image less. (Touching it is not enough: for small files Snakemake compares checksums
    # recorded at the run, and an unchanged file with a new mtime triggers nothing.) A dry run reads nothing else. The
    # file is the session's small MURA: `edited` puts it back, content and time, before any other test reads it.
    index = finished.data / "MURA-v1.1/train_image_paths.csv"
    with edited(index, lambda path: path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))):
        jobs = dry_run(finished.work, finished.config)
    assert jobs == [job for job in finished.every_job if job.rule not in EXTERNAL_SET]  # another site's files stay


CNN_RULES = {"train", "predict", "cam_maps"}  # the jobs that load a CNN (and on a cluster ask for a GPU)


def test_report_styling_redraws_figures_and_cam_grids_only(finished):
    config = merged(finished.config, {"report": {"dpi": 200}})  # the default is 150
    jobs = dry_run(finished.work, config)
    # The figures, each model's CAM figures (drawn from its saved maps), the localization figure, and the
    # environment record (it holds the resolved config); no job that loads a CNN.
    drawing = {"figures", "cam_figures", "cam_localization", "generalisation", "environment", "all"}
    assert jobs == [job for job in finished.every_job if job.rule in drawing]
    assert {job.rule for job in jobs} == drawing
    assert not {job.rule for job in jobs} & CNN_RULES
    colours = dry_run(finished.work, merged(finished.config, {"cam": {"colormap": "viridis", "alpha": 0.3}}))
    assert {job.rule for job in colours} == {"cam_figures", "environment", "all"}


# Code: each rule's `murad_code` param is the digest of the murad code its script reaches (murad/code_digest.py).


def test_an_edit_of_a_metrics_function_reruns_the_metrics_and_what_is_made_of_them(finished):
    # The bootstrap intervals: the metrics jobs and the comparison with the best model run them; Tables 3 and 4 hold
    # their numbers, the figures draw the tables. Nothing is trained, predicted, aggregated or mapped again.
    with edited(finished.work / "murad/metrics.py", lambda path: add_statement(path, "resampled_metrics")):
        jobs = dry_run(finished.work, finished.config)
    bootstrapping = {
        *("metrics", "compare_to_best", "tables", "figures", "all"),
        *("external_metrics", "generalisation", "subgroups"),  # the external sets' and subgroups' intervals
    }
    assert jobs == [job for job in finished.every_job if job.rule in bootstrapping]
    assert {job.rule for job in jobs} == bootstrapping


def test_an_edit_of_the_training_loop_retrains_every_model_and_redoes_what_follows(finished):
    with edited(finished.work / "murad/train.py", lambda path: add_statement(path, "train_model")):
        jobs = dry_run(finished.work, finished.config)
    assert jobs == [job for job in finished.every_job if job.rule not in UPSTREAM | EXTERNAL_SET]
    assert [job for job in jobs if job.rule == "train"] == [Job("train", (("model", m),)) for m in sorted(MODELS)]


def test_comments_docstrings_and_formatting_rerun_nothing(finished):
    def reword(path: Path) -> None:  # a comment, every docstring reworded, more blank lines, a line split
        source = path.read_text()
        for docstring in {
            ast.get_docstring(node, clean=False)
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node)
        }:
            source = source.replace(docstring, "Reworded. " + docstring)
        source = source.replace("\n\n\n", "\n\n\n\n").replace("import (", "import (  # a comment\n    ", 1)
        path.write_text("# a new comment\n" + source)
        assert ast.parse(path.read_text())  # still Python

    with edited(finished.work / "murad/train.py", reword), edited(finished.work / "murad/metrics.py", reword):
        assert dry_run(finished.work, finished.config) == []
