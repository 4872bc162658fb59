"""The workflow on a real SLURM cluster through profiles/slurm, with a training job preempted on the way.

tests/slurm/cluster.sh starts a one-node cluster (two fake GPUs, accounting in slurmdbd); the module fixture calls
it, so `pytest tests/test_slurm.py` works alone. Without root or apt, or when the cluster does not come up, these
tests are skipped, unless MURAD_REQUIRE_SLURM=1 (CI sets it), which makes that a failure.

One run of the whole workflow (the default target, whatever rules it has by now) serves every test here; it
overrides nothing of the profile but how soon and how often Snakemake asks `squeue` about its jobs.
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

from .conftest import REPO, snakemake_again, snakemake_command, tiny_config

CLUSTER_SCRIPT = REPO / "tests/slurm/cluster.sh"
REQUIRED = os.environ.get("MURAD_REQUIRE_SLURM") == "1"
# Test speed only: the profile's status-check delays suit a shared cluster, not jobs of a few seconds.
SPEED = ["--slurm-init-seconds-before-status-checks", "10", "--seconds-between-status-checks", "10"]
PREEMPTED = "mobilenet_v2"
EPOCHS = 40  # its epochs take under a second here: enough of them that the job is still training when cancelled
MODELS = (PREEMPTED, "resnet34")
GPU_RULES = ("rule_train_wildcards_", "rule_predict_wildcards_", "rule_cam_wildcards_")  # job comments


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


@dataclass
class SlurmRun:
    work: Path
    returncode: int
    log: str
    cancelled: str  # the SLURM job id of the cancelled training job

    def jobs(self) -> pd.DataFrame:
        """This run's SLURM jobs from accounting: the plugin names every job after the run and comments the rule."""
        run_id = re.search(r"SLURM run ID: (\S+)", self.log).group(1)
        fields = ["JobID", "Comment", "State", "ReqTRES", "AllocTRES", "Timelimit"]
        table = subprocess.run(["sacct", "-X", "-P", "-n", "-S", "now-2days", "--name", run_id,
                                "-o", ",".join(fields)], capture_output=True, text=True, check=True).stdout
        rows = [line.split("|") for line in table.splitlines() if line.strip()]
        return pd.DataFrame(rows, columns=fields)


def cancel_training_after_its_first_epoch(process: subprocess.Popen, work: Path, log: Path) -> str:
    """Wait for the first epoch's checkpoint of PREEMPTED's training job, then `scancel` the job (SIGTERM)."""
    checkpoint = work / f"results/models/{PREEMPTED}/checkpoint.pt"
    deadline = time.monotonic() + 900
    while not checkpoint.exists():
        assert process.poll() is None, f"snakemake ended before training {PREEMPTED}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no checkpoint of {PREEMPTED} within 15 minutes"
        time.sleep(0.1)
    queue = subprocess.run(["squeue", "-h", "-o", "%i|%k|%Z"], capture_output=True, text=True, check=True).stdout
    job_ids = [job for job, comment, folder in (line.split("|") for line in queue.splitlines())
               if comment == f"rule_train_wildcards_{PREEMPTED}" and Path(folder) == work]
    assert len(job_ids) == 1, queue
    subprocess.run(["scancel", job_ids[0]], check=True)
    return job_ids[0]


@pytest.fixture(scope="module")
def slurm_run(cluster, small_mura, tmp_path_factory) -> SlurmRun:
    """The whole workflow through profiles/slurm, PREEMPTED's training job cancelled after its first epoch.

    How that meets the profile's retries: Snakemake sees the job CANCELLED and submits it again (attempt 2, with
    twice the runtime); the new job resumes from the checkpoint the cancelled one saved on SIGTERM, and the run
    ends successfully without anyone running it again. (Once the retries are spent, running the same command
    again resumes the same way; tests/test_training.py covers that without SLURM.)
    """
    work = tmp_path_factory.mktemp("slurm_run")
    shutil.copytree(small_mura, work / "data")
    config = tiny_config(work / "data", {PREEMPTED: {"epochs": EPOCHS}, "resnet34": None})
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    log = work / "snakemake.log"
    with log.open("w") as out:
        process = subprocess.Popen(snakemake_command(work, "--profile", str(REPO / "profiles/slurm"), *SPEED),
                                   stdout=out, stderr=subprocess.STDOUT)
        try:
            cancelled = cancel_training_after_its_first_epoch(process, work, log)
            returncode = process.wait(timeout=900)
        finally:
            if process.poll() is None:  # a failed test: let Snakemake cancel its SLURM jobs, then end it
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return SlurmRun(work, returncode, log.read_text(), cancelled)


