"""The configuration schema rejects unknown keys and out-of-range values with a message naming the key."""

from __future__ import annotations

import re

import pytest
import yaml
from snakemake.cli import parse_config
from snakemake.utils import update_config

from murad.config import ConfigError, validate_config

from .conftest import REPO, default_config, merged, run_snakemake, snakemake_again

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def test_the_default_config_is_valid_and_defaults_are_filled_in():
    config = validate_config(default_config(), SCHEMA)
    assert config["split"]["check_files"] is True and config["synthetic"]["train_studies"] == 480
    assert config["training"]["defaults"]["batch_size"] == 32 and config["training"]["defaults"]["image_size"] == 128
    assert config["only_models"] is None


def schema_defaults(schema: dict, node: dict | None = None) -> dict:
    """Every default the schema gives, as a nested dict (``$ref``s followed)."""
    node = node or schema
    found = {}
    for key, sub in node.get("properties", {}).items():
        if "$ref" in sub:
            sub = {**schema["$defs"][sub["$ref"].rpartition("/")[2]], **sub}
        if "properties" in sub:
            found[key] = {**sub.get("default", {}), **schema_defaults(schema, sub)}
        elif "default" in sub:
            found[key] = sub["default"]
    return found


def restated(values: dict, defaults: dict, prefix: str = "") -> list[str]:
    """Keys of ``values`` whose value is the default at that key."""
    found = []
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            found += restated(value, defaults[key], f"{prefix}{key}.")
        elif key in defaults and value == defaults[key]:
            found.append(f"{prefix}{key}")
    return found


@pytest.mark.parametrize("name", ["config.yaml", "config.paper.yaml", "config.modern.yaml"])
def test_config_files_state_choices_and_leave_every_default_to_the_schema(name):
    schema = yaml.safe_load(SCHEMA.read_text())
    defaults = schema_defaults(schema)
    config = yaml.safe_load((REPO / name).read_text())
    assert restated(config, defaults) == []
    model_defaults = {**defaults["training"]["defaults"], **config["training"].get("defaults", {})}
    for model, overrides in config["training"]["models"].items():
        assert restated(overrides or {}, model_defaults, f"training.models.{model}.") == []
    validate_config(config, SCHEMA)


def test_the_package_has_no_defaults_of_its_own_that_could_disagree():
    from dataclasses import MISSING, fields

    from murad.synthetic import SyntheticSettings
    from murad.train import TrainSettings

    assert all(field.default is MISSING for field in fields(TrainSettings))
    synthetic = schema_defaults(yaml.safe_load(SCHEMA.read_text()))["synthetic"]
    assert {key: getattr(SyntheticSettings(), key) for key in synthetic} == synthetic


def planned_training(work, *args) -> set[str]:
    dry = snakemake_again(work, "-n", *args)
    assert dry.returncode == 0, dry.stderr[-3000:]
    return set(re.findall(r"^\s*rule train:\n(?:.*\n)*?\s+wildcards: model=(\w+)", dry.stdout, re.M))


def test_a_config_file_on_the_command_line_stands_on_its_own(small_mura, tmp_path):
    # config.yaml (the demo, 18 models) is in the working directory; the given file replaces it, it is not merged in
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    (tmp_path / "mine.yaml").write_text(
        yaml.safe_dump(
            {"dataset": {"source": "mura", "root": str(small_mura)}, "training": {"models": {"resnet34": None}}}
        )
    )
    assert planned_training(tmp_path, "--configfile", str(tmp_path / "mine.yaml")) == {"resnet34"}
    paper = planned_training(
        tmp_path, "--configfile", str(REPO / "config.paper.yaml"), "--config", f"dataset={{root: {small_mura}}}"
    )
    assert paper == set(yaml.safe_load((REPO / "config.paper.yaml").read_text())["training"]["models"])
    dry = snakemake_again(
        tmp_path, "-n", "--configfile", str(REPO / "config.paper.yaml"), "--config", f"dataset={{root: {small_mura}}}"
    )
    assert "results/cache/train_320px.npy" in dry.stdout and "128px" not in dry.stdout  # the demo's size is gone


def test_the_modern_configuration_plans_the_papers_models_as_the_paper_does_and_the_modern_ones(small_mura, tmp_path):
    paper = yaml.safe_load((REPO / "config.paper.yaml").read_text())["training"]["models"]
    modern = yaml.safe_load((REPO / "config.modern.yaml").read_text())["training"]["models"]
    assert {name: modern[name] for name in paper} == paper  # the paper's 18 with the paper's settings
    assert set(modern) - set(paper) == {
        *("convnext_tiny", "convnext_small", "efficientnet_v2_s", "regnet_y_3_2gf", "regnet_y_16gf"),
        *(f"efficientnet_b{k}" for k in range(5)),
        *("swin_t", "swin_v2_t", "vit_b_16", "maxvit_t"),
    }
    root = f"dataset={{root: {small_mura}}}"
    assert planned_training(tmp_path, "--configfile", str(REPO / "config.modern.yaml"), "--config", root) == set(modern)
    dry = snakemake_again(tmp_path, "-n", "--configfile", str(REPO / "config.modern.yaml"), "--config", root)
    assert "results/cache/train_320px.npy" in dry.stdout and "results/cache/train_448px.npy" in dry.stdout


@pytest.mark.parametrize(
    "models, message",
    [
        ("{vit_b_16: {image_size: 200}}", "training.models.vit_b_16.image_size: vit_b_16 takes image sizes of "
         "multiples of 16 px from 32 px (its patches must tile the image), not 200"),
        ("{maxvit_t: null}", "training.models.maxvit_t.image_size: maxvit_t takes image sizes of multiples of 224 px"),
        ("{r3d_18: null}", "training.models.r3d_18: r3d_18 is a video model (torchvision.models.video)"),
        ("{resnet18: null, quantized_resnet18: null}", "training.models.quantized_resnet18: quantized_resnet18 is a "
         "quantized model"),
    ],
)  # fmt: skip
def test_a_size_or_a_model_that_cannot_be_trained_is_refused_before_any_job_in_one_line(tmp_path, models, message):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    refused = snakemake_again(tmp_path, "-n", "--config", f"training={{models: {models}}}")
    assert refused.returncode != 0
    assert f"config key {message}" in refused.stdout + refused.stderr
    assert not (tmp_path / "results").exists()


def test_a_run_can_be_limited_to_some_models_from_the_command_line(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    only = planned_training(tmp_path, "--config", "only_models=[densenet121,resnet34]")
    assert only == {"densenet121", "resnet34"}
    refused = snakemake_again(tmp_path, "-n", "--config", "only_models=[densenet121,alexnet]")
    assert refused.returncode != 0
    assert "config key only_models: alexnet is not one of training.models" in refused.stdout + refused.stderr


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
    assert config["training"]["models"]["densenet161"] == {"images_per_epoch": 64}  # the file's


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
