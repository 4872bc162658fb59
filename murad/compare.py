"""Paired comparison of two models' study tables on the same studies: metric differences, intervals and p-values.

For each scope (``overall``, then each body part, sorted) and metric, ``a`` and ``b`` are the two tables' metrics
exactly as :mod:`murad.metrics` computes them and ``difference`` is a - b. Its 95% interval is a paired percentile
bootstrap over studies: each repetition resamples the scope's studies with replacement and scores both tables on the
same resample (fixed seed). Both p-values are two-sided, for H0: difference = 0.

* AUC: DeLong's test (DeLong, DeLong & Clarke-Pearson 1988), computed from the structural components as in Sun & Xu
  (2014): z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov_ab), p = 2 (1 - Phi(|z|)).
* accuracy, precision, recall, f1 and kappa: the paired percentile-bootstrap test, p = min(1, 2 min(P(d <= 0),
  P(d >= 0))), where P is the share of the bootstrap differences d (over the resamples where the metric is defined
  for both tables). It is the percentile interval turned into a test: p < 0.05 when the 95% interval lies on one
  side of 0 (up to how the percentile interpolates between resamples). With R repetitions its smallest non-zero
  value is 2/R; p = 0 means that no resample put the difference on the other side of 0 (read it as p < 2/R).

Identical tables give difference 0, interval [0, 0] and p = 1 (DeLong's z is taken as 0 when the AUCs are equal).
Where a metric is undefined for either table in a scope (AUC with one class only; kappa with one class and one
predicted class), its difference, interval and p-value are NaN; DeLong's variance also needs two studies of each
class. Comparisons of many models are adjusted with :func:`holm`.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from .errors import InputError
from .io import staged_outputs, write_csv
from .metrics import metric_names, point_metrics, resampled_metrics, scopes
from .prediction_tables import read_study_table
from .result_names import ordered

log = logging.getLogger("murad")

COLUMNS = ["scope", "metric", "a", "b", "difference", "difference_low", "difference_high", "p_value"]
REQUIRED = ["study", "body_part", "label", "prob"]


class DeLong(NamedTuple):
    auc: np.ndarray  # (2,): AUC of a and of b
    covariance: np.ndarray  # (2, 2): their covariance matrix (NaN with fewer than 2 studies of a class)
    p_value: float  # two-sided, H0: equal AUCs


def delong(label: np.ndarray, prob_a: np.ndarray, prob_b: np.ndarray) -> DeLong:
    """DeLong's test of two correlated AUCs on the same studies (midranks, so ties count 1/2)."""
    label = np.asarray(label).astype(bool)
    scores = np.vstack([prob_a, prob_b]).astype(float)
    positive, negative = scores[:, label], scores[:, ~label]
    m, n = positive.shape[1], negative.shape[1]
    if m == 0 or n == 0:
        return DeLong(np.full(2, np.nan), np.full((2, 2), np.nan), float("nan"))
    ranks = rankdata(np.hstack([positive, negative]), axis=1)
    v10 = (ranks[:, :m] - rankdata(positive, axis=1)) / n  # each abnormal study: share of normal ones scored lower
    v01 = 1 - (ranks[:, m:] - rankdata(negative, axis=1)) / m  # each normal study: share of abnormal ones higher
    auc = v10.mean(1)
    covariance = np.cov(v10) / m + np.cov(v01) / n if m > 1 and n > 1 else np.full((2, 2), np.nan)
    difference = auc[0] - auc[1]
    variance = np.maximum(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1], 0.0)  # no rounding below 0
    if difference == 0:
        return DeLong(auc, covariance, 1.0)
    with np.errstate(divide="ignore"):
        z = abs(difference) / np.sqrt(variance)
    return DeLong(auc, covariance, float(2 * norm.sf(z)))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values; NaNs stay NaN and do not count in the family."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    known = np.flatnonzero(~np.isnan(p))
    order = known[np.argsort(p[known], kind="stable")]
    steps = p[order] * (len(order) - np.arange(len(order)))
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted


