"""A user's or a site's SLURM profile for Snakemake (``murad slurm-profile``): executor, account, partitions, polling.

``snakemake --profile slurm`` looks for a folder ``slurm`` in the working directory, then in the user's config folder,
then in the site's, and reads its ``config.yaml``. That file belongs to the cluster; what murad's jobs need (GPUs,
memory, runtimes, job groups) comes with the workflow itself.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from .errors import InputError
from .io import staged_outputs

PROFILE_NAME = "slurm"
PROFILE_FILE = "config.yaml"
DEFAULT_JOBS = 100
# The workflow rules that ask for a GPU (``gpu=1`` in their rule-level resources); tests check them against the .smk
# files.
GPU_RULES = ("train", "predict", "cam_maps", "predict_external")

SLURM_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # accounts, partitions: no spaces, quotes, colons or commas
GPU_MODEL = re.compile(r"[A-Za-z0-9_.]+")  # the SLURM plugin (2.8) refuses any other GPU type, a hyphen included
COMMENT_COLUMN = 32  # where the comment after a key starts, so that a site admin reads them as one column


def default_profile_dir() -> Path:
    """Where ``snakemake --profile slurm`` finds the user's profile: ``$XDG_CONFIG_HOME/snakemake/slurm``, else
    ``~/.config/snakemake/slurm`` (platformdirs' ``user_config_dir`` on Linux, which ignores an XDG_CONFIG_HOME that
    is empty or not an absolute path, as the XDG spec says)."""
    config_home = os.environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(config_home):
        config_home = os.path.join(os.path.expanduser("~"), ".config")
    return Path(config_home) / "snakemake" / PROFILE_NAME


def check_options(
    account: str,
    partition: str,
    gpu_partition: str | None = None,
    gpu_model: str | None = None,
    jobs: int = DEFAULT_JOBS,
) -> None:
    """Raise :class:`InputError`, naming the option, on the first value that SLURM or its plugin would refuse."""
    for option, value in (("--account", account), ("--partition", partition), ("--gpu-partition", gpu_partition)):
        if value is not None and not SLURM_NAME.fullmatch(value):
            raise InputError(f"{option}: {value!r} is not a SLURM name (letters, digits, _ . - only)")
    if gpu_model is not None and not GPU_MODEL.fullmatch(gpu_model):
        raise InputError(
            f"--gpu-model: {gpu_model!r} is not a GPU type the SLURM plugin accepts (letters, digits, _ . only)"
        )
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"--jobs: {jobs!r} is not a positive number of jobs")


def _python_string(value: str) -> str:
    """``value`` as a resource value Snakemake reads back as this text: it evaluates each one as Python, where a bare
    ``all`` is the built-in function and ``0123`` a number, so names are written as Python string literals."""
    return f"\"'{value}'\""


def _entry(key_and_value: str, comment: str) -> str:
    return f"{key_and_value:<{COMMENT_COLUMN - 1}} # {comment}"


def command_line(
    account: str,
    partition: str,
    gpu_partition: str | None = None,
    gpu_model: str | None = None,
    jobs: int = DEFAULT_JOBS,
    folder: str | None = None,
) -> str:
    """The ``murad slurm-profile`` command that writes this profile (``--dir`` only when ``folder`` is given)."""
    words = ["murad", "slurm-profile", "--account", account, "--partition", partition]
    jobs_option = None if jobs == DEFAULT_JOBS else str(jobs)
    for option, value in (
        ("--gpu-partition", gpu_partition),
        ("--gpu-model", gpu_model),
        ("--jobs", jobs_option),
        ("--dir", folder),
    ):
        if value is not None:
            words += [option, value]
    return shlex.join(words)


def render_profile(
    account: str,
    partition: str,
    gpu_partition: str | None = None,
    gpu_model: str | None = None,
    jobs: int = DEFAULT_JOBS,
    folder: str | None = None,
) -> str:
    """The profile's ``config.yaml``: commented YAML for a site admin. ``folder`` only goes into the header's command
    line (its ``--dir``)."""
    check_options(account, partition, gpu_partition, gpu_model, jobs)
    command = command_line(account, partition, gpu_partition, gpu_model, jobs, folder)
    if "\n" in command or "\r" in command:
        raise InputError(f"--dir: {folder!r} has a line break")
    lines = [
        "# Snakemake's SLURM profile for this user or site: `snakemake --profile slurm` reads it. Snakemake looks",
        "# for a folder `slurm` in the working directory, then in $XDG_CONFIG_HOME/snakemake/ (~/.config/snakemake/",
        "# without it), then in /etc/xdg/snakemake/. This file holds only what belongs to the cluster: executor,",
        "# account, partitions, polling. What a workflow's jobs need (GPUs, memory, runtimes, job groups) comes with",
        "# the workflow: its rules' resources and its profiles/default/, which Snakemake reads on top of this file.",
        "# Written by `murad slurm-profile`:",
        f"#   {command}",
        "# Edit it freely, or write it again with that command and --force.",
        "",
        _entry("executor: slurm", "every job becomes one sbatch job (snakemake-executor-plugin-slurm)"),
        _entry(f"jobs: {jobs}", "at most this many jobs queued or running at once"),
        _entry("latency-wait: 60", "seconds to wait for a job's outputs to appear on the shared file system"),
        "",
        "# Status checks, polite on a shared cluster: the first query 40 s after a submission, then every 60 s.",
        "slurm-init-seconds-before-status-checks: 40",
        "seconds-between-status-checks: 60",
        "# ... with squeue: plugin 2.8.0 reads sacct's state `CANCELLED by <uid>` (a job you scancel) as still running",
        "# and would wait for it forever; squeue says CANCELLED. (The plugin turns to sacct by itself where SLURM",
        "# forgets finished jobs sooner than three first-query delays, MinJobAge in slurm.conf.)",
        "slurm-status-command: squeue",
        "",
        "# default-resources and set-resources must stay in this file: a key of a workflow's profile replaces the same",
        "# key here as a whole, so murad's profiles/default/ deliberately sets neither. Snakemake evaluates each value",
        "# as Python (a bare `all` would be the built-in function): names are written as Python strings, \"'name'\".",
        "# The resources of every job that does not set its own:",
        "default-resources:",
        _entry(f"  slurm_account: {_python_string(account)}", "sbatch --account"),
        _entry(f"  slurm_partition: {_python_string(partition)}", "sbatch --partition: the partition for CPU jobs"),
        _entry("  runtime: 60", "minutes (sbatch --time) for CPU jobs; the workflow sets its GPU jobs' own"),
        _entry("  mem_mb: 4000", "sbatch --mem, in MB"),
    ]
    if gpu_partition is not None or gpu_model is not None:
        lines += [
            "",
            f"# murad's GPU rules ({', '.join(GPU_RULES)}; each asks for one GPU itself). In this global profile these",
            "# entries apply to the rules of the same names in any workflow run with it.",
            "set-resources:",
        ]
        for rule in GPU_RULES:
            lines.append(f"  {rule}:")
            if gpu_partition is not None:
                lines.append(
                    _entry(
                        f"    slurm_partition: {_python_string(gpu_partition)}", "sbatch --partition: the GPU partition"
                    )
                )
            if gpu_model is not None:
                lines.append(
                    _entry(
                        f"    gpu_model: {_python_string(gpu_model)}",
                        f"sbatch --gpus={gpu_model}:1 (needs GPU types in SLURM's GRES)",
                    )
                )
    return "\n".join(lines) + "\n"


def write_profile(
    account: str,
    partition: str,
    gpu_partition: str | None = None,
    gpu_model: str | None = None,
    jobs: int = DEFAULT_JOBS,
    folder: str | None = None,
    force: bool = False,
) -> Path:
    """``murad slurm-profile``: write the profile to ``folder/config.yaml`` (default: the user's, where ``--profile
    slurm`` finds it) all-or-nothing, and say where and what it does; an existing one is replaced only with
    ``force``."""
    text = render_profile(account, partition, gpu_partition, gpu_model, jobs, folder)
    target = Path(folder) if folder is not None else default_profile_dir()
    path = target / PROFILE_FILE
    if path.exists() and not force:
        raise InputError(f"{path} exists; pass --force to replace it")
    try:
        with staged_outputs(path) as (staged,):
            staged.write_text(text)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}") from None
    print(f"wrote {path.absolute()}: {describe(target, account, partition, gpu_partition, gpu_model)}")
    return path


def profile_argument(folder: str | Path) -> str:
    """What to pass to ``snakemake --profile`` for ``folder``: its name where Snakemake searches, else the path."""
    folder = Path(os.path.abspath(folder))
    searched = {default_profile_dir().parent, Path("/etc/xdg/snakemake")}
    return folder.name if folder.parent in searched else str(folder)


def describe(
    folder: str | Path, account: str, partition: str, gpu_partition: str | None = None, gpu_model: str | None = None
) -> str:
    """One line on what the profile in ``folder`` does, for the user who wrote it."""
    gpus = f"GPU jobs to {gpu_partition or partition}" + (f" on {gpu_model} GPUs" if gpu_model else "")
    return (
        f"snakemake --profile {shlex.quote(profile_argument(folder))} now submits to SLURM "
        f"(account {account}; CPU jobs to {partition}, {gpus})"
    )
