"""Operating points: study-probability thresholds chosen on the tuning split, evaluated on MURA valid.

- ``best_kappa``: the threshold with the highest study-level Cohen's kappa on the tuning studies.
- ``rule_out``: the highest threshold whose tuning sensitivity is at least 0.95 (triage: a study at or below it is
  ruled normal).

A study is called abnormal when its probability exceeds the threshold (``prob > threshold``, as murad's metrics do).
The cut points searched are the distinct tuning study probabilities and 0; a study exactly at the cut is normal. A
kappa tie goes to the threshold closest to 0.5, then to the lower one. Should no cut reach the sensitivity (only when
abnormal studies have probability 0), ``rule_out`` is the lowest cut and its recorded tuning sensitivity says so.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .io import staged_outputs, write_json
from .metrics import AGGREGATIONS, Counts, cohen_kappa, confusion_counts

TARGET_SENSITIVITY = 0.95
RULES = {
    "best_kappa": "highest study-level Cohen's kappa; ties: closest to 0.5, then the lower",
    "rule_out": f"highest threshold with sensitivity >= {TARGET_SENSITIVITY}",
}
OPERATING_METRICS = ["sensitivity", "specificity", "ppv", "npv"]


def _rates(counts: Counts) -> dict[str, np.ndarray]:
    """Sensitivity, specificity, PPV and NPV; NaN where the denominator is 0 (no abnormal or normal studies, or no
    abnormal or normal calls)."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "sensitivity": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "specificity": np.where(tn + fp > 0, tn / (tn + fp), np.nan),
            "ppv": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "npv": np.where(tn + fn > 0, tn / (tn + fn), np.nan),
        }


