"""The real Snakemake workflow on the default configuration."""

from __future__ import annotations

import pandas as pd

from .conftest import run_snakemake


def test_default_config_runs_to_a_verified_split(tmp_path):
    result = run_snakemake(tmp_path, "-c2", "results/split/table2.csv", "results/split/tune.csv")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "results/split/table2.csv").set_index("body_part")
    assert table.loc["total", "total_studies"] == 560
    for name in ("train", "tune", "valid"):
        split = pd.read_csv(tmp_path / f"results/split/{name}.csv")
        assert len(split) > 0 and set(split["label"]) == {0, 1}
    assert (tmp_path / "results/logs/synthesize_mura.log").stat().st_size > 0
    # nothing left to do afterwards
    again = run_snakemake(tmp_path, "-n", "results/split/table2.csv", "results/split/tune.csv")
    assert "Nothing to be done" in again.stdout + again.stderr
