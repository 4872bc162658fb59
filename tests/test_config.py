"""The configuration schema rejects unknown keys and out-of-range values with a message naming the key."""

from __future__ import annotations

import pytest

from murad.config import ConfigError, validate_config

from .conftest import REPO, default_config, merged, run_snakemake

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def test_the_default_config_is_valid_and_defaults_are_filled_in():
    config = default_config()
    del config["split"]["check_files"]
    validate_config(config, SCHEMA)
    assert config["split"]["check_files"] is True


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"bogus": 1}, "(top level): Additional properties are not allowed ('bogus'"),
        ({"split": {"tune_fractoin": 0.2}}, "split: Additional properties are not allowed ('tune_fractoin'"),
        ({"split": {"tune_fraction": 0.9}}, "split.tune_fraction: 0.9 is greater than the maximum of 0.5"),
        ({"split": {"tune_fraction": 0}}, "split.tune_fraction"),
        ({"synthetic": {"train_studies": 10}}, "synthetic.train_studies: 10 is less than the minimum of 28"),
        ({"dataset": {"source": "nih"}}, "dataset.source: 'nih' is not one of"),
        ({"split": {"tune_on": "test"}}, "split.tune_on"),
    ],
)
def test_bad_values_name_their_key(overrides, key):
    with pytest.raises(ConfigError) as error:
        validate_config(merged(default_config(), overrides), SCHEMA)
    message = str(error.value)
    assert key in message
    assert "\n" not in message


def test_the_workflow_refuses_a_bad_config_before_running_anything(tmp_path):
    result = run_snakemake(tmp_path, "-c1", config=merged(default_config(), {"split": {"tune_fraction": 2}}))
    assert result.returncode != 0
    assert "config key split.tune_fraction: 2 is greater than the maximum of 0.5" in result.stderr
    assert not (tmp_path / "results").exists()
