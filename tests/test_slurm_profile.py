"""``murad slurm-profile``: the SLURM profile it writes, where Snakemake finds it, and what it refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from murad import slurm_profile
from murad.cli import main
from murad.slurm_profile import GPU_RULES

MURAD = Path(sys.executable).with_name("murad")
# What `--account ci --partition main --gpu-partition gpu --gpu-model a100` must parse to as YAML (names are Python
# strings inside: Snakemake evaluates resource values as Python; test_snakemake_finds_and_reads_the_written_profile
# checks what Snakemake makes of them)
CI_PROFILE = {
    "executor": "slurm",
    "jobs": 100,
    "latency-wait": 60,
    "slurm-init-seconds-before-status-checks": 40,
    "seconds-between-status-checks": 60,
    "slurm-status-command": "squeue",
    "default-resources": {"slurm_account": "'ci'", "slurm_partition": "'main'", "runtime": 60, "mem_mb": 4000},
    "set-resources": {rule: {"slurm_partition": "'gpu'", "gpu_model": "'a100'"} for rule in GPU_RULES},
}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh home folder with no XDG_CONFIG_HOME, and a working directory without a `slurm` folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_DIRS", raising=False)
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def run_cli(*args: str) -> int:
    """``murad.cli.main(args)``'s exit code: 0 when it returns."""
    try:
        main(list(args))
    except SystemExit as stop:
        return stop.code
    return 0


def test_default_location_is_under_home_without_xdg_config_home(home, capsys):
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main") == 0
    written = home / ".config/snakemake/slurm/config.yaml"
    out = capsys.readouterr().out
    assert out == (
        f"wrote {written}: snakemake --profile slurm now submits to SLURM "
        "(account ci; CPU jobs to main, GPU jobs to main)\n"
    )
    profile = yaml.safe_load(written.read_text())
    assert profile["executor"] == "slurm" and profile["jobs"] == 100
    assert profile["default-resources"] == {
        "slurm_account": "'ci'",
        "slurm_partition": "'main'",
        "runtime": 60,
        "mem_mb": 4000,
    }
    assert "set-resources" not in profile
    assert "#   murad slurm-profile --account ci --partition main\n" in written.read_text()


def test_default_location_is_under_xdg_config_home(home, tmp_path, monkeypatch, capsys):
    config_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main", "--jobs", "7") == 0
    written = config_home / "snakemake/slurm/config.yaml"
    assert capsys.readouterr().out.startswith(f"wrote {written}: snakemake --profile slurm now submits")
    assert yaml.safe_load(written.read_text())["jobs"] == 7
    assert not (home / ".config").exists()


@pytest.mark.parametrize("config_home", [None, "", "relative/xdg", "ABSOLUTE"])
def test_default_location_is_snakemakes_user_config_dir(home, tmp_path, monkeypatch, config_home):
    from snakemake.common import get_appdirs

    if config_home is not None:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg") if config_home == "ABSOLUTE" else config_home)
    expected = (tmp_path / "xdg" if config_home == "ABSOLUTE" else home / ".config") / "snakemake/slurm"
    assert slurm_profile.default_profile_dir() == expected
    assert Path(get_appdirs().user_config_dir) / "slurm" == expected  # platformdirs reads the variables when asked


def test_gpu_options_set_every_gpu_rule(home, capsys):
    assert (
        run_cli(
            "slurm-profile", "--account", "ci", "--partition", "main", "--gpu-partition", "gpu", "--gpu-model", "a100"
        )
        == 0
    )
    written = home / ".config/snakemake/slurm/config.yaml"
    assert yaml.safe_load(written.read_text()) == CI_PROFILE
    assert capsys.readouterr().out.endswith("(account ci; CPU jobs to main, GPU jobs to gpu on a100 GPUs)\n")
    header = written.read_text().split("\n\n")[0]
    assert "murad slurm-profile --account ci --partition main --gpu-partition gpu --gpu-model a100" in header


def test_one_gpu_option_sets_only_that_resource():
    partition_only = yaml.safe_load(slurm_profile.render_profile("ci", "main", gpu_partition="gpu"))
    assert partition_only["set-resources"] == {rule: {"slurm_partition": "'gpu'"} for rule in GPU_RULES}
    model_only = yaml.safe_load(slurm_profile.render_profile("ci", "main", gpu_model="h100"))
    assert model_only["set-resources"] == {rule: {"gpu_model": "'h100'"} for rule in GPU_RULES}


def test_every_line_is_commented_or_explained():
    text = slurm_profile.render_profile("ci", "main", "gpu", "a100")
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not stripped.endswith(":"):
            top_level_block = not line.startswith(" ")
            assert " # " in line or (top_level_block and "status-" in line), line
    header = text.split("\n\n")[0].splitlines()
    assert all(line.startswith("#") for line in header)
    assert "# Written by `murad slurm-profile`:" in header and header[-1].startswith("# Edit it")
    assert "In this global profile" in text and "profiles/default/ deliberately sets neither" in text


