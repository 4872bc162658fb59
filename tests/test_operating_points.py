"""Operating points are chosen on the tuning split only, by the documented rules, and evaluated on valid."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from murad.errors import InputError
from murad.operating_points import (
    choose_thresholds,
    operating_point_metrics,
    read_operating_points,
    save_operating_points,
)


def studies(labels, probs) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "study": [f"s{i:05d}" for i in range(n)],
            "patient": [f"p{i}" for i in range(n)],
            "body_part": "wrist",
            "label": labels,
            "prob": probs,
        }
    ).assign(pred=lambda t: (t["prob"] > 0.5).astype(int))


# Tune: normals at 0.1, 0.2, 0.3, 0.45 and abnormals at 0.4, 0.5, 0.6, 0.7. Cuts 0.3 and 0.45 both reach kappa 0.75
# (one error each); 0.45 is closer to 0.5. The highest cut that misses no abnormal study is 0.3.
TUNE = studies([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.45, 0.4, 0.5, 0.6, 0.7])
# Valid: the best kappa is at 0.7; an abnormal study at 0.1 leaves only the cut 0 at full sensitivity.
VALID = studies([0, 0, 0, 0, 1, 1, 1, 1], [0.2, 0.5, 0.6, 0.7, 0.1, 0.8, 0.85, 0.9])


def test_thresholds_are_chosen_on_tune_never_on_valid():
    chosen = choose_thresholds(TUNE)
    on_valid = choose_thresholds(VALID)
    assert chosen["best_kappa"]["threshold"] == 0.45
    assert chosen["rule_out"]["threshold"] == 0.3
    assert on_valid["best_kappa"]["threshold"] == 0.7  # what a choice on valid would have been
    assert on_valid["rule_out"]["threshold"] == 0.0
    assert chosen["best_kappa"] | {"threshold": None} == {
        "threshold": None,
        "chosen_on": "tune",
        "rule": "highest study-level Cohen's kappa; ties: closest to 0.5, then the lower",
        "tune_sensitivity": 0.75,
        "tune_specificity": 1.0,
        "tune_kappa": 0.75,
    }
    assert (chosen["rule_out"]["tune_sensitivity"], chosen["rule_out"]["tune_specificity"]) == (1.0, 0.75)
    rows = operating_point_metrics(VALID, chosen, repetitions=20).set_index("operating_point")
    assert rows["threshold"].to_dict() == {"best_kappa": 0.45, "rule_out": 0.3}
    # on valid, > 0.45 calls 3 of 4 normals abnormal and finds 3 of 4 abnormals
    assert rows.loc["best_kappa", ["sensitivity", "specificity"]].tolist() == [0.75, 0.25]


def test_kappa_ties_go_to_the_threshold_closest_to_half_then_to_the_lower():
    # Cuts 0.375 and 0.625 both give kappa 2/3 (one error each) and are equally far from 0.5.
    chosen = choose_thresholds(studies([0, 0, 1, 0, 1, 1], [0.1, 0.375, 0.5, 0.625, 0.75, 0.9]))
    assert chosen["best_kappa"]["threshold"] == 0.375
    assert chosen["best_kappa"]["tune_kappa"] == pytest.approx(2 / 3)
    # 0.45 and 0.55 are as far from 0.5 though their float distances differ in the last bit
    chosen = choose_thresholds(studies([0, 0, 1, 0, 1, 1], [0.1, 0.45, 0.5, 0.55, 0.75, 0.9]))
    assert chosen["best_kappa"]["threshold"] == 0.45


def test_best_kappa_is_the_best_cut_of_a_brute_force_search():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    probs = np.round(np.clip(0.5 + 0.25 * (labels - 0.5) + rng.normal(0, 0.2, 300), 0, 1), 2)  # with ties
    chosen = choose_thresholds(studies(labels, probs))["best_kappa"]
    kappas = {t: cohen_kappa_score(labels, (probs > t).astype(int)) for t in np.unique(probs)}
    best = max(kappas.values())
    assert chosen["tune_kappa"] == pytest.approx(best)
    assert chosen["threshold"] == min((t for t, k in kappas.items() if k >= best - 1e-12), key=lambda t: abs(t - 0.5))


def test_rule_out_is_the_highest_threshold_with_sensitivity_of_at_least_095():
    # 20 abnormal studies: missing one (the one at 0.05) keeps sensitivity at 0.95, missing two does not.
    abnormal = [0.05, *np.linspace(0.2, 0.95, 19)]
    normal = [0.1, 0.15, 0.3, 0.5]
    chosen = choose_thresholds(studies([1] * 20 + [0] * 4, abnormal + normal))["rule_out"]
    assert chosen["threshold"] == 0.15  # the next cut, 0.2, would rule the abnormal study at 0.2 normal too
    assert chosen["tune_sensitivity"] == 0.95
    assert chosen["tune_specificity"] == 0.5


def test_choosing_needs_both_classes():
    with pytest.raises(InputError, match="normal and abnormal"):
        choose_thresholds(studies([1, 1], [0.2, 0.7]))


def test_operating_point_metrics_by_hand_and_against_a_loop_over_the_same_resamples():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 60)
    probs = np.clip(0.5 + 0.3 * (labels - 0.5) + rng.normal(0, 0.2, 60), 0, 1)
    table = operating_point_metrics(studies(labels, probs), {"half": 0.5, "none": 1.0}, repetitions=200, seed=3)
    half, none = table.iloc[0], table.iloc[1]
    pred = probs > 0.5
    assert half["sensitivity"] == pytest.approx(pred[labels == 1].mean())
    assert half["specificity"] == pytest.approx(1 - pred[labels == 0].mean())
    assert half["ppv"] == pytest.approx(labels[pred].mean())
    assert half["npv"] == pytest.approx(1 - labels[~pred].mean())
    assert (half["n_studies"], half["n_abnormal"]) == (60, labels.sum())
    # no abnormal calls above 1.0: PPV is undefined, sensitivity 0, NPV the share of normals
    assert np.isnan(none["ppv"]) and np.isnan(none["ppv_low"]) and none["sensitivity"] == 0
    assert none["npv"] == pytest.approx(1 - labels.mean())
    index = np.random.default_rng(3).integers(0, 60, (200, 60))
    sensitivity = [(probs[i][labels[i] == 1] > 0.5).mean() for i in index]
    ppv = [labels[i][probs[i] > 0.5].mean() for i in index]
    assert [half["sensitivity_low"], half["sensitivity_high"]] == pytest.approx(np.percentile(sensitivity, [2.5, 97.5]))
    assert [half["ppv_low"], half["ppv_high"]] == pytest.approx(np.percentile(ppv, [2.5, 97.5]))


def test_operating_point_metrics_do_not_depend_on_row_order():
    table = operating_point_metrics(VALID, {"half": 0.5}, repetitions=50)
    shuffled = operating_point_metrics(VALID.sample(frac=1, random_state=0), {"half": 0.5}, repetitions=50)
    pd.testing.assert_frame_equal(table, shuffled)


def test_operating_points_json_round_trip(tmp_path):
    path = tmp_path / "models" / "densenet121" / "operating_points.json"
    chosen = choose_thresholds(TUNE)
    save_operating_points(chosen, path, model_sha256="ab" * 32)
    assert read_operating_points(path).operating_points == chosen
    assert read_operating_points(path).model_sha256 == "ab" * 32
    saved = json.loads(path.read_text())
    assert saved["prediction"].endswith("> threshold")
    assert sorted(p.name for p in path.parent.iterdir()) == ["operating_points.json"]  # nothing staged left over


def test_a_failed_save_leaves_no_file(tmp_path):
    path = tmp_path / "operating_points.json"
    with pytest.raises(TypeError):
        save_operating_points({"best_kappa": {"threshold": object()}}, path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"thresholds": {}}',
        '{"operating_points": {"rule_out": {"threshold": 1.5}}}',
        '{"operating_points": {}, "model_sha256": "not a digest"}',
    ],
    ids=["not-json", "no-operating-points", "threshold-out-of-range", "model-digest-not-sha256"],
)
def test_loading_a_bad_file_names_it(tmp_path, content):
    path = tmp_path / "operating_points.json"
    path.write_text(content)
    with pytest.raises(InputError, match="operating_points.json"):
        read_operating_points(path)