def test_the_whole_workflow_runs_through_slurm_with_a_gpu_per_training_job(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    # complete: nothing is left to do
    dry = snakemake_again(slurm_run.work, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]

    jobs = slurm_run.jobs()
    assert len(jobs) > len(MODELS) and (jobs["Timelimit"] != "UNLIMITED").all(), jobs  # every job has a runtime
    train = jobs[jobs["Comment"].str.startswith("rule_train_wildcards_")]
    # every training, prediction and CAM job went through sbatch and got a GPU; each model's last training completed
    assert set(train["Comment"]) == {f"rule_train_wildcards_{model}" for model in MODELS}, jobs
    gpu_jobs = jobs[jobs["Comment"].str.startswith(GPU_RULES)]
    assert {c.rsplit("_", 1)[0] for c in gpu_jobs["Comment"]} >= {"rule_predict_wildcards", "rule_cam_wildcards"}
    for _, job in gpu_jobs.iterrows():
        assert "gres/gpu=1" in job["ReqTRES"] and "gres/gpu=1" in job["AllocTRES"], job.to_dict()
    assert sorted(train[train["State"] == "COMPLETED"]["Comment"]) == sorted(f"rule_train_wildcards_{m}"
                                                                             for m in MODELS), train
    # the light jobs did not (CPU jobs, most of them bundled into group jobs)
    others = jobs[~jobs["Comment"].str.startswith(GPU_RULES)]
    assert len(others) > 0 and not others["ReqTRES"].str.contains("gres/gpu").any(), others
    # SLURM's own logs are kept, successful jobs' too
    for _, job in train[train["State"] == "COMPLETED"].iterrows():
        model = job["Comment"].removeprefix("rule_train_wildcards_")
        assert (slurm_run.work / f"results/logs/slurm/rule_train/{model}/{job['JobID']}.log").exists()


def test_a_cancelled_training_job_resumes_from_its_checkpoint_when_retried(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    jobs = slurm_run.jobs()
    runs = jobs[jobs["Comment"] == f"rule_train_wildcards_{PREEMPTED}"]
    assert len(runs) == 2, runs
    first, retry = runs.iloc[0], runs.iloc[-1]
    assert first["JobID"] == slurm_run.cancelled, runs
    assert first["State"].startswith("CANCELLED") and retry["State"] == "COMPLETED", runs
    assert minutes(retry["Timelimit"]) == 2 * minutes(first["Timelimit"])  # the retry gets more runtime
    assert f"SLURM-job '{slurm_run.cancelled}' failed, SLURM status is: 'CANCELLED'" in slurm_run.log

    folder = slurm_run.work / f"results/models/{PREEMPTED}"
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))  # continued: no epoch repeated or missing
    assert json.loads((folder / "meta.json").read_text())["epochs_run"] == EPOCHS
    assert not (folder / "checkpoint.pt").exists()
    log = (slurm_run.work / f"results/logs/train/{PREEMPTED}.log").read_text()  # the retry's log
    assert f"resuming {PREEMPTED} from its checkpoint: epoch" in log
    assert f"{PREEMPTED} epoch 1/{EPOCHS} " not in log  # the first epoch was not trained again
    assert f"{PREEMPTED} epoch {EPOCHS}/{EPOCHS} " in log


def test_the_report_builds_from_the_slurm_results(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    report = slurm_run.work / "results/report.html"
    built = snakemake_again(slurm_run.work, "--report", "results/report.html", timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert report.stat().st_size > 0


def minutes(limit: str) -> int:
    """sacct's Timelimit ([D-]HH:MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _ = (int(part) for part in clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + mins
