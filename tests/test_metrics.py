"""Study aggregation and metrics against hand-computed confusion matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from murad.metrics import METRICS, aggregate_studies, study_metrics


def images_table() -> pd.DataFrame:
    # study s1 has views that disagree: 0.9 and 0.3 -> mean 0.6 (abnormal), max 0.9
    rows = [
        ("s1/i1", "p1", "s1", "hand", 1, 0.9),
        ("s1/i2", "p1", "s1", "hand", 1, 0.3),
        ("s2/i1", "p2", "s2", "hand", 0, 0.2),
        ("s3/i1", "p3", "s3", "hand", 1, 0.4),
        ("s4/i1", "p4", "s4", "wrist", 0, 0.7),
        ("s5/i1", "p5", "s5", "wrist", 1, 0.8),
        ("s5/i2", "p5", "s5", "wrist", 1, 0.6),
        ("s6/i1", "p6", "s6", "wrist", 0, 0.1),
        ("s6/i2", "p6", "s6", "wrist", 0, 0.45),
    ]
    return pd.DataFrame(rows, columns=["path", "patient", "study", "body_part", "label", "prob"])


def test_mean_and_max_aggregation_with_disagreeing_views():
    mean = aggregate_studies(images_table()).set_index("study")
    assert mean.loc["s1", "prob"] == pytest.approx(0.6) and mean.loc["s1", "pred"] == 1
    assert mean.loc["s6", "prob"] == pytest.approx(0.275) and mean.loc["s6", "pred"] == 0
    maximum = aggregate_studies(images_table(), how="max").set_index("study")
    assert maximum.loc["s1", "prob"] == pytest.approx(0.9)
    assert list(mean.columns) == ["patient", "body_part", "label", "prob", "pred"]


def test_metrics_match_the_hand_computed_confusion_matrix():
    studies = aggregate_studies(images_table())
    # predictions: s1 1 (TP), s2 0 (TN), s3 0 (FN), s4 1 (FP), s5 1 (TP), s6 0 (TN) -> TP 2, TN 2, FP 1, FN 1
    table = study_metrics(studies, repetitions=200).set_index("scope")
    overall = table.loc["overall"]
    assert overall["n_studies"] == 6 and overall["n_abnormal"] == 3
    assert overall["accuracy"] == pytest.approx(4 / 6)
    assert overall["precision"] == pytest.approx(2 / 3)
    assert overall["recall"] == pytest.approx(2 / 3)
    assert overall["f1"] == pytest.approx(2 / 3)
    observed, expected = 4 / 6, (3 / 6) * (3 / 6) + (3 / 6) * (3 / 6)
    assert overall["kappa"] == pytest.approx((observed - expected) / (1 - expected))
    # AUC by hand: abnormal probs 0.6, 0.4, 0.7 against normal 0.2, 0.7, 0.275 -> 6.5 of 9 pairs ordered right
    assert overall["auc"] == pytest.approx(6.5 / 9)
    hand = table.loc["hand"]  # s1 TP, s2 TN, s3 FN
    assert hand["accuracy"] == pytest.approx(2 / 3) and hand["recall"] == pytest.approx(0.5)
    assert hand["precision"] == pytest.approx(1.0)


def test_intervals_bracket_the_estimate_and_body_parts_sum_to_overall():
    rng = np.random.default_rng(0)
    n = 300
    label = rng.integers(0, 2, n)
    prob = np.clip(label * 0.35 + rng.random(n) * 0.65, 0, 1)
    parts = rng.choice(["elbow", "hand", "wrist"], n)
    studies = pd.DataFrame({"study": [f"s{i:03d}" for i in range(n)], "body_part": parts, "label": label, "prob": prob})
    table = study_metrics(studies, repetitions=300, seed=3).set_index("scope")
    for metric in METRICS:
        assert (table[f"{metric}_low"] <= table[metric]).all() and (table[metric] <= table[f"{metric}_high"]).all()
    per_part = table.drop(index="overall")
    assert per_part["n_studies"].sum() == table.loc["overall", "n_studies"] == n
    assert per_part["n_abnormal"].sum() == table.loc["overall", "n_abnormal"]
    again = study_metrics(studies.sample(frac=1, random_state=1), repetitions=300, seed=3).set_index("scope")
    pd.testing.assert_frame_equal(table, again)  # independent of row order


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="prob"):
        study_metrics(pd.DataFrame({"study": ["a"], "body_part": ["hand"], "label": [1]}))


def test_vectorised_bootstrap_agrees_with_scikit_learn_on_every_resample():
    from murad.metrics import _bootstrap, point_metrics

    rng = np.random.default_rng(5)
    label = rng.integers(0, 2, 40)
    prob = np.round(rng.random(40), 1)  # ties on purpose
    fast = _bootstrap(label, prob, 0.5, 25, np.random.default_rng(9))
    index = np.random.default_rng(9).integers(0, 40, (25, 40))
    for r in range(25):
        slow = point_metrics(label[index[r]], prob[index[r]])
        for name in METRICS:
            assert fast[name][r] == pytest.approx(slow[name], nan_ok=True), (name, r)
