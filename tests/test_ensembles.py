"""Ensembles are chosen on the tuning split only, and computed as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd

from murad.ensembles import best_per_body_part, top_k_mean, tuning_scores
from murad.metrics import PREDICTED_STUDY_COLUMNS

PARTS = ["elbow", "wrist"]


def studies(prefix: str, labels: list[int], probs: list[float], parts: list[str]) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "study": [f"{prefix}{i:02d}" for i in range(n)],
            "patient": [f"p{i}" for i in range(n)],
            "body_part": parts,
            "label": labels,
            "prob": probs,
            "pred": (np.array(probs) > 0.5).astype(int),
        }
    )[PREDICTED_STUDY_COLUMNS]


LABELS = [0, 1, 0, 1, 0, 1, 0, 1]
PARTS8 = ["elbow"] * 4 + ["wrist"] * 4
PERFECT = [0.1, 0.9, 0.2, 0.8, 0.1, 0.9, 0.2, 0.8]
INVERTED = [0.9, 0.1, 0.8, 0.2, 0.9, 0.1, 0.8, 0.2]
# good on elbow, wrong on wrist
ELBOW_ONLY = PERFECT[:4] + INVERTED[4:]


def test_choices_follow_the_tuning_split_never_valid():
    # On tune, "a" is right on elbow only and "b" right on wrist only; on valid it is the other way round.
    tune = {
        "a": studies("t", LABELS, ELBOW_ONLY, PARTS8),
        "b": studies("t", LABELS, INVERTED[:4] + PERFECT[4:], PARTS8),
    }
    valid = {
        "a": studies("v", LABELS, INVERTED[:4] + PERFECT[4:], PARTS8),
        "b": studies("v", LABELS, ELBOW_ONLY, PARTS8),
    }
    scores = tuning_scores(tune)
    ensemble, members = best_per_body_part(scores, valid)
    assert members.set_index("scope")["model"].to_dict() == {"elbow": "a", "wrist": "b"}
    # elbow answered by a (wrong on valid's elbow), wrist by b (wrong on valid's wrist): every study wrong
    assert (ensemble["pred"] != ensemble["label"]).all()
    assert list(ensemble["study"]) == sorted(ensemble["study"])


def test_top_k_mean_averages_the_k_best_on_tune_with_ties_broken_by_auc_then_name():
    tune = {
        "c": studies("t", LABELS, PERFECT, PARTS8),
        "a": studies("t", LABELS, [0.4, 0.6, 0.45, 0.55, 0.4, 0.6, 0.45, 0.55], PARTS8),  # same kappa as c
        "b": studies("t", LABELS, INVERTED, PARTS8),
        "d": studies("t", LABELS, [0.1, 0.9, 0.2, 0.3, 0.1, 0.9, 0.2, 0.8], PARTS8),  # one error: lower kappa
    }
    valid = {
        name: studies("v", LABELS, list(np.linspace(0.05, 0.95, 8) * (i + 1) / 4), PARTS8)
        for i, name in enumerate(sorted(tune))
    }
    ensemble, members = top_k_mean(tuning_scores(tune), valid, k=3)
    assert list(members["model"]) == ["a", "c", "d"]  # a and c tie on kappa and AUC: by name
    expected = np.mean([valid[m]["prob"] for m in ("a", "c", "d")], axis=0)
    np.testing.assert_allclose(ensemble["prob"], expected)
    assert (ensemble["pred"] == (expected > 0.5)).all()


def test_a_body_part_missing_from_the_tuning_split_goes_to_the_overall_best():
    tune = {"a": studies("t", LABELS, INVERTED, ["elbow"] * 8), "b": studies("t", LABELS, PERFECT, ["elbow"] * 8)}
    valid = {"a": studies("v", LABELS, PERFECT, PARTS8), "b": studies("v", LABELS, INVERTED, PARTS8)}
    ensemble, members = best_per_body_part(tuning_scores(tune), valid)
    assert members.set_index("scope")[["model", "chosen_on"]].to_dict("index") == {
        "elbow": {"model": "b", "chosen_on": "elbow"},
        "wrist": {"model": "b", "chosen_on": "overall"},
    }
    assert len(ensemble) == 8 and (ensemble["pred"] != ensemble["label"]).all()