def _aligned(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str]) -> pd.DataFrame:
    """Both tables' studies, sorted, with ``prob`` from ``a`` and ``prob_b`` from ``b``; refuses differing studies."""
    for table, name in zip((a, b), names, strict=True):  # each as the one checked reader gives it
        if table.empty:
            raise InputError(f"{name} holds no studies")
        repeated = table["study"][table["study"].duplicated()]
        if len(repeated):
            raise InputError(f"{name} lists study {sorted(repeated, key=str)[0]} more than once")
    a, b = (t.sort_values("study", kind="stable").reset_index(drop=True) for t in (a, b))
    in_a = set(a["study"])
    only = sorted(in_a.symmetric_difference(b["study"]), key=str)
    if only:
        held, lacking = names if only[0] in in_a else names[::-1]
        raise InputError(f"study {only[0]} of {held} is missing from {lacking} (both must hold the same studies)")
    for column in ("label", "body_part"):
        differs = np.flatnonzero(a[column].to_numpy() != b[column].to_numpy())
        if len(differs):
            i = differs[0]
            here, there = (t[column].iloc[[i]].tolist()[0] for t in (a, b))  # Python values: 1, not np.int64(1)
            raise InputError(f"study {a['study'][i]} has {column} {here!r} in {names[0]} but {there!r} in {names[1]}")
    return a[REQUIRED].assign(prob_b=b["prob"].to_numpy())


def paired_comparison(
    a: pd.DataFrame,
    b: pd.DataFrame,
    threshold: float = 0.5,
    repetitions: int = 1000,
    seed: int = 0,
    names: tuple[str, str] = ("table a", "table b"),
) -> pd.DataFrame:
    """One row per scope and metric: ``a``, ``b``, their difference with its paired 95% interval, and a p-value."""
    rows = []
    for index, (scope, group) in enumerate(scopes(_aligned(a, b, names))):
        label = group["label"].to_numpy().astype(int)
        probs = [group[column].to_numpy().astype(float) for column in ("prob", "prob_b")]
        points = [point_metrics(label, prob, threshold) for prob in probs]
        # the resamples are drawn first: the same seed gives both tables the same studies (a paired bootstrap)
        resampled = [
            resampled_metrics(label, p, threshold, repetitions, np.random.default_rng([seed, index])) for p in probs
        ]
        auc_test = delong(label, *probs)
        for metric in metric_names():
            difference = points[0][metric] - points[1][metric]
            differences = resampled[0][metric] - resampled[1][metric]
            differences = differences[~np.isnan(differences)]
            low = high = p_value = np.nan
            if not np.isnan(difference) and len(differences):
                low, high = np.percentile(differences, [2.5, 97.5])
                p_value = min(1.0, 2 * min(np.mean(differences <= 0), np.mean(differences >= 0)))
            if metric == "auc":
                p_value = auc_test.p_value
            rows.append([scope, metric, points[0][metric], points[1][metric], difference, low, high, p_value])
    return pd.DataFrame(rows, columns=COLUMNS)


def compare_csvs(
    studies_a_csv: str,
    studies_b_csv: str,
    out_csv: str,
    threshold: float = 0.5,
    repetitions: int = 1000,
    seed: int = 0,
) -> None:
    """The paired comparison of two study tables -> ``out_csv`` (also ``murad compare``)."""
    a, b = read_study_table(studies_a_csv), read_study_table(studies_b_csv)
    table = paired_comparison(a, b, threshold, repetitions, seed, names=(studies_a_csv, studies_b_csv))
    with staged_outputs(out_csv) as (path,):
        write_csv(table.round(6), path)
    overall = table[table["scope"] == "overall"].set_index("metric")
    log.info(
        "%s vs %s: %d studies, auc %.3f vs %.3f (DeLong p = %.3g), kappa difference %.3f [%.3f, %.3f] (p = %.3g)",
        studies_a_csv,
        studies_b_csv,
        len(a),
        overall.loc["auc", "a"],
        overall.loc["auc", "b"],
        overall.loc["auc", "p_value"],
        overall.loc["kappa", "difference"],
        overall.loc["kappa", "difference_low"],
        overall.loc["kappa", "difference_high"],
        overall.loc["kappa", "p_value"],
    )


VS_BEST_COLUMNS = ["name", "best", *COLUMNS, "p_holm"]


def compare_with_best(
    best: str, valid_studies: dict[str, pd.DataFrame], threshold: float = 0.5, repetitions: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Every other model and ensemble (``name``) against ``best`` (chosen on the tuning split) on MURA valid's
    studies: :func:`paired_comparison` rows, with Holm's adjustment over the names per scope and metric."""
    rows = [
        paired_comparison(valid_studies[name], valid_studies[best], threshold, repetitions, seed, (name, best)).assign(
            name=name, best=best
        )
        for name in ordered(valid_studies)
        if name != best
    ]
    if not rows:
        return pd.DataFrame(columns=VS_BEST_COLUMNS)
    table = pd.concat(rows, ignore_index=True)
    table["p_holm"] = table.groupby(["scope", "metric"])["p_value"].transform(lambda p: holm(p.to_numpy()))
    return table[VS_BEST_COLUMNS]
