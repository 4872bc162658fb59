"""The tuning set: whole patients out of train, stratified by body part and label, deterministic by seed."""

from __future__ import annotations

import pandas as pd
import pytest

from murad.mura import parse_image_path
from murad.split import tuning_split
from murad.synthetic import SyntheticSettings, plan_dataset


@pytest.fixture(scope="module")
def images() -> pd.DataFrame:
    """A large plan (no pixels rendered) as the verified image table."""
    studies, plans = plan_dataset(SyntheticSettings(seed=5, train_studies=3000, valid_studies=500))
    labels = dict(studies)
    rows = []
    for split, split_plans in plans.items():
        for plan in split_plans:
            info = parse_image_path(plan.path)
            rows.append([plan.path, info["patient"], info["study"], info["body_part"], labels[info["study"]], split])
    return pd.DataFrame(rows, columns=["path", "patient", "study", "body_part", "label", "split"])


def test_tune_is_patient_disjoint_and_carved_out_of_train_only(images):
    tables = tuning_split(images, fraction=0.2, seed=0)
    train, tune, valid = tables["train"], tables["tune"], tables["valid"]
    assert not set(train["patient"]) & set(tune["patient"])
    assert not set(tune["patient"]) & set(valid["patient"])
    original = images[images["split"] == "train"]
    assert sorted(pd.concat([train, tune])["path"]) == sorted(original["path"])
    assert sorted(valid["path"]) == sorted(images.loc[images["split"] == "valid", "path"])
    assert list(tune.columns) == ["path", "patient", "study", "body_part", "label"]


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3])
def test_tune_is_stratified_by_body_part_and_label(images, fraction):
    tables = tuning_split(images, fraction=fraction, seed=1)
    tune = tables["tune"].drop_duplicates("study")
    everything = images[images["split"] == "train"].drop_duplicates("study")
    share = tune.groupby(["body_part", "label"]).size() / everything.groupby(["body_part", "label"]).size()
    assert len(share) == 14
    assert share.between(fraction - 0.04, fraction + 0.01).all(), share
    assert abs(len(tune) / len(everything) - fraction) < 0.02


def test_same_seed_same_split_other_seed_other_split(images):
    first = tuning_split(images, fraction=0.2, seed=7)["tune"]
    again = tuning_split(images, fraction=0.2, seed=7)["tune"]
    other = tuning_split(images, fraction=0.2, seed=8)["tune"]
    pd.testing.assert_frame_equal(first, again)
    assert set(first["patient"]) != set(other["patient"])


def test_paper_protocol_tunes_on_valid(images):
    tables = tuning_split(images, fraction=0.2, seed=0, tune_on="valid")
    assert len(tables["train"]) == (images["split"] == "train").sum()
    pd.testing.assert_frame_equal(tables["tune"], tables["valid"])
    with pytest.raises(ValueError, match="tune_on"):
        tuning_split(images, fraction=0.2, seed=0, tune_on="test")
