"""Study-level aggregation and metrics with bootstrap confidence intervals.

A study's probability is the mean (or max) of its images' probabilities; it is called abnormal when the probability
exceeds the threshold (0.5, as in the MURA and MuRAD papers). Metrics are computed with scikit-learn, overall and per
body part, each with a 95% percentile bootstrap interval from resampling studies (fixed seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_score, recall_score, roc_auc_score

from .errors import InputError

STUDY_COLUMNS = ["study", "patient", "body_part", "label", "prob", "pred"]
METRICS = ["accuracy", "precision", "recall", "f1", "kappa", "auc"]
AGGREGATIONS = ("mean", "max")


def aggregate_studies(images: pd.DataFrame, how: str = "mean", threshold: float = 0.5) -> pd.DataFrame:
    """One row per study (sorted by study): its label, aggregated probability and prediction."""
    if how not in AGGREGATIONS:
        raise ValueError(f"study aggregation must be one of {AGGREGATIONS}, got {how!r}")
    grouped = images.groupby("study", sort=True)
    studies = grouped.agg(
        patient=("patient", "first"), body_part=("body_part", "first"), label=("label", "first"), prob=("prob", how)
    ).reset_index()
    return with_prediction(studies, threshold)


def with_prediction(studies: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Study rows sorted by study, with the prediction ``prob > threshold``, in ``STUDY_COLUMNS``."""
    studies = studies.sort_values("study", kind="stable").reset_index(drop=True)
    studies["pred"] = (studies["prob"] > threshold).astype(int)
    return studies[STUDY_COLUMNS]


def scopes(studies: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """What every metric is reported over: ``overall``, then each body part (sorted)."""
    return [("overall", studies), *studies.groupby("body_part", sort=True)]


def point_metrics(label: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    pred = (prob > threshold).astype(int)
    both = len(np.unique(label)) == 2
    return {
        "accuracy": accuracy_score(label, pred),
        "precision": precision_score(label, pred, zero_division=0.0),
        "recall": recall_score(label, pred, zero_division=0.0),
        "f1": f1_score(label, pred, zero_division=0.0),
        "kappa": cohen_kappa_score(label, pred) if both or len(np.unique(pred)) == 2 else float("nan"),
        "auc": roc_auc_score(label, prob) if both else float("nan"),
    }


def _bootstrap(
    label: np.ndarray, prob: np.ndarray, threshold: float, repetitions: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The six metrics on ``repetitions`` resamples of the studies at once (vectorised; NaN where undefined).

    Same definitions as :func:`point_metrics` (a test checks them against scikit-learn on every resample).
    """
    n = len(label)
    index = rng.integers(0, n, (repetitions, n))
    truth, score = label[index].astype(bool), prob[index]
    pred = score > threshold
    tp = (truth & pred).sum(1).astype(float)
    fp = (~truth & pred).sum(1).astype(float)
    fn = (truth & ~pred).sum(1).astype(float)
    tn = n - tp - fp - fn
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        observed = (tp + tn) / n
        expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / n**2
        kappa = np.where(expected < 1, (observed - expected) / (1 - expected), np.nan)
        positives = truth.sum(1)
        negatives = n - positives
        ranks = rankdata(score, axis=1)
        auc = (np.where(truth, ranks, 0).sum(1) - positives * (positives + 1) / 2) / (positives * negatives)
        auc = np.where((positives > 0) & (negatives > 0), auc, np.nan)
    return {"accuracy": observed, "precision": precision, "recall": recall, "f1": f1, "kappa": kappa, "auc": auc}


def resampled_metrics(
    label: np.ndarray, prob: np.ndarray, threshold: float, repetitions: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Each metric on ``repetitions`` bootstrap resamples of the studies (NaN where undefined): what the intervals
    of :func:`study_metrics` are taken from, for other statistics over the same resamples."""
    return _bootstrap(label, prob, threshold, repetitions, rng)


def _with_interval(label, prob, threshold, repetitions, rng) -> dict[str, float]:
    row = point_metrics(label, prob, threshold)
    for name, values in _bootstrap(label, prob, threshold, repetitions, rng).items():
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
        row[f"{name}_low"], row[f"{name}_high"] = float(low), float(high)
    return row


def study_metrics(
    studies: pd.DataFrame, threshold: float = 0.5, repetitions: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Rows ``overall`` and one per body part (sorted): n_studies, n_abnormal, n_called_abnormal (studies predicted
    abnormal: 0 or n_studies for a model that calls every study the same class) and each metric with its 95% CI."""
    missing = {"study", "body_part", "label", "prob"} - set(studies.columns)
    if missing:
        raise InputError(f"studies table lacks column(s) {', '.join(sorted(missing))}")
    studies = studies.sort_values("study", kind="stable")
    rows = []
    for scope, group in scopes(studies):
        rng = np.random.default_rng([seed, len(rows)])
        label = group["label"].to_numpy().astype(int)
        prob = group["prob"].to_numpy().astype(float)
        row = {
            "scope": scope,
            "n_studies": len(group),
            "n_abnormal": int(label.sum()),
            "n_called_abnormal": int((prob > threshold).sum()),
        }
        row.update(_with_interval(label, prob, threshold, repetitions, rng))
        rows.append(row)
    columns = ["scope", "n_studies", "n_abnormal", "n_called_abnormal"] + [
        f"{m}{s}" for m in METRICS for s in ("", "_low", "_high")
    ]
    return pd.DataFrame(rows)[columns]
