"""The workflow on a real SLURM cluster, run as its users run it: `snakemake --profile slurm` in the project's root.

tests/slurm/cluster.sh starts a one-node cluster (2 CPUs, two fake GPUs, partitions `main` and `gpu` on that node,
accounting in slurmdbd); the module fixture calls it, so `pytest tests/test_slurm.py` works alone. Without root or
apt, or when the cluster does not come up, these tests are skipped, unless MURAD_REQUIRE_SLURM=1 (CI sets it), which
makes that a failure.

The `slurm` profile Snakemake finds is a plain site profile in `~/.config/snakemake/slurm/` of a HOME made for the
test, as the SLURM executor plugin's documentation shows one: executor, account, partition, how often to poll;
nothing of murad. Everything murad's jobs need (a GPU for train, predict and cam_maps, their memory and runtime, the
group jobs, the retries) comes from the workflow itself. One run of the whole workflow (the default target, whatever
rules it has by now), with a training job stopped by SIGTERM on the way, serves most tests here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from murad.slurm_profile import GPU_RULES

from .conftest import REPO, SNAKEMAKE, project_copy, tiny_config

CLUSTER_SCRIPT = REPO / "tests/slurm/cluster.sh"
REQUIRED = os.environ.get("MURAD_REQUIRE_SLURM") == "1"
# A site profile as the plugin's documentation shows one. Only its poll intervals are shorter than a shared cluster's
# (jobs of a few seconds); a site also sets them.
PLAIN_SITE_PROFILE = {
    "executor": "slurm",
    "jobs": 20,
    "default-resources": {"slurm_account": "ci", "slurm_partition": "main", "runtime": 30, "mem_mb": 1000},
    "slurm-init-seconds-before-status-checks": 10,
    "seconds-between-status-checks": 10,
}
PREEMPTED = "mobilenet_v2"
EPOCHS = 40  # its epochs take under a second here: enough of them that the job is still training when stopped
MODELS = (PREEMPTED, "resnet34")


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (MURAD_REQUIRE_SLURM=1: the SLURM tests must run here)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster() -> None:
    """The one-node test cluster, started (or found running) by tests/slurm/cluster.sh."""
    if os.geteuid() != 0:
        unavailable("the SLURM tests need root: tests/slurm/cluster.sh installs and starts a one-node cluster")
    if shutil.which("apt-get") is None and shutil.which("sbatch") is None:
        unavailable("the SLURM tests need apt-get (Debian) to install SLURM, or SLURM installed")
    started = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        unavailable(f"tests/slurm/cluster.sh start failed:\n{started.stdout[-2000:]}{started.stderr[-3000:]}")


def user_environment(home: Path) -> dict[str, str]:
    """A login shell's environment for a user whose home is ``home``: this venv's `snakemake` on the PATH, and no
    other place for Snakemake to find profiles."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "SNAKEMAKE_PROFILE")
    }
    return {**env, "HOME": str(home), "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{env.get('PATH', '')}"}


def site_home(folder: Path, profile: dict | None = PLAIN_SITE_PROFILE) -> Path:
    """A home folder holding ``profile`` as ~/.config/snakemake/slurm/config.yaml (none when ``profile`` is None)."""
    if profile is not None:
        path = folder / ".config/snakemake/slurm/config.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump(profile))
    else:
        folder.mkdir(parents=True)
    return folder


def murad_project(folder: Path, data: Path, models: dict) -> Path:
    """A fresh clone of murad in ``folder`` with a tiny config.yaml training ``models`` on ``data``."""
    project = project_copy(folder)
    (project / "config.yaml").write_text(yaml.safe_dump(tiny_config(data, models)))
    return project


