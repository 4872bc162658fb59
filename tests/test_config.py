"""The configuration schema rejects unknown keys and out-of-range values with a message naming the key."""

from __future__ import annotations

import pytest
import yaml
from snakemake.cli import parse_config
from snakemake.utils import update_config

from murad.config import ConfigError, validate_config

from .conftest import REPO, default_config, merged, run_snakemake, snakemake_again

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


# --config as the real Snakemake reads it: parse_config (nested leaves stay strings), merged over config.yaml with
# Snakemake's own update_config, then validated with the parsed mapping as ``overrides``, as common.smk does.
def validated_with(*entries: str, config: dict | None = None) -> dict:
    overrides = parse_config(list(entries))
    config = config if config is not None else default_config()
    update_config(config, overrides)
    return validate_config(config, SCHEMA, overrides=overrides)


def refusal(*entries: str, config: dict | None = None) -> str:
    with pytest.raises(ConfigError) as error:
        validated_with(*entries, config=config)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_snakemake_hands_nested_command_line_values_over_as_strings():
    assert parse_config(["evaluation={threshold: 0.4}"]) == {"evaluation": {"threshold": "0.4"}}
    config = merged(default_config(), parse_config(["evaluation={threshold: 0.4}"]))
    with pytest.raises(ConfigError, match="config key evaluation.threshold: '0.4' is not of type 'number'"):
        validate_config(config, SCHEMA)  # no overrides: read as the config file's values, as before


@pytest.mark.parametrize("text, number", [("0.4", 0.4), ("1e-1", 0.1), (".25", 0.25), ("+0.75", 0.75)])
def test_a_nested_number_is_read_as_a_number(text, number):
    config = validated_with(f"evaluation={{threshold: {text}}}")
    assert config["evaluation"]["threshold"] == number
    assert type(config["evaluation"]["threshold"]) is float


def test_a_whole_number_where_a_number_goes_stays_an_int_as_snakemake_reads_it_at_the_top():
    config = validated_with("cam={tolerance: 0}")
    assert config["cam"]["tolerance"] == 0 and type(config["cam"]["tolerance"]) is int


def test_nested_integers_are_read_as_integers():
    config = validated_with("synthetic={train_studies: 500, seed: 7}", "evaluation={bootstrap: 200}")
    assert config["synthetic"] == {"seed": 7, "train_studies": 500, "valid_studies": 80}
    assert config["evaluation"]["bootstrap"] == 200
    assert type(config["synthetic"]["train_studies"]) is int


@pytest.mark.parametrize(
    "text, value",
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False), ("FALSE", False)],
)
def test_nested_booleans_are_read_with_yaml_1_2_spellings(text, value):
    config = validated_with(f"split={{check_files: {text}}}", f"training={{defaults: {{hflip: {text}}}}}")
    assert config["split"]["check_files"] is value
    assert config["training"]["defaults"]["hflip"] is value


@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "1", "tRue"])
def test_other_boolean_spellings_are_refused_naming_the_key(text):
    assert f"config key split.check_files: '{text}' is not of type 'boolean'" in refusal(
        f"split={{check_files: {text}}}"
    )


@pytest.mark.parametrize("text", ["null", "~", "NULL", ""])
def test_null_is_read_where_the_schema_allows_null(text):
    config = default_config()
    config["training"]["defaults"]["images_per_epoch"] = 64  # the file's value, replaced by the command line's
    config = validated_with(f"training={{defaults: {{images_per_epoch: {text}}}}}", config=config)
    assert config["training"]["defaults"]["images_per_epoch"] is None


def test_an_integer_is_read_where_the_schema_allows_integer_or_null():
    config = validated_with("training={defaults: {images_per_epoch: 500}}")
    assert config["training"]["defaults"]["images_per_epoch"] == 500


def test_a_per_model_override_is_read_through_any_of_and_ref():
    config = validated_with(
        "training={models: {densenet121: {lr: 1e-4, epochs: 2, hflip: false, images_per_epoch: null}, resnet34: null}}"
    )
    assert config["training"]["models"]["densenet121"] == {
        "epochs": 2,
        "lr": 1e-4,
        "hflip": False,
        "images_per_epoch": None,
    }
    assert config["training"]["models"]["resnet34"] is None
    assert config["training"]["models"]["densenet161"] == {"epochs": 1, "images_per_epoch": 64}  # the file's


def test_a_per_model_override_that_is_really_wrong_is_refused_naming_the_key():
    assert "config key training.models.densenet121.epochs: 'two' is not of type 'integer'" in refusal(
        "training={models: {densenet121: {epochs: two}}}"
    )


