"""How well the study probabilities are calibrated, and temperature scaling fitted on the tuning split.

- ``brier_score``, ``expected_calibration_error`` and ``reliability_table``: over equal-width probability bins.
- ``fit_temperature`` / ``apply_temperature``: one temperature ``T`` for the study logits, ``sigmoid(logit(p) / T)``.
- ``calibration_report``: Brier and ECE on MURA valid before and after scaling with the ``T`` fitted on tune.
- ``reliability_figure``: reliability diagrams, one panel per model.

Binning: ``bins`` equal-width bins on [0, 1]; bin ``k`` holds ``k / bins <= p < (k + 1) / bins`` and the last bin
also holds ``p = 1``, so a probability on an inner edge goes to the bin above it. ECE is the mean over the non-empty
bins of |observed abnormal share - mean predicted probability|, weighted by the bins' study counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit

from .metrics import scopes

EPSILON = 1e-6  # probabilities are clipped to [EPSILON, 1 - EPSILON] before taking logits
LOG_T_BOUNDS = (np.log(1e-2), np.log(1e2))  # the temperature is searched in [0.01, 100]
RELIABILITY_COLUMNS = ["lower", "upper", "count", "mean_prob", "observed"]


def _arrays(labels, probs) -> tuple[np.ndarray, np.ndarray]:
    labels, probs = np.asarray(labels, dtype=float), np.asarray(probs, dtype=float)
    if labels.shape != probs.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels and probs must be 1-D of the same non-zero length, got {labels.shape}, {probs.shape}")
    return labels, probs


def brier_score(labels, probs) -> float:
    """Mean squared difference between the probability and the label (0 normal, 1 abnormal)."""
    labels, probs = _arrays(labels, probs)
    return float(np.mean((probs - labels) ** 2))


def bin_index(probs, bins: int = 10) -> np.ndarray:
    """Each probability's bin: ``k`` for ``k / bins <= p < (k + 1) / bins``; ``p = 1`` in the last bin."""
    edges = np.arange(bins + 1) / bins  # exactly k / bins, so that 0.3 is on the edge of bin 3 of 10
    return np.clip(np.searchsorted(edges, probs, side="right") - 1, 0, bins - 1)


def reliability_table(labels, probs, bins: int = 10) -> pd.DataFrame:
    """One row per bin (empty ones too): its edges, study count, mean predicted probability and observed abnormal
    share (NaN for an empty bin)."""
    labels, probs = _arrays(labels, probs)
    index = bin_index(probs, bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(index, probs, bins) / count
        observed = np.bincount(index, labels, bins) / count
    edges = np.arange(bins + 1) / bins
    return pd.DataFrame(
        {"lower": edges[:-1], "upper": edges[1:], "count": count, "mean_prob": mean_prob, "observed": observed}
    )


def expected_calibration_error(labels, probs, bins: int = 10) -> float:
    """ECE over ``bins`` equal-width bins on [0, 1] (bin ``k``: ``k / bins <= p < (k + 1) / bins``, the last bin
    closed, so a probability on an inner edge goes to the bin above): the mean over the non-empty bins of
    |observed abnormal share (accuracy) - mean predicted probability (confidence)|, weighted by the bins' counts."""
    table = reliability_table(labels, probs, bins)
    filled = table[table["count"] > 0]
    gaps = (filled["observed"] - filled["mean_prob"]).abs()
    return float((filled["count"] * gaps).sum() / filled["count"].sum())


def study_logits(probs) -> np.ndarray:
    """logit(p) with ``p`` clipped to [1e-6, 1 - 1e-6]."""
    return logit(np.clip(np.asarray(probs, dtype=float), EPSILON, 1 - EPSILON))


def _nll(labels: np.ndarray, logits: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the labels under sigmoid(logits / T), computed stably."""
    scaled = logits / temperature
    return float(np.mean(np.logaddexp(0.0, scaled) - labels * scaled))


def fit_temperature(labels, probs) -> float:
    """The ``T`` in [0.01, 100] minimising the NLL of sigmoid(logit(p) / T): bounded Brent search over log T (so
    deterministic); ``T = 1`` (no scaling) whenever the search does not find a lower NLL than that."""
    labels, probs = _arrays(labels, probs)
    logits = study_logits(probs)
    found = minimize_scalar(
        lambda log_t: _nll(labels, logits, np.exp(log_t)),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-6},
    )
    temperature = float(np.exp(found.x))
    return temperature if _nll(labels, logits, temperature) < _nll(labels, logits, 1.0) else 1.0


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """sigmoid(logit(p) / T), ``p`` clipped to [1e-6, 1 - 1e-6]."""
    if not temperature > 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    return expit(study_logits(probs) / temperature)


def calibration_report(tune_studies: pd.DataFrame, valid_studies: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Brier and ECE of the valid studies before and after scaling with the one temperature fitted on all tuning
    studies: rows ``overall`` and one per body part (sorted), each with that temperature."""
    temperature = fit_temperature(tune_studies["label"].to_numpy(), tune_studies["prob"].to_numpy())
    rows = []
    for scope, group in scopes(valid_studies.sort_values("study", kind="stable")):
        label, prob = group["label"].to_numpy(float), group["prob"].to_numpy(float)
        scaled = apply_temperature(prob, temperature)
        rows.append(
            {
                "scope": scope,
                "n_studies": len(group),
                "temperature": temperature,
                "brier_before": brier_score(label, prob),
                "brier_after": brier_score(label, scaled),
                "ece_before": expected_calibration_error(label, prob, bins),
                "ece_after": expected_calibration_error(label, scaled, bins),
            }
        )
    return pd.DataFrame(rows)
