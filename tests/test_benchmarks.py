"""The parts of benchmarks/gpu_check.sh that a CPU can run: its throughput code small, the GPU-hours projection, and
its end-to-end configuration against the workflow; and benchmarks/same_numbers.py, which compares two runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
import torch

from murad.families import PAPER_MODELS
from murad.mura import PUBLISHED_IMAGES

from .conftest import REPO, snakemake_command


def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks/gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_projection_reads_the_paper_configuration_and_adds_up():
    check = gpu_check()
    runs, tune_fraction = check.paper_runs()
    assert sorted(runs) == sorted(PAPER_MODELS) and tune_fraction == 0.2
    assert {run["image_size"] for run in runs.values()} == {320} and {run["epochs"] for run in runs.values()} == {100}
    assert runs["vgg19"]["batch_size"] == 16 and runs["mobilenet_v2"]["batch_size"] == 64
    assert runs["densenet121"]["batch_size"] == 32
    # 100 epochs of 29,446.4 training images at 1,000 images/s and 7,361.6 tuning images at 2,000 images/s, then
    # MURA valid twice at 2,000 images/s
    hours = check.gpu_hours({"epochs": 100}, 1000, 2000, 0.2)
    expected = 100 * (PUBLISHED_IMAGES["train"] * 0.8 / 1000 + PUBLISHED_IMAGES["train"] * 0.2 / 2000) + 2 * 3197 / 2000
    assert hours == pytest.approx(expected / 3600)


def test_the_throughput_part_runs_small_on_a_cpu(capsys):
    torch.set_num_threads(2)
    gpu_check().main(["--device", "cpu", "--size", "64", "--steps", "1", "--models", "mobilenet_v2", "--no-compile"])
    printed = capsys.readouterr().out
    assert re.search(r"^mobilenet_v2\s+64\s+64\s+\d+\s+\d+\s+0\.0\s+100\s+[\d.]+$", printed, re.M), printed
    assert re.search(r"^all\s+[\d.]+\s+\(goal: <= 12 GPU-hours", printed, re.M), printed


def test_the_modern_configurations_part_measures_only_its_models_after_the_paper(capsys):
    torch.set_num_threads(2)
    arguments = ["--device", "cpu", "--size", "64", "--steps", "1", "--no-compile", "--beyond-paper"]
    gpu_check().main([*arguments, "--config", str(REPO / "config.modern.yaml"), "--models", "densenet121", "swin_t"])
    printed = capsys.readouterr().out
    assert "every model of config.modern.yaml after the paper" in printed
    assert re.search(r"^swin_t\s+32\s+64\s", printed, re.M) and not re.search(r"^densenet121\s", printed, re.M)
    assert re.search(r"^all\s+[\d.]+\s+\(1 models after the paper\)", printed, re.M), printed


def test_the_determinism_part_finds_identical_histories_in_both_modes_on_a_cpu(capsys):
    spec = importlib.util.spec_from_file_location("determinism", REPO / "benchmarks/determinism.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--model", "mobilenet_v2", "--size", "64", "--images", "16", "--batch-size", "8", "--threads", "2"])
    printed = capsys.readouterr().out
    assert re.search(r"^deterministic=True\s+histories identical: yes .*cudnn_deterministic=True", printed, re.M)
    assert re.search(r"^deterministic=False\s+histories identical: yes .*cudnn_benchmark=False", printed, re.M)
    assert "the two modes' first histories identical: yes" in printed


def test_the_script_says_so_without_a_gpu_and_its_end_to_end_config_fits_the_workflow(tmp_path):
    script = REPO / "benchmarks/gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if not torch.cuda.is_available():
        result = subprocess.run(["bash", str(script), sys.executable], capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and "no CUDA GPU visible" in result.stderr
    text = script.read_text()
    config = re.search(r'cat > "\$work/config.yaml" <<YAML\n(.*?)\nYAML\n', text, re.S).group(1)
    targets = re.search(r"--quiet rules -- \\\n\s+(.*?)(?: \|\||\n)", text).group(1).split()
    (tmp_path / "config.yaml").write_text(config + "\n")
    result = subprocess.run(
        snakemake_command(tmp_path, "-n", "--quiet", "rules", "--", *targets), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^train\s+2$", result.stdout, re.M) and re.search(r"^cam_maps\s+1$", result.stdout, re.M)


def test_same_numbers_tells_a_changed_number_from_a_changed_time_or_drawing(tmp_path):
    # benchmarks/same_numbers.py is how a restructuring shows it changed no result: it must not pass a changed number
    import numpy as np

    def run_folder(name: str, kappa: str, seconds: str, maps: np.ndarray, figure: bytes):
        root = tmp_path / name
        (root / "models/m").mkdir(parents=True)
        (root / "figures").mkdir()
        (root / "models/m/history.csv").write_text(f"epoch,tune_kappa,seconds\n1,{kappa},{seconds}\n")
        (root / "models/m/meta.json").write_text(f'{{"git_commit": "{name}", "training_seconds": {seconds}}}')
        np.savez(root / "models/m/maps.npz", maps=maps)
        (root / "figures/bars.png").write_bytes(figure)
        return str(root)

    def same(a: str, b: str) -> subprocess.CompletedProcess:
        command = [sys.executable, str(REPO / "benchmarks/same_numbers.py"), a, b]
        return subprocess.run(command, capture_output=True, text=True)

    maps = np.arange(6, dtype=np.float32).reshape(2, 3)
    before = run_folder("before", "0.5", "3.0", maps, b"one drawing")
    after = same(before, run_folder("after", "0.5", "4.5", maps, b"another drawing"))
    assert after.returncode == 0, after.stdout
    assert "differs (presentation): figures/bars.png" in after.stdout
    for name, kappa, changed_maps in (("kappa", "0.6", maps), ("maps", "0.5", maps + 1e-7)):
        result = same(before, run_folder(name, kappa, "3.0", changed_maps, b"one drawing"))
        assert result.returncode == 1, result.stdout
        assert f"differs (numbers): models/m/{'history.csv' if name == 'kappa' else 'maps.npz'}" in result.stdout