def test_a_list_of_names_stays_a_list_of_strings_and_null_is_read():
    assert validated_with("cam={models: [densenet121, resnet34]}")["cam"]["models"] == ["densenet121", "resnet34"]
    assert validated_with("cam={models: null}")["cam"]["models"] is None


def test_array_items_are_read_one_by_one_and_snakemakes_copy_is_left_alone(tmp_path):
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        yaml.safe_dump(
            {
                "type": "object",
                "$defs": {"size": {"type": "integer", "minimum": 1}},
                "properties": {
                    "sizes": {"type": "array", "items": {"$ref": "#/$defs/size"}},
                    "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
                    "flag": {"type": "boolean"},
                },
            }
        )
    )
    overrides = parse_config(["sizes=[64, 128]", "pair=[7, 0.5]", "flag=true"])  # top-level text from BaseLoader
    config = {}
    update_config(config, overrides)
    validate_config(config, schema, overrides=overrides)
    assert config == {"sizes": [64, 128], "pair": ["7", 0.5], "flag": True}
    assert overrides == {"sizes": ["64", "128"], "pair": ["7", "0.5"], "flag": "true"}


@pytest.mark.parametrize(
    "entry, path, text",
    [
        ("evaluation={aggregation: max}", ("evaluation", "aggregation"), "max"),  # enum
        ("training={defaults: {weights: imagenet}}", ("training", "defaults", "weights"), "imagenet"),  # enum via $ref
        ("dataset={root: 123}", ("dataset", "root"), "123"),  # a path that looks like a number
        ("cam={colormap: 1.5}", ("cam", "colormap"), "1.5"),
        ("report={palette: true}", ("report", "palette"), "true"),
    ],
)
def test_strings_the_schema_takes_are_left_strings(entry, path, text):
    value = validated_with(entry)
    for key in path:
        value = value[key]
    assert value == text


@pytest.mark.parametrize(
    "entry, message",
    [
        ("evaluation={threshold: abc}", "config key evaluation.threshold: 'abc' is not of type 'number'"),
        (
            "evaluation={threshold: 1.5}",
            "config key evaluation.threshold: 1.5 is greater than or equal to the maximum of 1",
        ),
        ("evaluation={threshold: nan}", "config key evaluation.threshold: 'nan' is not of type 'number'"),
        ("evaluation={threshold: .inf}", "config key evaluation.threshold: '.inf' is not of type 'number'"),
        ("evaluation={bootstrap: 5.0}", "config key evaluation.bootstrap: '5.0' is not of type 'integer'"),
        ("evaluation={bootstrap: 1e3}", "config key evaluation.bootstrap: '1e3' is not of type 'integer'"),
        ("evaluation={bootstrap: 1_000}", "config key evaluation.bootstrap: '1_000' is not of type 'integer'"),
        ("cam={per_body_part: -3}", "config key cam.per_body_part: -3 is less than the minimum of 0"),
        (
            "training={defaults: {images_per_epoch: many}}",
            "config key training.defaults.images_per_epoch: 'many' is not of type 'integer', 'null'",
        ),
        ("training={defaults: {weights: null}}", "config key training.defaults.weights: 'null' is not one of"),
        ("cam={models: densenet121}", "config key cam.models: 'densenet121' is not of type 'array', 'null'"),
        ("evaluation={threshhold: 0.4}", "config key evaluation: Additional properties are not allowed ('threshhold'"),
    ],
)
def test_command_line_values_that_are_really_wrong_are_refused_naming_the_key(entry, message):
    assert message in refusal(entry)


def test_a_quoted_string_in_a_config_file_is_still_refused():
    config = merged(default_config(), {"evaluation": {"threshold": "0.4"}})
    assert "config key evaluation.threshold: '0.4' is not of type 'number'" in refusal(
        "evaluation={bootstrap: 500}", config=config
    )


def test_the_workflow_reads_nested_command_line_values_by_the_schema(tmp_path):
    # `--config` is greedy: targets go before it. A dry run of the split needs no data.
    result = run_snakemake(
        tmp_path,
        "-n",
        "results/split/table2.csv",
        "--config",
        "evaluation={threshold: 0.4}",
        "training={models: {densenet121: {epochs: 2, images_per_epoch: null}}}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    refused = snakemake_again(tmp_path, "-n", "results/split/table2.csv", "--config", "evaluation={threshold: abc}")
    assert refused.returncode != 0
    assert "config key evaluation.threshold: 'abc' is not of type 'number'" in refused.stdout + refused.stderr