def snakemake(project: Path, home: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`snakemake ARGS` typed in ``project``'s root by the user whose home is ``home``."""
    return subprocess.run(
        ["snakemake", *args], cwd=project, env=user_environment(home), capture_output=True, text=True, timeout=timeout
    )


def accounting(log: str) -> pd.DataFrame:
    """A run's SLURM jobs from accounting: the plugin names every job after the run and comments its rule or group."""
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    fields = ["JobID", "Comment", "Partition", "State", "ReqTRES", "AllocTRES", "Timelimit"]
    table = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", "now-2days", "--name", run_id, "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return pd.DataFrame([line.split("|") for line in table.splitlines() if line.strip()], columns=fields)


def is_gpu_job(comment: str) -> bool:
    return comment.startswith(tuple(f"rule_{rule}_wildcards_" for rule in GPU_RULES))


@dataclass
class SlurmRun:
    project: Path
    home: Path
    returncode: int
    log: str
    stopped: str  # the SLURM job id of the training job stopped by SIGTERM

    def jobs(self) -> pd.DataFrame:
        return accounting(self.log)


def stop_training_after_its_first_epoch(process: subprocess.Popen, project: Path, log: Path) -> str:
    """Wait for the first epoch's checkpoint of PREEMPTED's training job, then send its processes SIGTERM, as SLURM
    does at walltime or preemption. (`scancel` itself would do that too, but snakemake-executor-plugin-slurm 2.8.0
    then reads accounting's state `CANCELLED by <uid>` as still running and waits for the job forever.)"""
    checkpoint = project / f"results/models/{PREEMPTED}/checkpoint.pt"
    deadline = time.monotonic() + 900
    while not checkpoint.exists():
        assert process.poll() is None, f"snakemake ended before training {PREEMPTED}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no checkpoint of {PREEMPTED} within 15 minutes"
        time.sleep(0.1)
    queue = subprocess.run(["squeue", "-h", "-o", "%i|%k|%Z"], capture_output=True, text=True, check=True).stdout
    job_ids = [
        job
        for job, comment, folder in (line.split("|") for line in queue.splitlines())
        if comment == f"rule_train_wildcards_{PREEMPTED}" and Path(folder) == project
    ]
    assert len(job_ids) == 1, queue
    subprocess.run(["scancel", "--signal=TERM", "--full", job_ids[0]], check=True)
    return job_ids[0]


@pytest.fixture(scope="module")
def slurm_run(cluster, small_mura, tmp_path_factory) -> SlurmRun:
    """`snakemake --profile slurm` in a fresh clone, PREEMPTED's training job stopped after its first epoch.

    How that meets the workflow's retries: the stopped job saves its checkpoint and exits 143, SLURM records it as
    FAILED, Snakemake submits it again (attempt 2, with twice the runtime), and the new job resumes from the
    checkpoint; the run ends successfully without anyone running it again. (Once the retries are spent, running the
    same command again resumes the same way; tests/test_training.py covers that without SLURM.)
    """
    root = tmp_path_factory.mktemp("slurm_run")
    shutil.copytree(small_mura, root / "data")
    project = murad_project(root / "murad", root / "data", {PREEMPTED: {"epochs": EPOCHS}, "resnet34": None})
    home = site_home(root / "home")
    log = root / "snakemake.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["snakemake", "--profile", "slurm"],
            cwd=project,
            env=user_environment(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            stopped = stop_training_after_its_first_epoch(process, project, log)
            returncode = process.wait(timeout=900)
        finally:
            if process.poll() is None:  # a failed test: let Snakemake cancel its SLURM jobs, then end it
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return SlurmRun(project, home, returncode, log.read_text(), stopped)


def test_snakemake_profile_slurm_runs_the_workflow_with_a_gpu_per_cnn_job(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    # (Snakemake says "Using profiles slurm and workflow specific profile profiles/default")
    assert re.search(r"Using profiles? slurm and workflow specific profile profiles/default", slurm_run.log)
    # complete: nothing is left to do
    dry = snakemake(slurm_run.project, slurm_run.home, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]

    jobs = slurm_run.jobs()
    assert (jobs["Timelimit"] != "UNLIMITED").all(), jobs  # every job has a runtime
    gpu_jobs = jobs[jobs["Comment"].map(is_gpu_job)]
    # every training, prediction and CAM job got one GPU; each model's last training completed
    assert {comment.rsplit("_wildcards_", 1)[0] for comment in gpu_jobs["Comment"]} == {f"rule_{r}" for r in GPU_RULES}
    for _, job in gpu_jobs.iterrows():
        assert "gres/gpu=1" in job["ReqTRES"] and "gres/gpu=1" in job["AllocTRES"], job.to_dict()
    train = gpu_jobs[gpu_jobs["Comment"].str.startswith("rule_train_")]
    assert sorted(train[train["State"] == "COMPLETED"]["Comment"]) == [f"rule_train_wildcards_{m}" for m in MODELS]

    # the light steps ran as CPU jobs without a GPU, bundled: one job to prepare the data and one the external set,
    # one per model for its study aggregation, metrics and calibration, one for ensembles, their metrics, the
    # comparison with the best, subgroups, tables, figures and the environment; and, each a job of its own, every
    # model's CAM figures, the CAM localization, and the external set's measures and localization and Table 6
    light = jobs[~jobs["Comment"].map(is_gpu_job)]
    assert not light["ReqTRES"].str.contains("gres/gpu").any() and not light["AllocTRES"].str.contains("gpu").any()
    assert (light["State"] == "COMPLETED").all(), light
    comments = sorted(light["Comment"])
    assert len(comments) == 2 * len(MODELS) + 7, comments
    # (the external set's synthesis, check and cache share no file with MURA's: a `prepare` job of their own)
    assert sorted(c for c in comments if c.startswith("rule_prepare_")) == [
        "rule_prepare_cache_external_synthesize_site_verify_external",
        "rule_prepare_cache_images_tuning_split_verify_dataset",
    ], comments
    assert sorted(c for c in comments if c.startswith("rule_evaluate_")) == [
        f"rule_evaluate_{m}_aggregate_studies_calibrate_metrics" for m in sorted(MODELS)
    ], comments
    summary = [c for c in comments if c.startswith("rule_summary_")]  # named after its first five rules, sorted
    assert summary == ["rule_summary_compare_to_best_ensembles_environment_figures_metrics_..."], comments
    assert "rule_cam_localization" in comments
    # the external test set's measures, its localization and Table 6: each a job of its own
    assert {
        "rule_external_metrics_wildcards_synthetic_site",
        "rule_external_localization_wildcards_synthetic_site",
        "rule_generalisation",
    } <= set(comments), comments
    assert sorted(c for c in comments if c.startswith("rule_cam_figures_")) == [
        f"rule_cam_figures_wildcards_{m}" for m in sorted(MODELS)
    ], comments
    # SLURM's own logs are kept, successful jobs' too
    for _, job in train[train["State"] == "COMPLETED"].iterrows():
        model = job["Comment"].removeprefix("rule_train_wildcards_")
        assert (slurm_run.project / f"results/logs/slurm/rule_train/{model}/{job['JobID']}.log").exists()


def test_a_training_job_stopped_by_sigterm_resumes_from_its_checkpoint_when_retried(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    jobs = slurm_run.jobs()
    runs = jobs[jobs["Comment"] == f"rule_train_wildcards_{PREEMPTED}"]
    assert len(runs) == 2, runs
    first, retry = runs.iloc[0], runs.iloc[-1]
    assert first["JobID"] == slurm_run.stopped, runs
    assert first["State"] == "FAILED" and retry["State"] == "COMPLETED", runs
    assert minutes(retry["Timelimit"]) == 2 * minutes(first["Timelimit"])  # the retry gets more runtime
    assert f"SLURM-job '{slurm_run.stopped}' failed" in slurm_run.log

    folder = slurm_run.project / f"results/models/{PREEMPTED}"
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))  # continued: no epoch repeated or missing
    assert json.loads((folder / "meta.json").read_text())["epochs_run"] == EPOCHS
    assert not (folder / "checkpoint.pt").exists()
    log = (slurm_run.project / f"results/logs/train/{PREEMPTED}.log").read_text()  # the retry's log
    assert f"resuming {PREEMPTED} from its checkpoint: epoch" in log
    assert f"{PREEMPTED} epoch 1/{EPOCHS} " not in log  # the first epoch was not trained again
    assert f"{PREEMPTED} epoch {EPOCHS}/{EPOCHS} " in log


def test_the_report_builds_from_the_slurm_results(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    built = snakemake(slurm_run.project, slurm_run.home, "--report", "results/report.html", timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (slurm_run.project / "results/report.html").stat().st_size > 0


def test_gpu_jobs_go_to_a_gpu_partition_from_the_profile_murad_writes(cluster, small_mura, tmp_path):
    # A user without a site profile writes one; GPU jobs then go to another partition than CPU jobs, with no edit of
    # murad's files.
    home = site_home(tmp_path / "home", profile=None)
    written = subprocess.run(
        [
            str(SNAKEMAKE.with_name("murad")),
            "slurm-profile",
            "--account",
            "ci",
            "--partition",
            "main",
            "--gpu-partition",
            "gpu",
        ],
        env=user_environment(home),
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0, written.stderr
    profile = yaml.safe_load((home / ".config/snakemake/slurm/config.yaml").read_text())
    profile["slurm-init-seconds-before-status-checks"] = profile["seconds-between-status-checks"] = 10  # test speed
    (home / ".config/snakemake/slurm/config.yaml").write_text(yaml.safe_dump(profile))
    shutil.copytree(small_mura, tmp_path / "data")
    project = murad_project(tmp_path / "murad", tmp_path / "data", {"resnet34": None})

    done = snakemake(project, home, "--profile", "slurm", "results/metrics/resnet34.csv")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    jobs = accounting(done.stdout + done.stderr)
    partitions = {comment: partition for comment, partition in zip(jobs["Comment"], jobs["Partition"], strict=True)}
    gpu = {comment for comment in partitions if is_gpu_job(comment)}
    assert gpu == {"rule_train_wildcards_resnet34", "rule_predict_wildcards_resnet34"}, partitions
    assert {partitions[comment] for comment in gpu} == {"gpu"}, partitions
    assert {partition for comment, partition in partitions.items() if comment not in gpu} == {"main"}, partitions


def test_the_papers_setup_plans_the_same_jobs_on_the_cluster(cluster, small_mura, tmp_path):
    # `--configfile config.paper.yaml` with the plain site profile and one external test set: every model's jobs ask
    # for their GPU, memory and runtime, the light steps are grouped. (A dry run: training 18 ImageNet models is for a
    # real cluster.)
    project = project_copy(tmp_path / "murad")
    home = site_home(tmp_path / "home")
    dry = snakemake(
        project,
        home,
        "--profile",
        "slurm",
        "--configfile",
        "config.paper.yaml",
        "-n",
        "--config",
        f"dataset={{root: {small_mura}}}",
        f"external={{site_b: {{studies: {small_mura}/MURA-v1.1/valid}}}}",
    )
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    output = dry.stdout + dry.stderr
    paper = yaml.safe_load((REPO / "config.paper.yaml").read_text())
    for rule in GPU_RULES:
        blocks = re.findall(rf"^\s*rule {rule}:\n(.*?)(?=^\s*(?:rule |\[|Group job))", output, re.M | re.S)
        assert len(blocks) == len(paper["training"]["models"]), rule
        assert all(re.search(r"resources: .*\bgpu=1\b", block) for block in blocks), rule
    assert re.search(r"wildcards: model=vgg19_bn\n\s+resources: .*\bmem_mb=12000\b", output)
    assert re.search(r"wildcards: model=resnet34\n\s+resources: .*\bmem_mb=6000\b", output)
    for group in ("prepare", "summary", *(f"evaluate_{model}" for model in paper["training"]["models"])):
        assert f"Group job {group} " in output, group


def test_gpu_rules_are_the_rules_asking_for_one():
    # murad slurm-profile sends these rules to the GPU partition
    asking = set()
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for block in re.split(r"^\s*rule (?=\w+:$)", smk.read_text(), flags=re.M)[1:]:
            if re.search(r"^\s+gpu=1,$", block, re.M):
                asking.add(block.split(":", 1)[0])
    assert asking == set(GPU_RULES)


def minutes(limit: str) -> int:
    """sacct's Timelimit ([D-]HH:MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _ = (int(part) for part in clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + mins