def _labels_and_probs(studies: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities of a study table as the one checked reader gives it (murad.prediction_tables)."""
    studies = studies.sort_values("study", kind="stable")
    return studies["label"].to_numpy().astype(bool), studies["prob"].to_numpy(float)


def _counts_at(truth: np.ndarray, prob: np.ndarray, cuts: np.ndarray) -> Counts:
    """The confusion counts of ``prob > cut`` for every cut at once (by sorting, not an n-by-cuts table)."""
    positives, negatives = np.sort(prob[truth]), np.sort(prob[~truth])
    tp = len(positives) - np.searchsorted(positives, cuts, side="right")
    fp = len(negatives) - np.searchsorted(negatives, cuts, side="right")
    return Counts(tp.astype(float), fp.astype(float), float(len(positives)) - tp, float(len(negatives)) - fp)


def choose_thresholds(tune_studies: pd.DataFrame, split: str = "tune") -> dict[str, dict]:
    """``best_kappa`` and ``rule_out`` chosen on the tuning split's studies (rules and ties: the module docstring),
    each with its rule, ``chosen_on`` (``split``: ``valid`` under the paper's protocol, where tune is MURA valid) and
    its sensitivity, specificity and kappa on those studies (``tune_*``)."""
    truth, prob = _labels_and_probs(tune_studies)
    if truth.all() or not truth.any():
        raise InputError(f"the {split} studies must include normal and abnormal ones to choose thresholds")
    cuts = np.unique(np.append(prob, 0.0))
    counts = _counts_at(truth, prob, cuts)
    rates, kappa = _rates(counts), cohen_kappa(counts)
    best = np.flatnonzero(kappa >= np.nanmax(kappa) - 1e-12)
    reaching = np.flatnonzero(rates["sensitivity"] >= TARGET_SENSITIVITY)
    chosen = {
        "best_kappa": best[np.lexsort((cuts[best], np.round(np.abs(cuts[best] - 0.5), 12)))[0]],  # 0.45 ~ 0.55
        "rule_out": reaching[-1] if len(reaching) else 0,
    }
    return {
        name: {
            "threshold": float(cuts[i]),
            "chosen_on": split,
            "rule": RULES[name],
            "tune_sensitivity": float(rates["sensitivity"][i]),
            "tune_specificity": float(rates["specificity"][i]),
            "tune_kappa": float(kappa[i]),
        }
        for name, i in chosen.items()
    }


def threshold_value(point) -> float:
    """A threshold given as a number or as a record of :func:`choose_thresholds` (its ``threshold``)."""
    return float(point["threshold"] if isinstance(point, dict) else point)


def operating_point_metrics(
    valid_studies: pd.DataFrame, thresholds: dict, repetitions: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """For each named threshold (a number or a :func:`choose_thresholds` record), on ``valid_studies``: sensitivity,
    specificity, PPV and NPV with 95% percentile bootstrap CIs over studies (the same resamples for every threshold;
    NaN where undefined, and left out of the interval), one row per operating point."""
    truth, prob = _labels_and_probs(valid_studies)
    index = np.random.default_rng(seed).integers(0, len(truth), (repetitions, len(truth)))
    truth_b, prob_b = truth[index], prob[index]
    rows = []
    for name, point in thresholds.items():
        threshold = threshold_value(point)
        row = {"operating_point": name, "threshold": threshold, "n_studies": len(truth), "n_abnormal": int(truth.sum())}
        point_rates = _rates(confusion_counts(truth, prob > threshold))
        for metric, values in _rates(confusion_counts(truth_b, prob_b > threshold)).items():
            values = values[~np.isnan(values)]
            low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
            row |= {metric: float(point_rates[metric]), f"{metric}_low": float(low), f"{metric}_high": float(high)}
        rows.append(row)
    columns = ["operating_point", "threshold", "n_studies", "n_abnormal"]
    columns += [f"{m}{s}" for m in OPERATING_METRICS for s in ("", "_low", "_high")]
    return pd.DataFrame(rows, columns=columns)


def save_operating_points(
    thresholds: dict[str, dict],
    path: str | Path,
    temperature: float | None = None,
    aggregation: str = "mean",
    model_sha256: str | None = None,
) -> None:
    """The records of :func:`choose_thresholds` as JSON (all-or-nothing), with how a prediction uses them: the study
    aggregation of image probabilities they were chosen on, the temperature fitted on the same split
    (``murad.calibration``), which calibrates a probability without moving it across a threshold's side (the
    thresholds apply to the uncalibrated probability), and the SHA-256 of the ``model.pt`` whose probabilities they
    were chosen on (they belong to that file only)."""
    record = {
        "prediction": prediction_rule_text(aggregation),
        "aggregation": aggregation,
        "operating_points": thresholds,
    }
    if model_sha256 is not None:
        record["model_sha256"] = model_sha256
    if temperature is not None:
        record["temperature"] = temperature
    with staged_outputs(path) as (staged,):
        write_json(record, staged)


def prediction_rule_text(aggregation: str) -> str:
    return f"a study is abnormal when its probability ({aggregation} of its images') > threshold"


@dataclass(frozen=True)
class SavedOperatingPoints:
    """What ``operating_points.json`` beside a ``model.pt`` says about using it on new studies."""

    operating_points: dict[str, dict]
    temperature: float | None  # None: not calibrated
    aggregation: str  # how image probabilities became the study probabilities the thresholds were chosen on
    model_sha256: str | None = None  # of the model.pt they were chosen for; None: written before it was recorded


def read_operating_points(path: str | Path) -> SavedOperatingPoints:
    """An ``operating_points.json`` (:func:`save_operating_points`), each threshold checked to be in [0, 1], the
    temperature positive; a file without an aggregation (written before it was recorded) means ``mean``."""
    try:
        record = json.loads(Path(path).read_text())
        points = record["operating_points"]
        if not isinstance(points, dict):
            raise TypeError("operating_points is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: not an operating points file ({error})") from error
    for name, point in points.items():
        value = point.get("threshold") if isinstance(point, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InputError(f"{path}: operating point {name!r} has no threshold in [0, 1]")
    temperature = record.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 < temperature < math.inf
    ):
        raise InputError(f"{path}: temperature {temperature!r} is not a positive number")
    aggregation = record.get("aggregation", "mean")
    if aggregation not in AGGREGATIONS:
        raise InputError(f"{path}: aggregation {aggregation!r} is not one of {', '.join(AGGREGATIONS)}")
    digest = record.get("model_sha256")
    if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise InputError(f"{path}: model_sha256 {digest!r} is not a SHA-256 digest")
    return SavedOperatingPoints(points, None if temperature is None else float(temperature), aggregation, digest)
