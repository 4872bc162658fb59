"""Calibration metrics by hand, temperature scaling fitted on tune only, and a readable reliability figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import log_loss

from murad.calibration import (
    apply_temperature,
    bin_index,
    brier_score,
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
)
from murad.families import PAPER_MODELS
from murad.figures import reliability_figure
from murad.plotting import apply_style, overlapping_texts
from murad.result_names import ordered

MODELS = {
    2: ["densenet121", "resnext101_32x8d"],
    20: [*PAPER_MODELS, "ensemble_best_per_body_part", "ensemble_top3_mean"],
}
PARTS = ["elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"]


def synthetic(n: int, temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(z), probabilities sigmoid(z / temperature): scaling by ``temperature`` fixes them."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    return (rng.random(n) < expit(z)).astype(int), expit(z / temperature)


def studies(labels, probs, seed: int = 0) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "study": [f"s{i:05d}" for i in range(n)],
            "patient": [f"p{i}" for i in range(n)],
            "body_part": np.random.default_rng(seed).choice(PARTS, n),
            "label": labels,
            "prob": probs,
        }
    ).assign(pred=lambda t: (t["prob"] > 0.5).astype(int))


def test_brier_score_by_hand():
    assert brier_score([0, 1, 1], [0.2, 0.6, 1.0]) == pytest.approx((0.04 + 0.16 + 0.0) / 3)


def test_a_probability_on_an_inner_edge_goes_to_the_bin_above_and_one_goes_to_the_last():
    assert bin_index([0.0, 0.1, 0.3, 0.7, 0.9999, 1.0], 10).tolist() == [0, 1, 3, 7, 9, 9]
    assert bin_index([0.0, 0.25, 0.5, 0.75, 1.0], 4).tolist() == [0, 1, 2, 3, 3]


# Probabilities on bin edges: with 4 bins 0.25, 0.5 and 0.75 open bins 1, 2 and 3, and 1.0 joins bin 3; with 10 bins
# 0.25 sits inside bin 2, 0.5 opens bin 5, 0.75 sits inside bin 7 and 1.0 joins bin 9.
EDGE_LABELS = [0, 0, 1, 1, 1, 1]
EDGE_PROBS = [0.0, 0.25, 0.25, 0.5, 0.75, 1.0]


def test_reliability_table_and_ece_by_hand_with_probabilities_on_bin_edges():
    table = reliability_table(EDGE_LABELS, EDGE_PROBS, bins=4)
    assert table["lower"].tolist() == [0.0, 0.25, 0.5, 0.75]
    assert table["upper"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert table["count"].tolist() == [1, 2, 1, 2]
    assert table["mean_prob"].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.875])
    assert table["observed"].tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    # |gaps| 0, 0.25, 0.5, 0.125 weighted by counts 1, 2, 1, 2 over 6 studies
    assert expected_calibration_error(EDGE_LABELS, EDGE_PROBS, bins=4) == pytest.approx(1.25 / 6)


def test_ece_leaves_out_empty_bins():
    table = reliability_table(EDGE_LABELS, EDGE_PROBS, bins=10)
    assert table["count"].tolist() == [1, 0, 2, 0, 0, 1, 0, 1, 0, 1]
    assert table.loc[table["count"] == 0, ["mean_prob", "observed"]].isna().all().all()
    # gaps: bin 0: 0, bin 2: 0.25 (two studies), bin 5: 0.5, bin 7: 0.25, bin 9: 0
    assert expected_calibration_error(EDGE_LABELS, EDGE_PROBS, bins=10) == pytest.approx(1.25 / 6)


def test_perfectly_calibrated_data_has_ece_near_zero():
    rng = np.random.default_rng(1)
    probs = rng.random(200_000)
    labels = (rng.random(probs.size) < probs).astype(int)
    assert expected_calibration_error(labels, probs) < 0.01
    assert brier_score(labels, probs) == pytest.approx(1 / 6, abs=0.005)  # E[p(1 - p)] for p uniform


def test_temperature_scaling_recovers_a_known_temperature():
    labels, probs = synthetic(50_000, temperature=1 / 3, seed=2)  # probs = sigmoid(3z): overconfident
    temperature = fit_temperature(labels, probs)
    assert temperature == pytest.approx(3.0, rel=0.05)
    assert temperature == fit_temperature(labels, probs)  # deterministic
    assert expected_calibration_error(labels, apply_temperature(probs, temperature)) < 0.02


@pytest.mark.parametrize(
    ("labels", "probs"),
    [
        synthetic(2_000, 1.0, seed=3),  # calibrated already
        synthetic(2_000, 1 / 2, seed=4),  # overconfident
        synthetic(2_000, 4.0, seed=5),  # underconfident
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]),  # an untrained model: every logit 0, any T the same
        ([1, 1, 1], [0.2, 0.9, 1.0]),  # one class only
        ([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0]),  # right and certain: the best T is the smallest allowed
    ],
    ids=["calibrated", "overconfident", "underconfident", "constant", "one-class", "certain"],
)
def test_temperature_scaling_never_increases_the_tuning_nll(labels, probs):
    temperature = fit_temperature(labels, probs)
    before = log_loss(labels, np.clip(probs, 1e-6, 1 - 1e-6), labels=[0, 1])
    assert log_loss(labels, apply_temperature(probs, temperature), labels=[0, 1]) <= before + 1e-12


def test_calibration_report_fits_the_temperature_on_tune_and_reports_valid():
    tune = studies(*synthetic(5_000, 1 / 3, seed=6), seed=6)  # tune asks for T = 3
    valid = studies(*synthetic(3_000, 1.0, seed=7), seed=7)  # valid would ask for T = 1
    report = calibration_report(tune, valid)
    fitted = fit_temperature(tune["label"], tune["prob"])
    assert report["scope"].tolist() == ["overall", *PARTS]
    assert (report["temperature"] == fitted).all()
    assert abs(fit_temperature(valid["label"], valid["prob"]) - fitted) > 1
    overall = report.iloc[0]
    label, prob = valid["label"], valid["prob"]
    assert overall["n_studies"] == len(valid)
    assert overall["brier_before"] == pytest.approx(brier_score(label, prob))
    assert overall["ece_before"] == pytest.approx(expected_calibration_error(label, prob))
    assert overall["brier_after"] == pytest.approx(brier_score(label, apply_temperature(prob, fitted)))
    assert overall["ece_after"] == pytest.approx(expected_calibration_error(label, apply_temperature(prob, fitted)))
    assert overall["ece_after"] > overall["ece_before"]  # valid was calibrated: tune's T makes it worse
    elbow = valid[valid["body_part"] == "elbow"]
    row = report.set_index("scope").loc["elbow"]
    assert row["n_studies"] == len(elbow)
    assert row["brier_before"] == pytest.approx(brier_score(elbow["label"], elbow["prob"]))


@pytest.mark.parametrize("scaled", [False, True], ids=["before", "before-and-after"])
@pytest.mark.parametrize("count", sorted(MODELS), ids=lambda n: f"{n}_models")
def test_reliability_figure_has_no_overlapping_texts(count, scaled):
    apply_style()
    tables = {name: studies(*synthetic(300, 0.5 + i / 10, seed=i)) for i, name in enumerate(MODELS[count])}
    temperatures = {name: 0.5 + i / 10 for i, name in enumerate(MODELS[count])} if scaled else None
    figure = reliability_figure(tables, temperatures)
    try:
        titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
        assert titles == ordered(MODELS[count])  # models by name, then ensembles
        assert overlapping_texts(figure) == []
    finally:
        plt.close(figure)
