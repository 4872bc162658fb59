"""Study-level aggregation and metrics with bootstrap confidence intervals: the one place where each metric is defined.

A study's probability is the mean (or max) of its images' probabilities; it is called abnormal when the probability
exceeds the threshold (0.5, as in the MURA and MuRAD papers). Each metric of :data:`METRIC_DEFINITIONS` has its point
estimate (scikit-learn's) and the same definition over the confusion counts of many resamples at once (the
bootstrap); overall and per body part, each with a 95% percentile bootstrap interval from resampling studies (fixed
seed). Table 3, the figures, ``murad compare`` and the comparison with the best read the list from here: adding a
metric is one entry (and, where the paper reports it, its column in the paper's Table 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_score, recall_score, roc_auc_score

PREDICTED_STUDY_COLUMNS = ["study", "patient", "body_part", "label", "prob", "pred"]
AGGREGATIONS = ("mean", "max")


@dataclass(frozen=True)
class Counts:
    """Confusion counts (floats, one per resample or a single one): true/false positives and negatives."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return self.tp + self.fp + self.fn + self.tn


def confusion_counts(truth: np.ndarray, pred: np.ndarray) -> Counts:
    """The counts of boolean ``truth`` and ``pred`` summed over their last axis."""
    tp = (truth & pred).sum(-1).astype(float)
    fp = (~truth & pred).sum(-1).astype(float)
    fn = (truth & ~pred).sum(-1).astype(float)
    return Counts(tp, fp, fn, truth.shape[-1] - tp - fp - fn)


def _ratio(numerator, denominator, empty: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, empty)


def cohen_kappa(counts: Counts) -> np.ndarray:
    """Cohen's kappa of binary calls; NaN where chance agreement is 1 (one class in truth and calls alike)."""
    n = counts.n
    observed = (counts.tp + counts.tn) / n
    expected = (
        (counts.tp + counts.fp) * (counts.tp + counts.fn) + (counts.tn + counts.fn) * (counts.tn + counts.fp)
    ) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected < 1, (observed - expected) / (1 - expected), np.nan)


def _kappa_point(label: np.ndarray, pred: np.ndarray, prob: np.ndarray) -> float:
    both = len(np.unique(label)) == 2
    return cohen_kappa_score(label, pred) if both or len(np.unique(pred)) == 2 else float("nan")


def _auc_point(label: np.ndarray, pred: np.ndarray, prob: np.ndarray) -> float:
    return roc_auc_score(label, prob) if len(np.unique(label)) == 2 else float("nan")


@dataclass(frozen=True)
class Metric:
    """A study-level metric: its point estimate from labels, calls and probabilities, the same definition over the
    confusion counts of many resamples (None: it needs the probabilities' ranks, as AUC does) and its display name."""

    name: str
    title: str
    point: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
    of_counts: Callable[[Counts], np.ndarray] | None = None


METRIC_DEFINITIONS = [
    Metric("accuracy", "Accuracy", lambda label, pred, prob: accuracy_score(label, pred),
           lambda c: (c.tp + c.tn) / c.n),
    Metric("precision", "Precision", lambda label, pred, prob: precision_score(label, pred, zero_division=0.0),
           lambda c: _ratio(c.tp, c.tp + c.fp, 0.0)),
    Metric("recall", "Recall", lambda label, pred, prob: recall_score(label, pred, zero_division=0.0),
           lambda c: _ratio(c.tp, c.tp + c.fn, 0.0)),
    Metric("f1", "F1", lambda label, pred, prob: f1_score(label, pred, zero_division=0.0),
           lambda c: _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, 0.0)),
    Metric("kappa", "Cohen's kappa", _kappa_point, cohen_kappa),
    Metric("auc", "AUC", _auc_point),
]  # fmt: skip


def metric_names() -> list[str]:
    """Every metric's name, in the order tables and figures show them."""
    return [metric.name for metric in METRIC_DEFINITIONS]


def metric_title(name: str) -> str:
    return next(metric.title for metric in METRIC_DEFINITIONS if metric.name == name)


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
    """Study rows sorted by study, with the prediction ``prob > threshold``, in ``PREDICTED_STUDY_COLUMNS``."""
    studies = studies.sort_values("study", kind="stable").reset_index(drop=True)
    studies["pred"] = (studies["prob"] > threshold).astype(int)
    return studies[PREDICTED_STUDY_COLUMNS]


def scopes(studies: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """What every metric is reported over: ``overall``, then each body part (sorted)."""
    return [("overall", studies), *studies.groupby("body_part", sort=True)]


def point_metrics(label: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Every metric's point estimate on the studies' labels and probabilities."""
    pred = (prob > threshold).astype(int)
    return {metric.name: metric.point(label, pred, prob) for metric in METRIC_DEFINITIONS}


def _ranked_auc(truth: np.ndarray, score: np.ndarray) -> np.ndarray:
    """AUC of each row (Mann-Whitney from ranks, ties averaged); NaN where a row has one class only."""
    positives = truth.sum(-1)
    negatives = truth.shape[-1] - positives
    ranks = rankdata(score, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (np.where(truth, ranks, 0).sum(-1) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def resampled_metrics(
    label: np.ndarray, prob: np.ndarray, threshold: float, repetitions: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Every metric on ``repetitions`` bootstrap resamples of the studies at once (vectorised; NaN where
    undefined): what the intervals of :func:`study_metrics` are taken from, and the paired comparisons (the
    resamples are drawn first, so the same ``rng`` seed gives two models the same studies). Same definitions as
    :func:`point_metrics` (a test checks them against scikit-learn on every resample)."""
    n = len(label)
    index = rng.integers(0, n, (repetitions, n))
    truth, score = label[index].astype(bool), prob[index]
    counts = confusion_counts(truth, score > threshold)
    return {
        metric.name: metric.of_counts(counts) if metric.of_counts else _ranked_auc(truth, score)
        for metric in METRIC_DEFINITIONS
    }


def _with_interval(label, prob, threshold, repetitions, rng) -> dict[str, float]:
    row = point_metrics(label, prob, threshold)
    for name, values in resampled_metrics(label, prob, threshold, repetitions, rng).items():
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
        row[f"{name}_low"], row[f"{name}_high"] = float(low), float(high)
    return row


def study_metrics(
    studies: pd.DataFrame, threshold: float = 0.5, repetitions: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Rows ``overall`` and one per body part (sorted): n_studies, n_abnormal, n_called_abnormal (studies predicted
    abnormal: 0 or n_studies for a model that calls every study the same class) and each metric with its 95% CI.
    ``studies`` as the one checked reader gives them (murad.prediction_tables)."""
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
        f"{m}{s}" for m in metric_names() for s in ("", "_low", "_high")
    ]
    return pd.DataFrame(rows)[columns]