def test_refuses_to_overwrite_without_force_and_replaces_with_it(home, capsys):
    written = home / ".config/snakemake/slurm/config.yaml"
    written.parent.mkdir(parents=True)
    written.write_text("executor: slurm  # the admin's own\n")
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main") == 1
    assert written.read_text() == "executor: slurm  # the admin's own\n"
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert f"{written} exists; pass --force to replace it" in captured.err
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main", "--force") == 0
    assert yaml.safe_load(written.read_text())["default-resources"]["slurm_account"] == "'ci'"
    assert sorted(p.name for p in written.parent.iterdir()) == ["config.yaml"]  # no partial file left behind


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--account", "my account"),
        ("--account", "'ci'"),
        ("--partition", "main,gpu"),
        ("--partition", ""),
        ("--gpu-partition", "gpu:a100"),
        ("--gpu-model", "a100-80gb"),
        ("--gpu-model", "a100\n"),
        ("--jobs", "0"),
    ],
)
def test_bad_values_are_refused_naming_the_option(home, tmp_path, capsys, option, value):
    options = {"--account": "ci", "--partition": "main", option: value}
    folder = tmp_path / "profile"
    args = [word for pair in options.items() for word in pair]
    assert run_cli("slurm-profile", *args, "--dir", str(folder)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and f"ERROR {option}: " in captured.err
    assert (value if option == "--jobs" else repr(value)) in captured.err
    assert "Traceback" not in captured.err
    assert not folder.exists() and not (home / ".config").exists()


def test_usage_errors_keep_exit_code_2(home, capsys):
    assert run_cli("slurm-profile", "--partition", "main") == 2
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main", "--jobs", "many") == 2
    assert "--account" in capsys.readouterr().err
    assert not (home / ".config").exists()


def test_dir_writes_there(home, tmp_path, capsys):
    folder = tmp_path / "etc/xdg/snakemake/slurm"
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main", "--dir", str(folder)) == 0
    assert yaml.safe_load((folder / "config.yaml").read_text())["default-resources"]["slurm_partition"] == "'main'"
    assert f"--dir {folder}" in (folder / "config.yaml").read_text()
    # not a folder Snakemake searches: the line says to pass the path itself
    assert capsys.readouterr().out == (
        f"wrote {folder}/config.yaml: snakemake --profile {folder} now submits to "
        "SLURM (account ci; CPU jobs to main, GPU jobs to main)\n"
    )
    assert not (home / ".config").exists()


def test_an_unwritable_folder_is_one_line(home, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main", "--dir", str(blocker / "slurm")) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"cannot write {blocker}/slurm/config.yaml" in err


def test_a_dir_with_a_line_break_is_refused(home, tmp_path, capsys):
    folder = tmp_path / "a\nb"
    assert run_cli("slurm-profile", "--account", "ci", "--partition", "main", "--dir", str(folder)) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "ERROR --dir: " in err
    assert not folder.exists()


def test_console_script_writes_under_xdg_config_home(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    done = subprocess.run(
        [
            str(MURAD),
            "slurm-profile",
            "--account",
            "ci",
            "--partition",
            "main",
            "--gpu-partition",
            "gpu",
            "--gpu-model",
            "a100",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    written = tmp_path / "xdg/snakemake/slurm/config.yaml"
    assert done.stdout == (
        f"wrote {written}: snakemake --profile slurm now submits to SLURM "
        "(account ci; CPU jobs to main, GPU jobs to gpu on a100 GPUs)\n"
    )
    assert yaml.safe_load(written.read_text()) == CI_PROFILE
    assert not (tmp_path / "home").exists()


def evaluated(resource):
    """A Snakemake resource's value as a job of some rule sees it."""
    return resource.evaluate(wildcards={}, input=[], attempt=1, threads=1, rulename="train", async_run=None).value


@pytest.mark.parametrize(
    ("account", "partition", "gpu_partition", "gpu_model"),
    [
        ("ci", "main", "gpu", "a100"),
        # names that YAML or Snakemake's evaluation of resource values as Python would misread if written bare
        ("0123", "all", "1.10", "3090"),
        ("1_000", "input", "attempt", "h100.80gb"),
    ],
)
def test_snakemake_finds_and_reads_the_written_profile(home, capsys, account, partition, gpu_partition, gpu_model):
    from snakemake.cli import get_profile_dir, parse_args

    assert (
        run_cli(
            "slurm-profile",
            "--account",
            account,
            "--partition",
            partition,
            "--gpu-partition",
            gpu_partition,
            "--gpu-model",
            gpu_model,
            "--jobs",
            "7",
        )
        == 0
    )
    folder = home / ".config/snakemake/slurm"
    assert get_profile_dir("slurm") == (folder, folder / "config.yaml")
    _, args = parse_args(["--profile", "slurm"])
    assert args.executor == "slurm" and args.jobs == 7 and args.latency_wait == 60
    defaults = {name: evaluated(resource) for name, resource in args.default_resources.items()}
    assert defaults["slurm_account"] == account and defaults["slurm_partition"] == partition
    assert defaults["runtime"] == 60 and defaults["mem_mb"] == 4000
    assert sorted(args.set_resources) == sorted(GPU_RULES)
    for rule in GPU_RULES:
        resources = {name: evaluated(resource) for name, resource in args.set_resources[rule].items()}
        assert resources == {"slurm_partition": gpu_partition, "gpu_model": gpu_model}
